//! What tests share: the boot info, a slot allocator, memory to retype, and helpers that
//! make objects and threads.

use kernel_abi::FaultKind;
use kernel_abi::bootinfo::{BootInfo, slot};
use kernel_abi::syscall::FAULT_LABEL;
use kernel_abi::{Error, ObjectType, Rights};
use userlib::ipc::{self, Cptr};
use userlib::object;
use userlib::thread::{self, Spawn};

/// Why a test failed: the line of the failed check, and what it checked.
#[derive(Debug)]
pub struct Failure {
    /// Source line of the check.
    pub line: u32,
    /// The check.
    pub what: &'static str,
}

/// A test's outcome.
pub type Outcome = Result<(), Failure>;

/// One test.
pub struct Test {
    /// A stable id, like `CNODE0003`.
    pub id: &'static str,
    /// One sentence saying what must hold.
    pub about: &'static str,
    /// The test.
    pub run: fn(&mut Context) -> Outcome,
}

/// Fails the test unless `condition` holds.
#[macro_export]
macro_rules! check {
    ($condition:expr) => {
        if !$condition {
            return Err($crate::context::Failure { line: line!(), what: stringify!($condition) });
        }
    };
}

/// Fails the test unless the two values are equal (printing both).
#[macro_export]
macro_rules! check_eq {
    ($got:expr, $expected:expr) => {{
        let got = $got;
        let expected = $expected;
        if got != expected {
            userlib::println!("    got {:?}, expected {:?}", got, expected);
            return Err($crate::context::Failure { line: line!(), what: stringify!($got == $expected) });
        }
    }};
}

/// Unwraps a `Result`, failing the test on `Err` (printing it).
#[macro_export]
macro_rules! ok {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err(error) => {
                userlib::println!("    unexpected error {:?}", error);
                return Err($crate::context::Failure { line: line!(), what: stringify!($result) });
            }
        }
    };
}

/// The root CNode.
pub const CNODE: Cptr = slot::CNODE;
/// The root address space.
pub const ADDRESS_SPACE: Cptr = slot::ADDRESS_SPACE;

/// Shared state of the test run.
pub struct Context {
    /// The boot info page.
    pub info: &'static BootInfo,
    next_slot: usize,
    /// The largest RAM untyped: tests retype from it; it is revoked after every test.
    pub pool: Cptr,
    /// log2 bytes of the pool.
    pub pool_bits: usize,
    first_test_slot: usize,
    next_page: usize,
    stacks_in_use: [usize; thread::STACKS],
    stack_count: usize,
}

/// Where tests may map pages without installing page tables: the 2 MiB region the kernel
/// set up around the boot info page, past the boot info and IPC buffer.
pub const SCRATCH_PAGES: usize = kernel_abi::bootinfo::BOOT_INFO_ADDRESS + 0x2000;

impl Context {
    /// Finds the pool and the free slots.
    pub fn new(info: &'static BootInfo) -> Self {
        let mut pool = 0;
        let mut pool_bits = 0;
        for index in 0..info.untyped_count {
            let untyped = info.untyped[index];
            if untyped.is_device == 0 && untyped.size_bits > pool_bits {
                pool = slot::FIRST_UNTYPED + index;
                pool_bits = untyped.size_bits;
            }
        }
        Self {
            info,
            next_slot: info.first_free_slot,
            pool,
            pool_bits,
            first_test_slot: info.first_free_slot,
            next_page: SCRATCH_PAGES,
            stacks_in_use: [0; thread::STACKS],
            stack_count: 0,
        }
    }

    /// Runs `test`, then deletes everything it made: revoking the pool destroys every
    /// object retyped from it, wherever its capabilities went.
    pub fn run(&mut self, test: &Test) -> Outcome {
        let mut outcome = (test.run)(self);
        // Whatever the test did, the kernel's invariants must hold after it, and after the
        // clean-up destroys everything it made.
        if let Err(invariant) = userlib::syscall::debug_check() {
            userlib::println!("    kernel invariant {invariant:?} broken after the test");
            outcome = outcome.and(Err(Failure { line: line!(), what: "kernel invariants after the test" }));
        }
        // Receiving and sending capabilities is per test.
        if let Some(buffer) = ipc::ipc_buffer() {
            buffer.set_receive_slot(0, 0);
            for index in 0..kernel_abi::syscall::MAX_TRANSFER_CAPS {
                buffer.set_send_cap(index, 0);
            }
        }
        let _ = object::revoke(CNODE, self.pool);
        for index in self.first_test_slot..self.next_slot {
            let _ = object::delete(CNODE, index);
        }
        self.next_slot = self.first_test_slot;
        self.next_page = SCRATCH_PAGES;
        // The threads were retyped from the pool, so they are gone: their stacks are free.
        for stack in &self.stacks_in_use[..self.stack_count] {
            thread::release_stack(*stack);
        }
        self.stack_count = 0;
        if let Err(invariant) = userlib::syscall::debug_check() {
            userlib::println!("    kernel invariant {invariant:?} broken after clean-up");
            outcome = outcome.and(Err(Failure { line: line!(), what: "kernel invariants after clean-up" }));
        }
        outcome
    }

    /// An empty slot of the root CNode.
    pub fn slot(&mut self) -> Cptr {
        let slot = self.next_slot;
        self.next_slot += 1;
        slot
    }

    /// `count` consecutive empty slots of the root CNode; returns the first.
    pub fn slots(&mut self, count: usize) -> Cptr {
        let first = self.next_slot;
        self.next_slot += count;
        first
    }

