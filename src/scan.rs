//! Scans a rack: logs in to every BMC, collects facts, judges them, logs out.
//!
//! Nodes run concurrently up to a global limit; the Redfish client limits requests per BMC.
//! A node that fails ends as a report with `verdict = error` and its cause; it never stops or
//! delays the others. Every session that was opened is closed, whether collection succeeded,
//! failed, ran out of time or was cancelled by Ctrl-C.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tracing::{Instrument, info, info_span, warn};

use crate::capture::{Recorded, Recorder};
use crate::collect::collect_until;
use crate::collect::power_on::{self, PowerOnOptions, PowerOnResult};
use crate::credentials::CredentialStore;
use crate::facts::{DEFECT_PREFIX, NodeFacts, Problem};
use crate::handoff::pxe::{self, PxeOptions, PxeResult};
use crate::inventory::{Inventory, Node, Role};
use crate::policy::{Finding, Profile, RackMember, Subject, Verdict, judge_node, judge_rack};
use crate::redfish::{ClientOptions, OpenSession, RedfishClient, RedfishError};

/// Version of the JSON report schema; raised on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Nodes scanned at the same time by default. A node in progress uses about 700 KB and up
/// to `--max-in-flight` connections, plus one for a logout in the background. So 256 nodes
/// stay under 300 MB and about 800 open files (BENCHMARKS.md has the measurements), and a
/// rack of a thousand BMCs takes four waves of one node's time.
pub const DEFAULT_CONCURRENCY: usize = 256;

/// Options of one scan beyond the Redfish client's.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub client: ClientOptions,
    /// Nodes scanned at the same time.
    pub concurrency: usize,
    /// Time allowed for one node, from login to the end of collection. The logout after it
    /// starts its retries within two request timeouts.
    pub node_deadline: Duration,
    /// Called when a node starts and when it finishes, as for a progress bar.
    pub progress: Option<ProgressHook>,
    /// Folder to write every node's Redfish responses to, in the mockup layout that
    /// [`crate::capture::check`] judges offline; `None` captures nothing.
    pub capture: Option<PathBuf>,
    /// Sets a one-time PXE boot override and boots every node that passed; `None` changes
    /// nothing on any BMC.
    pub pxe: Option<PxeOptions>,
    /// Powers on hosts whose inventory is unreliable because they are off or in POST,
    /// reads them again and restores their power state; `None` changes nothing.
    pub power_on: Option<PowerOnOptions>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            client: ClientOptions::default(),
            concurrency: DEFAULT_CONCURRENCY,
            node_deadline: Duration::from_secs(300),
            progress: None,
            capture: None,
            pxe: None,
            power_on: None,
        }
    }
}

/// A node starting or finishing during a scan.
#[derive(Debug, Clone)]
pub enum ProgressEvent {
    /// The node's login is about to start.
    Started { hostname: String, bmc: String },
    /// The node is judged, or ended with `verdict = error`.
    Finished { hostname: String, verdict: Verdict },
}

/// A callback for [`ProgressEvent`]s. It runs on the scan's task, so it must return quickly.
#[derive(Clone)]
pub struct ProgressHook(pub Arc<dyn Fn(ProgressEvent) + Send + Sync>);

impl ProgressHook {
    pub fn new(hook: impl Fn(ProgressEvent) + Send + Sync + 'static) -> ProgressHook {
        ProgressHook(Arc::new(hook))
    }

    fn emit(&self, event: ProgressEvent) {
        (self.0)(event);
    }
}

impl std::fmt::Debug for ProgressHook {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("ProgressHook(..)")
    }
}

/// The result of a scan, as the JSON report serializes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanReport {
    pub schema_version: u32,
    pub profile: String,
    /// True when TLS certificates were not verified (`--insecure`).
    pub insecure: bool,
    pub nodes: Vec<NodeReport>,
    /// Findings about the rack as a whole.
    pub rack: Vec<Finding>,
}

/// One node's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeReport {
    pub hostname: String,
    pub rack: String,
    pub position: u32,
    pub role: Role,
    pub bmc: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    pub verdict: Verdict,
    /// Cause of a read failure when `verdict` is `error`, else `null`.
    pub error: Option<String>,
    /// Facts the BMC reported, or `null` when the node could not be read.
    pub facts: Option<NodeFacts>,
    pub findings: Vec<Finding>,
    /// Wall time spent on the node, in milliseconds.
    pub duration_ms: u64,
    /// The PXE step's requests and what the BMC accepted; absent without `--pxe`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pxe: Option<PxeResult>,
    /// The `--power-on` cycle of a host found off or in POST; absent when none ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_on: Option<PowerOnResult>,
    /// Sessions on the node's BMC that rackcheck could not delete, which stay open until
    /// the BMC expires them. Absent when every session was deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub open_sessions: Vec<OpenSession>,
}

