//! The server kit: what every Lattice server shares, so each server is its api crate, its
//! logic in a lib, and a short `main.rs` (DESIGN.md §4).
//!
//! - [`slots`]: capability slots as owned values ([`Slot`]) that delete their capability
//!   and return to the pool when dropped, so no server keeps a free-slot list of its own.
//! - [`Caller`]: who sent a message, from its badge: a manifest client (the root task's
//!   badges, below [`security_api::FIRST_CONNECTION`]), a session (a connection id), or a
//!   process's fault endpoint ([`FAULT_BADGE`] onwards).
//! - [`sessions`]: the sessions the security server grants a server: registered and
//!   subscribed once, their notices taken, each session's donated Untyped taken when it
//!   opens and released when it closes, and per-session state kept by connection id.
//! - [`serve`]: one event loop (Hubris's `NotificationHandler` is the model) that hands a
//!   server decoded requests, its notification bits (interrupts, timers) and fault
//!   messages, and takes session notices itself, so no server decodes by hand.
//! - [`wait`]: a driver's wait, inside a handler, for its device's interrupt bit
//!   ([`Kit::waiter`]), keeping the other bits for the loop.
//! - Services by name: `kit::service("donor")` is the capability the root task gave for
//!   the manifest's `uses = ["donor"]` (the names travel in the start info), never a slot
//!   number.
//!
//! The pure parts (the slot pool, badges, the session table) are host-tested; the parts
//! that call the kernel build only for Lattice.
//!
//! A new server is its api crate, its logic in a lib, and a main like this (the donor's,
//! shortened):
//!
//! ```ignore
//! struct Books { ledger: donor::Ledger /* and its Slots */ }
//!
//! impl kit::Server for Books {
//!     type Protocol = donor_api::Donor;
//!     type Session = ();          // per-session state, kept in `kit.sessions`
//!
//!     fn request(&mut self, kit: &mut Kit<()>, call: &Call<'_>, request: Request) -> Answer<Donor> {
//!         // `call.caller()` says who asks; a session's scope is in
//!         // `kit.sessions.get(connection)`; answer now, or `kit.defer()` and answer later.
//!         Answer::Now(self.ledger.handle(call.caller(), request))
//!     }
//!     // Optional: notified (interrupt and timer bits), fault, opened, closed.
//! }
//!
//! fn main() -> i32 {
//!     let kit = Kit::start(Config::new("donor").service("donor", 0))?;
//!     let error = kit.run(&mut Books { .. });
//!     1
//! }
//! ```
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod caller;
pub mod sessions;
pub mod slots;

#[cfg(target_arch = "riscv64")]
pub mod serve;
#[cfg(target_arch = "riscv64")]
pub mod wait;

pub use caller::{Caller, FAULT_BADGE};
pub use sessions::{Session, SessionInfo, SessionTable};
pub use slots::SlotPool;

#[cfg(target_arch = "riscv64")]
pub use serve::{Answer, Call, Config, Deferred, Kit, Server};
#[cfg(target_arch = "riscv64")]
pub use slots::Slot;
#[cfg(target_arch = "riscv64")]
pub use wait::BitWaiter;

/// Why the kit could not do something for the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KitError {
    /// No free capability slot is left in the server's CNode.
    NoSlots,
    /// The program was given no capability to this service (it is not in the manifest's
    /// `uses`).
    NoService(&'static str),
    /// A kernel operation failed.
    Kernel(kernel_abi::Error),
    /// The security server refused to register or subscribe the service.
    Refused,
}

impl From<kernel_abi::Error> for KitError {
    fn from(error: kernel_abi::Error) -> Self {
        Self::Kernel(error)
    }
}

impl core::fmt::Display for KitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoSlots => f.write_str("no free capability slots"),
            Self::NoService(name) => {
                write!(f, "no capability to the `{name}` service (not in the manifest's uses)")
            }
            Self::Kernel(error) => write!(f, "{error:?}"),
            Self::Refused => f.write_str("the security server refused the registration"),
        }
    }
}

/// The capability this program was given for service `name` (a manifest `uses` entry, or
/// `"security"` for a spawned program), by its name in the start info.
pub fn service(name: &'static str) -> Result<usize, KitError> {
    #[cfg(target_arch = "riscv64")]
    {
        userlib::start::service(name).ok_or(KitError::NoService(name))
    }
    #[cfg(not(target_arch = "riscv64"))]
    {
        Err(KitError::NoService(name))
    }
}
