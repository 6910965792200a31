//! Timer: a deadline at which the kernel signals a notification.
//!
//! A timer holds, in a capability slot of its own, a copy of the notification capability
//! it was given (`SetNotification`); armed for an absolute deadline in `rdtime` units
//! (`Arm`), it sits in the kernel's list of armed timers, and when the deadline passes the
//! kernel takes it off the list and signals that notification with the copy's badge. It is
//! one-shot: arming again (before or after it fired) replaces the deadline; `Cancel`
//! disarms it. The kernel multiplexes every armed timer on the one SBI timer the scheduler
//! already programs for its tick and budgets: the SBI timer is set for the earliest of the
//! next tick, the next budget event and the head of the list.
//!
//! Why it is in the kernel: only S-mode can program the SBI timer, and the scheduler needs
//! it; a user-level timer server would be one more server every sleeper must trust and
//! call, and could only multiplex what the kernel gave it anyway.
//!
//! Invariants:
//! - `armed` iff the timer is in the kernel's list (`Kernel::timers`, a
//!   `kernel_core::deadlines::DeadlineList`), sorted by deadline (equal deadlines in arming
//!   order), linked through the timers' `links`;
//! - the scheduler's `user_deadline` is the head's deadline (`u64::MAX` when none is armed);
//! - the slot holds a notification capability or nothing (a revoked notification leaves it
//!   empty; the timer then fires silently);
//! - a destroyed timer (its last capability deleted, or its Untyped revoked) is disarmed
//!   and its slot emptied first, so a dead timer never fires.
//!
//! Costs: arming walks the list to its place (linear in the armed timers ahead of it); the
//! earliest deadline, cancelling and firing are constant time per timer.

use kernel_abi::invocation::TimerOp;
use kernel_abi::{Error, Rights};
use kernel_core::capability::{self, Capability, SLOT_SIZE, Slot, SlotId};
use kernel_core::deadlines::{DeadlineStore, Links, ListError, NodeId};

use super::cnode::{self, KernelSlots};
use super::notification::{self, Notification};
use super::{Header, ObjectRef, release};
use crate::Kernel;

/// A timer.
#[repr(C)]
pub struct Timer {
    /// Reference count (first, as in every counted object).
    pub header: Header,
    /// Its deadline and place in the armed list.
    pub links: Links,
    _reserved: usize,
    /// The notification capability it signals (64-byte aligned at offset 64).
    pub slot: Slot,
}

const _: () = assert!(core::mem::size_of::<Timer>() <= 1 << kernel_abi::object::TIMER_SIZE_BITS);
const _: () = assert!(core::mem::offset_of!(Timer, slot) == SLOT_SIZE, "the timer's slot is slot-aligned");

/// The armed timers' links, in the timer objects (a node id is a timer's address).
struct TimerLinks;

impl DeadlineStore for TimerLinks {
    fn links(&self, id: NodeId) -> Links {
        // SAFETY: live: the list hands the store only its own nodes and the timers this
        // file passes it, all named by capabilities or by the list (a timer is taken off it
        // before it is destroyed); exclusive: one read.
        unsafe { ObjectRef::<Timer>::new(id).get() }.links
    }

    fn set_links(&mut self, id: NodeId, links: Links) {
        // SAFETY: as in `links`; one store.
        unsafe { ObjectRef::<Timer>::new(id).get() }.links = links;
    }
}

/// Makes a disarmed timer with no notification in the zeroed memory at `object`.
pub fn initialise(object: usize) {
    // SAFETY: live: retype just zeroed this memory for a timer (all zero bytes is a valid
    // disarmed timer with an empty slot); exclusive: nothing else knows it yet.
    unsafe { ObjectRef::<Timer>::new(object).get() }.links = Links::default();
}

/// The id of the timer's slot.
pub fn slot_id(timer: ObjectRef<Timer>) -> SlotId {
    timer.address() + core::mem::offset_of!(Timer, slot)
}

/// The scheduler learns the earliest armed deadline (it programs the SBI timer).
fn tell_scheduler(kernel: &mut Kernel) {
    let earliest = kernel.timers.earliest(&TimerLinks).unwrap_or(u64::MAX);
    kernel.scheduler.set_user_deadline(earliest);
}

/// Takes `timer` off the list if it is on it; returns whether it was. A later earliest
/// deadline needs no reprogramming: an early interrupt finds nothing due, and the timer is
/// set again for the next event.
fn disarm(kernel: &mut Kernel, timer: ObjectRef<Timer>) -> bool {
    let was_armed = kernel.timers.remove(&mut TimerLinks, timer.address());
    if was_armed {
        tell_scheduler(kernel);
    }
    was_armed
}

