//! `bench`: the kernel benchmarks. Runs as the root task under `cargo xtask bench`, where
//! QEMU counts instructions exactly (`-icount shift=0`), so every figure repeats from run to
//! run. Prints `bench <name> <instructions>` per result and `bench done` at the end.
//!
//! IPC is measured as seL4's sel4bench does: one-way `call` from the client's counter read
//! just before the call to the server's read just after its receive returns; one-way
//! `reply_recv` from the server's read just before it to the client's read just after its
//! call returns; empty messages, equal priorities.
//!
//! `timer.wake` is the instructions from a timer's deadline interrupt to the first counter
//! read of the thread it wakes. The interrupt is not instrumented in the kernel; instead a
//! low-priority thread runs `userlib::measure::trace_instructions` (an unrolled block of
//! counter readings) while the woken thread waits, and the woken thread reads that
//! thread's saved registers: its pc in the block and its last reading say exactly how
//! many instructions had retired when the interrupt came (`measure::interrupted_at`), so
//! no loop phase blurs the figure and it repeats round after round.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicUsize, Ordering};
use kernel_abi::bootinfo::{BOOT_INFO_ADDRESS, slot};
use kernel_abi::{MessageInfo, ObjectType, Rights};

use userlib::image::Cloner;
use userlib::ipc::{self, Cptr, Short};
use userlib::measure::{self, TRACE_RECORDS};
use userlib::memory::{read_word, write_word};
use userlib::syscall::instruction_count;
use userlib::thread::{self, Spawn};
use userlib::{object, println};

userlib::entry!(main);

/// Rounds measured per figure; the first is a warm-up and every later one must agree.
const ROUNDS: usize = 8;
/// A page mapped in every address space the benchmarks use, for the server's counter reads.
const SHARED: usize = BOOT_INFO_ADDRESS + 0x10_000;
/// Where the cloned address space's server keeps its IPC buffer.
const CLONE_IPC_BUFFER: usize = BOOT_INFO_ADDRESS + 0x11_000;

struct Bench {
    untyped: Cptr,
    next_slot: usize,
    next_page: usize,
}

impl Bench {
    fn slot(&mut self) -> Cptr {
        self.next_slot += 1;
        self.next_slot - 1
    }

    fn make(&mut self, object_type: ObjectType) -> Cptr {
        let slot = self.slot();
        object::retype(self.untyped, object_type, 0, slot::CNODE, slot, 1).expect("retype");
        slot
    }

    fn page(&mut self) -> usize {
        self.next_page += 0x1000;
        self.next_page - 0x1000
    }

    fn mapped_frame(&mut self) -> (Cptr, usize) {
        let frame = self.make(ObjectType::Frame);
        let address = self.page();
        object::map_frame(frame, slot::ADDRESS_SPACE, address, Rights::READ | Rights::WRITE).expect("map");
        (frame, address)
    }

    fn start(
        &mut self,
        entry: thread::Entry,
        argument: usize,
        priority: usize,
        address_space: Cptr,
        buffer: (Cptr, usize),
    ) -> (Cptr, usize) {
        let thread_cap = self.make(ObjectType::Thread);
        let stack = thread::claim_stack().expect("a free stack in the pool");
        let spawn = Spawn {
            thread: thread_cap,
            cspace: slot::CNODE,
            address_space,
            ipc_buffer: buffer,
            fault_endpoint: 0,
            priority,
        };
        thread::start(&spawn, entry, argument, stack).expect("start");
        (thread_cap, stack)
    }

    /// Stops a thread for good and gives its stack back.
    fn stop(&mut self, (thread_cap, stack): (Cptr, usize)) {
        object::suspend(thread_cap).expect("suspend");
        thread::release_stack(stack);
    }
}

fn report(name: &str, samples: &[usize]) {
    let steady = &samples[1..];
    let first = steady[0];
    if steady.iter().all(|&sample| sample == first) {
        println!("bench {name} {first}");
    } else {
        let lowest = steady.iter().min().copied().unwrap_or(0);
        println!("bench {name} {lowest} (varied: {steady:?})");
    }
}

