//! `KernelCell`: global kernel state without locks.
//!
//! The kernel runs on one hart with interrupts disabled and is never preempted, so there is
//! never more than one flow of control inside it. A lock would only hide bugs; instead the
//! cell checks at run time that nobody borrows it twice (re-entering the kernel state from
//! within a borrow, for instance from a panic path, is a bug and panics loudly).

use core::cell::{Cell, UnsafeCell};

/// A global that only the (single, non-preemptible) kernel thread of control touches.
pub struct KernelCell<T> {
    value: UnsafeCell<T>,
    borrowed: Cell<bool>,
}

// SAFETY: the kernel runs on a single hart with S-mode interrupts disabled, so no two
// threads of control ever access a KernelCell concurrently; `borrowed` catches re-entrance.
unsafe impl<T> Sync for KernelCell<T> {}

impl<T> KernelCell<T> {
    /// A cell holding `value`.
    pub const fn new(value: T) -> Self {
        Self { value: UnsafeCell::new(value), borrowed: Cell::new(false) }
    }

    /// Runs `f` with exclusive access to the value.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        assert!(!self.borrowed.replace(true), "kernel state borrowed twice (re-entered)");
        // SAFETY: `borrowed` was false, so no other reference to the value exists; it stays
        // true until `f` returns, so none can be created meanwhile.
        let result = f(unsafe { &mut *self.value.get() });
        self.borrowed.set(false);
        result
    }
}
