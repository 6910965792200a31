//! The security server's logic (DESIGN.md §5), kept apart from kernel objects so the host
//! tests exercise every decision: the [`Broker`] knows the programs (path and label, told
//! by the process manager at spawn), the registered services, the live connections and
//! the policy in force. It decides and books; the program around it mints and revokes the
//! capabilities the answers name, and writes each [`Audit`] record as a `tracing` event
//! with target `audit`.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod broker;

pub use broker::{Audit, Broker, ClientId, Closed, Granted, PolicySwap};

#[cfg(test)]
mod tests;
