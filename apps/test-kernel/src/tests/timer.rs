//! Timers: a notification signalled at a deadline, re-armable and cancellable, never after
//! the timer is gone.
//!
//! Deadlines are a few milliseconds ahead (QEMU runs in real time here), and "never fires"
//! is checked against a second timer armed later: once that one has fired, the first would
//! have too. Never before its deadline is checked every time; within a tick after it is
//! checked as the best of a few tries, since the host may stop QEMU for a while between the
//! interrupt and the woken thread's reading of the clock.

use kernel_abi::invocation::TimerOp;
use kernel_abi::{Error, ObjectType, Rights};
use userlib::ipc;
use userlib::object;
use userlib::time::now;

use crate::context::{CNODE, Context, Outcome, Test};
use crate::{check, check_eq, ok};

/// The timer tests.
pub const ALL: &[Test] = &[
    Test {
        id: "TIMER0001",
        about: "a timer signals its notification with the capability's badge within one tick after its deadline, and not before",
        run: fires_at_deadline,
    },
    Test {
        id: "TIMER0002",
        about: "a cancelled timer never fires; cancel says whether it was armed",
        run: cancel_means_never,
    },
    Test {
        id: "TIMER0003",
        about: "16 timers armed out of order at once fire in deadline order, while a lower priority spins",
        run: many_in_deadline_order,
    },
    Test {
        id: "TIMER0004",
        about: "arming an armed timer replaces its deadline, earlier or later; it is one-shot and re-armable after firing",
        run: rearm_replaces,
    },
    Test {
        id: "TIMER0005",
        about: "deleting a copy leaves the timer armed; deleting its last capability disarms it for good",
        run: deleted_never_fires,
    },
    Test {
        id: "TIMER0006",
        about: "a timer destroyed by revoking its Untyped never fires; one whose notification was revoked fires silently",
        run: revoked_never_fires,
    },
    Test {
        id: "TIMER0007",
        about: "bad arguments: no notification is NotBound, a non-notification or one without WRITE is refused, a past deadline fires at once",
        run: bad_arguments,
    },
    Test {
        id: "TIMER0008",
        about: "the idle count (IdleInstructions) stays still while a thread runs and grows while every thread waits for a timer, by less than all instructions retired",
        run: idle_is_counted,
    },
];

/// The length of a scheduler tick in `rdtime` units (100 ticks a second).
fn tick(context: &Context) -> u64 {
    context.info.timebase_hz as u64 / 100
}

/// Far enough ahead that the host cannot hold QEMU back past it between two steps of a
/// test (what must happen before a deadline does not race it).
const AHEAD_MS: u64 = 200;

/// Milliseconds in `rdtime` units.
fn millis(context: &Context, count: u64) -> u64 {
    context.info.timebase_hz as u64 / 1000 * count
}

/// A timer signalling a fresh notification through a capability with `badge`; returns
/// (timer, notification).
fn timer(context: &mut Context, badge: usize) -> Result<(usize, usize), Error> {
    let timer = context.make(ObjectType::Timer, 0)?;
    let notification = context.make(ObjectType::Notification, 0)?;
    let badged = context.slot();
    object::mint(CNODE, badged, CNODE, notification, Rights::WRITE, badge)?;
    object::timer_set_notification(timer, badged)?;
    Ok((timer, notification))
}

/// Waits on a sentinel timer armed `delay` from now: once it has fired, every timer due
/// earlier has had its chance.
fn after_sentinel(context: &mut Context, delay: u64) -> Outcome {
    let (sentinel, signalled) = ok!(timer(context, 1));
    let deadline = now() + delay;
    ok!(object::timer_arm(sentinel, deadline));
    check_eq!(ipc::wait(signalled), Ok(1));
    check!(now() >= deadline);
    Ok(())
}

fn fires_at_deadline(context: &mut Context) -> Outcome {
    let (timer, notification) = ok!(timer(context, 0x5a));
    let mut best = u64::MAX;
    for _ in 0..5 {
        let deadline = now() + millis(context, 20);
        check_eq!(object::timer_arm(timer, deadline), Ok(false));
        // Not yet.
        check_eq!(ipc::poll(notification), Ok(0));
        check_eq!(ipc::wait(notification), Ok(0x5a));
        let woken = now();
        check!(woken >= deadline);
        best = best.min(woken - deadline);
        // Fired once: nothing more is pending, and it is no longer armed.
        check_eq!(ipc::poll(notification), Ok(0));
        check_eq!(object::timer_cancel(timer), Ok(false));
        if best < tick(context) {
            break;
        }
    }
    check!(best < tick(context));
    Ok(())
}

