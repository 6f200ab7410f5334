//! BMC credentials from the environment or a credentials file; never printed.
