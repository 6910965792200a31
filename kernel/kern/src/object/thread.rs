//! Thread: registers, scheduling state, and the capabilities that define its world.
//!
//! A thread holds five capability slots of its own (CSpace root, address space, IPC buffer
//! frame, fault endpoint, scheduling context); they take part in the derivation tree like
//! any slot, so revoking a capability removes the thread's copy too. A thread is in at most
//! one queue at a time (run queue, endpoint, notification), linked through `queue_next` and
//! `queue_previous`.

use kernel_abi::invocation::ThreadOp;
use kernel_abi::ipc_buffer::IPC_BUFFER_SIZE;
use kernel_abi::{Error, Rights};
use kernel_core::capability::{self, Capability, SLOT_SIZE, Slot, SlotId};

use super::cnode::{self, KernelSlots};
use super::{Header, ObjectRef, endpoint, notification, reply};
use crate::Kernel;
use crate::arch::riscv64::fpu::FpState;
use crate::arch::riscv64::trap::TrapFrame;
use crate::memory::IpcBufferWords;

/// Slot of the CSpace root CNode.
pub const CSPACE_SLOT: usize = 0;
/// Slot of the address space.
pub const ADDRESS_SPACE_SLOT: usize = 1;
/// Slot of the IPC buffer frame.
pub const IPC_BUFFER_SLOT: usize = 2;
/// Slot of the fault endpoint.
pub const FAULT_ENDPOINT_SLOT: usize = 3;
/// Slot of the scheduling context.
pub const SCHED_CONTEXT_SLOT: usize = 4;
const SLOT_COUNT: usize = SCHED_CONTEXT_SLOT + 1;

/// Longest thread name kept for reports.
pub const NAME_LEN: usize = 32;
/// Highest priority.
pub const MAX_PRIORITY: usize = 255;

/// Where a thread is in its life. All zero bytes is `Inactive`.
#[repr(C, u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum State {
    /// Not runnable: new, suspended, stopped by a fault, or exited.
    #[default]
    Inactive = 0,
    /// In the run queue.
    Ready,
    /// On the processor.
    Running,
    /// Waiting in an endpoint's queue to send (or to deliver a fault).
    BlockedOnSend {
        /// The endpoint.
        endpoint: usize,
    },
    /// Waiting in an endpoint's queue to receive.
    BlockedOnReceive {
        /// The endpoint.
        endpoint: usize,
        /// The reply object a caller will be bound to (0: none).
        reply: usize,
    },
    /// Waiting for a reply after a call.
    BlockedOnReply {
        /// The reply object it waits on.
        reply: usize,
    },
    /// Waiting for a notification.
    BlockedOnNotification {
        /// The notification.
        notification: usize,
    },
    /// Runnable, but its scheduling context's budget is spent until the next period.
    Throttled,
}

/// How a thread gets processor time.
#[repr(usize)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Scheduling {
    /// No budget limit (boot programs, and threads never given a scheduling context).
    #[default]
    Unlimited = 0,
    /// Limited by the scheduling context in its own slot (none there: it cannot run).
    Budgeted = 1,
    /// No context of its own: runs on its caller's during a call.
    Passive = 2,
}

/// Where a thread's time is charged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Budget {
    /// Nowhere: no limit.
    Unlimited,
    /// To this scheduling context.
    Context(ObjectRef<super::sched_context::SchedContext>),
    /// It should have a context and has none: it may not run.
    Missing,
}

/// What a thread blocked on send is sending.
#[repr(C, u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Pending {
    /// Nothing.
    #[default]
    None = 0,
    /// The message in its registers and IPC buffer.
    Message {
        /// Badge of the capability it sends through.
        badge: usize,
        /// Whether that capability had the grant right.
        can_grant: bool,
        /// Whether it waits for a reply.
        is_call: bool,
    },
    /// A fault (or exit) message the kernel sends on its behalf.
    Fault {
        /// Badge of the fault endpoint capability.
        badge: usize,
        /// The message words (see `kernel_abi::syscall::FAULT_MESSAGE_WORDS`).
        words: [usize; kernel_abi::syscall::FAULT_MESSAGE_WORDS],
    },
}