fn cancel_means_never(context: &mut Context) -> Outcome {
    let (timer, notification) = ok!(timer(context, 2));
    check_eq!(object::timer_cancel(timer), Ok(false));
    ok!(object::timer_arm(timer, now() + millis(context, AHEAD_MS)));
    check_eq!(object::timer_cancel(timer), Ok(true));
    check_eq!(object::timer_cancel(timer), Ok(false));
    after_sentinel(context, millis(context, AHEAD_MS + 20))?;
    check_eq!(ipc::poll(notification), Ok(0));
    Ok(())
}

/// Spins for ever (a lower priority, so the timers interrupt user code, not the idle loop).
fn spin(_: usize) -> usize {
    let mut value = 1u64;
    loop {
        value = core::hint::black_box(value.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
    }
}

fn many_in_deadline_order(context: &mut Context) -> Outcome {
    const TIMERS: usize = 16;
    let notification = ok!(context.make(ObjectType::Notification, 0));
    let base = now() + millis(context, AHEAD_MS);
    let spacing = millis(context, 3);
    // Armed in a scrambled order (7 is coprime to 16, so every rank comes once).
    for step in 0..TIMERS {
        let rank = (step * 7) % TIMERS;
        let timer = ok!(context.make(ObjectType::Timer, 0));
        let badged = context.slot();
        ok!(object::mint(CNODE, badged, CNODE, notification, Rights::WRITE, 1 << rank));
        ok!(object::timer_set_notification(timer, badged));
        ok!(object::timer_arm(timer, base + spacing * rank as u64));
    }
    ok!(context.spawn(spin, 0, 100, 0));
    // Each wait returns the timers fired since the last one: ranks must come in order.
    let mut next_rank = 0;
    while next_rank < TIMERS {
        let word = ok!(ipc::wait(notification));
        check!(word != 0);
        check_eq!(word.trailing_zeros() as usize, next_rank);
        let fired = word.count_ones() as usize;
        // The word is a contiguous run of ranks from `next_rank`.
        check_eq!(word >> next_rank, (1usize << fired) - 1);
        next_rank += fired;
        check!(now() >= base + spacing * (next_rank as u64 - 1));
    }
    Ok(())
}

fn rearm_replaces(context: &mut Context) -> Outcome {
    let (timer, notification) = ok!(timer(context, 4));
    // Earlier: it fires at the new deadline, long before the old one.
    let late = now() + millis(context, 2 * AHEAD_MS);
    ok!(object::timer_arm(timer, late));
    let early = now() + millis(context, 5);
    check_eq!(object::timer_arm(timer, early), Ok(true));
    check_eq!(ipc::wait(notification), Ok(4));
    let woken = now();
    check!(woken >= early && woken < late);
    // Later: it does not fire at the old deadline.
    let first = now() + millis(context, AHEAD_MS);
    ok!(object::timer_arm(timer, first));
    let second = now() + millis(context, AHEAD_MS + 30);
    check_eq!(object::timer_arm(timer, second), Ok(true));
    check_eq!(ipc::wait(notification), Ok(4));
    check!(now() >= second);
    // One-shot: nothing more comes, and it can be armed again.
    check_eq!(object::timer_cancel(timer), Ok(false));
    check_eq!(object::timer_arm(timer, now() + millis(context, 2)), Ok(false));
    check_eq!(ipc::wait(notification), Ok(4));
    Ok(())
}

fn deleted_never_fires(context: &mut Context) -> Outcome {
    let (timer, notification) = ok!(timer(context, 8));
    let copy = context.slot();
    ok!(object::copy(CNODE, copy, CNODE, timer, Rights::ALL));
    ok!(object::timer_arm(timer, now() + millis(context, 5)));
    // A copy going changes nothing: the timer still fires.
    ok!(object::delete(CNODE, copy));
    check_eq!(ipc::wait(notification), Ok(8));
    // The last capability going disarms it.
    ok!(object::timer_arm(timer, now() + millis(context, AHEAD_MS)));
    ok!(object::delete(CNODE, timer));
    after_sentinel(context, millis(context, AHEAD_MS + 20))?;
    check_eq!(ipc::poll(notification), Ok(0));
    Ok(())
}

fn revoked_never_fires(context: &mut Context) -> Outcome {
    // A timer made from an Untyped that is then revoked.
    let memory = ok!(context.make(ObjectType::Untyped, 12));
    let notification = ok!(context.make(ObjectType::Notification, 0));
    let (timer, badged) = (context.slot(), context.slot());
    ok!(object::retype(memory, ObjectType::Timer, 0, CNODE, timer, 1));
    ok!(object::mint(CNODE, badged, CNODE, notification, Rights::WRITE, 16));
    ok!(object::timer_set_notification(timer, badged));
    ok!(object::timer_arm(timer, now() + millis(context, AHEAD_MS)));
    check_eq!(object::revoke(CNODE, memory), Ok(1));
    check_eq!(object::timer_cancel(timer), Err(Error::InvalidCapability));
    after_sentinel(context, millis(context, AHEAD_MS + 20))?;
    check_eq!(ipc::poll(notification), Ok(0));
    // A timer whose notification capability is revoked while it is armed: its copy (a
    // child of that capability) goes with it, so the timer fires into nothing, and after
    // that it cannot be armed until it is given another.
    let quiet = ok!(context.make(ObjectType::Timer, 0));
    let target = ok!(context.make(ObjectType::Notification, 0));
    ok!(object::timer_set_notification(quiet, target));
    ok!(object::timer_arm(quiet, now() + millis(context, 20)));
    check_eq!(object::revoke(CNODE, target), Ok(1));
    after_sentinel(context, millis(context, 40))?;
    check_eq!(object::timer_cancel(quiet), Ok(false));
    check_eq!(object::timer_arm(quiet, now()), Err(Error::NotBound));
    check_eq!(ipc::poll(target), Ok(0));
    Ok(())
}

fn bad_arguments(context: &mut Context) -> Outcome {
    let timer = ok!(context.make(ObjectType::Timer, 0));
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let notification = ok!(context.make(ObjectType::Notification, 0));
    let (read_only, empty) = (context.slot(), context.slot());
    ok!(object::copy(CNODE, read_only, CNODE, notification, Rights::READ));
    check_eq!(object::timer_arm(timer, now() + 1000), Err(Error::NotBound));
    check_eq!(object::timer_set_notification(timer, endpoint), Err(Error::IllegalOperation));
    check_eq!(object::timer_set_notification(timer, empty), Err(Error::InvalidCapability));
    check_eq!(object::timer_set_notification(timer, read_only), Err(Error::InsufficientRights));
    check_eq!(ipc::invoke(timer, 99, &[]).map(|_| ()), Err(Error::IllegalOperation));
    check_eq!(ipc::invoke(timer, TimerOp::Arm as usize, &[]).map(|_| ()), Err(Error::InvalidArgument));
    // Timer operations on something else.
    check_eq!(object::timer_cancel(notification), Err(Error::IllegalOperation));
    // A deadline already passed fires at once (and leaves it disarmed).
    let (stamped, signalled) = ok!(self::timer(context, 32));
    check_eq!(object::timer_arm(stamped, 0), Ok(false));
    check_eq!(ipc::poll(signalled), Ok(32));
    check_eq!(object::timer_cancel(stamped), Ok(false));
    check_eq!(object::timer_arm(stamped, now()), Ok(false));
    check_eq!(ipc::poll(signalled), Ok(32));
    Ok(())
}

fn idle_is_counted(context: &mut Context) -> Outcome {
    use userlib::syscall::{idle_instructions, instructions_retired};
    let (timer, notification) = ok!(timer(context, 0x11));
    let (idle_before, all_before) = (idle_instructions(), instructions_retired());
    // Running: nothing is idle.
    check_eq!(idle_instructions(), idle_before);
    check_eq!(object::timer_arm(timer, now() + millis(context, 20)), Ok(false));
    check_eq!(ipc::wait(notification), Ok(0x11));
    let (idle_after, all_after) = (idle_instructions(), instructions_retired());
    check!(idle_after > idle_before);
    check!(idle_after - idle_before < all_after - all_before);
    Ok(())
}