impl NodeReport {
    fn new(node: &Node) -> NodeReport {
        NodeReport {
            hostname: node.hostname.clone(),
            rack: node.rack.clone(),
            position: node.position,
            role: node.role,
            bmc: node.bmc.to_string(),
            system: node.system.clone(),
            verdict: Verdict::Error,
            error: None,
            facts: None,
            findings: Vec::new(),
            duration_ms: 0,
            pxe: None,
            power_on: None,
            open_sessions: Vec::new(),
        }
    }
}

/// Scans every node of the inventory and judges it against the profile.
///
/// Fails only when the Redfish client cannot be built (an unreadable CA or known-BMCs
/// file); every per-node failure is part of the report.
pub async fn scan(
    inventory: &Inventory,
    credentials: &CredentialStore,
    profile: &Profile,
    options: &ScanOptions,
) -> Result<ScanReport, crate::redfish::ClientError> {
    let report = scan_until(inventory, credentials, profile, options, std::future::pending()).await?;
    Ok(report.expect("a scan without cancellation always completes"))
}

/// A scan stopped by its cancellation, with the sessions that may still be open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancelled {
    pub open_sessions: Vec<OpenSession>,
}

impl std::fmt::Display for Cancelled {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.open_sessions.is_empty() {
            return formatter.write_str("every open session was logged out and no report was written");
        }
        let mut bmcs: Vec<&str> = self.open_sessions.iter().map(|session| session.bmc.as_str()).collect();
        bmcs.sort_unstable();
        bmcs.dedup();
        write!(
            formatter,
            "no report was written, and sessions may still be open on {} BMC(s) until each BMC expires them: {}",
            bmcs.len(),
            bmcs.join(", ")
        )?;
        for session in &self.open_sessions {
            let uri = session.uri.as_deref().unwrap_or("unknown session URI");
            write!(formatter, "\n  {} {uri}: {}", session.bmc, session.cause)?;
        }
        Ok(())
    }
}

impl std::error::Error for Cancelled {}

/// Scans as [`scan`] does until `cancel` completes, as on Ctrl-C.
///
/// On cancellation no further node is started, the nodes in progress are dropped, and every
/// session opened is deleted, waiting at most two request timeouts, before this returns
/// `Ok(Err(Cancelled))` with the sessions that may still be open. No report is made,
/// because the nodes cut short would look like BMC failures.
pub async fn scan_until(
    inventory: &Inventory,
    credentials: &CredentialStore,
    profile: &Profile,
    options: &ScanOptions,
    cancel: impl Future<Output = ()>,
) -> Result<Result<ScanReport, Cancelled>, crate::redfish::ClientError> {
    let client = RedfishClient::new(&options.client)?;
    let context = Arc::new(NodeContext {
        client: client.clone(),
        credentials: credentials.clone(),
        profile: profile.clone(),
        options: options.clone(),
    });

    // Each node runs as a task of its own, so that a multi-threaded runtime spreads the
    // nodes' parsing and judging over its threads.
    let mut running = JoinSet::new();
    let mut nodes = Vec::with_capacity(inventory.nodes.len());
    let finished = {
        let all_nodes = async {
            let mut waiting = inventory.nodes.iter();
            loop {
                while running.len() < options.concurrency.max(1) {
                    let Some(node) = waiting.next() else { break };
                    let span = info_span!("node", hostname = %node.hostname, bmc = %node.bmc);
                    let context = context.clone();
                    let node = node.clone();
                    let task = async move {
                        let NodeContext {
                            client,
                            credentials,
                            profile,
                            options,
                        } = &*context;
                        scan_node(client, &node, credentials, profile, options).await
                    };
                    running.spawn(task.instrument(span));
                }
                match running.join_next().await {
                    Some(Ok(report)) => nodes.push(report),
                    Some(Err(err)) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
                    Some(Err(_)) => {}
                    None => break,
                }
            }
        };
        tokio::select! {
            () = all_nodes => true,
            () = cancel => {
                warn!("scan cancelled; logging out of every open session");
                false
            }
        }
    };

    // A node task that is cut off drops its session, which deletes itself in the background.
    // Waiting for the aborted tasks makes sure that every such deletion has started.
    running.abort_all();
    while running.join_next().await.is_some() {}

    // Sessions of nodes cut off by the deadline or the cancellation are deleted by tasks.
    let grace = options.client.request_timeout.saturating_mul(2);
    if tokio::time::timeout(grace, client.wait_for_logouts()).await.is_err() {
        warn!(
            waited_s = grace.as_secs_f64(),
            "some sessions could not be deleted in time; the BMCs expire them later"
        );
    }
    let open_sessions = client.open_sessions();
    if !finished {
        return Ok(Err(Cancelled { open_sessions }));
    }
    attach_open_sessions(&mut nodes, open_sessions);

    // Report in inventory order, whatever order the nodes finished in.
    nodes.sort_by_key(|report| {
        inventory
            .nodes
            .iter()
            .position(|node| node.hostname == report.hostname)
            .unwrap_or(usize::MAX)
    });

    let rack = judge_rack(&rack_members(&nodes), profile);
    Ok(Ok(ScanReport {
        schema_version: SCHEMA_VERSION,
        profile: profile.name.clone(),
        insecure: options.client.insecure,
        nodes,
        rack,
    }))
}

