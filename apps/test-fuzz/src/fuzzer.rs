//! The fuzzing thread: random syscall numbers, capability addresses, labels and argument
//! words, from a deterministic xorshift sequence that survives restarts.
//!
//! It runs in the root task's address space (it needs the program's code) but holds only
//! the capabilities of its own small CNode (see `world`): nothing that reaches the root
//! task's CNode, its address space, or its own thread. So whatever the kernel does for its
//! syscalls touches only its registers, its IPC buffer and its world.

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use kernel_abi::Syscall;
use kernel_abi::syscall::MessageInfo;
use userlib::syscall::{Registers, fuzz};

use crate::world::{FILLED_SLOTS, FUZZER_SLOTS};

/// Syscalls issued so far (counted before each is made, since some never return).
pub static CALLS: AtomicUsize = AtomicUsize::new(0);
/// The xorshift state, kept here so that a restarted fuzzer goes on with new values.
static STATE: AtomicU64 = AtomicU64::new(SEED);
/// `debug_check` calls of the fuzzer (over its own CSpace) that reported a broken invariant.
pub static OWN_CHECK_FAILURES: AtomicUsize = AtomicUsize::new(0);
/// How many syscalls returned each `a0` (0 success, then the error codes; the last entry
/// counts anything else).
pub static RESULTS: [AtomicUsize; 20] = [const { AtomicUsize::new(0) }; 20];
/// Syscalls to issue in all.
pub static TARGET: AtomicUsize = AtomicUsize::new(0);

/// The seed of the sequence (printed in the summary, so a failure can be replayed).
pub const SEED: u64 = 0x5eed_f022_1a77_1ce5;
/// Exit status the fuzzer uses when it has issued [`TARGET`] syscalls.
pub const DONE: usize = 0xd0_e000;
/// Highest syscall number tried; numbers past [`Syscall::DebugCheck`] are undefined.
const HIGHEST_NUMBER: usize = 12;
/// Where the fuzzer's writes to `debug_write` point: never readable user memory, so the
/// console stays clean (a zero length is allowed anywhere).
const BAD_POINTERS: [usize; 5] = [0, 0xffff_ffff_8020_0000, (1 << 38) - 4, usize::MAX - 8, 0x20_0000_0000];

/// A xorshift64* generator.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn word(&mut self) -> usize {
        // Only the high half is used on 32-bit targets; on rv64 nothing is lost.
        usize::try_from(self.next() >> (64 - usize::BITS)).unwrap_or(usize::MAX)
    }

    /// A value in `0..bound`.
    fn below(&mut self, bound: usize) -> usize {
        self.word() % bound
    }

    /// An argument word: small numbers, slot indices, powers of two, page-aligned
    /// addresses, values near `usize::MAX`, message tags, or anything.
    fn argument(&mut self) -> usize {
        match self.below(8) {
            0 => self.below(8),
            1 | 2 => self.below(FUZZER_SLOTS + 4),
            3 => 1 << self.below(64),
            4 => self.below(1 << 26) << 12,
            5 => usize::MAX - self.below(4097),
            6 => self.word(),
            _ => self.info(),
        }
    }

    /// A message tag: a small label (an operation), a few words, maybe capabilities.
    fn info(&mut self) -> usize {
        // Operations are numbered from 1; most objects have five or fewer.
        let label = match self.below(20) {
            0 => self.word() >> 12,
            1..4 => self.below(11),
            _ => 1 + self.below(5),
        };
        let length = if self.below(8) == 0 { self.below(128) } else { self.below(9) };
        MessageInfo::new(label, length, self.below(4)).0
    }
}

/// A syscall number: mostly `call` (invocations are where most kernel code is), the other
/// IPC calls next, now and then the rest, and undefined numbers.
fn number(random: &mut Random) -> usize {
    let roll = random.below(100);
    let number = match roll {
        0..40 => Syscall::Call,
        40..50 => Syscall::Send,
        50..60 => Syscall::NonBlockingSend,
        60..68 => Syscall::Recv,
        68..76 => Syscall::NonBlockingRecv,
        76..84 => Syscall::ReplyRecv,
        84..88 => Syscall::Yield,
        88..91 => Syscall::DebugWrite,
        91..93 => Syscall::DebugCheck,
        // Exits restart the fuzzer; keep them rare so the time goes to the other calls.
        93 if random.below(4) == 0 => Syscall::Exit,
        93 => Syscall::Call,
        _ => {
            return random.below(HIGHEST_NUMBER - Syscall::DebugCheck as usize)
                + Syscall::DebugCheck as usize
                + 1;
        }
    };
    number as usize
}

/// A capability address: mostly one of the slots the world fills, else any.
fn capability(random: &mut Random) -> usize {
    if random.below(5) == 0 { random.below(FUZZER_SLOTS + 4) } else { 1 + random.below(FILLED_SLOTS) }
}

/// An invocation argument: small numbers (object types, sizes, labels), slot indices, a
/// time within the next 10 ms (timer deadlines that fire while the fuzzer runs), or any
/// argument word.
fn invocation_word(random: &mut Random) -> usize {
    match random.below(11) {
        0..5 => random.below(17),
        5..8 => random.below(FUZZER_SLOTS + 4),
        8 => usize::try_from(userlib::time::now()).unwrap_or(0).wrapping_add(random.below(100_000)),
        _ => random.argument(),
    }
}

/// The registers for syscall `number`.
fn registers(random: &mut Random, number: usize) -> Registers {
    let mut registers: Registers = core::array::from_fn(|_| invocation_word(random));
    // Mostly a capability address in a0, a tag in a1, a reply capability in a6.
    registers[0] = if random.below(8) == 0 { random.argument() } else { capability(random) };
    registers[1] = if random.below(8) == 0 { random.argument() } else { random.info() };
    registers[6] = if random.below(8) == 0 { random.argument() } else { capability(random) };
    if number == Syscall::DebugWrite as usize {
        registers[0] = BAD_POINTERS[random.below(BAD_POINTERS.len())];
        if random.below(4) == 0 {
            registers[1] = 0;
        }
    }
    registers
}

/// Fills the IPC buffer's extra message words and capability fields with random values.
fn scramble_ipc_buffer(random: &mut Random) {
    if let Some(buffer) = userlib::ipc::ipc_buffer() {
        for index in 4..10 {
            buffer.set_message(index, invocation_word(random));
        }
        for index in 0..kernel_abi::syscall::MAX_TRANSFER_CAPS {
            buffer.set_send_cap(index, capability(random));
        }
        let cnode = if random.below(4) == 0 { random.below(FUZZER_SLOTS + 4) } else { 0 };
        buffer.set_receive_slot(cnode, random.below(FUZZER_SLOTS + 4));
    }
}

/// The fuzzer thread's entry: issues syscalls until [`TARGET`] have been issued in all,
/// then exits with [`DONE`].
pub fn run(_: usize) -> usize {
    let mut random = Random(STATE.load(Ordering::Acquire));
    while CALLS.load(Ordering::Acquire) < TARGET.load(Ordering::Acquire) {
        let number = number(&mut random);
        let registers = registers(&mut random, number);
        scramble_ipc_buffer(&mut random);
        STATE.store(random.0, Ordering::Release);
        CALLS.fetch_add(1, Ordering::AcqRel);
        let result = fuzz(number, registers);
        RESULTS[result[0].min(RESULTS.len() - 1)].fetch_add(1, Ordering::AcqRel);
        if number == Syscall::DebugCheck as usize && result[0] != 0 {
            OWN_CHECK_FAILURES.fetch_add(1, Ordering::AcqRel);
        }
    }
    DONE
}
