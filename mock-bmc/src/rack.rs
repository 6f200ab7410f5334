//! Racks: many mock BMCs started from one TOML config, each with its own mockup and scenario.
//!
//! ```toml
//! [[bmc]]
//! name = "gpu-a01"
//! listen = "127.0.0.1:0"                     # loopback only
//! mockup = "../mockups/dell-xe9680"          # relative to this file
//! scenario = "../scenarios/psu-failed.json"  # optional
//! username = "root"
//! password = "calvin"
//! sessions = true                            # optional, default true
//! page_size = 50                             # optional, default no paging
//! expand = true                              # optional, default false: honour `$expand`
//! apply_settings_on_reset = false            # optional, default true
//!
//! [bmc.faults]                               # optional, see `Faults` for every kind
//! seed = 7
//! [[bmc.faults.rules]]
//! path = "/redfish/v1/Chassis"
//! every_nth = 3
//! fault = { kind = "unavailable_503", retry_after_s = 2 }
//! ```

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::error::Error;
use crate::fault::Faults;
use crate::mockup::Mockup;
use crate::scenario::Scenario;
use crate::server::{BmcConfig, MockBmc};

/// A rack config file: the BMCs to start.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RackConfig {
    #[serde(rename = "bmc", default)]
    pub bmcs: Vec<RackBmc>,
}

/// One `[[bmc]]` entry. `load` resolves `mockup` and `scenario` against the config's folder.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RackBmc {
    pub name: String,
    pub listen: SocketAddr,
    pub mockup: PathBuf,
    pub scenario: Option<PathBuf>,
    pub username: String,
    pub password: String,
    #[serde(default = "default_sessions")]
    pub sessions: bool,
    pub page_size: Option<usize>,
    /// Honour `$expand` and advertise it in the service root.
    #[serde(default)]
    pub expand: bool,
    /// Apply pending BIOS settings when a reset boots the system.
    #[serde(default = "default_apply_settings_on_reset")]
    pub apply_settings_on_reset: bool,
    /// Injected faults, none by default.
    #[serde(default)]
    pub faults: Faults,
}

fn default_sessions() -> bool {
    true
}

fn default_apply_settings_on_reset() -> bool {
    true
}

impl std::fmt::Debug for RackBmc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RackBmc")
            .field("name", &self.name)
            .field("listen", &self.listen)
            .field("mockup", &self.mockup)
            .field("scenario", &self.scenario)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("sessions", &self.sessions)
            .field("page_size", &self.page_size)
            .field("expand", &self.expand)
            .field("apply_settings_on_reset", &self.apply_settings_on_reset)
            .field("faults", &self.faults)
            .finish()
    }
}

impl RackBmc {
    fn bmc_config(&self) -> BmcConfig {
        BmcConfig {
            listen: self.listen,
            username: self.username.clone(),
            password: self.password.clone(),
            sessions: self.sessions,
            page_size: self.page_size,
            expand: self.expand,
            apply_settings_on_reset: self.apply_settings_on_reset,
            faults: self.faults.clone(),
        }
    }
}

impl RackConfig {
    /// Reads and validates a rack config, resolving relative paths against its folder.
    ///
    /// Reports every problem found (duplicate names or addresses, non-loopback addresses,
    /// a zero page size) in one error.
    pub fn load(file: &Path) -> Result<RackConfig, Error> {
        let text = std::fs::read_to_string(file).map_err(|source| Error::Read {
            path: file.to_path_buf(),
            source,
        })?;
        let mut config: RackConfig = toml::from_str(&text).map_err(|source| Error::InvalidRackConfig {
            path: file.to_path_buf(),
            source,
        })?;

        let base = file.parent().unwrap_or(Path::new("."));
        for bmc in &mut config.bmcs {
            bmc.mockup = base.join(&bmc.mockup);
            bmc.scenario = bmc.scenario.as_ref().map(|scenario| base.join(scenario));
        }

        let problems = config.problems();
        if !problems.is_empty() {
            return Err(Error::RackConfigProblems {
                path: file.to_path_buf(),
                problems,
            });
        }
        Ok(config)
    }

    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut names = BTreeSet::new();
        let mut addrs = BTreeSet::new();

        if self.bmcs.is_empty() {
            problems.push("no `[[bmc]]` entry".to_string());
        }
        for bmc in &self.bmcs {
            if !names.insert(bmc.name.as_str()) {
                problems.push(format!("duplicate BMC name `{}`", bmc.name));
            }
            if bmc.listen.port() != 0 && !addrs.insert(bmc.listen) {
                problems.push(format!(
                    "BMC `{}`: listen address `{}` is used twice",
                    bmc.name, bmc.listen
                ));
            }
            if !bmc.listen.ip().is_loopback() {
                problems.push(format!(
                    "BMC `{}`: listen address `{}` is not loopback",
                    bmc.name, bmc.listen
                ));
            }
            if bmc.page_size == Some(0) {
                problems.push(format!("BMC `{}`: page_size must be at least 1", bmc.name));
            }
            for problem in bmc.faults.problems() {
                problems.push(format!("BMC `{}`: {problem}", bmc.name));
            }
        }
        problems
    }
}

/// A set of running mock BMCs, in config order.
pub struct Rack {
    bmcs: Vec<(String, MockBmc)>,
}

impl Rack {
    /// Loads each distinct mockup and scenario pair once and starts every BMC.
    /// On failure the BMCs already started are stopped.
    pub async fn start(config: &RackConfig) -> Result<Rack, Error> {
        let mockups = load_mockups(config)?;

        let mut rack = Rack {
            bmcs: Vec::with_capacity(config.bmcs.len()),
        };
        for bmc in &config.bmcs {
            let mockup = mockups[&(bmc.mockup.clone(), bmc.scenario.clone())].clone();
            match MockBmc::start(mockup, bmc.bmc_config()).await {
                Ok(server) => rack.bmcs.push((bmc.name.clone(), server)),
                Err(err) => {
                    rack.shutdown().await;
                    return Err(err);
                }
            }
        }
        Ok(rack)
    }

    /// Returns the BMCs with their names, in config order.
    pub fn bmcs(&self) -> &[(String, MockBmc)] {
        &self.bmcs
    }

    /// Returns the BMC named `name`.
    pub fn get(&self, name: &str) -> Option<&MockBmc> {
        self.bmcs
            .iter()
            .find(|(bmc_name, _)| bmc_name == name)
            .map(|(_, bmc)| bmc)
    }

    /// Stops every BMC.
    pub async fn shutdown(self) {
        for (_, bmc) in self.bmcs {
            bmc.shutdown().await;
        }
    }
}

type MockupKey = (PathBuf, Option<PathBuf>);

/// Loads every distinct (mockup, scenario) pair of the config once, to share between BMCs.
fn load_mockups(config: &RackConfig) -> Result<HashMap<MockupKey, Arc<Mockup>>, Error> {
    let mut bases: HashMap<PathBuf, Mockup> = HashMap::new();
    let mut mockups = HashMap::new();

    for bmc in &config.bmcs {
        let key = (bmc.mockup.clone(), bmc.scenario.clone());
        if mockups.contains_key(&key) {
            continue;
        }
        if !bases.contains_key(&bmc.mockup) {
            bases.insert(bmc.mockup.clone(), Mockup::load(&bmc.mockup)?);
        }

        let base = &bases[&bmc.mockup];
        let mockup = match &bmc.scenario {
            Some(file) => base.try_apply(&Scenario::load(file)?)?,
            None => base.clone(),
        };
        mockups.insert(key, Arc::new(mockup));
    }
    Ok(mockups)
}
