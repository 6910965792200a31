//! Waiting inside a handler for bits of the server's own notification: a driver whose
//! caller needs the answer now (a block read under a filesystem request) submits to its
//! device and blocks until the device's interrupt bit (or its deadline timer's bit) comes,
//! instead of returning to the kit's loop.
//!
//! The kit's notification is bound to the server's thread, and the kernel delivers a signal
//! to a thread waiting on the notification itself before the bound thread's endpoint
//! receive, so the waiter gets the bits while the loop is not receiving. Bits it was not
//! asked for (a closed session's notice, another device's interrupt) are not lost: it
//! collects them and signals them again before it returns, so the loop's next receive
//! delivers them as usual.

use kernel_abi::Rights;
use loader::server_slots as at;
use userlib::ipc;

use crate::KitError;
use crate::slots::Slot;

/// Waits for some bits of the kit's notification ([`crate::Kit::waiter`]).
#[derive(Debug)]
pub struct BitWaiter {
    /// A copy of the kit's notification (unbadged, to wait on and to mint re-signals from).
    notification: Slot,
    bits: usize,
}

impl BitWaiter {
    /// A waiter for `bits` of the notification in `notification` (a slot of this program).
    pub(crate) fn new(notification: usize, bits: usize) -> Result<BitWaiter, KitError> {
        let copy = Slot::new()?;
        userlib::object::copy(
            at::CNODE,
            copy.index(),
            at::CNODE,
            notification,
            Rights::READ | Rights::WRITE,
        )?;
        Ok(BitWaiter { notification: copy, bits })
    }

    /// The bits it waits for.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// Blocks until at least one of its bits is signalled; returns those of its bits that
    /// were (a signal that came before the call counts). Other bits that arrive meanwhile are
    /// signalled again before it returns. Fails only if the notification is gone or a
    /// capability to signal the others again cannot be made (then they are lost, and the
    /// error says so).
    pub fn wait(&self) -> Result<usize, KitError> {
        let mut others = 0;
        let result = loop {
            match ipc::wait(self.notification.index()) {
                Ok(word) => {
                    others |= word & !self.bits;
                    if word & self.bits != 0 {
                        break Ok(word & self.bits);
                    }
                }
                Err(error) => break Err(KitError::Kernel(error)),
            }
        };
        if others != 0 {
            let again = Slot::mint(self.notification.index(), Rights::WRITE, others)?;
            ipc::signal(again.index())?;
        }
        result
    }
}