/// Adds each session left open to the report of every node on its BMC. Nodes that share a
/// BMC (one per system) all get it, since the session cannot be traced to one of them.
fn attach_open_sessions(nodes: &mut [NodeReport], open_sessions: Vec<OpenSession>) {
    for session in open_sessions {
        for node in nodes.iter_mut().filter(|node| node.bmc == session.bmc) {
            node.open_sessions.push(session.clone());
        }
    }
}

/// The client, credentials, profile and options that every node of a scan shares, owned
/// so that each node can run as a task.
struct NodeContext {
    client: RedfishClient,
    credentials: CredentialStore,
    profile: Profile,
    options: ScanOptions,
}

/// Lists the nodes of a report in the form the rack-wide rules read.
pub fn rack_members(nodes: &[NodeReport]) -> Vec<RackMember<'_>> {
    nodes
        .iter()
        .map(|node| RackMember {
            hostname: &node.hostname,
            role: node.role,
            facts: node.facts.as_ref(),
        })
        .collect()
}

async fn scan_node(
    client: &RedfishClient,
    node: &Node,
    credentials: &CredentialStore,
    profile: &Profile,
    options: &ScanOptions,
) -> NodeReport {
    let started = Instant::now();
    let mut report = NodeReport::new(node);
    if let Some(progress) = &options.progress {
        progress.emit(ProgressEvent::Started {
            hostname: node.hostname.clone(),
            bmc: node.bmc.to_string(),
        });
    }

    let recorded = options.capture.as_ref().map(|_| Recorded::default());
    let mut read = read_node(client, node, credentials, options.node_deadline, recorded.as_ref()).await;
    if let (Ok(facts), Some(power_options)) = (&read, &options.power_on)
        && let Some(reason) = power_on::inventory_unreliable(facts)
    {
        info!(
            reason,
            "host inventory unreliable; powering on for a second read (--power-on)"
        );
        let (result, reread) = power_cycle(client, node, credentials, facts, power_options, options, &reason).await;
        report.power_on = Some(result);
        if let Some(reread) = reread {
            read = reread;
        }
    }

    match read {
        Ok(facts) => {
            let subject = Subject {
                facts: &facts,
                role: node.role,
                expected_gpus: node.gpus,
            };
            report.findings = judge_read(&subject, node.role, profile);
            report.verdict = Verdict::from_findings(&report.findings);
            if let Some(pxe_options) = &options.pxe
                && report.verdict == Verdict::Pass
            {
                report.pxe = Some(pxe_step(client, node, credentials, &facts.system.uri, pxe_options, options).await);
            }
            report.facts = Some(facts);
        }
        Err(cause) => {
            warn!(hostname = %node.hostname, bmc = %node.bmc, cause = %cause, "node could not be read");
            report.error = Some(cause);
        }
    }
    if let (Some(folder), Some(recorded)) = (&options.capture, recorded) {
        let written = crate::capture::write_node(folder, node, &report, recorded, options.client.insecure).await;
        if let Err(err) = written {
            warn!(hostname = %node.hostname, folder = %folder.display(), cause = %err, "failed to write the node's capture");
        }
    }

    report.duration_ms = started.elapsed().as_millis() as u64;
    info!(verdict = %report.verdict, ms = report.duration_ms, "node done");
    if let Some(progress) = &options.progress {
        progress.emit(ProgressEvent::Finished {
            hostname: node.hostname.clone(),
            verdict: report.verdict,
        });
    }
    report
}

