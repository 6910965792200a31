//! Time: the hart's real-time counter, its rate, and timers that wake a thread at a
//! deadline.
//!
//! [`now`] reads `rdtime` (the kernel lets user mode read it), which counts from reset at
//! the device tree's timebase; [`timebase_hz`] is that rate, which a program learns at
//! start (from its start info page, or the boot info page in the root task). A [`Timer`]
//! wraps a kernel timer capability and the notification it signals: arm it for an absolute
//! deadline, cancel it, or sleep until a deadline.
//!
//! Where a timer comes from: every program the process manager spawns finds one and its
//! notification at `proc_api::start_slots::TIMER` and `TIMER_NOTIFICATION` (made from its
//! own quota); a server retypes its own from its memory (`ObjectType::Timer`).

use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;

use kernel_abi::Error;

use crate::ipc::{self, Cptr};
use crate::object;

/// The timebase, once known (0: not yet).
static TIMEBASE_HZ: AtomicU64 = AtomicU64::new(0);

/// Records the timebase the program was started with (start or boot info).
pub(crate) fn set_timebase_hz(hz: u64) {
    TIMEBASE_HZ.store(hz, Ordering::Relaxed);
}

/// `rdtime` units per second, if the program was told (every program the process builder
/// makes is, and the root task).
pub fn timebase_hz() -> Option<u64> {
    match TIMEBASE_HZ.load(Ordering::Relaxed) {
        0 => None,
        hz => Some(hz),
    }
}

/// The real-time counter: `rdtime` units since the machine was reset.
#[inline(always)]
pub fn now() -> u64 {
    let time: u64;
    // SAFETY: reading time has no side effects; the kernel enabled it in scounteren.
    unsafe { core::arch::asm!("rdtime {}", out(reg) time, options(nomem, nostack)) };
    time
}

/// `duration` in `rdtime` units (rounded up, so a sleep is never short), if the timebase is
/// known and the result fits.
pub fn ticks(duration: Duration) -> Option<u64> {
    let hz = u128::from(timebase_hz()?);
    let ticks = (duration.as_nanos() * hz).div_ceil(1_000_000_000);
    u64::try_from(ticks).ok()
}

/// `ticks` `rdtime` units as a duration, if the timebase is known.
pub fn duration(ticks: u64) -> Option<Duration> {
    let hz = timebase_hz()?;
    let nanos = u128::from(ticks) * 1_000_000_000 / u128::from(hz);
    Some(Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX)))
}

/// Time since the machine was reset (the counter starts there), if the timebase is known.
pub fn since_boot() -> Option<Duration> {
    duration(now())
}

/// The deadline `duration` from now, if the timebase is known and it fits.
pub fn deadline_after(duration: Duration) -> Option<u64> {
    now().checked_add(ticks(duration)?)
}

/// A kernel timer and the notification it signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timer {
    timer: Cptr,
    notification: Cptr,
}

impl Timer {
    /// The timer capability `timer`, which already signals `notification` (a capability
    /// this thread may wait on), as the process manager hands them out.
    pub const fn new(timer: Cptr, notification: Cptr) -> Self {
        Self { timer, notification }
    }

    /// Makes `timer` signal `notification` (READ and WRITE rights) and wraps them.
    pub fn bind(timer: Cptr, notification: Cptr) -> Result<Self, Error> {
        object::timer_set_notification(timer, notification)?;
        Ok(Self::new(timer, notification))
    }

    /// The notification it signals.
    pub const fn notification(&self) -> Cptr {
        self.notification
    }

    /// Arms it for `deadline` (absolute, [`now`] units), replacing the deadline it had;
    /// one not after now fires at once. Returns whether it was armed.
    pub fn arm_at(&self, deadline: u64) -> Result<bool, Error> {
        object::timer_arm(self.timer, deadline)
    }

    /// Disarms it. Returns whether it was armed (false once it fired).
    pub fn cancel(&self) -> Result<bool, Error> {
        object::timer_cancel(self.timer)
    }

    /// Blocks until [`now`] reaches `deadline` (at once if it has): arms the timer and
    /// waits on its notification, again if something else signalled it first. Other signals
    /// of that notification are consumed, so it should be the timer's own.
    pub fn sleep_until(&self, deadline: u64) -> Result<(), Error> {
        self.arm_at(deadline)?;
        loop {
            ipc::wait(self.notification)?;
            if now() >= deadline {
                return Ok(());
            }
        }
    }

    /// Blocks for `duration` ([`Error::InvalidArgument`] if the timebase is unknown or the
    /// deadline does not fit).
    pub fn sleep(&self, duration: Duration) -> Result<(), Error> {
        self.sleep_until(deadline_after(duration).ok_or(Error::InvalidArgument)?)
    }
}
