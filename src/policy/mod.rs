//! The requirements profile and the rules that turn facts into findings.
