//! Redfish tree walk that turns a node's resources into [`crate::facts::NodeFacts`].
