//! `debug_check`: the kernel checks its own invariants over everything reachable from the
//! caller's CSpace. Used by the syscall fuzzer and the kernel test suite; it only reads.
//!
//! Reachable means: the caller's CSpace root CNode, every CNode whose capability is in a
//! reachable slot, and every thread and timer whose capability is, with their own slots.
//! The list of armed timers is checked whole (sorted, linked both ways, all armed).
//!
//! Every object reference taken here is live (named by a capability in a reachable slot, or
//! by a link of such an object) and exclusive (only read, one at a time, nothing called).

use kernel_abi::syscall::Invariant;
use kernel_core::capability::{self, Capability, SLOT_SIZE, SlotId, SlotStore};

use crate::Kernel;
use crate::object::cnode::{CNodeHeader, KernelSlots};
use crate::object::endpoint::{Endpoint, Waiting};
use crate::object::notification::Notification;
use crate::object::reply::Reply;
use crate::object::thread::{self, CSPACE_SLOT, State, Thread};
use crate::object::{Header, ObjectRef, timer};

const MAX_CNODES: usize = 128;
const MAX_THREADS: usize = 256;
const MAX_TIMERS: usize = 256;
const MAX_QUEUE_WALK: usize = 4096;

struct Reachable {
    cnodes: [usize; MAX_CNODES],
    cnode_count: usize,
    threads: [usize; MAX_THREADS],
    thread_count: usize,
    timers: [usize; MAX_TIMERS],
    timer_count: usize,
}

impl Reachable {
    fn add_cnode(&mut self, object: usize) {
        if !self.cnodes[..self.cnode_count].contains(&object) && self.cnode_count < MAX_CNODES {
            self.cnodes[self.cnode_count] = object;
            self.cnode_count += 1;
        }
    }

    fn add_thread(&mut self, object: usize) {
        if !self.threads[..self.thread_count].contains(&object) && self.thread_count < MAX_THREADS {
            self.threads[self.thread_count] = object;
            self.thread_count += 1;
        }
    }

    fn add_timer(&mut self, object: usize) {
        if !self.timers[..self.timer_count].contains(&object) && self.timer_count < MAX_TIMERS {
            self.timers[self.timer_count] = object;
            self.timer_count += 1;
        }
    }

    /// Every slot: the CNodes' (from 1), the threads' own and the timers'.
    fn slots(&self) -> impl Iterator<Item = SlotId> + '_ {
        let cnode_slots = self.cnodes[..self.cnode_count].iter().flat_map(|&object| {
            // SAFETY: live and exclusive as the module doc says (a reachable CNode); one read.
            let count = unsafe { ObjectRef::<CNodeHeader>::new(object).get() }.slots;
            (1..count).map(move |index| object + index * SLOT_SIZE)
        });
        let thread_slots = self.threads[..self.thread_count].iter().flat_map(|&object| {
            (0..=thread::SCHED_CONTEXT_SLOT).map(move |index| thread::slot_id(ObjectRef::new(object), index))
        });
        let timer_slots =
            self.timers[..self.timer_count].iter().map(|&object| timer::slot_id(ObjectRef::new(object)));
        cnode_slots.chain(thread_slots).chain(timer_slots)
    }
}