fn main() -> i32 {
    let Some(info) = userlib::boot_info() else { return 1 };
    let untyped = (0..info.untyped_count)
        .filter(|&index| info.untyped[index].is_device == 0)
        .max_by_key(|&index| info.untyped[index].size_bits)
        .map(|index| slot::FIRST_UNTYPED + index)
        .expect("RAM");
    let mut bench = Bench { untyped, next_slot: info.first_free_slot, next_page: BOOT_INFO_ADDRESS + 0x2000 };
    let shared = bench.make(ObjectType::Frame);
    object::map_frame(shared, slot::ADDRESS_SPACE, SHARED, Rights::READ | Rights::WRITE).expect("map shared");

    // Priorities only ever go down (a thread may not raise its own), so the benchmarks
    // that need the root task below others come last.
    null_syscall();
    ipc_round_trip(&mut bench, shared, true, false);
    ipc_round_trip(&mut bench, shared, false, false);
    ipc_round_trip(&mut bench, shared, true, true);
    for descendants in [1, 10, 100, 1000] {
        revoke(&mut bench, descendants);
    }
    timer_wake(&mut bench);
    let notification = bench.make(ObjectType::Notification);
    let waiter = preemption(&mut bench, notification);
    notification_wake(&mut bench, notification, waiter);
    println!("bench done");
    0
}

fn null_syscall() {
    let mut samples = [0usize; ROUNDS];
    for sample in &mut samples {
        let start = instruction_count();
        let _ = userlib::syscall::undefined(usize::MAX, [0; 6]);
        *sample = instruction_count() - start;
    }
    report("syscall.null", &samples);
}

/// Server loop: receive, record the counter, record it again just before replying.
fn server(arguments: usize) -> usize {
    let (endpoint, reply, transfer) = (arguments & 0xfff, (arguments >> 12) & 0xfff, arguments >> 24 != 0);
    if transfer && let Some(buffer) = ipc::ipc_buffer() {
        buffer.set_receive_slot(0, transfer_slot());
    }
    let Ok(_) = ipc::receive_short(endpoint, reply) else { return 1 };
    // The reading taken just before a reply is published after the next receive, so that
    // storing it is not inside the measured stretch (as sel4bench does).
    let mut before_reply = 0;
    loop {
        let after_receive = instruction_count();
        write_word(SHARED, after_receive);
        write_word(SHARED + 8, before_reply);
        if transfer {
            // Free the slot the capability arrived in for the next round.
            let _ = object::delete(slot::CNODE, transfer_slot());
        }
        before_reply = instruction_count();
        if ipc::reply_receive_short(endpoint, Short::default(), reply).is_err() {
            return 2;
        }
    }
}

/// The root CNode slot a transferred capability arrives in (the last one).
const fn transfer_slot() -> usize {
    (1 << kernel_abi::bootinfo::ROOT_CNODE_RADIX) - 1
}

fn ipc_round_trip(bench: &mut Bench, shared: Cptr, cross_address_space: bool, transfer: bool) {
    let endpoint = bench.make(ObjectType::Endpoint);
    let reply = bench.make(ObjectType::Reply);
    let argument = endpoint | reply << 12 | usize::from(transfer) << 24;
    let server_thread = if cross_address_space {
        let scratch = bench.page();
        let mut slots = bench.next_slot;
        let mut take = || {
            slots += 1;
            slots - 1
        };
        let mut cloner = Cloner {
            untyped: bench.untyped,
            cnode: slot::CNODE,
            next_slot: &mut take,
            own_address_space: slot::ADDRESS_SPACE,
            scratch,
        };
        let address_space = cloner.clone_image().expect("clone");
        let copy = (cloner.next_slot)();
        object::copy(slot::CNODE, copy, slot::CNODE, shared, Rights::ALL).expect("copy shared");
        cloner.map(copy, address_space, SHARED, Rights::READ | Rights::WRITE).expect("map shared");
        let buffer = (cloner.next_slot)();
        object::retype(bench.untyped, ObjectType::Frame, 0, slot::CNODE, buffer, 1).expect("buffer");
        cloner
            .map(buffer, address_space, CLONE_IPC_BUFFER, Rights::READ | Rights::WRITE)
            .expect("map buffer");
        bench.next_slot = slots;
        bench.start(server, argument, 255, address_space, (buffer, CLONE_IPC_BUFFER))
    } else {
        let buffer = bench.mapped_frame();
        bench.start(server, argument, 255, slot::ADDRESS_SPACE, buffer)
    };
    let mut call = [0usize; ROUNDS];
    let mut reply_receive = [0usize; ROUNDS];
    let message = if transfer {
        if let Some(buffer) = ipc::ipc_buffer() {
            buffer.set_send_cap(0, endpoint);
        }
        Short { info: MessageInfo::new(0, 0, 1), words: [0; 4] }
    } else {
        Short::default()
    };
    // One round more than measured: the server publishes round k's reply reading during
    // round k + 1.
    let mut previous_end = 0usize;
    for round in 0..=ROUNDS {
        let start = instruction_count();
        let _ = ipc::call_short(endpoint, message);
        let end = instruction_count();
        let server_after_receive = read_word(SHARED).unwrap_or(0);
        let previous_before_reply = read_word(SHARED + 8).unwrap_or(0);
        if round < ROUNDS {
            call[round] = server_after_receive.wrapping_sub(start);
        }
        if round > 0 {
            reply_receive[round - 1] = previous_end.wrapping_sub(previous_before_reply);
        }
        previous_end = end;
    }
    bench.stop(server_thread);
    let place = if cross_address_space { "cross_as" } else { "same_as" };
    let suffix = if transfer { ".cap_transfer" } else { "" };
    let mut name = NameBuffer::new();
    name.set(&["ipc.call.", place, suffix]);
    report(name.as_str(), &call);
    name.set(&["ipc.replyrecv.", place, suffix]);
    report(name.as_str(), &reply_receive);
}

