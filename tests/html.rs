//! The HTML report rendered by headless Chromium: a real scan of a mock rack, written with
//! `--format html`, then loaded from a local file to dump its DOM, take a screenshot and
//! print it to PDF.
//!
//! Chromium is required: Debian's `chromium` package (`apt-get install -y chromium`), or the
//! binary named by `RACKCHECK_CHROMIUM`. Without it these tests fail; `.ci/run` installs it.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rackcheck::policy::{Status, Verdict};
use rackcheck::report::{Format, write};
use rackcheck::scan::ScanReport;

use common::TestRack;

/// Time allowed for one Chromium run. A run takes a second or two, and the margin is for
/// loaded CI machines.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(120);

/// Flags for every run. `--no-sandbox` is needed because Chromium refuses to start as root
/// without it. The others stop Chromium's own network traffic (updates, sync, QUIC, background
/// requests).
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
];

const SCREENSHOT_WIDTH: u32 = 1280;

/// Scans a rack with a passing, a failing, a storage and an unreachable node, and writes
/// the HTML report to a file in `folder`.
async fn scanned_report(folder: &Path) -> (ScanReport, PathBuf) {
    let mut rack = TestRack::new();
    rack.add("gpu-pass", "supermicro-as4125gs-l40s", None, "gpu-compute")
        .await;
    rack.add(
        "gpu-no-ecc",
        "supermicro-as4125gs-l40s",
        Some("supermicro-as4125gs-l40s--dimm5-no-ecc"),
        "gpu-compute",
    )
    .await;
    rack.add("stor-pass", "lenovo-sr655v3-storage", None, "storage").await;
    rack.add_unreachable("gpu-down");
    let report = rack.scan().await;
    rack.shutdown().await;

    let path = folder.join("report.html");
    let mut file = std::fs::File::create(&path).unwrap();
    write(&report, Format::Html, &mut file).unwrap();
    (report, path)
}

/// Runs Chromium on a local file with a fresh profile and returns its standard output.
async fn chromium(page: &Path, extra_args: &[String]) -> Vec<u8> {
    let binary = std::env::var_os("RACKCHECK_CHROMIUM").unwrap_or_else(|| "chromium".into());
    let profile = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new(&binary);
    command
        .args(CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra_args)
        .arg(format!("file://{}", page.display()))
        .kill_on_drop(true);

    let finished = tokio::time::timeout(CHROMIUM_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("chromium did not finish within {}s", CHROMIUM_TIMEOUT.as_secs()));
    let output = match finished {
        Ok(output) => output,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!(
            "chromium not found: `{}` is not on PATH\n\
             hint: install it with `apt-get install -y chromium` (Debian), or set RACKCHECK_CHROMIUM \
             to a Chromium or Chrome binary",
            binary.to_string_lossy()
        ),
        Err(err) => panic!("cannot start {}: {err}", binary.to_string_lossy()),
    };
    assert!(
        output.status.success(),
        "chromium exited with {}; stderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[tokio::test]
async fn chromium_dom_shows_nodes_and_evidence() {
    let folder = tempfile::tempdir().unwrap();
    let (report, page) = scanned_report(folder.path()).await;
    let dom = String::from_utf8(chromium(&page, &["--dump-dom".to_string()]).await).unwrap();

    for node in &report.nodes {
        assert!(dom.contains(&node.hostname), "{} missing from the DOM", node.hostname);
    }
    assert_eq!(dom.matches("<section class=\"node\"").count(), report.nodes.len());
    assert!(
        dom.contains("class=\"device verdict-pass\""),
        "no passing node in the elevation"
    );
    assert!(
        dom.contains("class=\"device verdict-fail\""),
        "no failing node in the elevation"
    );
    assert!(
        dom.contains("class=\"device verdict-error\""),
        "no node in error in the elevation"
    );

    let failing = report
        .nodes
        .iter()
        .find(|node| node.hostname == "gpu-no-ecc")
        .expect("gpu-no-ecc in report");
    assert_eq!(failing.verdict, Verdict::Fail);
    let finding = failing
        .findings
        .iter()
        .find(|finding| finding.rule == "dimm-ecc")
        .expect("dimm-ecc finding");
    assert_eq!(finding.status, Status::Fail);
    assert!(
        dom.contains("<code class=\"rule\">dimm-ecc</code>"),
        "failing rule missing"
    );
    let evidence_uri = &finding.evidence.first().expect("dimm-ecc has evidence").uri;
    assert!(
        dom.contains(evidence_uri.as_str()),
        "evidence URI {evidence_uri} missing"
    );
    assert!(
        dom.contains("<pre class=\"error\">cannot connect"),
        "node error missing"
    );
}

#[tokio::test]
async fn chromium_screenshot_is_a_full_png() {
    let folder = tempfile::tempdir().unwrap();
    let (_, page) = scanned_report(folder.path()).await;
    let screenshot = folder.path().join("report.png");
    chromium(
        &page,
        &[
            format!("--screenshot={}", screenshot.display()),
            format!("--window-size={SCREENSHOT_WIDTH},2000"),
        ],
    )
    .await;

    let png = std::fs::read(&screenshot).expect("chromium wrote the screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "screenshot is not a PNG");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    assert_eq!(width, SCREENSHOT_WIDTH);
    // A blank 1280x2000 page compresses to a few KB; the report's colours and text do not.
    assert!(png.len() > 40_000, "screenshot is only {} bytes", png.len());
}

/// Prints `page` to PDF with Chromium and returns the number of pages.
async fn print_page_count(page: &Path) -> usize {
    let pdf_path = page.with_extension("pdf");
    chromium(
        page,
        &[
            "--no-pdf-header-footer".to_string(),
            format!("--print-to-pdf={}", pdf_path.display()),
        ],
    )
    .await;

    let pdf = std::fs::read(&pdf_path).expect("chromium wrote the PDF");
    assert!(pdf.starts_with(b"%PDF-"), "output is not a PDF");
    // Chromium's PDF writer (Skia, as in Chromium 156) keeps page objects uncompressed, so
    // they can be counted.
    let text = String::from_utf8_lossy(&pdf);
    text.matches("/Type /Page").count() - text.matches("/Type /Pages").count()
}

#[tokio::test]
async fn chromium_prints_each_node_on_new_page() {
    const PAGE_BREAK_RULE: &str = "section.node { break-before: page;";

    let folder = tempfile::tempdir().unwrap();
    let (report, page) = scanned_report(folder.path()).await;
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains(PAGE_BREAK_RULE),
        "the print style has no page break before nodes"
    );
    let unbroken = folder.path().join("without-page-breaks.html");
    std::fs::write(&unbroken, html.replace(PAGE_BREAK_RULE, "section.node {")).unwrap();

    let pages = print_page_count(&page).await;
    let pages_without_breaks = print_page_count(&unbroken).await;

    assert!(
        pages > report.nodes.len(),
        "{pages} pages for {} nodes; each node should start a page after the overview",
        report.nodes.len()
    );
    assert!(
        pages > pages_without_breaks,
        "{pages} pages with page breaks, {pages_without_breaks} without; the breaks changed nothing"
    );
}
