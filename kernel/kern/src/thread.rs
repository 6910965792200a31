//! Threads and the scheduler: who runs next, and switching address space and FP state.
//!
//! This is the bring-up scheduler: a fixed table of threads, one priority, round robin with
//! a timer tick. Threads become kernel objects retyped from Untyped memory with the
//! capability system.

use kernel_core::runqueue::RunQueue;

use crate::arch::riscv64::fpu::{self, FpState};
use crate::arch::riscv64::trap::TrapFrame;
use crate::arch::riscv64::{csr, sbi};

/// Threads the bring-up table holds.
pub const MAX_THREADS: usize = 16;
/// Timer ticks per second; each is a scheduling decision.
pub const TICKS_PER_SECOND: u64 = 100;
/// Longest program name kept for reports.
pub const NAME_LEN: usize = kernel_abi::bootarchive::NAME_LEN;

/// A thread's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    /// The slot is unused.
    Free,
    /// Waiting in the run queue.
    Ready,
    /// On the processor.
    Running,
    /// Ended through `exit` with this status.
    Exited(usize),
    /// Stopped by a fault.
    Faulted,
}

/// One user thread.
#[derive(Clone, Copy, Debug)]
pub struct Thread {
    /// Saved registers (valid while the thread is not running).
    pub frame: TrapFrame,
    /// Saved FP registers (valid while another thread owns the FPU).
    pub fp: FpState,
    /// Where it is in its life.
    pub state: ThreadState,
    /// Root page table of its address space.
    pub address_space: usize,
    name: [u8; NAME_LEN],
    name_len: usize,
}

impl Thread {
    const EMPTY: Self = Self {
        frame: TrapFrame { registers: [0; 32], pc: 0 },
        fp: FpState { registers: [0; 32], fcsr: 0 },
        state: ThreadState::Free,
        address_space: 0,
        name: [0; NAME_LEN],
        name_len: 0,
    };

    /// The program's name, for reports.
    pub fn name(&self) -> &str {
        core::str::from_utf8(&self.name[..self.name_len]).unwrap_or("?")
    }
}

/// Why a thread could not be created.
#[derive(Clone, Copy, Debug)]
pub struct NoFreeThread;

/// The thread table and the run queue.
pub struct Scheduler {
    threads: [Thread; MAX_THREADS],
    ready: RunQueue<MAX_THREADS>,
    /// The thread on the processor (or last on it, while the kernel runs).
    current: Option<usize>,
    /// `time` ticks between timer interrupts.
    tick_interval: u64,
}

impl Scheduler {
    /// An empty table ticking at [`TICKS_PER_SECOND`] of a `timebase_hz` clock.
    pub fn new(timebase_hz: u64) -> Self {
        Self {
            threads: [Thread::EMPTY; MAX_THREADS],
            ready: RunQueue::new(),
            current: None,
            tick_interval: (timebase_hz / TICKS_PER_SECOND).max(1),
        }
    }

    /// Creates a ready thread running `name` at `entry` with stack `stack_pointer` in
    /// `address_space`.
    pub fn spawn(
        &mut self,
        name: &str,
        address_space: usize,
        entry: usize,
        stack_pointer: usize,
    ) -> Result<usize, NoFreeThread> {
        let index = self.threads.iter().position(|t| t.state == ThreadState::Free).ok_or(NoFreeThread)?;
        let thread = &mut self.threads[index];
        *thread = Thread::EMPTY;
        thread.frame.pc = entry;
        thread.frame.registers[TrapFrame::SP] = stack_pointer;
        thread.address_space = address_space;
        let length = name.len().min(NAME_LEN);
        thread.name[..length].copy_from_slice(&name.as_bytes()[..length]);
        thread.name_len = length;
        thread.state = ThreadState::Ready;
        self.ready.push_back(index).map_err(|_| NoFreeThread)?;
        Ok(index)
    }

    /// The thread at `index`.
    pub fn thread(&self, index: usize) -> &Thread {
        &self.threads[index]
    }

    /// The thread at `index`, mutably.
    pub fn thread_mut(&mut self, index: usize) -> &mut Thread {
        &mut self.threads[index]
    }

    /// The running thread.
    pub fn current(&self) -> Option<usize> {
        self.current
    }

    /// Puts the running thread at the back of the run queue (timer tick or `yield`).
    pub fn requeue_current(&mut self) {
        if let Some(index) = self.current.filter(|&i| self.threads[i].state == ThreadState::Running) {
            self.threads[index].state = ThreadState::Ready;
            // Cannot fail: the thread was running, so it is not queued, and the queue has a
            // slot for every thread.
            let _ = self.ready.push_back(index);
        }
    }

    /// Takes thread `index` out of scheduling for good with `state`.
    pub fn stop(&mut self, index: usize, state: ThreadState) {
        self.ready.remove(index);
        self.threads[index].state = state;
    }

    /// Programs the next timer tick.
    pub fn arm_timer(&self) {
        let now = csr::read_time() as u64;
        sbi::set_timer(now.wrapping_add(self.tick_interval));
    }

    /// Picks the next thread and makes the processor ready to run it: its address space in
    /// `satp` and its FP registers loaded. Returns its trap frame. Waits for interrupts while
    /// nothing is runnable.
    pub fn switch_to_next(&mut self) -> *mut TrapFrame {
        let next = match self.current.filter(|&i| self.threads[i].state == ThreadState::Running) {
            Some(running) => running,
            None => self.wait_for_ready_thread(),
        };
        if self.current != Some(next) {
            if let Some(previous) = self.current
                && fpu::is_dirty()
            {
                fpu::save(&mut self.threads[previous].fp);
            }
            fpu::load(&self.threads[next].fp);
            let satp = kernel_core::paging::satp(self.threads[next].address_space, 0);
            // SAFETY: every address space is made by `new_address_space`, which copies the
            // kernel half from the kernel page table, so the kernel stays mapped.
            unsafe { csr::switch_page_table(satp) };
            self.current = Some(next);
        }
        self.threads[next].state = ThreadState::Running;
        &mut self.threads[next].frame
    }

    fn wait_for_ready_thread(&mut self) -> usize {
        loop {
            if let Some(index) = self.ready.pop_front() {
                return index;
            }
            // Nothing can run: sleep until the timer fires. Only an event can make a thread
            // ready, and with interrupts off in the kernel we poll for it.
            csr::wait_for_interrupt();
            if csr::read_sip() & csr::SIP_TIMER != 0 {
                self.arm_timer();
            }
        }
    }
}
