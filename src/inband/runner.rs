//! Input sources of the in-band checks: [`SystemRunner`] runs the commands and reads the
//! files on the node itself, [`RecordedRunner`] reads their recorded output from a folder.
//!
//! Every probe has a stable id that names its recorded output file (`uname-r.txt`), so a
//! node's outputs can be captured once and judged anywhere.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One thing the checks read: a command's output, a file, or a folder's entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// Stable id; the recorded output is `<id>.txt` (or `<id>.json` for fio).
    pub id: String,
    pub source: Source,
    /// Time the command may take before it is killed.
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A program and its arguments, run without a shell.
    Command(Vec<String>),
    /// A file's text.
    File(PathBuf),
    /// A folder's entry names, one per line, sorted.
    ListDir(PathBuf),
}

impl Probe {
    pub fn command(id: &str, argv: &[&str], timeout: Duration) -> Probe {
        Probe {
            id: id.to_string(),
            source: Source::Command(argv.iter().map(|arg| arg.to_string()).collect()),
            timeout,
        }
    }

    pub fn file(id: &str, path: &str) -> Probe {
        Probe {
            id: id.to_string(),
            source: Source::File(PathBuf::from(path)),
            timeout: Duration::ZERO,
        }
    }

    pub fn list_dir(id: &str, path: &str) -> Probe {
        Probe {
            id: id.to_string(),
            source: Source::ListDir(PathBuf::from(path)),
            timeout: Duration::ZERO,
        }
    }

    /// Returns the command line or path, as the report's evidence shows it.
    pub fn describe(&self) -> String {
        match &self.source {
            Source::Command(argv) => argv.join(" "),
            Source::File(path) => path.display().to_string(),
            Source::ListDir(path) => format!("ls {}", path.display()),
        }
    }
}

/// Text a probe read, with the command's exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOutput {
    pub text: String,
    /// The command's exit code; 0 for files and folders, `None` when a signal ended it.
    pub exit_code: Option<i32>,
}

/// Reason a probe read nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// The program, file or folder does not exist (`nvidia-smi` not installed).
    #[error("{0} not found")]
    NotFound(String),
    #[error("`{command}` timed out after {seconds} s")]
    TimedOut { command: String, seconds: u64 },
    #[error("cannot read `{source_name}`: {cause}")]
    Io { source_name: String, cause: String },
}

/// Runs probes. A missing program, file or folder is [`ProbeError::NotFound`], not a panic.
pub trait CommandRunner {
    fn run(&self, probe: &Probe) -> Result<ProbeOutput, ProbeError>;
}

/// Runs commands and reads files on this machine.
#[derive(Debug, Default, Clone)]
pub struct SystemRunner;

impl CommandRunner for SystemRunner {
    fn run(&self, probe: &Probe) -> Result<ProbeOutput, ProbeError> {
        match &probe.source {
            Source::Command(argv) => run_command(argv, probe.timeout),
            Source::File(path) => read_file(path),
            Source::ListDir(path) => list_dir(path),
        }
    }
}

fn read_file(path: &Path) -> Result<ProbeOutput, ProbeError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(ProbeOutput {
            text,
            exit_code: Some(0),
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Err(ProbeError::NotFound(path.display().to_string())),
        Err(err) => Err(ProbeError::Io {
            source_name: path.display().to_string(),
            cause: err.to_string(),
        }),
    }
}

fn list_dir(path: &Path) -> Result<ProbeOutput, ProbeError> {
    let io_error = |err: std::io::Error| match err.kind() {
        std::io::ErrorKind::NotFound => ProbeError::NotFound(path.display().to_string()),
        _ => ProbeError::Io {
            source_name: path.display().to_string(),
            cause: err.to_string(),
        },
    };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io_error)? {
        names.push(entry.map_err(io_error)?.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    let mut text = names.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    Ok(ProbeOutput {
        text,
        exit_code: Some(0),
    })
}

/// Runs `argv` without a shell, with standard input closed, and kills it after `timeout`.
/// Standard error is discarded.
fn run_command(argv: &[String], timeout: Duration) -> Result<ProbeOutput, ProbeError> {
    let command_line = argv.join(" ");
    let (program, args) = argv.split_first().ok_or_else(|| ProbeError::Io {
        source_name: command_line.clone(),
        cause: "empty command".to_string(),
    })?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::NotFound => ProbeError::NotFound(program.clone()),
            _ => ProbeError::Io {
                source_name: command_line.clone(),
                cause: err.to_string(),
            },
        })?;

    // Read standard output on a thread, so a command that fills the pipe cannot block the
    // wait below.
    let mut stdout = child.stdout.take().expect("standard output is piped");
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });

    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ProbeError::TimedOut {
                    command: command_line,
                    seconds: timeout.as_secs(),
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(err) => {
                return Err(ProbeError::Io {
                    source_name: command_line,
                    cause: err.to_string(),
                });
            }
        }
    };
    let bytes = reader.join().unwrap_or_default();
    Ok(ProbeOutput {
        text: String::from_utf8_lossy(&bytes).into_owned(),
        exit_code: status.code(),
    })
}

/// Reads each probe's recorded output from `DIR/<id>.txt` or `DIR/<id>.json`, with the exit
/// code in `DIR/<id>.exit` when it was not 0. A probe without a recorded file reads as not
/// found, the way a missing tool does on a node.
#[derive(Debug, Clone)]
pub struct RecordedRunner {
    folder: PathBuf,
}

impl RecordedRunner {
    pub fn new(folder: impl Into<PathBuf>) -> RecordedRunner {
        RecordedRunner { folder: folder.into() }
    }
}

impl CommandRunner for RecordedRunner {
    fn run(&self, probe: &Probe) -> Result<ProbeOutput, ProbeError> {
        let candidates = ["txt", "json"].map(|extension| self.folder.join(format!("{}.{extension}", probe.id)));
        let Some(path) = candidates.iter().find(|path| path.is_file()) else {
            let missing = match &probe.source {
                Source::Command(argv) => argv.first().cloned().unwrap_or_default(),
                _ => probe.describe(),
            };
            return Err(ProbeError::NotFound(missing));
        };
        let text = std::fs::read_to_string(path).map_err(|err| ProbeError::Io {
            source_name: path.display().to_string(),
            cause: err.to_string(),
        })?;
        let exit_path = self.folder.join(format!("{}.exit", probe.id));
        let exit_code = match std::fs::read_to_string(&exit_path) {
            Ok(code) => Some(code.trim().parse().map_err(|_| ProbeError::Io {
                source_name: exit_path.display().to_string(),
                cause: format!("`{}` is not an exit code", code.trim()),
            })?),
            Err(_) => Some(0),
        };
        Ok(ProbeOutput { text, exit_code })
    }
}
