//! Endpoint: a rendezvous for synchronous messages.
//!
//! Invariant: the queue holds only senders (state `Sending`) or only receivers
//! (`Receiving`), never both, and is empty exactly when the state is `Idle`.

use kernel_abi::Error;

use super::thread::{self, Pending, Queue, State, Thread};
use super::{Header, ObjectRef, notification, reply};
use crate::Kernel;
use crate::ipc;

/// Who waits in the queue.
#[repr(usize)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Waiting {
    /// Nobody.
    #[default]
    Idle = 0,
    /// Senders.
    Senders = 1,
    /// Receivers.
    Receivers = 2,
}

/// An endpoint.
#[repr(C)]
pub struct Endpoint {
    /// Reference count.
    pub header: Header,
    /// The waiting threads.
    pub queue: Queue,
    /// What they wait to do.
    pub waiting: Waiting,
}

const _: () = assert!(core::mem::size_of::<Endpoint>() <= 1 << kernel_abi::object::SMALL_OBJECT_SIZE_BITS);

/// Makes an idle endpoint in zeroed memory.
pub fn initialise(object: usize) {
    // SAFETY: live: retype just zeroed this memory for an endpoint (all zero bytes is a
    // valid idle one); exclusive: nothing else knows it yet.
    unsafe { ObjectRef::<Endpoint>::new(object).get() }.waiting = Waiting::Idle;
}

fn dequeue(endpoint: ObjectRef<Endpoint>) -> Option<ObjectRef<Thread>> {
    // SAFETY: live: the caller's (from a capability, or a waiter's state); exclusive: the
    // queue operation touches threads only.
    let ep = unsafe { endpoint.get() };
    let thread = ep.queue.pop_front()?;
    if ep.queue.is_empty() {
        ep.waiting = Waiting::Idle;
    }
    release_reply(thread);
    Some(thread)
}

/// Removes `thread` from the endpoint's queue.
pub fn remove_waiter(endpoint: ObjectRef<Endpoint>, thread: ObjectRef<Thread>) {
    // SAFETY: live: the thread's state names it (waiters leave when it is destroyed);
    // exclusive: the queue operation touches threads only.
    let ep = unsafe { endpoint.get() };
    ep.queue.remove(thread);
    if ep.queue.is_empty() {
        ep.waiting = Waiting::Idle;
    }
    release_reply(thread);
}

/// A receiver leaving the queue no longer holds its reply object.
#[inline(always)]
pub fn release_reply(thread: ObjectRef<Thread>) {
    // SAFETY: live: the caller's thread, and the reply object its state names (a reply
    // object being destroyed wakes its receiver first); exclusive: different objects, one
    // read of the thread, a read and a store of the reply object, nothing called.
    unsafe {
        if let State::BlockedOnReceive { reply, .. } = thread.get().state
            && let Some(reply) = ObjectRef::<reply::Reply>::from_link(reply)
            && reply.get().receiver == thread.address()
        {
            reply.get().receiver = 0;
        }
    }
}

/// What a send asks for.
#[derive(Clone, Copy)]
pub struct SendOptions {
    /// Badge of the capability sent through.
    pub badge: usize,
    /// The capability had the grant right.
    pub can_grant: bool,
    /// Wait for a reply (`call`).
    pub is_call: bool,
    /// Wait for a receiver if none is there.
    pub blocking: bool,
}

/// The state of a thread (copied out).
fn state_of(thread: ObjectRef<Thread>) -> State {
    // SAFETY: live: every thread passed here is a waiter or the caller; exclusive: one read.
    unsafe { thread.get() }.state
}

/// `sender` sends on `endpoint`. If a receiver waits, the message moves now; otherwise the
/// sender waits (or `WouldBlock` if it may not). A call leaves the sender waiting for the
/// reply, bound to the receiver's reply object.
pub fn send(
    kernel: &mut Kernel,
    endpoint: ObjectRef<Endpoint>,
    sender: ObjectRef<Thread>,
    options: SendOptions,
) -> Result<(), Error> {
    // SAFETY: live: the sender's capability names it; exclusive: one read.
    if unsafe { endpoint.get() }.waiting == Waiting::Receivers
        && let Some(receiver) = dequeue(endpoint)
    {
        let State::BlockedOnReceive { reply: reply_object, .. } = state_of(receiver) else {
            return Err(Error::Cancelled);
        };
        ipc::transfer(kernel, sender, receiver, options.badge, options.can_grant);
        kernel.scheduler.make_ready(receiver);
        if options.is_call {
            match ObjectRef::<reply::Reply>::from_link(reply_object) {
                Some(reply_object) => reply::bind(kernel, reply_object, sender, receiver),
                // The receiver gave no reply object: nobody can ever answer.
                None => return Err(Error::Cancelled),
            }
        }
        return Ok(());
    }
    if !options.blocking {
        return Err(Error::WouldBlock);
    }
    // SAFETY: live: the caller; exclusive: one store.
    unsafe { sender.get() }.pending =
        Pending::Message { badge: options.badge, can_grant: options.can_grant, is_call: options.is_call };
    block_sender(kernel, endpoint, sender);
    Ok(())
}

