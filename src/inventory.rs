//! Rack inventory: the CSV file that lists every node, its BMC and its role.
//!
//! Key types: [`Inventory`], the validated file; [`Node`], one row; [`BmcAddress`], a BMC's
//! canonical HTTPS base URL; [`InventoryError`], every problem found, each with file and line.
//!
//! The file has a header row naming the columns `rack`, `position`, `hostname`, `bmc`, `role`
//! and optionally `credentials`, `system` and `gpus` (the GPU count the server should show), in any order. Blank lines and lines starting with
//! `#` are skipped, and fields are trimmed. Validation never drops a row: any invalid row makes
//! the whole load fail, so a scan never silently skips a node.

mod address;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use address::{AddressError, BmcAddress, without_userinfo};

/// A validated inventory file.
#[derive(Debug, Clone)]
pub struct Inventory {
    /// The file the nodes were read from, as given to [`Inventory::load`] or [`Inventory::parse`].
    pub source: PathBuf,
    pub nodes: Vec<Node>,
}

/// One server in the rack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// 1-based line of the row in the CSV file, for messages.
    pub line: usize,
    pub rack: String,
    /// Rack unit (U) position, counted from 1.
    pub position: u32,
    pub hostname: String,
    pub bmc: BmcAddress,
    pub role: Role,
    /// Key of this node's entry in the credentials file; `None` means the environment.
    pub credentials: Option<String>,
    /// ComputerSystem `Id` on a BMC that manages several hosts; `None` means the only one.
    pub system: Option<String>,
    /// GPUs the server should show; `None` when the inventory does not say.
    pub gpus: Option<u32>,
}

/// What a server is for, which decides the requirements it is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    GpuCompute,
    Storage,
    Metadata,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::GpuCompute, Role::Storage, Role::Metadata];

    /// Returns the name used in the inventory and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::GpuCompute => "gpu-compute",
            Role::Storage => "storage",
            Role::Metadata => "metadata",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ();

    fn from_str(text: &str) -> Result<Role, ()> {
        Role::ALL.into_iter().find(|role| role.as_str() == text).ok_or(())
    }
}

/// Every problem found in an inventory file, or the failure to read it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InventoryError {
    #[error("failed to read inventory `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        cause: std::io::Error,
    },

    #[error("{}", render_problems(problems))]
    Invalid { problems: Vec<InventoryProblem> },
}

impl InventoryError {
    /// Lists the problems of an invalid file; empty when the file could not be read.
    pub fn problems(&self) -> &[InventoryProblem] {
        match self {
            InventoryError::Invalid { problems } => problems,
            InventoryError::Read { .. } => &[],
        }
    }
}

fn render_problems(problems: &[InventoryProblem]) -> String {
    let lines: Vec<String> = problems.iter().map(InventoryProblem::to_string).collect();
    lines.join("\n")
}

/// One invalid header, row or field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryProblem {
    pub file: String,
    /// 1-based line in the file.
    pub line: usize,
    /// Description of the problem, with the offending value in backticks.
    pub message: String,
    /// Next step, such as which column to fix and how.
    pub hint: String,
}

impl fmt::Display for InventoryProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}\n  hint: {}",
            self.file, self.line, self.message, self.hint
        )
    }
}

impl Inventory {
    /// Reads and validates an inventory file.
    pub fn load(path: impl AsRef<Path>) -> Result<Inventory, InventoryError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|cause| InventoryError::Read {
            path: path.to_path_buf(),
            cause,
        })?;
        Inventory::parse(&text, path)
    }

    /// Validates inventory text; `source` names the file in messages.
    pub fn parse(text: &str, source: impl AsRef<Path>) -> Result<Inventory, InventoryError> {
        let source = source.as_ref();
        let mut problems = Problems {
            file: source.display().to_string(),
            list: Vec::new(),
        };

        let nodes = read_rows(text, &mut problems);
        if let Some(nodes) = &nodes {
            check_duplicates(nodes, &mut problems);
        }
        problems.list.sort_by_key(|problem| problem.line);

        match nodes {
            Some(nodes) if problems.list.is_empty() => Ok(Inventory {
                source: source.to_path_buf(),
                nodes,
            }),
            _ => Err(InventoryError::Invalid {
                problems: problems.list,
            }),
        }
    }
}

/// Collects problems for one file.
struct Problems {
    file: String,
    list: Vec<InventoryProblem>,
}

impl Problems {
    fn push(&mut self, line: usize, message: String, hint: impl Into<String>) {
        self.list.push(InventoryProblem {
            file: self.file.clone(),
            line,
            message,
            hint: hint.into(),
        });
    }
}