/// Runs the PXE step on a node that passed, in a session of its own.
async fn pxe_step(
    client: &RedfishClient,
    node: &Node,
    credentials: &CredentialStore,
    system_uri: &str,
    pxe_options: &PxeOptions,
    options: &ScanOptions,
) -> PxeResult {
    let result = with_session(client, node, credentials, options.node_deadline, async |session| {
        Ok(pxe::run(session, system_uri, pxe_options.dry_run).await)
    })
    .await;
    let result = result.unwrap_or_else(|cause| PxeResult {
        status: pxe::PxeStatus::Failed,
        message: Some(cause),
        requests: Vec::new(),
        accepted: None,
        power_state_after: None,
    });
    info!(status = ?result.status, message = result.message.as_deref().unwrap_or(""), "pxe step done");
    result
}

/// Powers on a host whose inventory is unreliable, reads it again once POST has finished,
/// and returns it to its original power state. Returns the cycle's record and the second
/// read, `None` when POST did not finish and the first read is kept.
async fn power_cycle(
    client: &RedfishClient,
    node: &Node,
    credentials: &CredentialStore,
    facts: &NodeFacts,
    power_options: &PowerOnOptions,
    options: &ScanOptions,
    reason: &str,
) -> (PowerOnResult, Option<Result<NodeFacts, String>>) {
    let system_uri = facts.system.uri.as_str();
    let mut result = PowerOnResult::default();
    let wait = options.node_deadline + power_options.timeout;
    let powered = with_session(client, node, credentials, wait, async |session| {
        Ok(power_on::power_on_and_wait(session, system_uri, power_options, &mut result).await)
    })
    .await
    .and_then(|outcome| outcome);

    let mut reread = None;
    match powered {
        Ok(()) => {
            result.reread = true;
            reread = Some(read_node(client, node, credentials, options.node_deadline, None).await);
        }
        Err(cause) => {
            warn!(cause, reason, "power-on for a second read failed");
            result.message = Some(cause);
        }
    }

    if result.power_on.is_some() {
        let original = result.original_state.clone();
        let wait = options.node_deadline + power_options.shutdown_timeout.saturating_mul(2);
        let restored = with_session(client, node, credentials, wait, async |session| {
            Ok(power_on::restore(session, system_uri, original.as_deref(), power_options, &mut result).await)
        })
        .await
        .and_then(|outcome| outcome);
        if let Err(cause) = restored {
            warn!(cause, "failed to restore the host's power state");
            result.message = Some(match result.message.take() {
                Some(earlier) => format!("{earlier}; {cause}"),
                None => cause,
            });
        }
    }
    (result, reread)
}

/// Logs in, runs `work` within `deadline`, and logs out on every path.
async fn with_session<T>(
    client: &RedfishClient,
    node: &Node,
    credentials: &CredentialStore,
    deadline: Duration,
    work: impl AsyncFnOnce(&crate::redfish::Session) -> Result<T, String>,
) -> Result<T, String> {
    let creds = credentials.credentials_for(node).map_err(|err| error_chain(&err))?;
    let end = tokio::time::Instant::now() + deadline;
    let session = match tokio::time::timeout_at(end, client.login_before(&node.bmc, &creds, Some(end))).await {
        Ok(Ok(session)) => session,
        Ok(Err(err)) => return Err(error_chain(&err)),
        Err(_) => return Err(deadline_exceeded(deadline, "logging in")),
    };
    let outcome = tokio::time::timeout_at(end, work(&session)).await;
    if let Err(err) = session.logout().await {
        warn!(hostname = %node.hostname, cause = %error_chain(&err), "logout failed");
    }
    outcome.unwrap_or_else(|_| Err(deadline_exceeded(deadline, "changing the host's boot or power state")))
}

