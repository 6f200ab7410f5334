//! Inventory import: the shipped example loads, and every kind of invalid input is reported
//! with file, line and value.

use std::path::Path;

use rackcheck::inventory::{Inventory, InventoryError, Role};

const HEADER: &str = "rack,position,hostname,bmc,role,credentials,system\n";

fn problems(text: &str) -> Vec<String> {
    match Inventory::parse(text, "rack.csv") {
        Ok(inventory) => panic!("expected errors, got {} nodes", inventory.nodes.len()),
        Err(err) => err.problems().iter().map(ToString::to_string).collect(),
    }
}

/// Asserts that exactly one problem is reported and that it names `line` and contains `parts`.
fn assert_one_problem(text: &str, line: usize, parts: &[&str]) {
    let problems = problems(text);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let problem = &problems[0];
    assert!(problem.starts_with(&format!("rack.csv:{line}: ")), "{problem}");
    assert!(problem.contains("\n  hint: "), "{problem}");
    for part in parts {
        assert!(problem.contains(part), "expected `{part}` in: {problem}");
    }
}

#[test]
fn example_inventory_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("inventories/example.csv");
    let inventory = Inventory::load(&path).unwrap();
    assert_eq!(inventory.source, path);
    assert_eq!(inventory.nodes.len(), 6);

    let roles: Vec<Role> = inventory.nodes.iter().map(|node| node.role).collect();
    assert_eq!(roles.iter().filter(|role| **role == Role::GpuCompute).count(), 4);
    assert!(roles.contains(&Role::Storage));
    assert!(roles.contains(&Role::Metadata));
}

#[test]
fn valid_row_is_normalized() {
    let text = format!("{HEADER}  R07 , U12 , GPU-R07-U12 , BMC-R07-U12.example.net:8443 , gpu-compute , hgx , 2 \n");
    let inventory = Inventory::parse(&text, "rack.csv").unwrap();
    let node = &inventory.nodes[0];
    assert_eq!(node.line, 2);
    assert_eq!(node.rack, "R07");
    assert_eq!(node.position, 12);
    assert_eq!(node.hostname, "gpu-r07-u12");
    assert_eq!(node.bmc.to_string(), "https://bmc-r07-u12.example.net:8443");
    assert_eq!(node.bmc.host(), "bmc-r07-u12.example.net");
    assert_eq!(node.bmc.port(), 8443);
    assert_eq!(node.role, Role::GpuCompute);
    assert_eq!(node.credentials.as_deref(), Some("hgx"));
    assert_eq!(node.system.as_deref(), Some("2"));
}

#[test]
fn optional_columns_may_be_absent() {
    let text = "role,bmc,hostname,position,rack\nstorage,127.0.0.1:8443,stor-1,7,R1\n";
    let inventory = Inventory::parse(text, "rack.csv").unwrap();
    let node = &inventory.nodes[0];
    assert_eq!(node.position, 7);
    assert_eq!(node.credentials, None);
    assert_eq!(node.system, None);
}

#[test]
fn blank_and_comment_lines_are_skipped() {
    let text = format!(
        "# rack R1\n{HEADER}\n# first row\n   \nR1,1,gpu-1,127.0.0.1:8001,gpu-compute,,\n\nR1,2,gpu-2,127.0.0.1:8002,gpu-compute,,\n"
    );
    let inventory = Inventory::parse(&text, "rack.csv").unwrap();
    let lines: Vec<usize> = inventory.nodes.iter().map(|node| node.line).collect();
    assert_eq!(lines, [6, 8]);
}

#[test]
fn crlf_line_numbers() {
    let text = "rack,position,hostname,bmc,role\r\n\r\n#x\r\nR1,1,a,127.0.0.1:8001,storage\r\nR1,2,b,127.0.0.1:8001,storage\r\n";
    assert_one_problem(text, 5, &["`https://127.0.0.1:8001`", "line 4"]);
}

#[test]
fn unknown_column() {
    let text = "rack,position,hostname,bmc,role,colour\nR1,1,gpu-1,127.0.0.1:8001,gpu-compute,red\n";
    assert_one_problem(text, 1, &["unknown column", "`colour`"]);
}

#[test]
fn missing_column() {
    let text = "rack,position,hostname,role\nR1,1,gpu-1,gpu-compute\n";
    assert_one_problem(text, 1, &["missing column", "`bmc`"]);
}

#[test]
fn duplicate_column() {
    let text = "rack,position,hostname,bmc,role,Role\nR1,1,gpu-1,127.0.0.1:8001,gpu-compute,storage\n";
    assert_one_problem(text, 1, &["duplicate column", "`role`"]);
}

#[test]
fn empty_file_has_no_header() {
    assert_one_problem("# only a comment\n\n", 1, &["no header row", "`rack`"]);
    assert_one_problem("", 1, &["no header row"]);
}

#[test]
fn wrong_field_count() {
    let text = format!("{HEADER}R1,1,gpu-1,127.0.0.1:8001,gpu-compute\n");
    assert_one_problem(&text, 2, &["5 fields", "header has 7"]);
}

#[test]
fn empty_required_field() {
    let text = format!("{HEADER}R1,1,,127.0.0.1:8001,gpu-compute,,\n");
    assert_one_problem(&text, 2, &["empty", "`hostname`"]);
}

#[test]
fn invalid_position() {
    for position in ["U", "twelve", "0", "-3", "U1.5"] {
        let text = format!("{HEADER}R1,{position},gpu-1,127.0.0.1:8001,gpu-compute,,\n");
        assert_one_problem(&text, 2, &["invalid rack position", &format!("`{position}`")]);
    }
}