/// A fixed buffer to build result names in (no heap).
struct NameBuffer {
    bytes: [u8; 64],
    length: usize,
}

impl NameBuffer {
    const fn new() -> Self {
        Self { bytes: [0; 64], length: 0 }
    }

    fn set(&mut self, parts: &[&str]) {
        self.length = 0;
        for part in parts {
            for &byte in part.as_bytes() {
                if self.length < self.bytes.len() {
                    self.bytes[self.length] = byte;
                    self.length += 1;
                }
            }
        }
    }

    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.length]).unwrap_or("?")
    }
}

/// What the traced thread writes (its readings are not used: its registers say it all).
static TRACE: [AtomicUsize; TRACE_RECORDS] = [const { AtomicUsize::new(0) }; TRACE_RECORDS];
/// The `timer.wake` samples, written by the woken thread, read by the root task after.
static TIMER_WAKE: [AtomicUsize; ROUNDS] = [const { AtomicUsize::new(0) }; ROUNDS];
/// `rdtime` units from arming the timer to its deadline (10 us at QEMU's 10 MHz: plenty for
/// the woken thread to block again and the traced thread to run).
const TIMER_DELAY: u64 = 100;

fn traced(_: usize) -> usize {
    measure::trace_instructions(&TRACE)
}

/// The woken thread (argument: timer, notification, traced thread, done notification, 12
/// bits each): arms the timer, waits, and measures from the interrupt to its first reading.
fn timer_woken(arguments: usize) -> usize {
    let [timer, notification, traced, done] =
        core::array::from_fn(|index| (arguments >> (12 * index)) & 0xfff);
    for sample in &TIMER_WAKE {
        if object::timer_arm(timer, userlib::time::now() + TIMER_DELAY).is_err() {
            return 1;
        }
        if ipc::wait(notification).is_err() {
            return 2;
        }
        let woken = instruction_count();
        let Ok(registers) = object::read_registers(traced) else { return 3 };
        let interrupted = measure::interrupted_at(registers).unwrap_or(woken);
        sample.store(woken.wrapping_sub(interrupted), Ordering::Relaxed);
    }
    let _ = ipc::signal(done);
    0
}

/// `timer.wake` (see the module doc): the root task (255) waits while the woken thread
/// (254) arms and waits and the traced thread (1) runs.
fn timer_wake(bench: &mut Bench) {
    let timer = bench.make(ObjectType::Timer);
    let notification = bench.make(ObjectType::Notification);
    let done = bench.make(ObjectType::Notification);
    object::timer_set_notification(timer, notification).expect("timer notification");
    let traced_buffer = bench.mapped_frame();
    let traced_thread = bench.start(traced, 0, 1, slot::ADDRESS_SPACE, traced_buffer);
    let woken_buffer = bench.mapped_frame();
    let argument = timer | notification << 12 | traced_thread.0 << 24 | done << 36;
    let woken_thread = bench.start(timer_woken, argument, 254, slot::ADDRESS_SPACE, woken_buffer);
    ipc::wait(done).expect("the woken thread's rounds");
    bench.stop(traced_thread);
    bench.stop(woken_thread);
    let samples: [usize; ROUNDS] = core::array::from_fn(|index| TIMER_WAKE[index].load(Ordering::Relaxed));
    report("timer.wake", &samples);
}

