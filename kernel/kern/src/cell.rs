//! `KernelCell`: global kernel state without locks.
//!
//! The kernel runs on one hart with interrupts disabled and is never preempted, so there is
//! never more than one flow of control inside it. A lock would only hide bugs. The borrowers
//! are boot (`kernel_main`, once, before any trap) and the trap entry from user mode
//! (`trap_from_user`), which cannot be re-entered: traps taken in kernel mode go to
//! `trap_from_kernel`, which panics without touching kernel state, and the panic handler
//! touches none either. That structure is what makes a borrow exclusive, so [`KernelCell::with`]
//! is an `unsafe fn` whose two callers say why. Debug builds also check it at run time (a
//! second borrow panics loudly); release builds, where the check would sit on every IPC,
//! rely on the structure alone.

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
    ///
    /// # Safety
    ///
    /// No other call of `with` on this cell may be running: the caller is the outermost
    /// borrower (boot, or the trap entry from user mode), and `f` does not call `with`.
    #[inline(always)]
    pub unsafe fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        if cfg!(debug_assertions) {
            assert!(!self.borrowed.replace(true), "kernel state borrowed twice (re-entered)");
        }
        // SAFETY: no other reference to the value exists: the caller is the only borrower
        // (this function's contract, explained in the module doc), and debug builds check it
        // with `borrowed`.
        let result = f(unsafe { &mut *self.value.get() });
        if cfg!(debug_assertions) {
            self.borrowed.set(false);
        }
        result
    }
}