#[test]
fn unknown_role_lists_valid_roles() {
    let text = format!("{HEADER}R1,1,gpu-1,127.0.0.1:8001,gpu,,\n");
    assert_one_problem(
        &text,
        2,
        &["unknown role", "`gpu`", "`gpu-compute`", "`storage`", "`metadata`"],
    );
}

#[test]
fn http_address_is_rejected() {
    let text = format!("{HEADER}R1,1,gpu-1,http://127.0.0.1:8001,gpu-compute,,\n");
    assert_one_problem(
        &text,
        2,
        &["`http://127.0.0.1:8001`", "only HTTPS BMC addresses are accepted"],
    );
}

#[test]
fn address_with_path_is_rejected() {
    let text = format!("{HEADER}R1,1,gpu-1,https://127.0.0.1/redfish/v1/Systems/1,gpu-compute,,\n");
    assert_one_problem(
        &text,
        2,
        &[
            "`https://127.0.0.1/redfish/v1/Systems/1`",
            "only HTTPS BMC addresses are accepted",
        ],
    );
}

#[test]
fn malformed_address_is_rejected() {
    for (address, shown) in [
        ("bmc one", "bmc one"),
        ("127.0.0.1:99999", "127.0.0.1:99999"),
        // The password is not repeated in the error.
        ("https://admin:secret@127.0.0.1", "https://***@127.0.0.1"),
    ] {
        let text = format!("{HEADER}R1,1,gpu-1,{address},gpu-compute,,\n");
        assert_one_problem(&text, 2, &["invalid BMC address", &format!("`{shown}`")]);
    }
}

#[test]
fn invalid_hostname() {
    let text = format!("{HEADER}R1,1,gpu_1!,127.0.0.1:8001,gpu-compute,,\n");
    assert_one_problem(&text, 2, &["invalid hostname", "`gpu_1!`"]);
}

#[test]
fn duplicate_bmc_names_both_lines() {
    let text = format!("{HEADER}R1,1,gpu-1,127.0.0.1:443,gpu-compute,,\nR1,2,gpu-2,https://127.0.0.1/,gpu-compute,,\n");
    assert_one_problem(
        &text,
        3,
        &["duplicate BMC address", "`https://127.0.0.1:443`", "line 2"],
    );
}

#[test]
fn duplicate_bmc_and_system() {
    let text = format!("{HEADER}R1,1,gpu-1,127.0.0.1:8001,gpu-compute,,A\nR1,1,gpu-2,127.0.0.1:8001,gpu-compute,,A\n");
    assert_one_problem(&text, 3, &["duplicate BMC address", "system `A`", "line 2"]);
}

#[test]
fn shared_bmc_with_distinct_systems() {
    let text = format!("{HEADER}R1,1,gpu-1,127.0.0.1:8001,gpu-compute,,A\nR1,1,gpu-2,127.0.0.1:8001,gpu-compute,,B\n");
    let inventory = Inventory::parse(&text, "rack.csv").unwrap();
    assert_eq!(inventory.nodes.len(), 2);
    assert_eq!(inventory.nodes[0].bmc, inventory.nodes[1].bmc);
}

#[test]
fn duplicate_hostname_names_both_lines() {
    let text = format!("{HEADER}R1,1,gpu-1,127.0.0.1:8001,gpu-compute,,\nR1,2,GPU-1,127.0.0.1:8002,gpu-compute,,\n");
    assert_one_problem(&text, 3, &["duplicate hostname", "`gpu-1`", "line 2"]);
}

#[test]
fn every_problem_is_reported() {
    let text = format!(
        "{HEADER}R1,U0,gpu-1,127.0.0.1:8001,gpu-compute,,\nR1,2,gpu-2,ftp://bmc,compute,,\nR1,3,gpu-3\nR1,4,gpu-4,127.0.0.1:8004,storage,,\n"
    );
    let err = Inventory::parse(&text, "rack.csv").unwrap_err();
    let lines: Vec<usize> = err.problems().iter().map(|problem| problem.line).collect();
    assert_eq!(lines, [2, 3, 3, 4]);

    let message = err.to_string();
    for part in [
        "rack.csv:2:",
        "`U0`",
        "rack.csv:3:",
        "`ftp://bmc`",
        "`compute`",
        "rack.csv:4:",
    ] {
        assert!(message.contains(part), "expected `{part}` in:\n{message}");
    }
}

#[test]
fn unreadable_file_names_path() {
    let err = Inventory::load("does/not/exist.csv").unwrap_err();
    assert!(matches!(err, InventoryError::Read { .. }));
    assert!(err.to_string().contains("does/not/exist.csv"), "{err}");
}

#[test]
fn gpu_count_column_is_read() {
    let text = "rack,position,hostname,bmc,role,gpus\nR1,1,gpu-1,127.0.0.1:8443,gpu-compute,8\nR1,2,stor-1,127.0.0.1:8444,storage,\n";
    let inventory = Inventory::parse(text, "rack.csv").unwrap();
    assert_eq!(inventory.nodes[0].gpus, Some(8));
    assert_eq!(inventory.nodes[1].gpus, None);
}

#[test]
fn invalid_gpu_count_is_reported() {
    let text = "rack,position,hostname,bmc,role,gpus\nR1,1,gpu-1,127.0.0.1:8443,gpu-compute,eight\n";
    assert_one_problem(text, 2, &["invalid GPU count `eight`"]);
}