/// A thread control block.
#[repr(C)]
pub struct Thread {
    /// Reference count (must stay first: the zombie list reads it at offset 0).
    pub header: Header,
    _reserved: [usize; 5],
    /// The thread's own capability slots (64-byte aligned at offset 64).
    pub slots: [Slot; SLOT_COUNT],
    /// Saved user registers (the trap vector saves into it while the thread runs).
    pub frame: TrapFrame,
    /// Saved floating-point registers.
    pub fp: FpState,
    /// Scheduling state.
    pub state: State,
    /// What it is sending, while blocked on send.
    pub pending: Pending,
    /// 0 (lowest) ..= 255.
    pub priority: usize,
    /// Next thread in the queue it is in.
    pub queue_next: usize,
    /// Previous thread in the queue it is in.
    pub queue_previous: usize,
    /// User address of its IPC buffer (0: none).
    pub ipc_buffer: usize,
    /// The notification bound to it (0: none).
    pub bound_notification: usize,
    /// How it gets processor time.
    pub scheduling: Scheduling,
    /// `satp` for the address space in its slot, kept with the slot by [`refresh_satp`]
    /// (the slot's type is checked before every use, so a revoked slot is never trusted).
    pub satp: usize,
    /// The reply object of the call it is serving on its caller's time (0: none).
    pub donation_reply: usize,
    /// Name for reports.
    pub name: [u8; NAME_LEN],
}

const _: () = assert!(core::mem::size_of::<Thread>() <= 1 << kernel_abi::object::THREAD_SIZE_BITS);
const _: () = assert!(core::mem::offset_of!(Thread, slots) == 64, "thread slots are slot-aligned");

/// Makes a thread in the zeroed memory at `object`: inactive, priority 0, no capabilities.
pub fn initialise(object: usize) {
    // SAFETY: live: retype just zeroed this memory for a thread (all zero bytes is a valid
    // inactive thread); exclusive: nothing else knows it yet.
    let thread = unsafe { ObjectRef::<Thread>::new(object).get() };
    thread.state = State::Inactive;
    thread.name[..6].copy_from_slice(b"thread");
}

/// The id of the thread's slot `index`.
pub fn slot_id(thread: ObjectRef<Thread>, index: usize) -> SlotId {
    thread.address() + core::mem::offset_of!(Thread, slots) + index * SLOT_SIZE
}

impl Thread {
    /// The thread's name.
    pub fn name(&self) -> &str {
        let length = self.name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        core::str::from_utf8(&self.name[..length]).unwrap_or("?")
    }

    /// Sets the name (truncated to [`NAME_LEN`] bytes).
    pub fn set_name(&mut self, name: &str) {
        self.name = [0; NAME_LEN];
        let length = name.len().min(NAME_LEN);
        self.name[..length].copy_from_slice(&name.as_bytes()[..length]);
    }

    /// The capability in its slot `index`.
    pub fn capability(&self, index: usize) -> Capability {
        self.slots[index].capability
    }

    /// Whether it can be scheduled (it has a CSpace and an address space).
    pub fn is_configured(&self) -> bool {
        matches!(self.capability(CSPACE_SLOT), Capability::CNode { .. })
            && matches!(self.capability(ADDRESS_SPACE_SLOT), Capability::AddressSpace { .. })
    }
}

/// Where `thread`'s time is charged: a passive thread serving a call charges its caller
/// (following chains of nested calls), everyone else themselves.
pub fn budget(thread: ObjectRef<Thread>) -> Budget {
    let mut current = thread;
    for _ in 0..16 {
        // SAFETY: live: `thread` is the caller's, then each caller is linked from a live
        // reply object; exclusive: the reference is only read, and nothing is called.
        let tcb = unsafe { current.get() };
        if let Some(reply) = ObjectRef::<reply::Reply>::from_link(tcb.donation_reply)
            // SAFETY: live: a donation reply is linked from its server (cleared when either
            // goes); exclusive: one read.
            && let Some(caller) = ObjectRef::<Thread>::from_link(unsafe { reply.get() }.caller)
        {
            current = caller;
            continue;
        }
        return match tcb.scheduling {
            // A passive thread woken other than by a call runs without a limit (CAVEATS.md).
            Scheduling::Unlimited | Scheduling::Passive => Budget::Unlimited,
            Scheduling::Budgeted => match tcb.capability(SCHED_CONTEXT_SLOT) {
                Capability::SchedContext { object } => Budget::Context(ObjectRef::new(object)),
                _ => Budget::Missing,
            },
        };
    }
    Budget::Missing
}

