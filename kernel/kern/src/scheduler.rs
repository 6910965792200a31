//! The scheduler: 256 fixed priorities, round robin within a priority, preemption by the
//! timer tick and by higher-priority threads becoming ready, and budgets enforced through
//! scheduling contexts.
//!
//! Invariants: a thread is in the ready queue of its priority iff its state is `Ready`, and
//! in the throttled queue iff its state is `Throttled`; bit `p` of `bitmap` is set iff queue
//! `p` is non-empty; `current` is the thread whose registers and FP state are loaded (0
//! when idle); time up to `last_charge` has been charged to the budget it belongs to.

use crate::arch::riscv64::fpu;
use crate::arch::riscv64::trap::TrapFrame;
use crate::arch::riscv64::{csr, sbi};
use crate::object::ObjectRef;
use crate::object::thread::{self, ADDRESS_SPACE_SLOT, Budget, Queue, State, Thread};
use kernel_core::capability::Capability;

/// Timer ticks per second; each is a round-robin decision.
pub const TICKS_PER_SECOND: u64 = 100;
const PRIORITIES: usize = 256;

/// Ready queues and the running thread. (`repr(C)` with the fields the IPC fastpath
/// touches first, so they sit at small offsets from the kernel's base address.)
#[repr(C)]
pub struct Scheduler {
    /// The thread on the processor (0: none).
    current: usize,
    /// The thread whose FP registers are loaded (0: none).
    fp_owner: usize,
    /// Non-zero iff some bit of `bitmap` is set (one load for the fastpath).
    any_ready: u64,
    bitmap: [u64; PRIORITIES / 64],
    /// Threads whose budget is spent, until their next period.
    throttled: Queue,
    /// `time` units between round-robin ticks.
    tick_interval: u64,
    /// When the next round-robin tick is due.
    next_tick: u64,
    /// The deadline the timer is programmed for.
    timer_deadline: u64,
    /// Time up to which the running thread has been charged.
    last_charge: u64,
    /// `time` units per second.
    timebase_hz: u64,
    /// The earliest deadline of an armed user timer (`u64::MAX`: none), kept by
    /// `object::timer`.
    user_deadline: u64,
    queues: [Queue; PRIORITIES],
}

impl Scheduler {
    /// No threads, ticking at [`TICKS_PER_SECOND`] of a `timebase_hz` clock.
    pub const fn new(timebase_hz: u64) -> Self {
        let interval = timebase_hz / TICKS_PER_SECOND;
        Self {
            queues: [Queue { head: 0, tail: 0 }; PRIORITIES],
            bitmap: [0; PRIORITIES / 64],
            any_ready: 0,
            throttled: Queue { head: 0, tail: 0 },
            current: 0,
            fp_owner: 0,
            tick_interval: if interval == 0 { 1 } else { interval },
            next_tick: 0,
            timer_deadline: u64::MAX,
            last_charge: 0,
            timebase_hz,
            user_deadline: u64::MAX,
        }
    }

    /// `time` units per second.
    pub fn timebase_hz(&self) -> u64 {
        self.timebase_hz
    }

    /// The running thread.
    pub fn current(&self) -> Option<ObjectRef<Thread>> {
        ObjectRef::from_link(self.current)
    }

    fn priority_of(thread: ObjectRef<Thread>) -> usize {
        // SAFETY: live: every thread the scheduler is handed is live (queued threads are:
        // destruction takes a thread out of every queue; callers pass threads they hold);
        // exclusive: one read.
        unsafe { thread.get() }.priority.min(PRIORITIES - 1)
    }

    fn enqueue(&mut self, thread: ObjectRef<Thread>, at_front: bool) {
        let priority = Self::priority_of(thread);
        // SAFETY: live (as in `priority_of`); exclusive: one store.
        unsafe { thread.get() }.state = State::Ready;
        if at_front {
            self.queues[priority].push_front(thread);
        } else {
            self.queues[priority].push_back(thread);
        }
        self.bitmap[priority / 64] |= 1 << (priority % 64);
        self.any_ready = self.bitmap.iter().fold(0, |all, word| all | word);
    }

