//! The scheduler: 256 fixed priorities, round robin within a priority, preemption by the
//! timer tick and by higher-priority threads becoming ready.
//!
//! Invariants: a thread is in the ready queue of its priority iff its state is `Ready`;
//! bit `p` of `bitmap` is set iff queue `p` is non-empty; `current` is the thread whose
//! registers and FP state are loaded (0 when idle).

use crate::arch::riscv64::fpu;
use crate::arch::riscv64::trap::TrapFrame;
use crate::arch::riscv64::{csr, sbi};
use crate::object::ObjectRef;
use crate::object::thread::{ADDRESS_SPACE_SLOT, Queue, State, Thread};
use kernel_core::capability::Capability;

/// Timer ticks per second; each is a scheduling decision.
pub const TICKS_PER_SECOND: u64 = 100;
const PRIORITIES: usize = 256;

/// Ready queues and the running thread.
pub struct Scheduler {
    queues: [Queue; PRIORITIES],
    bitmap: [u64; PRIORITIES / 64],
    /// The thread on the processor (0: none).
    current: usize,
    /// The thread whose FP registers are loaded (0: none).
    fp_owner: usize,
    /// `time` ticks between timer interrupts.
    tick_interval: u64,
}

impl Scheduler {
    /// No threads, ticking at [`TICKS_PER_SECOND`] of a `timebase_hz` clock.
    pub const fn new(timebase_hz: u64) -> Self {
        let interval = timebase_hz / TICKS_PER_SECOND;
        Self {
            queues: [Queue { head: 0, tail: 0 }; PRIORITIES],
            bitmap: [0; PRIORITIES / 64],
            current: 0,
            fp_owner: 0,
            tick_interval: if interval == 0 { 1 } else { interval },
        }
    }

    /// The running thread.
    pub fn current(&self) -> Option<ObjectRef<Thread>> {
        ObjectRef::from_link(self.current)
    }

    fn priority_of(thread: ObjectRef<Thread>) -> usize {
        thread.get().priority.min(PRIORITIES - 1)
    }

    /// Puts `thread` at the back of its priority's queue, state `Ready`.
    pub fn make_ready(&mut self, thread: ObjectRef<Thread>) {
        let priority = Self::priority_of(thread);
        if thread.get().state == State::Ready {
            return;
        }
        thread.get().state = State::Ready;
        if thread.address() == self.current {
            // The running thread stays on the processor; it is queued when switched out.
            thread.get().state = State::Running;
            return;
        }
        self.queues[priority].push_back(thread);
        self.bitmap[priority / 64] |= 1 << (priority % 64);
    }

    /// Removes a `Ready` thread from its queue (its state is left for the caller).
    pub fn remove(&mut self, thread: ObjectRef<Thread>) {
        let priority = Self::priority_of(thread);
        self.queues[priority].remove(thread);
        if self.queues[priority].is_empty() {
            self.bitmap[priority / 64] &= !(1 << (priority % 64));
        }
    }

    /// Gives `thread` the blocked `state`, taking it off the run queue if needed.
    pub fn block(&mut self, thread: ObjectRef<Thread>, state: State) {
        if thread.get().state == State::Ready {
            self.remove(thread);
        }
        thread.get().state = state;
    }

    /// Moves the running thread to the back of its queue (timer tick, `yield`).
    pub fn requeue_current(&mut self) {
        if let Some(current) = self.current().filter(|t| t.get().state == State::Running) {
            let priority = Self::priority_of(current);
            current.get().state = State::Ready;
            self.queues[priority].push_back(current);
            self.bitmap[priority / 64] |= 1 << (priority % 64);
        }
    }

    fn highest_ready(&self) -> Option<usize> {
        (0..self.bitmap.len()).rev().find_map(|word| {
            let bits = self.bitmap[word];
            (bits != 0).then(|| word * 64 + 63 - bits.leading_zeros() as usize)
        })
    }

    fn take(&mut self, priority: usize) -> Option<ObjectRef<Thread>> {
        let thread = self.queues[priority].pop_front()?;
        if self.queues[priority].is_empty() {
            self.bitmap[priority / 64] &= !(1 << (priority % 64));
        }
        Some(thread)
    }

    /// Whether `thread` is in the ready queue of its priority (for invariant checks).
    pub fn is_queued(&self, thread: ObjectRef<Thread>) -> bool {
        let priority = Self::priority_of(thread);
        let mut node = self.queues[priority].head;
        let mut steps = 0;
        while node != 0 && steps < 4096 {
            if node == thread.address() {
                return self.bitmap[priority / 64] & (1 << (priority % 64)) != 0;
            }
            node = ObjectRef::<Thread>::new(node).get().queue_next;
            steps += 1;
        }
        false
    }

    /// Programs the next timer tick.
    pub fn arm_timer(&self) {
        let now = csr::read_time() as u64;
        sbi::set_timer(now.wrapping_add(self.tick_interval));
    }

    /// Chooses the thread to run: the current one unless it stopped or a higher priority is
    /// ready. Loads its address space and FP state and returns its trap frame. Waits for
    /// interrupts while nothing is runnable (with `on_idle_tick` called per timer tick).
    pub fn switch_to_next(&mut self) -> *mut TrapFrame {
        let current = self.current().filter(|t| t.get().state == State::Running);
        let next = match (current, self.highest_ready()) {
            (Some(running), Some(best)) if best > Self::priority_of(running) => {
                let priority = Self::priority_of(running);
                running.get().state = State::Ready;
                self.queues[priority].push_front(running);
                self.bitmap[priority / 64] |= 1 << (priority % 64);
                self.take(best)
            }
            (Some(running), _) => Some(running),
            (None, Some(best)) => self.take(best),
            (None, None) => None,
        };
        let next = match next {
            Some(thread) => thread,
            None => self.idle_until_ready(),
        };
        self.load(next);
        next.get().state = State::Running;
        &mut next.get().frame
    }

    fn idle_until_ready(&mut self) -> ObjectRef<Thread> {
        loop {
            if let Some(best) = self.highest_ready()
                && let Some(thread) = self.take(best)
            {
                return thread;
            }
            csr::wait_for_interrupt();
            if csr::read_sip() & csr::SIP_TIMER != 0 {
                self.arm_timer();
            }
        }
    }

    /// Makes `next` the current thread: its address space in `satp`, its FP registers loaded.
    fn load(&mut self, next: ObjectRef<Thread>) {
        if self.current != next.address() {
            if let Some(owner) = ObjectRef::<Thread>::from_link(self.fp_owner)
                && fpu::is_dirty()
            {
                fpu::save(&mut owner.get().fp);
            }
            fpu::load(&next.get().fp);
            self.fp_owner = next.address();
            self.current = next.address();
        }
        // The address space can change under a running thread (reconfiguration), so the
        // check is made on every return to user mode; writing satp is cheap.
        if let Capability::AddressSpace { root, asid } = next.get().capability(ADDRESS_SPACE_SLOT) {
            let satp = kernel_core::paging::satp(root, asid);
            // SAFETY: every address space's kernel half is copied from the kernel page table
            // when it is made, so the kernel stays mapped across the switch.
            unsafe { csr::switch_address_space(satp) };
        }
    }
}