/// Checks every invariant; returns the number of slots looked at.
pub fn check(kernel: &Kernel, caller: ObjectRef<Thread>) -> Result<usize, Invariant> {
    let mut reachable = Reachable {
        cnodes: [0; MAX_CNODES],
        cnode_count: 0,
        threads: [0; MAX_THREADS],
        thread_count: 0,
        timers: [0; MAX_TIMERS],
        timer_count: 0,
    };
    reachable.add_thread(caller.address());
    // SAFETY: live: the current thread; exclusive: one read.
    if let Capability::CNode { object, .. } = unsafe { caller.get() }.capability(CSPACE_SLOT) {
        reachable.add_cnode(object);
    }
    // Grow the set until nothing new is found.
    loop {
        let (cnodes, threads) = (reachable.cnode_count, reachable.thread_count);
        let mut found_cnodes = [0usize; MAX_CNODES];
        let mut found_threads = [0usize; MAX_THREADS];
        let (mut c, mut t) = (0, 0);
        for slot in reachable.slots() {
            match KernelSlots.load(slot).capability {
                Capability::CNode { object, .. } if c < MAX_CNODES => {
                    found_cnodes[c] = object;
                    c += 1;
                }
                Capability::Thread { object } if t < MAX_THREADS => {
                    found_threads[t] = object;
                    t += 1;
                }
                _ => {}
            }
        }
        for object in &found_cnodes[..c] {
            reachable.add_cnode(*object);
        }
        for object in &found_threads[..t] {
            reachable.add_thread(*object);
        }
        if reachable.cnode_count == cnodes && reachable.thread_count == threads {
            break;
        }
    }
    // Timers hold no CNode or thread: their slots join once the rest is known.
    let mut found_timers = [0usize; MAX_TIMERS];
    let mut timers = 0;
    for slot in reachable.slots() {
        if let Capability::Timer { object } = KernelSlots.load(slot).capability
            && timers < MAX_TIMERS
        {
            found_timers[timers] = object;
            timers += 1;
        }
    }
    for object in &found_timers[..timers] {
        reachable.add_timer(*object);
    }
    timer::check(kernel).map_err(|_| Invariant::Queues)?;

    let slot_count = reachable.slots().count();
    capability::check_tree(&KernelSlots, reachable.slots(), slot_count + 1)
        .map_err(|_| Invariant::DerivationTree)?;

    for slot in reachable.slots() {
        let capability = KernelSlots.load(slot).capability;
        check_references(&reachable, &capability)?;
        match capability {
            Capability::Untyped { base, size_bits, used, .. } => check_untyped(slot, base, size_bits, used)?,
            Capability::Endpoint { object, .. } => check_endpoint(ObjectRef::new(object))?,
            Capability::Notification { object, .. } => check_notification(ObjectRef::new(object))?,
            _ => {}
        }
    }
    for &object in &reachable.threads[..reachable.thread_count] {
        check_thread(kernel, ObjectRef::new(object))?;
    }
    Ok(slot_count)
}

/// A counted object's reference count is at least the number of capabilities found.
fn check_references(reachable: &Reachable, capability: &Capability) -> Result<(), Invariant> {
    let object = match *capability {
        Capability::CNode { object, .. }
        | Capability::Thread { object }
        | Capability::Endpoint { object, .. }
        | Capability::Notification { object, .. }
        | Capability::Reply { object }
        | Capability::Timer { object } => object,
        _ => return Ok(()),
    };
    // SAFETY: as the module doc says (a capability in a reachable slot names it); one read.
    let references = unsafe { ObjectRef::<Header>::new(object).get() }.references;
    let found = reachable
        .slots()
        .filter(|&slot| {
            matches!(KernelSlots.load(slot).capability,
                Capability::CNode { object: o, .. } | Capability::Thread { object: o } | Capability::Endpoint { object: o, .. }
                | Capability::Notification { object: o, .. } | Capability::Reply { object: o }
                | Capability::Timer { object: o } if o == object)
        })
        .count();
    if references < found { Err(Invariant::ReferenceCounts) } else { Ok(()) }
}

fn check_untyped(slot: SlotId, base: usize, size_bits: u8, used: usize) -> Result<(), Invariant> {
    let size = 1usize << size_bits;
    if used > size {
        return Err(Invariant::UntypedWatermark);
    }
    let has_children = capability::has_children(&KernelSlots, slot);
    let mut child = KernelSlots.load(slot).links.first_child;
    let mut steps = 0;
    while child != 0 && steps < MAX_QUEUE_WALK {
        let address = match KernelSlots.load(child).capability {
            Capability::Untyped { base, .. } => base,
            Capability::CNode { object, .. }
            | Capability::Thread { object }
            | Capability::Endpoint { object, .. }
            | Capability::Notification { object, .. }
            | Capability::Reply { object }
            | Capability::SchedContext { object }
            | Capability::Timer { object } => object,
            Capability::AddressSpace { root, .. } => root,
            Capability::PageTable { table, .. } => table,
            Capability::Frame { frame, .. } => frame,
            _ => base,
        };
        // Children made by retype lie below the watermark (when there are children, the
        // watermark is what the next retype starts from).
        if has_children && (address < base || address >= base + used.max(1)) {
            return Err(Invariant::UntypedWatermark);
        }
        child = KernelSlots.load(child).links.next_sibling;
        steps += 1;
    }
    Ok(())
}

