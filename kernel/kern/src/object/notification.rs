//! Notification: a word of signal bits.
//!
//! A signal ORs the capability's badge into the word, marks the notification pending (a
//! signal through an unbadged capability counts too) and wakes one waiter (or the bound
//! thread, even while it waits on an endpoint), handing it the word and clearing both.
//! Invariant: threads wait only while nothing is pending.

use kernel_abi::{Error, MessageInfo};

use super::endpoint;
use super::thread::{self, Queue, State, Thread};
use super::{Header, ObjectRef};
use crate::Kernel;

/// A notification.
#[repr(C)]
pub struct Notification {
    /// Reference count.
    pub header: Header,
    /// Pending signal bits.
    pub word: usize,
    /// Whether a signal arrived since the last wait or poll (even one with badge 0).
    pub pending: bool,
    /// Threads waiting on it.
    pub queue: Queue,
    /// The thread bound to it (0: none).
    pub bound_thread: usize,
}

const _: () =
    assert!(core::mem::size_of::<Notification>() <= 1 << kernel_abi::object::SMALL_OBJECT_SIZE_BITS);

/// Makes an empty notification in zeroed memory.
pub fn initialise(object: usize) {
    ObjectRef::<Notification>::new(object).get().word = 0;
}

/// Hands `word` to `thread` as the result of its wait.
fn deliver(thread: ObjectRef<Thread>, word: usize) {
    let frame = &mut thread.get().frame;
    frame.set_a(0, 0);
    frame.set_a(1, MessageInfo::new(0, 0, 0).0);
    frame.set_a(6, word);
}

/// Signals `notification` with `badge`.
pub fn signal(kernel: &mut Kernel, notification: ObjectRef<Notification>, badge: usize) {
    let n = notification.get();
    if let Some(waiter) = n.queue.pop_front() {
        let word = n.word | badge;
        n.word = 0;
        n.pending = false;
        deliver(waiter, word);
        waiter.get().state = State::Inactive;
        kernel.scheduler.make_ready(waiter);
        return;
    }
    if let Some(bound) = ObjectRef::<Thread>::from_link(n.bound_thread)
        && let State::BlockedOnReceive { endpoint, .. } = bound.get().state
    {
        let word = n.word | badge;
        n.word = 0;
        n.pending = false;
        endpoint::remove_waiter(ObjectRef::new(endpoint), bound);
        deliver(bound, word);
        bound.get().state = State::Inactive;
        kernel.scheduler.make_ready(bound);
        return;
    }
    n.word |= badge;
    n.pending = true;
}

/// `thread` waits on `notification`: takes the word if non-zero, else blocks (or, when not
/// blocking, returns a zero word).
pub fn wait(
    kernel: &mut Kernel,
    notification: ObjectRef<Notification>,
    thread: ObjectRef<Thread>,
    blocking: bool,
) {
    let n = notification.get();
    if n.pending || !blocking {
        let word = n.word;
        n.word = 0;
        n.pending = false;
        deliver(thread, word);
        return;
    }
    kernel.scheduler.block(thread, State::BlockedOnNotification { notification: notification.address() });
    notification.get().queue.push_back(thread);
}

/// If `thread`'s bound notification has pending bits, delivers them and returns true.
pub fn take_bound_signal(thread: ObjectRef<Thread>) -> bool {
    let Some(notification) = ObjectRef::<Notification>::from_link(thread.get().bound_notification) else {
        return false;
    };
    let n = notification.get();
    if !n.pending {
        return false;
    }
    let word = n.word;
    n.word = 0;
    n.pending = false;
    deliver(thread, word);
    true
}

/// Removes `thread` from the wait queue.
pub fn remove_waiter(notification: ObjectRef<Notification>, thread: ObjectRef<Thread>) {
    notification.get().queue.remove(thread);
}

/// The last capability is gone: waiters are woken with `Cancelled`, the bound thread unbound.
pub fn destroy(kernel: &mut Kernel, notification: ObjectRef<Notification>) {
    kernel.interrupts.forget_notification(notification.address());
    while let Some(waiter) = notification.get().queue.pop_front() {
        waiter.get().state = State::Inactive;
        thread::wake(kernel, waiter, Error::Cancelled as usize);
    }
    if let Some(bound) = ObjectRef::<Thread>::from_link(notification.get().bound_thread) {
        bound.get().bound_notification = 0;
        notification.get().bound_thread = 0;
    }
}