/// Queues `sender` (whose `pending` is set) on `endpoint`.
pub fn block_sender(kernel: &mut Kernel, endpoint: ObjectRef<Endpoint>, sender: ObjectRef<Thread>) {
    kernel.scheduler.block(sender, State::BlockedOnSend { endpoint: endpoint.address() });
    // SAFETY: live: the caller names it from a capability; exclusive: the queue operation
    // touches threads only.
    let ep = unsafe { endpoint.get() };
    ep.queue.push_back(sender);
    ep.waiting = Waiting::Senders;
}

/// `receiver` receives on `endpoint`, with `reply_object` (0: none) to bind a caller to.
/// A pending signal on its bound notification is delivered first.
pub fn receive(
    kernel: &mut Kernel,
    endpoint: ObjectRef<Endpoint>,
    receiver: ObjectRef<Thread>,
    reply_object: usize,
    blocking: bool,
) -> Result<(), Error> {
    if notification::take_bound_signal(receiver) {
        return Ok(());
    }
    // SAFETY: live: the receiver's capability names it; exclusive: one read.
    if unsafe { endpoint.get() }.waiting == Waiting::Senders
        && let Some(sender) = dequeue(endpoint)
    {
        // SAFETY: live: it was in the queue; exclusive: one read.
        let pending = unsafe { sender.get() }.pending;
        let (badge, can_grant, is_call, is_fault) = match pending {
            Pending::Message { badge, can_grant, is_call } => (badge, can_grant, is_call, false),
            Pending::Fault { badge, .. } => (badge, false, false, true),
            Pending::None => (0, false, false, false),
        };
        ipc::transfer(kernel, sender, receiver, badge, can_grant);
        if is_fault {
            // The faulting thread stays stopped; its handler restarts or destroys it.
            // SAFETY: live: as above; exclusive: two stores.
            let tcb = unsafe { sender.get() };
            tcb.state = State::Inactive;
            tcb.pending = Pending::None;
        } else if is_call {
            // SAFETY: live: as above; exclusive: one store.
            unsafe { sender.get() }.state = State::Inactive;
            match ObjectRef::<reply::Reply>::from_link(reply_object) {
                Some(reply_object) => reply::bind(kernel, reply_object, sender, receiver),
                None => thread::wake(kernel, sender, Error::Cancelled as usize),
            }
        } else {
            thread::wake(kernel, sender, 0);
        }
        return Ok(());
    }
    if !blocking {
        return Err(Error::WouldBlock);
    }
    if let Some(reply) = ObjectRef::<reply::Reply>::from_link(reply_object) {
        // SAFETY: live: the receiver's reply capability names it; exclusive: a read and a
        // store, nothing called.
        let reply = unsafe { reply.get() };
        if reply.receiver != 0 {
            // Another thread is receiving with it: a caller could be bound only once.
            return Err(Error::IllegalOperation);
        }
        reply.receiver = receiver.address();
    }
    kernel
        .scheduler
        .block(receiver, State::BlockedOnReceive { endpoint: endpoint.address(), reply: reply_object });
    // SAFETY: live: as above; exclusive: the queue operation touches threads only.
    let ep = unsafe { endpoint.get() };
    ep.queue.push_back(receiver);
    ep.waiting = Waiting::Receivers;
    Ok(())
}

/// The last capability is gone: every waiting thread is woken with `Cancelled`.
pub fn destroy(kernel: &mut Kernel, endpoint: ObjectRef<Endpoint>) {
    while let Some(thread) = dequeue(endpoint) {
        // SAFETY: live: it was in the queue; exclusive: one store.
        unsafe { thread.get() }.state = State::Inactive;
        thread::wake(kernel, thread, Error::Cancelled as usize);
    }
}

/// Delivers the fault message pending in `thread` (already stopped) through `endpoint`: to
/// a waiting receiver now, or queued until one comes. The thread stays stopped either way.
pub fn send_fault(kernel: &mut Kernel, endpoint: ObjectRef<Endpoint>, thread: ObjectRef<Thread>) {
    // SAFETY: live: the faulting thread; exclusive: one read.
    let Pending::Fault { badge, .. } = unsafe { thread.get() }.pending else { return };
    // SAFETY: live: its fault endpoint capability names it; exclusive: one read.
    if unsafe { endpoint.get() }.waiting == Waiting::Receivers
        && let Some(receiver) = dequeue(endpoint)
    {
        ipc::transfer(kernel, thread, receiver, badge, false);
        kernel.scheduler.make_ready(receiver);
        // SAFETY: live: as above; exclusive: two stores.
        let tcb = unsafe { thread.get() };
        tcb.pending = Pending::None;
        tcb.state = State::Inactive;
        return;
    }
    block_sender(kernel, endpoint, thread);
}
