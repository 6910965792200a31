//! The IPC fastpath: `call` and `reply_recv` of short messages between threads that need
//! no budget accounting, done in one pass without the general machinery.
//!
//! Every condition the general path would check is checked here first; if any does not
//! hold (a long message, capabilities to transfer, nobody waiting, a budgeted or passive
//! thread, a higher priority ready elsewhere, a bound notification with something pending),
//! the fastpath declines and the general path handles the call with identical results. It
//! changes nothing before it has decided to go ahead.

use kernel_abi::Rights;
use kernel_core::capability::{Capability, SLOT_SIZE, Slot};

use crate::Kernel;
use crate::arch::riscv64::trap::TrapFrame;
use crate::memory::direct_map;
use crate::object::ObjectRef;
use crate::object::endpoint::{Endpoint, Waiting};
use crate::object::notification::Notification;
use crate::object::reply::Reply;
use crate::object::thread::{ADDRESS_SPACE_SLOT, CSPACE_SLOT, Scheduling, State, Thread};

/// Whether a message tag needs the general path: more than four words (the rest are in the
/// IPC buffer) or capabilities to transfer.
#[inline(always)]
const fn needs_general_path(info: usize) -> bool {
    (info & 0x7f) > kernel_abi::syscall::REGISTER_MESSAGE_WORDS || info & (0b11 << 7) != 0
}

/// The capability at `cptr` in `thread`'s CSpace, if the address is valid.
#[inline(always)]
fn lookup(thread: &Thread, cptr: usize) -> Option<Capability> {
    let Capability::CNode { object, radix } = thread.slots[CSPACE_SLOT].capability else { return None };
    // `radix` is at most 16 (retype checks it), so the shift is in range.
    if cptr == 0 || cptr.wrapping_shr(u32::from(radix)) != 0 {
        return None;
    }
    // SAFETY: the CNode capability in the thread's own slot keeps the CNode alive; `cptr`
    // is below its slot count, so the slot lies inside it; slots hold valid `Slot` values.
    let slot = unsafe {
        core::ptr::read(direct_map(object.wrapping_add(cptr.wrapping_mul(SLOT_SIZE))) as *const Slot)
    };
    Some(slot.capability)
}

/// Whether a thread needs no budget accounting and lends none.
#[inline(always)]
fn unaccounted(thread: &Thread) -> bool {
    thread.scheduling == Scheduling::Unlimited && thread.donation_reply == 0
}

#[inline(always)]
fn copy_message(from: &TrapFrame, to: &mut TrapFrame, info: usize, badge: usize) {
    // The fastpath only takes tags with no capabilities and at most four words, so the
    // tag passes through unchanged.
    to.set_a(0, 0);
    to.set_a(1, info);
    for index in 2..6 {
        to.set_a(index, from.a(index));
    }
    to.set_a(6, badge);
}

/// Takes the fastpath if this trap is a `call` or `reply_recv` it can handle. Kept out of
/// line as a leaf function: it then needs no callee-saved registers, so it spills nothing.
#[inline(never)]
pub fn try_fast(kernel: &mut Kernel) -> Option<*mut TrapFrame> {
    if crate::arch::riscv64::csr::read_scause() != 8 {
        return None;
    }
    // Dirty FP registers need saving: the general path does that.
    let fpu_state = crate::arch::riscv64::csr::read_sstatus() & crate::arch::riscv64::csr::SSTATUS_FS_MASK;
    if fpu_state == crate::arch::riscv64::csr::SSTATUS_FS_DIRTY {
        return None;
    }
    let current = kernel.scheduler.current()?;
    // SAFETY: live: the current thread, which just trapped; exclusive: one read.
    let number = unsafe { current.get() }.frame.a(7);
    if number == kernel_abi::Syscall::Call as usize {
        call(kernel, current, fpu_state)
    } else if number == kernel_abi::Syscall::ReplyRecv as usize {
        reply_receive(kernel, current, fpu_state)
    } else {
        None
    }
}