fn waiter(notification: usize) -> usize {
    loop {
        if ipc::wait(notification).is_err() {
            return 1;
        }
        write_word(SHARED, instruction_count());
    }
}

/// The waiter (101) outranks the root task (100 by now), so a signal switches to it at once.
fn notification_wake(bench: &mut Bench, notification: Cptr, waiter_thread: (Cptr, usize)) {
    let mut samples = [0usize; ROUNDS];
    for sample in &mut samples {
        let start = instruction_count();
        let _ = ipc::signal(notification);
        let woken = read_word(SHARED).unwrap_or(0);
        *sample = woken.wrapping_sub(start);
    }
    bench.stop(waiter_thread);
    report("notification.signal_wake", &samples);
}

const SAMPLES: usize = 3;

/// Words of pair `pair`: thread 0's last two readings (alternating), thread 1's first.
fn pair_words(pair: usize) -> [usize; 3] {
    let base = SHARED + 16 + 24 * pair;
    [base, base + 8, base + 16]
}

fn spinner(argument: usize) -> usize {
    // Thread 0 records the counter until thread 1 has run, alternating between two words,
    // so the reading taken before it was preempted survives one more write after it
    // resumes; thread 1 records its first reading once.
    let (pair, index) = (argument >> 1, argument & 1);
    let [even, odd, first] = pair_words(pair);
    if index == 0 {
        let mut round = 0usize;
        while read_word(first).unwrap_or(0) == 0 {
            write_word(if round.is_multiple_of(2) { even } else { odd }, instruction_count());
            round += 1;
        }
    } else {
        write_word(first, instruction_count());
    }
    0
}

/// Starts the preemption pairs and the notification waiter, then drops the root task's
/// priority below the pairs so that they run; returns the waiter.
fn preemption(bench: &mut Bench, notification: Cptr) -> (Cptr, usize) {
    // Three pairs at priorities 150, 140, 130 run one pair after the other once the root
    // task drops below them. The waiter blocks at once; it is started now because a thread
    // may not start another above its own priority.
    let waiter_buffer = bench.mapped_frame();
    let waiter_thread = bench.start(waiter, notification, 101, slot::ADDRESS_SPACE, waiter_buffer);
    let mut threads = [(0, 0); 2 * SAMPLES];
    for pair in 0..SAMPLES {
        let priority = 150 - 10 * pair;
        for index in 0..2 {
            let buffer = bench.mapped_frame();
            threads[2 * pair + index] =
                bench.start(spinner, pair << 1 | index, priority, slot::ADDRESS_SPACE, buffer);
        }
    }
    object::set_priority(slot::THREAD, 100).expect("lower own priority");
    // They have all exited by now (they outrank the root task).
    for thread in threads {
        bench.stop(thread);
    }
    let mut samples = [0usize; SAMPLES];
    for (pair, sample) in samples.iter_mut().enumerate() {
        let [even, odd, first] = pair_words(pair);
        let first_after = read_word(first).unwrap_or(0);
        let last_before = [read_word(even), read_word(odd)]
            .into_iter()
            .map(|word| word.unwrap_or(0))
            .filter(|&reading| reading < first_after)
            .max()
            .unwrap_or(0);
        *sample = first_after - last_before;
    }
    report("context_switch.preemption", &samples);
    waiter_thread
}

fn revoke(bench: &mut Bench, descendants: usize) {
    let mut samples = [0usize; 3];
    for sample in &mut samples {
        let endpoint = bench.make(ObjectType::Endpoint);
        let first = bench.next_slot;
        for _ in 0..descendants {
            let slot = bench.slot();
            object::copy(slot::CNODE, slot, slot::CNODE, endpoint, Rights::ALL).expect("copy");
        }
        let start = instruction_count();
        let _ = object::revoke(slot::CNODE, endpoint);
        *sample = instruction_count() - start;
        bench.next_slot = first;
    }
    let mut name = NameBuffer::new();
    let digits = match descendants {
        1 => "1",
        10 => "10",
        100 => "100",
        _ => "1000",
    };
    name.set(&["revoke.", digits]);
    report(name.as_str(), &samples);
}