/// Recomputes the cached `satp` from the thread's address-space slot; called whenever
/// something is put into that slot.
pub fn refresh_satp(thread: ObjectRef<Thread>) {
    // SAFETY: live: the caller's thread; exclusive: a read and a write, nothing called.
    let tcb = unsafe { thread.get() };
    tcb.satp = match tcb.capability(ADDRESS_SPACE_SLOT) {
        Capability::AddressSpace { root, asid } => kernel_core::paging::satp(root, asid),
        _ => 0,
    };
}

/// The thread's IPC buffer, if it has one (see [`IpcBufferWords`]: words copied in and out,
/// never a reference).
pub fn ipc_buffer(thread: ObjectRef<Thread>) -> Option<IpcBufferWords> {
    // SAFETY: live: the caller's thread; exclusive: two reads.
    let tcb = unsafe { thread.get() };
    let Capability::Frame { frame, large, .. } = tcb.capability(IPC_BUFFER_SLOT) else { return None };
    let size = if large { 2 << 20 } else { 4096 };
    // SAFETY: the frame capability in the IPC buffer slot and the buffer address were set
    // together by `Configure`, which refused device frames and checked the buffer's
    // alignment and fit, or by boot (a RAM frame, the buffer at its start); `size` is the
    // capability's frame size.
    Some(unsafe { IpcBufferWords::new(frame, size, tcb.ipc_buffer & (size - 1)) })
}

/// A FIFO of threads, linked through the threads themselves.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Queue {
    /// First thread (0: empty).
    pub head: usize,
    /// Last thread (0: empty).
    pub tail: usize,
}

impl Queue {
    /// Whether no thread is queued.
    pub const fn is_empty(&self) -> bool {
        self.head == 0
    }

    /// Appends `thread`.
    #[inline(always)]
    pub fn push_back(&mut self, thread: ObjectRef<Thread>) {
        // SAFETY: live: the caller's thread; exclusive: two stores (the caller holds no
        // reference to it across this call).
        let tcb = unsafe { thread.get() };
        tcb.queue_next = 0;
        tcb.queue_previous = self.tail;
        match ObjectRef::<Thread>::from_link(self.tail) {
            // SAFETY: live: the queue's tail (queues hold live threads); exclusive: one
            // store; it is not `thread`, which was in no queue.
            Some(tail) => unsafe { tail.get() }.queue_next = thread.address(),
            None => self.head = thread.address(),
        }
        self.tail = thread.address();
    }

    /// Prepends `thread`.
    pub fn push_front(&mut self, thread: ObjectRef<Thread>) {
        // SAFETY: as in `push_back`.
        let tcb = unsafe { thread.get() };
        tcb.queue_previous = 0;
        tcb.queue_next = self.head;
        match ObjectRef::<Thread>::from_link(self.head) {
            // SAFETY: as in `push_back`, for the head.
            Some(head) => unsafe { head.get() }.queue_previous = thread.address(),
            None => self.tail = thread.address(),
        }
        self.head = thread.address();
    }

    /// Takes the first thread.
    #[inline(always)]
    pub fn pop_front(&mut self) -> Option<ObjectRef<Thread>> {
        let head = ObjectRef::<Thread>::from_link(self.head)?;
        self.remove(head);
        Some(head)
    }

    /// Unlinks `thread`, which must be in this queue.
    #[inline(always)]
    pub fn remove(&mut self, thread: ObjectRef<Thread>) {
        // SAFETY: live: a queued thread; exclusive: the reference is used before and after
        // the neighbours' stores below, which go to other threads.
        let tcb = unsafe { thread.get() };
        let (next, previous) = (tcb.queue_next, tcb.queue_previous);
        tcb.queue_next = 0;
        tcb.queue_previous = 0;
        match ObjectRef::<Thread>::from_link(previous) {
            // SAFETY: live: its neighbour in the queue; exclusive: one store, to a thread
            // that is not `thread` (a queue has no cycles).
            Some(previous) => unsafe { previous.get() }.queue_next = next,
            None => self.head = next,
        }
        match ObjectRef::<Thread>::from_link(next) {
            // SAFETY: as for `previous`.
            Some(next) => unsafe { next.get() }.queue_previous = previous,
            None => self.tail = previous,
        }
    }
}

/// Takes `thread` out of whatever it waits in and makes it inactive. Safe on any state.
pub fn stop(kernel: &mut Kernel, thread: ObjectRef<Thread>) {
    cancel_wait(kernel, thread);
    // SAFETY: live: the caller's thread; exclusive: one read, before the queue operation.
    if unsafe { thread.get() }.state == State::Ready {
        kernel.scheduler.remove(thread);
    }
    // SAFETY: as above, after it.
    let tcb = unsafe { thread.get() };
    tcb.state = State::Inactive;
    tcb.pending = Pending::None;
}