/// Whether `thread` is in the queue starting at `head`, with consistent back links.
fn queue_contains(head: usize, thread: usize) -> Result<bool, Invariant> {
    let mut previous = 0;
    let mut node = head;
    let mut steps = 0;
    while node != 0 {
        // SAFETY: as the module doc says (a queue link); reads only.
        let tcb = unsafe { ObjectRef::<Thread>::new(node).get() };
        if tcb.queue_previous != previous {
            return Err(Invariant::Queues);
        }
        if node == thread {
            return Ok(true);
        }
        previous = node;
        node = tcb.queue_next;
        steps += 1;
        if steps > MAX_QUEUE_WALK {
            return Err(Invariant::Queues);
        }
    }
    Ok(false)
}

fn check_endpoint(endpoint: ObjectRef<Endpoint>) -> Result<(), Invariant> {
    // SAFETY: as the module doc says; reads only, and the threads read below are others.
    let ep = unsafe { endpoint.get() };
    if ep.queue.is_empty() != (ep.waiting == Waiting::Idle) {
        return Err(Invariant::Queues);
    }
    let mut node = ep.queue.head;
    let mut steps = 0;
    while node != 0 {
        // SAFETY: as the module doc says (a queue link); one read.
        let state = unsafe { ObjectRef::<Thread>::new(node).get() }.state;
        let consistent = match (ep.waiting, state) {
            (Waiting::Senders, State::BlockedOnSend { endpoint: e }) => e == endpoint.address(),
            (Waiting::Receivers, State::BlockedOnReceive { endpoint: e, .. }) => e == endpoint.address(),
            _ => false,
        };
        if !consistent {
            return Err(Invariant::Queues);
        }
        // SAFETY: as above.
        node = unsafe { ObjectRef::<Thread>::new(node).get() }.queue_next;
        steps += 1;
        if steps > MAX_QUEUE_WALK {
            return Err(Invariant::Queues);
        }
    }
    Ok(())
}

fn check_notification(notification: ObjectRef<Notification>) -> Result<(), Invariant> {
    // SAFETY: as the module doc says; reads only.
    let n = unsafe { notification.get() };
    if !n.queue.is_empty() && (n.pending || n.word != 0) {
        return Err(Invariant::Queues);
    }
    Ok(())
}

fn check_thread(kernel: &Kernel, thread: ObjectRef<Thread>) -> Result<(), Invariant> {
    // SAFETY: as the module doc says (the thread is reachable; its state
    // links name the objects it waits on); one read each.
    let ok = match unsafe { thread.get() }.state {
        State::Ready => kernel.scheduler.is_queued(thread),
        State::BlockedOnSend { endpoint } | State::BlockedOnReceive { endpoint, .. } => {
            // SAFETY: as above.
            let head = unsafe { ObjectRef::<Endpoint>::new(endpoint).get() }.queue.head;
            queue_contains(head, thread.address())?
        }
        State::BlockedOnNotification { notification } => {
            // SAFETY: as above.
            let head = unsafe { ObjectRef::<Notification>::new(notification).get() }.queue.head;
            queue_contains(head, thread.address())?
        }
        State::BlockedOnReply { reply } => {
            // SAFETY: as above.
            unsafe { ObjectRef::<Reply>::new(reply).get() }.caller == thread.address()
        }
        State::Running => kernel.scheduler.current() == Some(thread),
        State::Throttled => kernel.scheduler.is_throttled(thread),
        State::Inactive => !kernel.scheduler.is_queued(thread) && !kernel.scheduler.is_throttled(thread),
    };
    if ok { Ok(()) } else { Err(Invariant::Queues) }
}