    /// A fresh object of `object_type` from the pool.
    pub fn make(&mut self, object_type: ObjectType, size_bits: usize) -> Result<Cptr, Error> {
        let slot = self.slot();
        object::retype(self.pool, object_type, size_bits, CNODE, slot, 1)?;
        Ok(slot)
    }

    /// A scratch page address (mapped by the caller), distinct for each call in a test.
    pub fn scratch_page(&mut self) -> usize {
        let page = self.next_page;
        self.next_page += 0x1000;
        page
    }

    /// A frame mapped read-write at a scratch address: (frame cap, address).
    pub fn mapped_frame(&mut self) -> Result<(Cptr, usize), Error> {
        let frame = self.make(ObjectType::Frame, 0)?;
        let address = self.scratch_page();
        object::map_frame(frame, ADDRESS_SPACE, address, Rights::READ | Rights::WRITE)?;
        Ok((frame, address))
    }

    /// Starts a thread in this address space and CSpace running `entry(argument)` at
    /// `priority`, with its own IPC buffer and `fault_endpoint` (0: none). Returns the
    /// thread capability. Its stack returns to the pool when the test ends (the thread is
    /// destroyed with the pool).
    pub fn spawn(
        &mut self,
        entry: thread::Entry,
        argument: usize,
        priority: usize,
        fault_endpoint: Cptr,
    ) -> Result<Cptr, Error> {
        let thread_cap = self.make(ObjectType::Thread, 0)?;
        self.start(thread_cap, entry, argument, priority, fault_endpoint)
    }

    /// Like [`Self::spawn`], but the thread runs on scheduling context `sched_context` (or,
    /// when it is 0, passively: only on its callers' time).
    pub fn spawn_with(
        &mut self,
        entry: thread::Entry,
        argument: usize,
        priority: usize,
        fault_endpoint: Cptr,
        sched_context: Cptr,
    ) -> Result<Cptr, Error> {
        let thread_cap = self.make(ObjectType::Thread, 0)?;
        object::set_sched_context(thread_cap, sched_context)?;
        self.start(thread_cap, entry, argument, priority, fault_endpoint)
    }

    /// Starts `entry(argument)` at `priority` with a fresh fault endpoint; returns the
    /// thread and the endpoint, on which [`exit_status`] later collects its result.
    pub fn spawn_joinable(
        &mut self,
        entry: thread::Entry,
        argument: usize,
        priority: usize,
    ) -> Result<(Cptr, Cptr), Error> {
        let fault_endpoint = self.make(ObjectType::Endpoint, 0)?;
        let thread = self.spawn(entry, argument, priority, fault_endpoint)?;
        Ok((thread, fault_endpoint))
    }

    /// Starts the existing thread object `thread_cap` as [`Self::spawn`] starts a new one
    /// (also used to restart a thread that faulted or exited).
    pub fn start(
        &mut self,
        thread_cap: Cptr,
        entry: thread::Entry,
        argument: usize,
        priority: usize,
        fault_endpoint: Cptr,
    ) -> Result<Cptr, Error> {
        self.start_in(ADDRESS_SPACE, thread_cap, entry, argument, priority, fault_endpoint)
    }

    /// [`Self::start`] in `address_space` instead of the root task's (the entry point, stack
    /// and IPC buffer addresses are still the root task's).
    pub fn start_in(
        &mut self,
        address_space: Cptr,
        thread_cap: Cptr,
        entry: thread::Entry,
        argument: usize,
        priority: usize,
        fault_endpoint: Cptr,
    ) -> Result<Cptr, Error> {
        self.start_with_cspace(CNODE, address_space, thread_cap, entry, argument, priority, fault_endpoint)
    }

    /// [`Self::start_in`] with `cspace` (a CNode capability of ours) as the thread's CSpace
    /// root instead of the root task's.
    #[allow(clippy::too_many_arguments, reason = "the pieces of one thread, as Spawn has them")]
    pub fn start_with_cspace(
        &mut self,
        cspace: Cptr,
        address_space: Cptr,
        thread_cap: Cptr,
        entry: thread::Entry,
        argument: usize,
        priority: usize,
        fault_endpoint: Cptr,
    ) -> Result<Cptr, Error> {
        let (frame, address) = self.mapped_frame()?;
        let stack = thread::claim_stack().ok_or(Error::NotEnoughMemory)?;
        let spawn = Spawn {
            thread: thread_cap,
            cspace,
            address_space,
            ipc_buffer: (frame, address),
            fault_endpoint,
            priority,
        };
        let started = thread::start(&spawn, entry, argument, stack);
        self.stacks_in_use[self.stack_count] = stack;
        self.stack_count += 1;
        started.map(|()| thread_cap)
    }
}

/// Waits on `fault_endpoint` for the message of a thread that ended: its exit status, or,
/// if it faulted instead, `Err((label, first word))` of the message that came (an error
/// code and 0 if the receive itself failed).
pub fn exit_status(fault_endpoint: Cptr) -> Result<usize, (usize, usize)> {
    match ipc::receive(fault_endpoint, 0) {
        Ok((message, _)) if message.label == FAULT_LABEL && message.word(0) == FaultKind::Exited as usize => {
            Ok(message.word(4))
        }
        Ok((message, _)) => Err((message.label, message.word(0))),
        Err(error) => Err((error as usize, 0)),
    }
}

/// Packs up to four 16-bit values (capability addresses, small numbers) into one thread
/// argument; [`unpack`] takes them apart.
pub const fn pack(values: [usize; 4]) -> usize {
    values[0] | values[1] << 16 | values[2] << 32 | values[3] << 48
}

/// Value `index` of an argument made by [`pack`].
pub const fn unpack(argument: usize, index: usize) -> usize {
    (argument >> (16 * index)) & 0xffff
}