/// `call` on an endpoint with a receiver waiting: deliver, bind the reply object, and run
/// the receiver. Returns its frame, or `None` to take the general path.
///
/// Four objects are referenced at once: the caller (running), the endpoint and reply object
/// its capabilities name, and the receiver at the endpoint's head (blocked, so not the
/// caller). They are of different types or states, so the references never overlap; the
/// only call that touches one of them, `pop_front` (the receiver's queue links), comes
/// before the receiver's reference is taken again.
#[inline(always)]
fn call(kernel: &mut Kernel, caller: ObjectRef<Thread>, fpu_state: usize) -> Option<*mut TrapFrame> {
    // SAFETY: live: the current thread; exclusive: nothing called below touches it.
    let client = unsafe { caller.get() };
    let info = client.frame.a(1);
    if needs_general_path(info) || !unaccounted(client) {
        return None;
    }
    let Capability::Endpoint { object, rights, badge } = lookup(client, client.frame.a(0))? else {
        return None;
    };
    if !rights.contains(Rights::WRITE) {
        return None;
    }
    let endpoint = ObjectRef::<Endpoint>::new(object);
    // SAFETY: live: the caller's endpoint capability keeps it alive; exclusive: only the
    // queue operation below (through this reference) touches it.
    let ep = unsafe { endpoint.get() };
    if ep.waiting != Waiting::Receivers {
        return None;
    }
    let receiver = ObjectRef::<Thread>::new(ep.queue.head);
    // SAFETY: live: the head of a non-empty endpoint queue; exclusive: blocked on receive,
    // so not the caller, and this reference is last used before `pop_front`.
    let server = unsafe { receiver.get() };
    let State::BlockedOnReceive { reply, .. } = server.state else { return None };
    if reply == 0
        || server.scheduling != Scheduling::Unlimited
        || !matches!(server.slots[ADDRESS_SPACE_SLOT].capability, Capability::AddressSpace { .. })
        || kernel.scheduler.highest_ready_priority().is_some_and(|best| best > server.priority)
        || server.priority < client.priority
    {
        return None;
    }
    let reply = ObjectRef::<Reply>::new(reply);
    // SAFETY: live: a receiver's reply object is linked from its state (cleared when the
    // reply object is destroyed); exclusive: nothing called below touches it.
    let reply_object = unsafe { reply.get() };
    if reply_object.caller != 0 {
        return None;
    }
    // Committed.
    ep.queue.pop_front();
    if ep.queue.is_empty() {
        ep.waiting = Waiting::Idle;
    }
    reply_object.receiver = 0;
    client.frame.pc = client.frame.pc.wrapping_add(4);
    // SAFETY: as above; `pop_front` has returned, and nothing else touches the receiver.
    let server = unsafe { receiver.get() };
    copy_message(&client.frame, &mut server.frame, info, badge);
    reply_object.caller = caller.address();
    client.state = State::BlockedOnReply { reply: reply.address() };
    server.state = State::Running;
    kernel.scheduler.load_clean(receiver, server.satp, fpu_state);
    Some(&mut server.frame)
}

/// `reply_recv` answering a waiting caller, with nobody waiting to send: deliver the reply,
/// queue the server as a receiver, and run the caller.
///
/// As in [`call`], four objects at once: the server (running), its endpoint and reply
/// object, and the caller bound to the reply object (blocked on it, so not the server).
/// The only call that touches one of them, `push_back` (the server's queue links), comes
/// after the server's reference is last used.
#[inline(always)]
fn reply_receive(kernel: &mut Kernel, server: ObjectRef<Thread>, fpu_state: usize) -> Option<*mut TrapFrame> {
    // SAFETY: live: the current thread; exclusive: last used before `push_back`.
    let me = unsafe { server.get() };
    let info = me.frame.a(1);
    if needs_general_path(info) || !unaccounted(me) {
        return None;
    }
    let Capability::Reply { object: reply } = lookup(me, me.frame.a(6))? else { return None };
    let Capability::Endpoint { object, rights, .. } = lookup(me, me.frame.a(0))? else { return None };
    if !rights.contains(Rights::READ) {
        return None;
    }
    let endpoint = ObjectRef::<Endpoint>::new(object);
    // SAFETY: live: the server's endpoint capability keeps it alive; exclusive: only the
    // queue operation below (through this reference) touches it.
    let ep = unsafe { endpoint.get() };
    if ep.waiting == Waiting::Senders {
        return None;
    }
    if let Some(notification) = ObjectRef::<Notification>::from_link(me.bound_notification)
        // SAFETY: live: a bound notification is linked from the thread (unbound when
        // destroyed); exclusive: one read.
        && unsafe { notification.get() }.pending
    {
        return None;
    }
    let reply_object = ObjectRef::<Reply>::new(reply);
    // SAFETY: live: the server's reply capability keeps it alive; exclusive: nothing called
    // below touches it.
    let reply_state = unsafe { reply_object.get() };
    if reply_state.receiver != 0 {
        return None;
    }
    let caller = ObjectRef::<Thread>::from_link(reply_state.caller)?;
    // SAFETY: live: a reply object's caller is linked from it (cleared when the caller
    // stops); exclusive: that caller is blocked on the reply, so it is not the server, and
    // it is in no queue `push_back` could touch.
    let client = unsafe { caller.get() };
    if !matches!(client.state, State::BlockedOnReply { reply: waiting } if waiting == reply)
        || reply_state.server != 0
        || !unaccounted(client)
        || !matches!(client.slots[ADDRESS_SPACE_SLOT].capability, Capability::AddressSpace { .. })
        || kernel.scheduler.highest_ready_priority().is_some_and(|best| best > client.priority)
    {
        return None;
    }
    // Committed.
    reply_state.caller = 0;
    reply_state.receiver = server.address();
    copy_message(&me.frame, &mut client.frame, info, 0);
    me.frame.pc = me.frame.pc.wrapping_add(4);
    me.state = State::BlockedOnReceive { endpoint: object, reply };
    ep.queue.push_back(server);
    ep.waiting = Waiting::Receivers;
    client.state = State::Running;
    kernel.scheduler.load_clean(caller, client.satp, fpu_state);
    Some(&mut client.frame)
}