    /// Puts `thread` at the back of its priority's queue, state `Ready`.
    pub fn make_ready(&mut self, thread: ObjectRef<Thread>) {
        // SAFETY: live (as in `priority_of`); exclusive: one read.
        match unsafe { thread.get() }.state {
            State::Ready => return,
            State::Throttled => self.throttled.remove(thread),
            _ => {}
        }
        if thread.address() == self.current {
            // The running thread stays on the processor; it is queued when switched out.
            // SAFETY: live (as in `priority_of`); exclusive: one store.
            unsafe { thread.get() }.state = State::Running;
            return;
        }
        self.enqueue(thread, false);
    }

    /// Removes a `Ready` thread from its queue (its state is left for the caller).
    pub fn remove(&mut self, thread: ObjectRef<Thread>) {
        let priority = Self::priority_of(thread);
        self.queues[priority].remove(thread);
        if self.queues[priority].is_empty() {
            self.bitmap[priority / 64] &= !(1 << (priority % 64));
            self.any_ready = self.bitmap.iter().fold(0, |all, word| all | word);
        }
    }

    /// Removes a `Throttled` thread from the throttled queue.
    pub fn remove_throttled(&mut self, thread: ObjectRef<Thread>) {
        self.throttled.remove(thread);
    }

    /// A throttled thread whose context changed gets another look.
    pub fn release_if_throttled(&mut self, thread: ObjectRef<Thread>) {
        // SAFETY: live (as in `priority_of`); exclusive: one read.
        if unsafe { thread.get() }.state == State::Throttled {
            self.throttled.remove(thread);
            self.enqueue(thread, false);
        }
    }

    /// Gives `thread` the blocked `state`, taking it off the run queue if needed.
    pub fn block(&mut self, thread: ObjectRef<Thread>, state: State) {
        // SAFETY: live (as in `priority_of`); exclusive: one read.
        match unsafe { thread.get() }.state {
            State::Ready => self.remove(thread),
            State::Throttled => self.throttled.remove(thread),
            _ => {}
        }
        // SAFETY: as above, after the queue operations.
        unsafe { thread.get() }.state = state;
    }

    /// Moves the running thread to the back of its queue (timer tick, `yield`).
    pub fn requeue_current(&mut self) {
        // SAFETY: live: the current thread; exclusive: one read.
        if let Some(current) = self.current().filter(|t| unsafe { t.get() }.state == State::Running) {
            self.enqueue(current, false);
        }
    }

    /// [`Self::load`] for the IPC fastpath, which only runs when the FP registers are not
    /// dirty (it declines otherwise), so nothing needs saving and no call is made: the
    /// fastpath stays a leaf function that spills no registers.
    ///
    /// `satp` is `next`'s (the fastpath holds a reference to it, so this reads nothing of it).
    #[inline(always)]
    pub fn load_clean(&mut self, next: ObjectRef<Thread>, satp: usize, fpu_state: usize) {
        if self.fp_owner == next.address() {
            csr::set_fpu_state(csr::SSTATUS_FS_CLEAN);
        } else if fpu_state != 0 {
            csr::fpu_off();
        }
        self.current = next.address();
        // SAFETY: as in `load`: the fastpath checked `next`'s slot holds an address space,
        // whose kernel half is the kernel's.
        unsafe { csr::switch_address_space(satp) };
    }

    /// The running thread used the FPU while it was off: load its registers, make it the
    /// owner, and let it retry the instruction. Returns false if the FPU was on (the
    /// instruction is illegal for another reason).
    pub fn fpu_trap(&mut self, thread: ObjectRef<Thread>) -> bool {
        if csr::read_sstatus() & csr::SSTATUS_FS_MASK != 0 {
            return false;
        }
        // The previous owner's state was saved when it left the processor.
        // SAFETY: live: the current thread; exclusive: `fpu::load` only reads the registers
        // out of it.
        fpu::load(&unsafe { thread.get() }.fp);
        self.fp_owner = thread.address();
        true
    }