/// Removes `thread` from the endpoint, notification or reply it waits on (its state is left
/// for the caller to set).
pub fn cancel_wait(kernel: &mut Kernel, thread: ObjectRef<Thread>) {
    // SAFETY: live: the caller's thread; exclusive: one read (the state is copied).
    match unsafe { thread.get() }.state {
        State::BlockedOnSend { endpoint } | State::BlockedOnReceive { endpoint, .. } => {
            endpoint::remove_waiter(ObjectRef::new(endpoint), thread);
        }
        State::BlockedOnReply { reply } => reply::detach_caller(ObjectRef::new(reply)),
        State::BlockedOnNotification { notification } => {
            notification::remove_waiter(ObjectRef::new(notification), thread);
        }
        State::Throttled => kernel.scheduler.remove_throttled(thread),
        State::Inactive | State::Ready | State::Running => {}
    }
}

/// Makes `thread` runnable with `a0 = error` (0 for success), as the end of a blocking call.
pub fn wake(kernel: &mut Kernel, thread: ObjectRef<Thread>, error: usize) {
    // SAFETY: live: the caller's thread; exclusive: two stores before `make_ready`.
    let tcb = unsafe { thread.get() };
    tcb.frame.set_a(0, error);
    tcb.pending = Pending::None;
    kernel.scheduler.make_ready(thread);
}

/// Empties the slots of a dead thread (called while draining zombies).
pub fn empty_slots(kernel: &mut Kernel, thread: ObjectRef<Thread>) {
    // SAFETY: live: a zombie thread (dead, memory intact until drained); exclusive: the
    // block touches only it and the objects it links, which are other objects.
    unsafe {
        let tcb = thread.get();
        if let Some(reply) = ObjectRef::<reply::Reply>::from_link(tcb.donation_reply) {
            // Live: a donation reply is linked from its server until either goes.
            reply.get().server = 0;
            tcb.donation_reply = 0;
        }
        if let Some(notification) = ObjectRef::<notification::Notification>::from_link(tcb.bound_notification)
        {
            // Live: a bound notification is linked from its thread until either goes.
            notification.get().bound_thread = 0;
            tcb.bound_notification = 0;
        }
    }
    for index in 0..SLOT_COUNT {
        let slot = slot_id(thread, index);
        if !cnode::load(slot).is_null() {
            let capability = capability::remove(&mut KernelSlots, slot);
            super::release(kernel, capability);
        }
    }
}

/// Puts a copy of `source` (nothing, when `source` is 0) in the thread's slot `index` and
/// returns the capability that was there, taken out of the slot but not yet released: the
/// caller releases it ([`super::release`]) only once it touches the thread no more, since
/// releasing it may destroy the thread (a CSpace that alone kept it alive) or the object
/// `source` lies in.
fn swap_slot(kernel: &mut Kernel, thread: ObjectRef<Thread>, index: usize, source: SlotId) -> Capability {
    let slot = slot_id(thread, index);
    let old = if cnode::load(slot).is_null() {
        Capability::Null
    } else {
        capability::remove(&mut KernelSlots, slot)
    };
    if source != 0 {
        let original = cnode::load(source);
        if let Some(copy) = original.derive(Rights::ALL, None) {
            cnode::insert(kernel, source, slot, copy);
        }
    }
    old
}

/// A decoded thread invocation.
pub enum Invocation {
    /// Set CSpace, address space, IPC buffer and fault endpoint.
    Configure {
        cspace: SlotId,
        address_space: SlotId,
        buffer_address: usize,
        buffer_frame: SlotId,
        fault: SlotId,
    },
    /// Set pc, sp, a0..a3.
    WriteRegisters([usize; 6]),
    /// Return pc, sp, a0..a3.
    ReadRegisters,
    /// Make runnable.
    Resume,
    /// Make inactive.
    Suspend,
    /// Change priority.
    SetPriority(usize),
    /// Bind the notification in the slot.
    BindNotification(SlotId),
    /// Unbind the bound notification.
    UnbindNotification,
    /// Bind the scheduling context in the slot (0: become passive).
    SetSchedContext(SlotId),
}

