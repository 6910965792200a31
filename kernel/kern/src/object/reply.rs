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
    // SAFETY: live: retype just zeroed this memory for a reply object (all zero bytes is a
    // valid unbound one); exclusive: nothing else knows it yet.
    unsafe { ObjectRef::<Reply>::new(object).get() }.caller = 0;
}

/// The thread waiting on `reply` (0: none), copied out.
fn caller_of(reply: ObjectRef<Reply>) -> usize {
    // SAFETY: live: every reply object passed in this file is named by a capability or a
    // thread's state (both cleared before it is reused); exclusive: one read.
    unsafe { reply.get() }.caller
}

/// Sets the thread waiting on `reply`.
fn set_caller(reply: ObjectRef<Reply>, caller: usize) {
    // SAFETY: as in `caller_of`; one store.
    unsafe { reply.get() }.caller = caller;
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
    // SAFETY: live: the receiver that just took the call, and its reply object (as in
    // `caller_of`); exclusive: different objects, a read and two stores, nothing called.
    unsafe {
        let server_tcb = server.get();
        if server_tcb.scheduling == thread::Scheduling::Passive {
            reply.get().server = server.address();
            server_tcb.donation_reply = reply.address();
        }
    }
    if let Some(previous) = ObjectRef::<Thread>::from_link(caller_of(reply)) {
        // SAFETY: live: linked as the reply's caller; exclusive: one store.
        unsafe { previous.get() }.state = State::Inactive;
        thread::wake(kernel, previous, Error::Cancelled as usize);
    }
    set_caller(reply, caller.address());
    kernel.scheduler.block(caller, State::BlockedOnReply { reply: reply.address() });
}

/// Forgets the caller (it is being stopped by other means); its server's loan ends.
pub fn detach_caller(reply: ObjectRef<Reply>) {
    set_caller(reply, 0);
    end_donation(reply);
}

/// The server serving through `reply` stops running on the caller's time.
fn end_donation(reply: ObjectRef<Reply>) {
    // SAFETY: live: the reply object (as in `caller_of`) and the server it links (its
    // link is cleared when the server goes); exclusive: different objects, nothing called.
    unsafe {
        let reply_state = reply.get();
        if let Some(server) = ObjectRef::<Thread>::from_link(reply_state.server) {
            let server = server.get();
            if server.donation_reply == reply.address() {
                server.donation_reply = 0;
            }
            reply_state.server = 0;
        }
    }
}

/// `replier` answers the caller bound to `reply` with the message in its registers.
pub fn reply(kernel: &mut Kernel, reply: ObjectRef<Reply>, replier: ObjectRef<Thread>) -> Result<(), Error> {
    let caller = ObjectRef::<Thread>::from_link(caller_of(reply)).ok_or(Error::NoCaller)?;
    set_caller(reply, 0);
    end_donation(reply);
    ipc::transfer(kernel, replier, caller, 0, true);
    // SAFETY: live: it was the reply's caller; exclusive: one store.
    unsafe { caller.get() }.state = State::Inactive;
    kernel.scheduler.make_ready(caller);
    Ok(())
}

/// The last capability is gone: a waiting caller is woken with `Cancelled`.
pub fn destroy(kernel: &mut Kernel, reply: ObjectRef<Reply>) {
    end_donation(reply);
    // A thread waiting to receive with it can no longer be given a caller.
    // SAFETY: live: dead but intact until a later retype; exclusive: one read.
    let receiver = unsafe { reply.get() }.receiver;
    if let Some(receiver) = ObjectRef::<Thread>::from_link(receiver) {
        thread::cancel_wait(kernel, receiver);
        // SAFETY: live: linked as the reply's receiver; exclusive: one store.
        unsafe { receiver.get() }.state = State::Inactive;
        thread::wake(kernel, receiver, Error::Cancelled as usize);
    }
    if let Some(caller) = ObjectRef::<Thread>::from_link(caller_of(reply)) {
        set_caller(reply, 0);
        // SAFETY: live: linked as the reply's caller; exclusive: one store.
        unsafe { caller.get() }.state = State::Inactive;
        thread::wake(kernel, caller, Error::Cancelled as usize);
    }
}
