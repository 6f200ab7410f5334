//! rackcheck: validates bare-metal GPU servers out-of-band through their BMCs' Redfish API.
//!
//! The pipeline: [`inventory`] reads the rack, [`redfish`] talks to each BMC, [`collect`] turns
//! Redfish JSON into [`facts`], [`policy`] judges facts against a profile, [`report`] prints.

pub mod capture;
pub mod collect;
pub mod credentials;
pub mod demo;
pub mod diff;
pub mod discover;
pub mod facts;
pub mod handoff;
pub mod inband;
pub mod inventory;
pub mod policy;
pub mod process;
pub mod redfish;
pub mod report;
pub mod rescan;
pub mod scan;