/// Checks a `call` on a thread capability.
pub fn decode(
    caller: ObjectRef<Thread>,
    target: ObjectRef<Thread>,
    label: usize,
    words: &[usize],
    resolve: impl Fn(usize) -> Result<SlotId, Error>,
) -> Result<Invocation, Error> {
    let word = |index: usize| words.get(index).copied().ok_or(Error::InvalidArgument);
    let optional = |cptr: usize| if cptr == 0 { Ok(0) } else { resolve(cptr) };
    let of_type = |slot: SlotId, ok: fn(&Capability) -> bool| {
        let capability = cnode::load(slot);
        if capability.is_null() {
            Err(Error::InvalidCapability)
        } else if ok(&capability) {
            Ok(slot)
        } else {
            Err(Error::IllegalOperation)
        }
    };
    Ok(match label {
        l if l == ThreadOp::Configure as usize => {
            let cspace = of_type(resolve(word(0)?)?, |c| matches!(c, Capability::CNode { .. }))?;
            let address_space =
                of_type(resolve(word(1)?)?, |c| matches!(c, Capability::AddressSpace { .. }))?;
            let buffer_address = word(2)?;
            let buffer_frame = optional(word(3)?)?;
            if buffer_frame != 0 {
                let Capability::Frame { frame, large, rights, .. } =
                    cnode::load(of_type(buffer_frame, |c| matches!(c, Capability::Frame { .. }))?)
                else {
                    return Err(Error::IllegalOperation);
                };
                let size = if large { 2 << 20 } else { 4096 };
                if !buffer_address.is_multiple_of(8) || (buffer_address & (size - 1)) + IPC_BUFFER_SIZE > size
                {
                    return Err(Error::AlignmentError);
                }
                if !rights.contains(Rights::READ | Rights::WRITE) {
                    return Err(Error::InsufficientRights);
                }
                if !crate::memory::is_ram(frame, size) {
                    // A device frame: the kernel would read and write registers.
                    return Err(Error::IllegalOperation);
                }
            }
            let fault = optional(word(4)?)?;
            if fault != 0 {
                of_type(
                    fault,
                    |c| matches!(c, Capability::Endpoint { rights, .. } if rights.contains(Rights::WRITE)),
                )?;
            }
            Invocation::Configure { cspace, address_space, buffer_address, buffer_frame, fault }
        }
        l if l == ThreadOp::WriteRegisters as usize => {
            Invocation::WriteRegisters([word(0)?, word(1)?, word(2)?, word(3)?, word(4)?, word(5)?])
        }
        l if l == ThreadOp::ReadRegisters as usize => Invocation::ReadRegisters,
        l if l == ThreadOp::Resume as usize => {
            // SAFETY: live: the invoked capability names it; exclusive: one read.
            if !unsafe { target.get() }.is_configured() {
                return Err(Error::BadThreadState);
            }
            Invocation::Resume
        }
        l if l == ThreadOp::Suspend as usize => Invocation::Suspend,
        l if l == ThreadOp::SetPriority as usize => {
            let priority = word(0)?;
            // SAFETY: live: the current thread; exclusive: one read.
            if priority > MAX_PRIORITY || priority > unsafe { caller.get() }.priority {
                return Err(Error::RangeError);
            }
            Invocation::SetPriority(priority)
        }
        l if l == ThreadOp::BindNotification as usize => {
            let slot = of_type(
                resolve(word(0)?)?,
                |c| matches!(c, Capability::Notification { rights, .. } if rights.contains(Rights::READ)),
            )?;
            let Capability::Notification { object, .. } = cnode::load(slot) else {
                return Err(Error::IllegalOperation);
            };
            // SAFETY: live: the invoked capability names the thread, the capability in
            // `slot` the notification; exclusive: one read each.
            let already_bound = unsafe {
                target.get().bound_notification != 0
                    || ObjectRef::<notification::Notification>::new(object).get().bound_thread != 0
            };
            if already_bound {
                return Err(Error::IllegalOperation);
            }
            Invocation::BindNotification(slot)
        }
        l if l == ThreadOp::SetSchedContext as usize => {
            let slot = optional(word(0)?)?;
            if slot != 0 {
                of_type(slot, |c| matches!(c, Capability::SchedContext { .. }))?;
            }
            Invocation::SetSchedContext(slot)
        }
        l if l == ThreadOp::UnbindNotification as usize => {
            // SAFETY: live: the invoked capability names it; exclusive: one read.
            if unsafe { target.get() }.bound_notification == 0 {
                return Err(Error::IllegalOperation);
            }
            Invocation::UnbindNotification
        }
        _ => return Err(Error::IllegalOperation),
    })
}