/// Reads the header and every row; `None` when the header is too broken to read rows.
fn read_rows(text: &str, problems: &mut Problems) -> Option<Vec<Node>> {
    let text = &empty_blank_lines(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());

    let header = match reader.headers() {
        Ok(header) => header.clone(),
        Err(err) => {
            problems.push(
                error_line(text, &err),
                format!("invalid CSV header: {err}"),
                "fix the header row",
            );
            return None;
        }
    };
    let header_line = header.position().map_or(1, |pos| record_line(text, pos));
    if header.is_empty() {
        problems.push(1, "no header row".to_string(), expected_columns_hint());
        return None;
    }
    let columns = Columns::from_header(&header, header_line, problems)?;

    let mut nodes = Vec::new();
    for result in reader.records() {
        match result {
            Ok(record) => {
                let line = record.position().map_or(0, |pos| record_line(text, pos));
                if let Some(node) = columns.parse_row(&record, line, problems) {
                    nodes.push(node);
                }
            }
            Err(err) => push_csv_error(text, &err, problems),
        }
    }
    Some(nodes)
}

/// Empties lines that contain only whitespace, so that the csv crate skips them like empty ones.
fn empty_blank_lines(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| {
            if line.trim().is_empty() {
                line.trim_start_matches([' ', '\t'])
            } else {
                line
            }
        })
        .collect()
}

/// Returns the 1-based line where a record starts.
///
/// The csv crate (1.4) reports the position where it began reading, which lies before any
/// empty or comment lines it skipped, and on the `\n` of a `\r\n` line end.
fn record_line(text: &str, position: &csv::Position) -> usize {
    let mut line = position.line() as usize;
    let rest = text.get(position.byte() as usize..).unwrap_or("");
    for skipped in rest.split_inclusive('\n') {
        let skipped = skipped.trim_end_matches(['\r', '\n']);
        if !skipped.is_empty() && !skipped.starts_with('#') {
            break;
        }
        line += 1;
    }
    line
}

fn error_line(text: &str, err: &csv::Error) -> usize {
    err.position().map_or(1, |pos| record_line(text, pos))
}

fn push_csv_error(text: &str, err: &csv::Error, problems: &mut Problems) {
    let line = error_line(text, err);
    match err.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => problems.push(
            line,
            format!("row has {len} fields but the header has {expected_len}"),
            "give every row one field per header column, leaving optional ones empty",
        ),
        _ => problems.push(line, format!("invalid CSV: {err}"), "fix the quoting on this line"),
    }
}

const REQUIRED_COLUMNS: [&str; 5] = ["rack", "position", "hostname", "bmc", "role"];
const OPTIONAL_COLUMNS: [&str; 3] = ["credentials", "system", "gpus"];

/// Index of each column in a row.
struct Columns {
    indexes: HashMap<&'static str, usize>,
}

impl Columns {
    /// Maps column names to indexes, reporting unknown, duplicate and missing columns.
    fn from_header(header: &csv::StringRecord, line: usize, problems: &mut Problems) -> Option<Columns> {
        let known = || REQUIRED_COLUMNS.iter().chain(OPTIONAL_COLUMNS.iter());
        let mut indexes = HashMap::new();
        let mut usable = true;

        for (index, name) in header.iter().enumerate() {
            let Some(&column) = known().find(|column| column.eq_ignore_ascii_case(name)) else {
                problems.push(line, format!("unknown column `{name}`"), expected_columns_hint());
                continue;
            };
            if indexes.insert(column, index).is_some() {
                problems.push(
                    line,
                    format!("duplicate column `{column}`"),
                    "remove one of the two columns",
                );
                usable = false;
            }
        }

        for column in REQUIRED_COLUMNS {
            if !indexes.contains_key(column) {
                problems.push(line, format!("missing column `{column}`"), expected_columns_hint());
                usable = false;
            }
        }
        usable.then_some(Columns { indexes })
    }