/// Logs in and collects within the deadline, and logs out on every path.
///
/// A cap that stopped the session (body size, JSON depth, resources per node) fails the
/// node. Responses the client had to repair are added to the facts' problems as BMC defects.
async fn read_node(
    client: &RedfishClient,
    node: &Node,
    credentials: &CredentialStore,
    deadline: Duration,
    recorded: Option<&Recorded>,
) -> Result<NodeFacts, String> {
    let creds = credentials.credentials_for(node).map_err(|err| error_chain(&err))?;
    let end = tokio::time::Instant::now() + deadline;
    let session = match tokio::time::timeout_at(end, client.login_before(&node.bmc, &creds, Some(end))).await {
        Ok(Ok(session)) => session,
        Ok(Err(err)) => return Err(error_chain(&err)),
        Err(_) => return Err(deadline_exceeded(deadline, "logging in")),
    };

    let fetch = Recorder::new(&session, recorded);
    let bmc = node.bmc.to_string();
    let collected = collect_until(&fetch, node.system.as_deref(), end, deadline, &bmc).await;
    let stop_cause = session.stop_cause();
    let defects = session.defects();

    if let Err(err) = session.logout().await {
        warn!(hostname = %node.hostname, cause = %error_chain(&err), "logout failed");
    }

    // A cap ends the node, since what it stopped may be what the rules need most. A token
    // that kept expiring leaves each unread resource as a problem, as a deadline does.
    if let Some(cause) = stop_cause.filter(RedfishError::is_cap) {
        return Err(error_chain(&cause));
    }
    match collected {
        Ok((mut facts, cut_short)) => {
            if cut_short {
                warn!(hostname = %node.hostname, deadline_s = deadline.as_secs_f64(), "node deadline reached; judging the node on the resources read before it");
            }
            facts.problems.extend(defects.into_iter().map(|defect| Problem {
                uri: defect.uri,
                message: format!("{DEFECT_PREFIX}{}", defect.message),
            }));
            Ok(facts)
        }
        Err(err) => Err(error_chain(&err)),
    }
}

fn deadline_exceeded(deadline: Duration, phase: &str) -> String {
    format!(
        "node deadline of {}s exceeded while {phase}\nhint: raise --node-deadline for slow BMCs",
        deadline.as_secs_f64()
    )
}

/// Judges the facts read from one node, live or from a capture. Findings that rest on the
/// host inventory are `unknown` while the host is off or still in POST, since the BMC's
/// inventory may then be empty or stale.
pub(crate) fn judge_read(subject: &Subject, role: Role, profile: &Profile) -> Vec<Finding> {
    let mut findings = judge_node(subject, role, profile);
    if let Some(reason) = power_on::inventory_unreliable(subject.facts) {
        power_on::mark_unknown(&mut findings, &reason);
    }
    findings
}

/// Formats an error with every cause in its source chain, so a node's error states the cause
/// (`failed to read /redfish/v1/Systems: … returned HTTP 500: …`).
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some errors repeat their source's message in their own; print each message once.
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_session(bmc: &str, uri: Option<&str>) -> OpenSession {
        OpenSession {
            bmc: bmc.to_string(),
            uri: uri.map(str::to_string),
            cause: "logout failed: HTTP 500".to_string(),
        }
    }

    #[test]
    fn cancelled_without_open_sessions() {
        let cancelled = Cancelled {
            open_sessions: Vec::new(),
        };
        assert_eq!(
            cancelled.to_string(),
            "every open session was logged out and no report was written"
        );
    }

    #[test]
    fn cancelled_names_open_sessions() {
        let cancelled = Cancelled {
            open_sessions: vec![
                open_session("https://10.0.0.2", Some("/redfish/v1/SessionService/Sessions/7")),
                open_session("https://10.0.0.1", None),
                open_session("https://10.0.0.2", Some("/redfish/v1/SessionService/Sessions/8")),
            ],
        };
        let message = cancelled.to_string();
        let lines: Vec<&str> = message.lines().collect();
        assert_eq!(
            lines[0],
            "no report was written, and sessions may still be open on 2 BMC(s) until each BMC expires them: https://10.0.0.1, https://10.0.0.2"
        );
        assert_eq!(
            lines[1],
            "  https://10.0.0.2 /redfish/v1/SessionService/Sessions/7: logout failed: HTTP 500"
        );
        assert_eq!(
            lines[2],
            "  https://10.0.0.1 unknown session URI: logout failed: HTTP 500"
        );
        assert_eq!(lines.len(), 4);
        assert!(!message.contains("logged out"), "{message}");
    }
}
