//! The Lattice policy language (work in progress: see issue 5).
#![no_std]
#![forbid(unsafe_code)]
extern crate alloc;

/// Probe.
#[cfg(feature = "compiler")]
pub fn probe() -> i64 {
    let engine = rhai::Engine::new();
    engine.eval::<i64>("1 + 2").unwrap_or(0)
}