    /// Returns the trimmed field of `column`, `None` when the column is absent or the field empty.
    fn field<'r>(&self, record: &'r csv::StringRecord, column: &str) -> Option<&'r str> {
        let index = *self.indexes.get(column)?;
        record.get(index).filter(|value| !value.is_empty())
    }

    /// Returns the field of a required column, reporting it when empty.
    fn required<'r>(
        &self,
        record: &'r csv::StringRecord,
        column: &str,
        line: usize,
        problems: &mut Problems,
    ) -> Option<&'r str> {
        let value = self.field(record, column);
        if value.is_none() {
            problems.push(
                line,
                format!("empty `{column}` field"),
                format!("fill in the `{column}` column"),
            );
        }
        value
    }

    /// Validates one row, reporting every invalid field of it.
    fn parse_row(&self, record: &csv::StringRecord, line: usize, problems: &mut Problems) -> Option<Node> {
        let rack = self.required(record, "rack", line, problems);
        let position = self
            .required(record, "position", line, problems)
            .and_then(|text| parse_position(text, line, problems));
        let hostname = self
            .required(record, "hostname", line, problems)
            .and_then(|text| parse_hostname(text, line, problems));
        let bmc = self
            .required(record, "bmc", line, problems)
            .and_then(|text| parse_bmc(text, line, problems));
        let role = self
            .required(record, "role", line, problems)
            .and_then(|text| parse_role(text, line, problems));
        let gpus = match self.field(record, "gpus") {
            Some(text) => Some(parse_gpus(text, line, problems)?),
            None => None,
        };

        Some(Node {
            line,
            rack: rack?.to_string(),
            position: position?,
            hostname: hostname?,
            bmc: bmc?,
            role: role?,
            credentials: self.field(record, "credentials").map(str::to_string),
            system: self.field(record, "system").map(str::to_string),
            gpus,
        })
    }
}

fn parse_gpus(text: &str, line: usize, problems: &mut Problems) -> Option<u32> {
    match text.parse::<u32>() {
        Ok(count) if count <= 64 => Some(count),
        _ => {
            problems.push(
                line,
                format!("invalid GPU count `{text}`"),
                "give the number of GPUs the server should show, from 0 to 64, or leave the field empty".to_string(),
            );
            None
        }
    }
}

fn expected_columns_hint() -> String {
    let required = REQUIRED_COLUMNS.join("`, `");
    let optional = OPTIONAL_COLUMNS.join("`, `");
    format!("the header names the columns `{required}` and optionally `{optional}`")
}

/// Parses a rack unit written as `12` or `U12`.
fn parse_position(text: &str, line: usize, problems: &mut Problems) -> Option<u32> {
    let digits = text.strip_prefix(['U', 'u']).unwrap_or(text);
    match digits.parse::<u32>() {
        Ok(position) if position > 0 => Some(position),
        _ => {
            problems.push(
                line,
                format!("invalid rack position `{text}`"),
                "write the rack unit as a number from 1, such as `12` or `U12`",
            );
            None
        }
    }
}

/// Accepts a DNS host name (RFC 1123 labels), lowercased.
fn parse_hostname(text: &str, line: usize, problems: &mut Problems) -> Option<String> {
    let valid_label = |label: &str| {
        (1..=63).contains(&label.len())
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if text.len() <= 253 && text.split('.').all(valid_label) {
        return Some(text.to_ascii_lowercase());
    }
    problems.push(
        line,
        format!("invalid hostname `{text}`"),
        "use letters, digits, `-` and `.` only, as in `gpu-a01.example.net`",
    );
    None
}

fn parse_bmc(text: &str, line: usize, problems: &mut Problems) -> Option<BmcAddress> {
    match BmcAddress::parse(text) {
        Ok(address) => Some(address),
        Err(err) => {
            let redacted = without_userinfo(text);
            problems.push(line, format!("invalid BMC address `{redacted}`: {err}"), err.hint());
            None
        }
    }
}

fn parse_role(text: &str, line: usize, problems: &mut Problems) -> Option<Role> {
    match text.parse::<Role>() {
        Ok(role) => Some(role),
        Err(()) => {
            let names: Vec<&str> = Role::ALL.iter().map(|role| role.as_str()).collect();
            problems.push(
                line,
                format!("unknown role `{text}`"),
                format!("use one of `{}`", names.join("`, `")),
            );
            None
        }
    }
}

/// Reports two rows with the same BMC and system, or the same hostname, naming both lines.
fn check_duplicates(nodes: &[Node], problems: &mut Problems) {
    let mut bmc_lines: HashMap<(&BmcAddress, Option<&str>), usize> = HashMap::new();
    let mut hostname_lines: HashMap<&str, usize> = HashMap::new();

    for node in nodes {
        let first = *bmc_lines
            .entry((&node.bmc, node.system.as_deref()))
            .or_insert(node.line);
        if first != node.line {
            let system = node
                .system
                .as_deref()
                .map(|id| format!(" and system `{id}`"))
                .unwrap_or_default();
            problems.push(
                node.line,
                format!("duplicate BMC address `{}`{system}, already on line {first}", node.bmc),
                "list each BMC once, or set the `system` column to tell the hosts of one BMC apart",
            );
        }

        let first = *hostname_lines.entry(&node.hostname).or_insert(node.line);
        if first != node.line {
            problems.push(
                node.line,
                format!("duplicate hostname `{}`, already on line {first}", node.hostname),
                "give each node its own hostname",
            );
        }
    }
}
