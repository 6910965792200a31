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
    // SAFETY: live: retype just zeroed this memory for a notification (all zero bytes is a
    // valid empty one); exclusive: nothing else knows it yet.
    unsafe { ObjectRef::<Notification>::new(object).get() }.word = 0;
}

/// Hands `word` to `thread` as the result of its wait.
fn deliver(thread: ObjectRef<Thread>, word: usize) {
    // SAFETY: live: the caller's thread; exclusive: three stores into its frame.
    let frame = &mut unsafe { thread.get() }.frame;
    frame.set_a(0, 0);
    frame.set_a(1, MessageInfo::new(0, 0, 0).0);
    frame.set_a(6, word);
}

/// Takes the word and the pending mark (the waiter gets them).
fn take_word(n: &mut Notification, badge: usize) -> usize {
    let word = n.word | badge;
    n.word = 0;
    n.pending = false;
    word
}

/// Signals `notification` with `badge`.
pub fn signal(kernel: &mut Kernel, notification: ObjectRef<Notification>, badge: usize) {
    // SAFETY: live: the caller names it from a capability (or from an IRQ handler or timer,
    // which forget it when it is destroyed); exclusive: the calls made while `n` is used
    // (queue operations, `deliver`, `remove_waiter` on an endpoint) touch threads and
    // endpoints, never a notification.
    let n = unsafe { notification.get() };
    if let Some(waiter) = n.queue.pop_front() {
        deliver(waiter, take_word(n, badge));
        // SAFETY: live: it was in the queue; exclusive: one store.
        unsafe { waiter.get() }.state = State::Inactive;
        kernel.scheduler.make_ready(waiter);
        return;
    }
    if let Some(bound) = ObjectRef::<Thread>::from_link(n.bound_thread)
        // SAFETY: live: the bound thread is linked from it (unbound when either goes);
        // exclusive: one read.
        && let State::BlockedOnReceive { endpoint, .. } = unsafe { bound.get() }.state
    {
        let word = take_word(n, badge);
        endpoint::remove_waiter(ObjectRef::new(endpoint), bound);
        deliver(bound, word);
        // SAFETY: as above, after the endpoint has let it go.
        unsafe { bound.get() }.state = State::Inactive;
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
    // SAFETY: live: the caller's capability names it; exclusive: `deliver` and `block`
    // touch the thread and the run queues, not the notification.
    let n = unsafe { notification.get() };
    if n.pending || !blocking {
        deliver(thread, take_word(n, 0));
        return;
    }
    kernel.scheduler.block(thread, State::BlockedOnNotification { notification: notification.address() });
    n.queue.push_back(thread);
}

/// If `thread`'s bound notification has pending bits, delivers them and returns true.
pub fn take_bound_signal(thread: ObjectRef<Thread>) -> bool {
    // SAFETY: live: the caller's thread; exclusive: one read.
    let bound = unsafe { thread.get() }.bound_notification;
    let Some(notification) = ObjectRef::<Notification>::from_link(bound) else {
        return false;
    };
    // SAFETY: live: linked from the thread (unbound when destroyed); exclusive: `deliver`
    // touches only the thread.
    let n = unsafe { notification.get() };
    if !n.pending {
        return false;
    }
    deliver(thread, take_word(n, 0));
    true
}

/// Removes `thread` from the wait queue.
pub fn remove_waiter(notification: ObjectRef<Notification>, thread: ObjectRef<Thread>) {
    // SAFETY: live: the thread's state names it (waiters leave when it is destroyed);
    // exclusive: the queue operation touches threads only.
    unsafe { notification.get() }.queue.remove(thread);
}

/// The last capability is gone: waiters are woken with `Cancelled`, the bound thread unbound.
pub fn destroy(kernel: &mut Kernel, notification: ObjectRef<Notification>) {
    kernel.interrupts.forget_notification(notification.address());
    // SAFETY: live: dead but intact (memory is reused only by a later retype); exclusive:
    // the calls made meanwhile (queue operations, `wake`) touch threads and run queues.
    let n = unsafe { notification.get() };
    while let Some(waiter) = n.queue.pop_front() {
        // SAFETY: live: it was in the queue; exclusive: one store.
        unsafe { waiter.get() }.state = State::Inactive;
        thread::wake(kernel, waiter, Error::Cancelled as usize);
    }
    if let Some(bound) = ObjectRef::<Thread>::from_link(n.bound_thread) {
        // SAFETY: live: linked from the notification; exclusive: one store.
        unsafe { bound.get() }.bound_notification = 0;
        n.bound_thread = 0;
    }
}
