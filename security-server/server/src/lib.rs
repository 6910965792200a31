//! The security server's logic (DESIGN.md §5), kept apart from kernel objects so the host
//! tests exercise every decision: the [`Broker`] knows the programs (path and label, told
//! by the process manager at spawn), the registered services, the live connections and
//! the policy in force. It decides and books; the program around it mints and revokes the
//! capabilities the answers name, and writes each [`Audit`] record as a `tracing` event
//! with target `audit`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod boot;
pub mod broker;
pub mod trail;

pub use boot::{BootServer, boot_servers};
pub use broker::{Audit, Broker, ClientId, Closed, Granted, PolicySwap};
pub use trail::AuditTrail;

#[cfg(test)]
mod tests;
