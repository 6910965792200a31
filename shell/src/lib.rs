//! The Lattice shell, as a library: the shell program runs it over the real servers, and the
//! host tests run it over a fake.
//!
//! - [`line`](mod@line): the line editor (terminal bytes in; echo, lines and control events out).
//! - [`parse`]: one line to a [`parse::Command`]: words, quotes, `$` expansion,
//!   assignments, `&`.
//! - [`shell`]: the interpreter, [`Shell`]: builtins, programs, `$?`, background jobs.
//! - [`system`]: the [`System`] trait the interpreter acts through, and its types.
//! - [`variables`], [`table`]: shell variables; tables and sizes for builtin output.
//!
//! The behaviour users see (keys, builtins, variables, jobs, exit statuses) is described in
//! `shell/README.md`.
//!
//! The library is `no_std` with `alloc` and has no `unsafe`; it never panics on input (the
//! editor and the parser are fuzzed).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod line;
pub mod parse;
pub mod shell;
pub mod system;
pub mod table;
pub mod variables;

pub use shell::{Flow, GREETING, PROMPT, Shell};
pub use system::System;

#[cfg(test)]
mod testing;
