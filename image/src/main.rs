//! placeholder
mod policy_cmd;
fn main() {}
