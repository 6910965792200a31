//! `cargo xtask policy ...`: check and diff policy scripts on the host (issue 5).

/// Runs `cargo xtask policy <args>`.
pub fn run(_args: &[String]) -> Result<(), String> {
    Err("policy tools are not built yet (issue 5)".into())
}