    /// `thread` is being destroyed: it no longer owns the FP registers (a new thread made
    /// in its memory must not find them loaded), and nothing will save them into it.
    pub fn forget(&mut self, thread: ObjectRef<Thread>) {
        if self.fp_owner == thread.address() {
            self.fp_owner = 0;
        }
    }

    /// The highest priority with a ready thread (`None`: none ready).
    #[inline(always)]
    pub fn highest_ready_priority(&self) -> Option<usize> {
        self.highest_ready()
    }

    /// Whether threads are throttled (their refills need timer attention).
    pub fn has_throttled(&self) -> bool {
        !self.throttled.is_empty()
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
            // SAFETY: live: queue links name queued threads; exclusive: one read.
            node = unsafe { ObjectRef::<Thread>::new(node).get() }.queue_next;
            steps += 1;
        }
        false
    }

    /// Whether `thread` is in the throttled queue (for invariant checks).
    pub fn is_throttled(&self, thread: ObjectRef<Thread>) -> bool {
        let mut node = self.throttled.head;
        let mut steps = 0;
        while node != 0 && steps < 4096 {
            if node == thread.address() {
                return true;
            }
            // SAFETY: live: queue links name queued threads; exclusive: one read.
            node = unsafe { ObjectRef::<Thread>::new(node).get() }.queue_next;
            steps += 1;
        }
        false
    }

    #[inline(always)]
    fn highest_ready(&self) -> Option<usize> {
        if self.any_ready == 0 {
            return None;
        }
        // Written out (not an iterator) because it sits on the IPC fastpath.
        let mut word = self.bitmap.len();
        while word > 0 {
            word -= 1;
            let bits = self.bitmap[word];
            if bits != 0 {
                return Some(word * 64 + 63 - bits.leading_zeros() as usize);
            }
        }
        None
    }

    fn take(&mut self, priority: usize) -> Option<ObjectRef<Thread>> {
        let thread = self.queues[priority].pop_front()?;
        if self.queues[priority].is_empty() {
            self.bitmap[priority / 64] &= !(1 << (priority % 64));
            self.any_ready = self.bitmap.iter().fold(0, |all, word| all | word);
        }
        Some(thread)
    }

    /// Starts the tick.
    pub fn start(&mut self) {
        let now = csr::read_time() as u64;
        self.next_tick = now + self.tick_interval;
        self.last_charge = now;
        self.program_timer(self.next_tick);
    }

    fn program_timer(&mut self, deadline: u64) {
        if deadline != self.timer_deadline {
            self.timer_deadline = deadline;
            sbi::set_timer(deadline);
        }
    }

    /// The earliest armed user timer's deadline is now `deadline` (`u64::MAX`: none). It
    /// takes effect at the next programming of the timer (see [`Self::program_by`]).
    pub fn set_user_deadline(&mut self, deadline: u64) {
        self.user_deadline = deadline;
    }

    /// Makes sure the timer fires by `deadline`: reprograms it if it is set for later (a
    /// timer just armed; the running thread may go on without a reschedule).
    pub fn program_by(&mut self, deadline: u64) {
        if deadline < self.timer_deadline {
            self.program_timer(deadline);
        }
    }

    /// The next time the timer must fire: the tick, a throttled thread's refill, or a user
    /// timer, whichever comes first.
    fn next_event(&self) -> u64 {
        self.next_tick.min(self.earliest_refill()).min(self.user_deadline)
    }

    /// Programs the timer for the next event (after an interrupt consumed the last one).
    pub fn program_next_event(&mut self) {
        self.program_timer(self.next_event());
    }

    /// Charges the time since the last charge to whatever budget the running thread uses.
    pub fn account(&mut self, now: u64) {
        let used = now.saturating_sub(self.last_charge);
        self.last_charge = now;
        if let Some(current) = self.current()
            && let Budget::Context(context) = thread::budget(current)
        {
            // SAFETY: live: the context is in the slot of the thread it charges (or of the
            // caller it lends from), which keeps it alive; exclusive: two calls on it that
            // touch nothing else.
            let context = unsafe { context.get() };
            context.refill(now);
            context.charge(used);
        }
    }

    /// Whether `thread` may run now: it still has its CSpace and address space (either can
    /// be revoked under it), and it has budget or needs none.
    fn may_run(thread: ObjectRef<Thread>, now: u64) -> bool {
        // SAFETY: live (as in `priority_of`); exclusive: one read.
        if !unsafe { thread.get() }.is_configured() {
            return false;
        }
        match thread::budget(thread) {
            Budget::Unlimited => true,
            // SAFETY: live: `budget` found it in a thread's slot; exclusive: one call.
            Budget::Context(context) => unsafe { context.get() }.has_budget(now),
            Budget::Missing => false,
        }
    }

    /// Takes a thread that may not run off the processor: throttled until its budget
    /// refills, or stopped for good if it lost its CSpace or address space.
    fn throttle(&mut self, thread: ObjectRef<Thread>) {
        // SAFETY: live (as in `priority_of`); exclusive: the reference is used before the
        // queue operation below.
        let tcb = unsafe { thread.get() };
        if !tcb.is_configured() {
            tcb.state = State::Inactive;
            return;
        }
        tcb.state = State::Throttled;
        self.throttled.push_back(thread);
    }

    /// The timer fired: a round-robin tick if it is due, and throttled threads whose period
    /// began get their budget back.
    pub fn timer_interrupt(&mut self, now: u64) {
        self.timer_deadline = u64::MAX;
        if now >= self.next_tick {
            self.next_tick = now + self.tick_interval;
            self.requeue_current();
        }
        self.release_refilled(now);
    }

    fn release_refilled(&mut self, now: u64) {
        let mut node = self.throttled.head;
        while let Some(thread) = ObjectRef::<Thread>::from_link(node) {
            // SAFETY: live: queue links name queued threads; exclusive: one read.
            node = unsafe { thread.get() }.queue_next;
            if Self::may_run(thread, now) {
                self.throttled.remove(thread);
                self.enqueue(thread, false);
            }
        }
    }

    /// The earliest time a throttled thread gets budget back.
    fn earliest_refill(&self) -> u64 {
        let mut earliest = u64::MAX;
        let mut node = self.throttled.head;
        while let Some(thread) = ObjectRef::<Thread>::from_link(node) {
            if let Budget::Context(context) = thread::budget(thread) {
                // SAFETY: live: `budget` found it in a thread's slot; exclusive: one read.
                earliest = earliest.min(unsafe { context.get() }.refill_at);
            }
            // SAFETY: live: queue links name queued threads; exclusive: one read.
            node = unsafe { thread.get() }.queue_next;
        }
        earliest
    }

    /// Chooses the thread to run: the current one unless it stopped, ran out of budget, or
    /// a higher priority is ready. Loads its address space and FP state, programs the timer
    /// for the next tick or the end of its budget, and returns its trap frame. `None` when
    /// nothing is runnable (the caller then waits for an interrupt, see [`Self::idle`]).
    pub fn switch_to_next(&mut self) -> Option<*mut TrapFrame> {
        // The common case: the running thread goes on, needs no budget, and nobody above
        // it is ready. Nothing to charge, switch or reprogram.
        if let Some(running) = self.current() {
            // SAFETY: live: the current thread; exclusive: the reference is used for these
            // reads (`priority_of` reads the priority through its own, after the last use
            // of this one) and to return its frame, which the trap exit restores from.
            let tcb = unsafe { running.get() };
            if tcb.state == State::Running
                && tcb.is_configured()
                && tcb.scheduling == thread::Scheduling::Unlimited
                && tcb.donation_reply == 0
                && self.highest_ready().is_none_or(|best| best <= tcb.priority.min(PRIORITIES - 1))
            {
                return Some(&mut tcb.frame);
            }
        }
        let now = csr::read_time() as u64;
        self.account(now);
        // SAFETY: live: the current thread; exclusive: one read.
        let mut current = self.current().filter(|t| unsafe { t.get() }.state == State::Running);
        if let Some(running) = current
            && !Self::may_run(running, now)
        {
            self.throttle(running);
            current = None;
        }
        let next = loop {
            let candidate = match (current.take(), self.highest_ready()) {
                (Some(running), Some(best)) if best > Self::priority_of(running) => {
                    self.enqueue(running, true);
                    self.take(best)
                }
                (Some(running), _) => Some(running),
                (None, Some(best)) => self.take(best),
                (None, None) => None,
            };
            match candidate {
                Some(thread) if Self::may_run(thread, now) => break thread,
                Some(thread) => self.throttle(thread),
                None => return None,
            }
        };
        self.load(next);
        // SAFETY: live: the thread chosen to run; exclusive: one store.
        unsafe { next.get() }.state = State::Running;
        let now = csr::read_time() as u64;
        let mut deadline = self.next_event();
        if let Budget::Context(context) = thread::budget(next) {
            // SAFETY: live: `budget` found it in a thread's slot; exclusive: one read.
            deadline = deadline.min(now + unsafe { context.get() }.remaining);
        }
        self.last_charge = now;
        self.program_timer(deadline);
        // SAFETY: live: as above; the frame is what the trap exit restores from, and nothing
        // else touches the thread before it does.
        Some(&mut unsafe { next.get() }.frame)
    }

    /// Nothing can run: forget the current thread and make sure the timer will wake the
    /// processor for the next tick or refill.
    pub fn idle(&mut self) {
        if let Some(current) = self.current()
            // SAFETY: live: the current thread; exclusive: one read.
            && unsafe { current.get() }.state == State::Running
        {
            self.enqueue(current, false);
        }
        self.current = 0;
        self.program_timer(self.next_event());
    }

    /// Makes `next` the current thread: its address space in `satp`, its FP registers loaded.
    #[inline(always)]
    pub fn load(&mut self, next: ObjectRef<Thread>) {
        if self.current != next.address() {
            // Lazy FP: the registers keep the owner's values; the owner's state is saved
            // when it leaves the processor dirty, and a thread that is not the owner runs
            // with the FPU off until its first FP instruction traps (see `fpu_trap`).
            let fpu = csr::read_sstatus() & csr::SSTATUS_FS_MASK;
            if fpu == csr::SSTATUS_FS_DIRTY
                && let Some(owner) = ObjectRef::<Thread>::from_link(self.fp_owner)
            {
                // SAFETY: live: the FP owner is a live thread (destruction gives up
                // ownership, `forget`); exclusive: `fpu::save` only writes the registers
                // into it.
                fpu::save(&mut unsafe { owner.get() }.fp);
            }
            if self.fp_owner == next.address() {
                csr::set_fpu_state(csr::SSTATUS_FS_CLEAN);
            } else if fpu != 0 {
                csr::fpu_off();
            }
            self.current = next.address();
        }
        // The address space can change under a running thread (reconfiguration), so it is
        // loaded on every return to user mode; writing satp is cheap. Callers only load a
        // thread whose address-space slot holds an address space, so the cache is current.
        // SAFETY: live: the thread being loaded; exclusive: the reference is used for two
        // reads and calls nothing.
        let tcb = unsafe { next.get() };
        if let Capability::AddressSpace { .. } = tcb.capability(ADDRESS_SPACE_SLOT) {
            // SAFETY: every address space's kernel half is copied from the kernel page table
            // when it is made, so the kernel stays mapped across the switch.
            unsafe { csr::switch_address_space(tcb.satp) };
        }
    }
}
