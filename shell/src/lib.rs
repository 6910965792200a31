//! The Lattice shell, as a library the shell program runs and the host tests exercise.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod line;
pub mod parse;

#[cfg(test)]
mod testing;
