//! The JSON report: the serialized [`ScanReport`], whose fields docs/report-schema.md lists.

use std::io::{self, Write};

use crate::scan::ScanReport;

pub(super) fn write(report: &ScanReport, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)
}
