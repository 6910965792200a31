//! Reply: where a caller waits for its answer.
//!
//! A server receives with a reply object; a `call` it receives binds the caller to it, and
//! the server answers by sending through the reply capability (or `reply_recv`). Invariant:
//! `caller` is non-zero iff that thread is in state `BlockedOnReply` on this object.

use kernel_abi::Error;

use super::thread::{self, State, Thread};
use super::{Header, ObjectRef};
use crate::Kernel;
use crate::ipc;

/// A reply object.
#[repr(C)]
pub struct Reply {
    /// Reference count.
    pub header: Header,
    /// The thread waiting for the reply (0: none).
    pub caller: usize,
    /// The passive thread serving the call on the caller's time (0: none).
    pub server: usize,
    /// The thread blocked in `recv` with this reply object (0: none): a call it receives
    /// will be bound here.
    pub receiver: usize,
}

/// Makes an unbound reply object in zeroed memory.
pub fn initialise(object: usize) {
    ObjectRef::<Reply>::new(object).get().caller = 0;
}

/// Makes `caller` wait on `reply` for its answer from `server`; a passive server runs on
/// the caller's time until it answers. A caller still bound from before (the server never
/// answered it) is woken with `Cancelled`.
pub fn bind(
    kernel: &mut Kernel,
    reply: ObjectRef<Reply>,
    caller: ObjectRef<Thread>,
    server: ObjectRef<Thread>,
) {
    end_donation(reply);
    if server.get().scheduling == thread::Scheduling::Passive {
        reply.get().server = server.address();
        server.get().donation_reply = reply.address();
    }
    if let Some(previous) = ObjectRef::<Thread>::from_link(reply.get().caller) {
        previous.get().state = State::Inactive;
        thread::wake(kernel, previous, Error::Cancelled as usize);
    }
    reply.get().caller = caller.address();
    kernel.scheduler.block(caller, State::BlockedOnReply { reply: reply.address() });
}

/// Forgets the caller (it is being stopped by other means); its server's loan ends.
pub fn detach_caller(reply: ObjectRef<Reply>) {
    reply.get().caller = 0;
    end_donation(reply);
}

/// The server serving through `reply` stops running on the caller's time.
fn end_donation(reply: ObjectRef<Reply>) {
    if let Some(server) = ObjectRef::<Thread>::from_link(reply.get().server) {
        if server.get().donation_reply == reply.address() {
            server.get().donation_reply = 0;
        }
        reply.get().server = 0;
    }
}

/// `replier` answers the caller bound to `reply` with the message in its registers.
pub fn reply(kernel: &mut Kernel, reply: ObjectRef<Reply>, replier: ObjectRef<Thread>) -> Result<(), Error> {
    let caller = ObjectRef::<Thread>::from_link(reply.get().caller).ok_or(Error::NoCaller)?;
    reply.get().caller = 0;
    end_donation(reply);
    ipc::transfer(kernel, replier, caller, 0, true);
    caller.get().state = State::Inactive;
    kernel.scheduler.make_ready(caller);
    Ok(())
}

/// The last capability is gone: a waiting caller is woken with `Cancelled`.
pub fn destroy(kernel: &mut Kernel, reply: ObjectRef<Reply>) {
    end_donation(reply);
    // A thread waiting to receive with it can no longer be given a caller.
    if let Some(receiver) = ObjectRef::<Thread>::from_link(reply.get().receiver) {
        thread::cancel_wait(kernel, receiver);
        receiver.get().state = State::Inactive;
        thread::wake(kernel, receiver, Error::Cancelled as usize);
    }
    if let Some(caller) = ObjectRef::<Thread>::from_link(reply.get().caller) {
        reply.get().caller = 0;
        caller.get().state = State::Inactive;
        thread::wake(kernel, caller, Error::Cancelled as usize);
    }
}