/// Signals the notification in `timer`'s slot, if one is there.
fn fire(kernel: &mut Kernel, timer: ObjectRef<Timer>) {
    if let Capability::Notification { object, badge, .. } = cnode::load(slot_id(timer)) {
        notification::signal(kernel, ObjectRef::<Notification>::new(object), badge);
    }
}

/// The time is `now`: fires every timer due by then, earliest first. Called on every timer
/// interrupt (and when the idle loop sees one).
pub fn expire(kernel: &mut Kernel, now: u64) {
    let mut fired = false;
    while let Some(due) = kernel.timers.pop_due(&mut TimerLinks, now) {
        fire(kernel, ObjectRef::new(due));
        fired = true;
    }
    if fired {
        tell_scheduler(kernel);
    }
}

/// The last capability is gone (deleted, or its Untyped revoked): it is disarmed and lets
/// its notification go, so it never fires again.
pub fn destroy(kernel: &mut Kernel, timer: ObjectRef<Timer>) {
    disarm(kernel, timer);
    let slot = slot_id(timer);
    if !cnode::load(slot).is_null() {
        // A notification holds no capabilities, so releasing it destroys nothing further
        // that could reach back here.
        let notification = capability::remove(&mut KernelSlots, slot);
        release(kernel, notification);
    }
}

/// A decoded timer invocation.
pub enum Invocation {
    /// Signal the notification whose capability is in `source` (copied into the timer).
    SetNotification {
        /// The timer.
        timer: ObjectRef<Timer>,
        /// The notification capability's slot in the caller's CSpace.
        source: SlotId,
    },
    /// Arm for `deadline`.
    Arm {
        /// The timer.
        timer: ObjectRef<Timer>,
        /// Absolute, in `rdtime` units.
        deadline: u64,
    },
    /// Disarm.
    Cancel {
        /// The timer.
        timer: ObjectRef<Timer>,
    },
}

/// The armed timers, checked (for `debug_check`): how many, or what is broken.
pub fn check(kernel: &Kernel) -> Result<usize, ListError> {
    kernel.timers.check(&TimerLinks, 1 << 20)
}

/// Checks a `call` on the timer capability naming `object`, changing nothing.
pub fn decode(
    object: usize,
    label: usize,
    words: &[usize],
    resolve: impl Fn(usize) -> Result<SlotId, Error>,
) -> Result<Invocation, Error> {
    let word = |index: usize| words.get(index).copied().ok_or(Error::InvalidArgument);
    let timer = ObjectRef::<Timer>::new(object);
    match label {
        l if l == TimerOp::SetNotification as usize => {
            let source = resolve(word(0)?)?;
            match cnode::load(source) {
                Capability::Notification { rights, .. } if rights.contains(Rights::WRITE) => {
                    Ok(Invocation::SetNotification { timer, source })
                }
                Capability::Notification { .. } => Err(Error::InsufficientRights),
                Capability::Null => Err(Error::InvalidCapability),
                _ => Err(Error::IllegalOperation),
            }
        }
        l if l == TimerOp::Arm as usize => {
            let deadline = u64::try_from(word(0)?).map_err(|_| Error::InvalidArgument)?;
            if !matches!(cnode::load(slot_id(timer)), Capability::Notification { .. }) {
                return Err(Error::NotBound);
            }
            Ok(Invocation::Arm { timer, deadline })
        }
        l if l == TimerOp::Cancel as usize => Ok(Invocation::Cancel { timer }),
        _ => Err(Error::IllegalOperation),
    }
}

/// Performs a timer invocation at time `now`; returns its result word.
pub fn invoke(kernel: &mut Kernel, invocation: Invocation, now: u64) -> usize {
    match invocation {
        Invocation::SetNotification { timer, source } => {
            let slot = slot_id(timer);
            cnode::delete(kernel, slot);
            if let Some(copy) = cnode::load(source).derive(Rights::ALL, None) {
                cnode::insert(kernel, source, slot, copy);
            }
            0
        }
        Invocation::Arm { timer, deadline } => {
            let was_armed = kernel.timers.remove(&mut TimerLinks, timer.address());
            if deadline <= now {
                fire(kernel, timer);
            } else {
                kernel.timers.insert(&mut TimerLinks, timer.address(), deadline);
                kernel.scheduler.program_by(deadline);
            }
            tell_scheduler(kernel);
            usize::from(was_armed)
        }
        Invocation::Cancel { timer } => usize::from(disarm(kernel, timer)),
    }
}
