//! Scheduling context: CPU time as a capability, a budget per period.
//!
//! A thread bound to a configured scheduling context runs for at most `budget` time units
//! in every `period`; when the budget is spent it is throttled (taken off the run queue)
//! until the next period refills it. A *passive* thread has no scheduling context of its
//! own: when it receives a call it runs on the caller's, charged to the caller, until it
//! replies. A thread never given one runs without a budget (the boot programs do; they
//! decide who gets what).
//!
//! Invariants: `remaining <= budget`; a configured context's `refill_at` is the start of
//! its next period.

use kernel_abi::invocation::SchedControlOp;
use kernel_abi::{Error, Rights};
use kernel_core::capability::{Capability, SlotId};

use super::cnode;
use super::thread::{self, SCHED_CONTEXT_SLOT, Scheduling, Thread};
use super::{Header, ObjectRef};
use crate::Kernel;

/// Shortest budget accepted, in microseconds: below this the kernel's own entry and exit
/// would eat it.
pub const MIN_BUDGET_US: usize = 50;

/// A scheduling context.
#[repr(C)]
pub struct SchedContext {
    /// Reference count.
    pub header: Header,
    /// Time units (of the `time` CSR) per period; 0 until configured.
    pub budget: u64,
    /// Length of a period in time units.
    pub period: u64,
    /// Budget left in this period.
    pub remaining: u64,
    /// When the next period starts and the budget refills.
    pub refill_at: u64,
    /// The thread that has it as its own (0: none).
    pub bound_thread: usize,
}

const _: () =
    assert!(core::mem::size_of::<SchedContext>() <= 1 << kernel_abi::object::SCHED_CONTEXT_SIZE_BITS);

/// Makes an unconfigured scheduling context (no budget: a thread bound to it cannot run).
pub fn initialise(object: usize) {
    // SAFETY: live: retype just zeroed this memory for a scheduling context (all zero bytes
    // is a valid unconfigured one); exclusive: nothing else knows it yet.
    let context = unsafe { ObjectRef::<SchedContext>::new(object).get() };
    context.budget = 0;
    context.remaining = 0;
}

impl SchedContext {
    /// Refills the budget if a new period has begun by `now`.
    pub fn refill(&mut self, now: u64) {
        if self.period == 0 || now < self.refill_at {
            return;
        }
        let periods = (now - self.refill_at) / self.period + 1;
        self.refill_at += periods * self.period;
        self.remaining = self.budget;
    }

    /// Charges `used` time units.
    pub fn charge(&mut self, used: u64) {
        self.remaining = self.remaining.saturating_sub(used);
    }

    /// Whether it has budget left now (after refilling).
    pub fn has_budget(&mut self, now: u64) -> bool {
        self.refill(now);
        self.remaining > 0
    }
}

/// A decoded `SchedControl::Configure`.
pub struct Configure {
    context: ObjectRef<SchedContext>,
    budget: u64,
    period: u64,
}

fn to_ticks(microseconds: usize, timebase_hz: u64) -> Option<u64> {
    u64::try_from(microseconds).ok()?.checked_mul(timebase_hz).map(|product| product / 1_000_000)
}

/// Checks a `call` on the scheduling control capability.
pub fn decode(
    label: usize,
    words: &[usize],
    timebase_hz: u64,
    resolve: impl Fn(usize) -> Result<SlotId, Error>,
) -> Result<Configure, Error> {
    if label != SchedControlOp::Configure as usize {
        return Err(Error::IllegalOperation);
    }
    let word = |index: usize| words.get(index).copied().ok_or(Error::InvalidArgument);
    let Capability::SchedContext { object } = cnode::load(resolve(word(0)?)?) else {
        return Err(Error::IllegalOperation);
    };
    let (budget_us, period_us) = (word(1)?, word(2)?);
    if budget_us < MIN_BUDGET_US || budget_us > period_us || period_us > 3_600_000_000 {
        return Err(Error::RangeError);
    }
    let budget = to_ticks(budget_us, timebase_hz).ok_or(Error::RangeError)?;
    let period = to_ticks(period_us, timebase_hz).ok_or(Error::RangeError)?;
    if budget == 0 {
        return Err(Error::RangeError);
    }
    Ok(Configure { context: ObjectRef::new(object), budget, period })
}

/// Gives the context its budget and period, starting a full period now.
pub fn configure(kernel: &mut Kernel, configure: Configure, now: u64) {
    // SAFETY: live: the invoker's capability names it (decode checked); exclusive: the one
    // call made while it is used, `release_if_throttled`, touches threads and run queues.
    let context = unsafe { configure.context.get() };
    context.budget = configure.budget;
    context.period = configure.period;
    context.remaining = configure.budget;
    context.refill_at = now + configure.period;
    // A thread throttled on its old configuration may run again.
    if let Some(thread) = ObjectRef::<Thread>::from_link(context.bound_thread) {
        kernel.scheduler.release_if_throttled(thread);
    }
}

/// `ThreadOp::SetSchedContext`: bind the context in `slot` as the thread's own, or make the
/// thread passive when `slot` is 0.
pub fn bind(kernel: &mut Kernel, thread: ObjectRef<Thread>, slot: SlotId) -> Result<(), Error> {
    if slot != 0 {
        let Capability::SchedContext { object } = cnode::load(slot) else {
            return Err(Error::IllegalOperation);
        };
        // SAFETY: live: the capability in `slot` names it; exclusive: one read.
        let bound = unsafe { ObjectRef::<SchedContext>::new(object).get() }.bound_thread;
        if bound != 0 && bound != thread.address() {
            return Err(Error::IllegalOperation);
        }
    }
    unbind(kernel, thread);
    let own = thread::slot_id(thread, SCHED_CONTEXT_SLOT);
    if slot == 0 {
        // SAFETY: live: the invoked thread; exclusive: one store.
        unsafe { thread.get() }.scheduling = Scheduling::Passive;
    } else {
        let original = cnode::load(slot);
        if let Some(copy) = original.derive(Rights::ALL, None) {
            cnode::insert(kernel, slot, own, copy);
        }
        if let Capability::SchedContext { object } = original {
            // SAFETY: live: the capability in `slot` names it; exclusive: one store.
            unsafe { ObjectRef::<SchedContext>::new(object).get() }.bound_thread = thread.address();
        }
        // SAFETY: live: the invoked thread; exclusive: one store.
        unsafe { thread.get() }.scheduling = Scheduling::Budgeted;
    }
    kernel.scheduler.release_if_throttled(thread);
    Ok(())
}

/// Drops the thread's own scheduling context (it keeps its scheduling mode).
fn unbind(kernel: &mut Kernel, thread: ObjectRef<Thread>) {
    let own = thread::slot_id(thread, SCHED_CONTEXT_SLOT);
    if let Capability::SchedContext { object } = cnode::load(own) {
        // SAFETY: live: the thread's own slot names it; exclusive: one store.
        unsafe { ObjectRef::<SchedContext>::new(object).get() }.bound_thread = 0;
    }
    cnode::delete(kernel, own);
}

/// The last capability is gone: the thread it was bound to has lost it already (its copy
/// was a capability too), so there is nothing left to undo but lending.
pub fn destroy(kernel: &mut Kernel, context: ObjectRef<SchedContext>) {
    let _ = kernel;
    // SAFETY: live: dead but intact until a later retype; exclusive: one store.
    unsafe { context.get() }.bound_thread = 0;
}
