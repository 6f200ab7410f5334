//! Scan progress on standard error: a progress bar on a terminal, nothing otherwise (the
//! per-node `node done` log lines at `-v` take its place in files and CI logs).

use std::collections::HashMap;
use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::policy::Verdict;
use crate::scan::{ProgressEvent, ProgressHook};

/// The bar being drawn, so that log lines can be printed above it instead of through it.
static ACTIVE_BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// How often the message is redrawn, so the slowest node's elapsed time keeps counting.
const REFRESH: Duration = Duration::from_millis(500);

/// Counts of a running scan, and the start time of every node still in progress.
#[derive(Debug, Default)]
struct State {
    done: usize,
    failing: usize,
    errors: usize,
    running: HashMap<String, Instant>,
}

impl State {
    fn message(&self) -> String {
        let mut message = format!("{} failing, {} error", self.failing, self.errors);
        let slowest = self.running.iter().min_by_key(|(_, started)| **started);
        if let Some((hostname, started)) = slowest {
            message.push_str(&format!(", slowest: {hostname} ({}s)", started.elapsed().as_secs()));
        }
        message
    }
}

/// A progress bar for one scan: nodes done of the total, nodes failing and in error, and
/// the BMC that has been running longest.
pub struct ScanProgress {
    bar: ProgressBar,
    state: Arc<Mutex<State>>,
    refresher: Option<tokio::task::JoinHandle<()>>,
}

impl ScanProgress {
    /// Starts a bar for `total` nodes on standard error. A hidden bar draws nothing but still
    /// counts, so callers need not branch. Must be called inside a Tokio runtime when `visible`.
    pub fn start(total: usize, visible: bool) -> ScanProgress {
        let state = Arc::new(Mutex::new(State::default()));
        if !visible {
            return ScanProgress {
                bar: ProgressBar::hidden(),
                state,
                refresher: None,
            };
        }

        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} nodes, {msg}")
            .expect("the progress template is valid");
        bar.set_style(style);
        bar.set_message(lock(&state).message());
        bar.enable_steady_tick(REFRESH);
        *ACTIVE_BAR.lock().unwrap_or_else(PoisonError::into_inner) = Some(bar.clone());

        let refresher = {
            let bar = bar.clone();
            let state = Arc::clone(&state);
            tokio::spawn(async move {
                let mut interval = tokio::time::interval(REFRESH);
                loop {
                    interval.tick().await;
                    bar.set_message(lock(&state).message());
                }
            })
        };
        ScanProgress {
            bar,
            state,
            refresher: Some(refresher),
        }
    }

    /// Checks whether standard error is a terminal that a bar can be drawn on.
    pub fn stderr_is_terminal() -> bool {
        io::stderr().is_terminal()
    }

    /// Returns the hook to put in `ScanOptions::progress`.
    pub fn hook(&self) -> ProgressHook {
        let bar = self.bar.clone();
        let state = Arc::clone(&self.state);
        ProgressHook::new(move |event| {
            let mut state = lock(&state);
            match event {
                ProgressEvent::Started { hostname, .. } => {
                    state.running.insert(hostname, Instant::now());
                }
                ProgressEvent::Finished { hostname, verdict } => {
                    state.running.remove(&hostname);
                    state.done += 1;
                    match verdict {
                        Verdict::Fail => state.failing += 1,
                        Verdict::Error => state.errors += 1,
                        Verdict::Pass | Verdict::Warn | Verdict::Unknown => {}
                    }
                    bar.set_position(state.done as u64);
                }
            }
            bar.set_message(state.message());
        })
    }

    /// Removes the bar from the terminal, before the report is printed.
    pub fn finish(self) {
        if let Some(refresher) = &self.refresher {
            refresher.abort();
        }
        *ACTIVE_BAR.lock().unwrap_or_else(PoisonError::into_inner) = None;
        self.bar.finish_and_clear();
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Standard error for the log: while a bar is drawn, each write hides the bar, prints, and
/// redraws it, so log lines never break into the bar. Pass [`stderr_writer`] to
/// `tracing_subscriber::fmt().with_writer`, which (in tracing-subscriber 0.3) writes each event
/// with one `write_all`.
pub struct StderrAboveBar;

/// Returns a [`StderrAboveBar`]; a function so that it can serve as a `MakeWriter`.
pub fn stderr_writer() -> StderrAboveBar {
    StderrAboveBar
}

impl Write for StderrAboveBar {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let bar = ACTIVE_BAR.lock().unwrap_or_else(PoisonError::into_inner).clone();
        match bar {
            Some(bar) => bar.suspend(|| io::stderr().write(buf)),
            None => io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(hostname: &str, verdict: Verdict) -> ProgressEvent {
        ProgressEvent::Finished {
            hostname: hostname.to_string(),
            verdict,
        }
    }

    fn started(hostname: &str) -> ProgressEvent {
        ProgressEvent::Started {
            hostname: hostname.to_string(),
            bmc: "127.0.0.1:1".to_string(),
        }
    }

    #[test]
    fn hidden_progress_counts_nodes() {
        let progress = ScanProgress::start(3, false);
        let hook = progress.hook();
        hook.0(started("a"));
        hook.0(started("b"));
        hook.0(started("c"));
        hook.0(finished("a", Verdict::Fail));
        hook.0(finished("b", Verdict::Error));

        let state = lock(&progress.state);
        assert_eq!(state.done, 2);
        assert_eq!(state.failing, 1);
        assert_eq!(state.errors, 1);
        assert!(state.message().contains("slowest: c"), "{}", state.message());
    }

    #[test]
    fn message_names_the_earliest_started_node() {
        let mut state = State::default();
        let now = Instant::now();
        state.running.insert("late".to_string(), now);
        state.running.insert("early".to_string(), now - Duration::from_secs(5));
        assert!(state.message().ends_with("slowest: early (5s)"), "{}", state.message());
    }
}