/// Performs a thread invocation; returns values in `results`, and their count.
pub fn invoke(
    kernel: &mut Kernel,
    target: ObjectRef<Thread>,
    invocation: Invocation,
    results: &mut [usize; 6],
) -> Result<usize, Error> {
    match invocation {
        Invocation::Configure { cspace, address_space, buffer_address, buffer_frame, fault } => {
            // The old capabilities are released only at the end: releasing one may destroy
            // the thread itself (its old CSpace may hold the only capability to it) or the
            // CNode a new one is copied from, and nothing may touch either afterwards.
            let old = [
                swap_slot(kernel, target, CSPACE_SLOT, cspace),
                swap_slot(kernel, target, ADDRESS_SPACE_SLOT, address_space),
                swap_slot(kernel, target, IPC_BUFFER_SLOT, buffer_frame),
                swap_slot(kernel, target, FAULT_ENDPOINT_SLOT, fault),
            ];
            refresh_satp(target);
            // SAFETY: live: the invoked capability names it, and nothing was released yet;
            // exclusive: one store, then two reads before `stop`.
            let tcb = unsafe { target.get() };
            tcb.ipc_buffer = if buffer_frame != 0 { buffer_address } else { 0 };
            if tcb.state != State::Inactive && !tcb.is_configured() {
                stop(kernel, target);
            }
            for capability in old {
                if !capability.is_null() {
                    super::release(kernel, capability);
                }
            }
            super::drain_zombies(kernel);
            Ok(0)
        }
        Invocation::WriteRegisters([pc, sp, a0, a1, a2, a3]) => {
            // SAFETY: live: the invoked capability names it; exclusive: stores into its
            // frame, nothing called (the syscall path holds no reference to the caller's
            // frame meanwhile, should the target be the caller).
            let frame = &mut unsafe { target.get() }.frame;
            frame.pc = pc;
            frame.registers[TrapFrame::SP] = sp;
            for (index, value) in [a0, a1, a2, a3].into_iter().enumerate() {
                frame.set_a(index, value);
            }
            Ok(0)
        }
        Invocation::ReadRegisters => {
            // SAFETY: live: the invoked capability names it; exclusive: reads only.
            let frame = &unsafe { target.get() }.frame;
            *results =
                [frame.pc, frame.registers[TrapFrame::SP], frame.a(0), frame.a(1), frame.a(2), frame.a(3)];
            Ok(6)
        }
        Invocation::Resume => {
            // SAFETY: live: the invoked capability names it; exclusive: used before
            // `make_ready`.
            let tcb = unsafe { target.get() };
            if tcb.state == State::Inactive {
                tcb.pending = Pending::None;
                kernel.scheduler.make_ready(target);
            }
            Ok(0)
        }
        Invocation::Suspend => {
            stop(kernel, target);
            Ok(0)
        }
        Invocation::SetPriority(priority) => {
            // SAFETY: live: the invoked capability names it; exclusive: one read, before the
            // queue operations (and likewise for the next two blocks).
            let was_ready = unsafe { target.get() }.state == State::Ready;
            if was_ready {
                kernel.scheduler.remove(target);
                // Not Ready while out of the queue, or make_ready below would skip it.
                // SAFETY: as above.
                unsafe { target.get() }.state = State::Inactive;
            }
            // SAFETY: as above.
            unsafe { target.get() }.priority = priority;
            if was_ready {
                kernel.scheduler.make_ready(target);
            }
            Ok(0)
        }
        Invocation::BindNotification(slot) => {
            let Capability::Notification { object, .. } = cnode::load(slot) else {
                return Err(Error::IllegalOperation);
            };
            // SAFETY: live: the capability in `slot` names the notification, the invoked one
            // the thread; exclusive: one store each.
            unsafe {
                ObjectRef::<notification::Notification>::new(object).get().bound_thread = target.address();
                target.get().bound_notification = object;
            }
            Ok(0)
        }
        Invocation::SetSchedContext(slot) => {
            super::sched_context::bind(kernel, target, slot)?;
            Ok(0)
        }
        Invocation::UnbindNotification => {
            // SAFETY: live: the invoked capability names the thread, whose link names its
            // bound notification; exclusive: the two are different objects, nothing called.
            unsafe {
                let tcb = target.get();
                if let Some(notification) =
                    ObjectRef::<notification::Notification>::from_link(tcb.bound_notification)
                {
                    notification.get().bound_thread = 0;
                }
                tcb.bound_notification = 0;
            }
            Ok(0)
        }
    }
}
