//! `test-runtime`: the user runtime working in QEMU. It runs as the root task
//! (`lattice.boot=test-runtime`) and, in order:
//!
//! 1. makes its heap from Untyped memory (`heap::init_from_untyped`) and allocates from it;
//! 2. installs the tracing subscriber and emits events;
//! 3. starts a server thread (`rpc::Server`) and calls it: plain calls, a long message, a
//!    capability each way, a deferred answer (a third thread releases it), and malformed,
//!    oversized and wrong-protocol messages, each answered with the typed error while the
//!    server keeps serving.
//!
//! Each check has an id and a sentence (its table is [`CHECKS`]) and prints one line
//! (`runtime: ok   RUNTIME0001 ...`, the `checks` crate's form); the program exits with
//! the number of failed checks, which becomes the machine's exit status.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use checks::{Check, Report};
use kernel_abi::bootinfo::{BOOT_INFO_ADDRESS, slot};
use kernel_abi::syscall::FAULT_LABEL;
use kernel_abi::{Error, FaultKind, ObjectType, Rights};
use serde::{Deserialize, Serialize};
use userlib::heap::{self, HeapError, UntypedHeap};
use userlib::ipc::{self, Cptr, Message};
use userlib::rpc::{self, CapabilitySlot, Protocol, Reply, RpcError, Server, Transfer, label};
use userlib::thread::{self, Spawn};
use userlib::{object, println, trace};

userlib::entry!(main);

/// Where the heap goes: far from the image, the stack and the boot info pages.
const HEAP_ADDRESS: usize = 0x20_0000_0000;
/// 4 MiB: two 2 MiB frames.
const HEAP_SIZE: usize = 4 << 20;
/// Pages for the threads' IPC buffers: the 2 MiB region around the boot info page, whose
/// page tables the kernel made.
const SCRATCH_PAGES: usize = BOOT_INFO_ADDRESS + 0x2000;
const CNODE: Cptr = slot::CNODE;
const ADDRESS_SPACE: Cptr = slot::ADDRESS_SPACE;
/// The badge of the notification the server lends.
const GIFT_BADGE: usize = 0x77;
/// The badge of the notification the client sends.
const RING_BADGE: usize = 0x5;

/// The protocol of the test server.
enum Test {}

impl Protocol for Test {
    const NAME: &'static str = "runtime-test";
    const LABEL: usize = label(*b"RTST");
    type Request = Request;
    type Response = Response;
    type Error = TestError;
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Request {
    Add {
        a: u64,
        b: u64,
    },
    Echo {
        text: String,
    },
    /// Carries a notification capability, which the server signals.
    Ring,
    /// The answer carries a capability (a notification with badge `GIFT_BADGE`).
    Lend,
    /// Answered only when another client sends `Release`.
    Later,
    Release,
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Response {
    Sum(u64),
    Echoed(String),
    Rung,
    Lent,
    Done,
    Released,
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
enum TestError {
    NoCapability,
    NothingDeferred,
    Rpc(RpcError),
}

impl From<RpcError> for TestError {
    fn from(error: RpcError) -> Self {
        Self::Rpc(error)
    }
}

/// What the threads share: capability addresses, set by `main` before they start.
struct Shared {
    endpoint: AtomicUsize,
    reply_first: AtomicUsize,
    reply_second: AtomicUsize,
    receive_slot: AtomicUsize,
    gift: AtomicUsize,
}

static SHARED: Shared = Shared {
    endpoint: AtomicUsize::new(0),
    reply_first: AtomicUsize::new(0),
    reply_second: AtomicUsize::new(0),
    receive_slot: AtomicUsize::new(0),
    gift: AtomicUsize::new(0),
};

const HEAP_ONCE: Check =
    Check::new("RUNTIME0001", "the heap is set once: a second init is AlreadyInitialised");
const HEAP_NOT_WORDS: Check = Check::new("RUNTIME0002", "memory::write_word refuses the heap");
const HEAP_REGION: Check = Check::new("RUNTIME0003", "the heap region is known");
const VECTOR: Check = Check::new("RUNTIME0004", "a vector of 1000 numbers sums to 499500");
const STRING: Check = Check::new("RUNTIME0005", "a formatted string is what was formatted");
const HEAP_COUNTS: Check = Check::new("RUNTIME0006", "the heap counts the allocations");
const HEAP_FREES: Check = Check::new("RUNTIME0007", "freeing gives the bytes back");
const BIG: Check = Check::new("RUNTIME0008", "3 MiB in one allocation hold what was written");
const SMALL: Check = Check::new("RUNTIME0009", "2000 small strings are allocated and kept");
const SUBSCRIBER: Check = Check::new("RUNTIME0010", "the tracing subscriber installs");
const SUBSCRIBER_ONCE: Check = Check::new("RUNTIME0011", "the tracing subscriber installs only once");
const CALL: Check = Check::new("RUNTIME0012", "a call is answered");
const LONG: Check = Check::new("RUNTIME0013", "900 bytes go and come back whole");
const CAPABILITY_SENT: Check = Check::new("RUNTIME0014", "a capability travels with a request");
const CAPABILITY_USED: Check = Check::new("RUNTIME0015", "the server signals the notification it was sent");
const CAPABILITY_MISSING: Check =
    Check::new("RUNTIME0016", "a request that needs a capability and carries none is refused");
const CAPABILITY_LENT: Check = Check::new("RUNTIME0017", "a capability travels with an answer");
const CAPABILITY_WORKS: Check = Check::new(
    "RUNTIME0018",
    "the capability lent in an answer works: signalling it reaches the server's notification",
);
const DEFERRED: Check = Check::new("RUNTIME0019", "a deferred answer arrives");
const RELEASED: Check =
    Check::new("RUNTIME0020", "the helper thread that released the deferred answer exits with 0");
const BAD_PADDING: Check = Check::new("RUNTIME0021", "bad padding is Malformed");
const UNKNOWN_VARIANT: Check = Check::new("RUNTIME0022", "an unknown variant is Malformed");
const HUGE_LENGTH: Check = Check::new("RUNTIME0023", "a huge length is TooLarge");
const OTHER_PROTOCOL: Check = Check::new("RUNTIME0024", "another protocol is WrongProtocol");
const EMPTY: Check = Check::new("RUNTIME0025", "an empty message is Malformed");
const STILL_SERVES: Check = Check::new("RUNTIME0026", "the server still serves after the malformed messages");
const TOO_LARGE: Check = Check::new("RUNTIME0027", "a request too large is refused before sending");
/// Every check, in the order they run.
static CHECKS: [Check; 27] = [
    HEAP_ONCE,
    HEAP_NOT_WORDS,
    HEAP_REGION,
    VECTOR,
    STRING,
    HEAP_COUNTS,
    HEAP_FREES,
    BIG,
    SMALL,
    SUBSCRIBER,
    SUBSCRIBER_ONCE,
    CALL,
    LONG,
    CAPABILITY_SENT,
    CAPABILITY_USED,
    CAPABILITY_MISSING,
    CAPABILITY_LENT,
    CAPABILITY_WORKS,
    DEFERRED,
    RELEASED,
    BAD_PADDING,
    UNKNOWN_VARIANT,
    HUGE_LENGTH,
    OTHER_PROTOCOL,
    EMPTY,
    STILL_SERVES,
    TOO_LARGE,
];

/// The report of [`CHECKS`], printed on the debug console.
type Checks = Report<27, fn(core::fmt::Arguments<'_>)>;

/// Prints one check line.
fn print_line(line: core::fmt::Arguments<'_>) {
    println!("{line}");
}

/// Hands out slots and objects from one Untyped.
struct Objects {
    pool: Cptr,
    next_slot: usize,
    next_page: usize,
}

impl Objects {
    fn slot(&mut self) -> Cptr {
        self.next_slot += 1;
        self.next_slot - 1
    }

    fn make(&mut self, object_type: ObjectType) -> Result<Cptr, Error> {
        let slot = self.slot();
        object::retype(self.pool, object_type, 0, CNODE, slot, 1)?;
        Ok(slot)
    }

    /// Starts `entry(argument)` at `priority` with its own IPC buffer and `fault_endpoint`.
    fn start(
        &mut self,
        entry: thread::Entry,
        argument: usize,
        priority: usize,
        fault_endpoint: Cptr,
    ) -> Result<(), Error> {
        let thread = self.make(ObjectType::Thread)?;
        let frame = self.make(ObjectType::Frame)?;
        let address = self.next_page;
        self.next_page += 0x1000;
        object::map_frame(frame, ADDRESS_SPACE, address, Rights::READ | Rights::WRITE)?;
        let stack = thread::claim_stack().ok_or(Error::NotEnoughMemory)?;
        let spawn = Spawn {
            thread,
            cspace: CNODE,
            address_space: ADDRESS_SPACE,
            ipc_buffer: (frame, address),
            fault_endpoint,
            priority,
        };
        thread::start(&spawn, entry, argument, stack)
    }
}

fn main() -> i32 {
    let Some(info) = userlib::boot_info() else {
        println!("runtime: no boot info; run me as the root task");
        return 1;
    };
    let mut pool = 0;
    let mut pool_bits = 0;
    for index in 0..info.untyped_count {
        let untyped = info.untyped[index];
        if untyped.is_device == 0 && untyped.size_bits > pool_bits {
            pool = slot::FIRST_UNTYPED + index;
            pool_bits = untyped.size_bits;
        }
    }
    let mut objects = Objects { pool, next_slot: info.first_free_slot, next_page: SCRATCH_PAGES };
    let mut checks: Checks = Report::new("runtime", &CHECKS, print_line);

    // A set-up that fails leaves the checks after it not run, which the report fails.
    if let Err(error) = heap_checks(&mut objects, &mut checks) {
        println!("runtime: heap set-up failed: {error:?}");
    } else {
        tracing_checks(&mut checks);
        if let Err(error) = rpc_checks(&mut objects, &mut checks) {
            println!("runtime: RPC set-up failed: {error:?}");
        }
    }
    i32::try_from(checks.finish()).unwrap_or(i32::MAX)
}

fn heap_checks(objects: &mut Objects, checks: &mut Checks) -> Result<(), HeapError> {
    heap::init_from_untyped(UntypedHeap {
        untyped: objects.pool,
        cnode: CNODE,
        next_slot: &mut objects.next_slot,
        address_space: ADDRESS_SPACE,
        address: HEAP_ADDRESS,
        size: HEAP_SIZE,
    })?;
    println!("runtime: heap of {} KiB at {HEAP_ADDRESS:#x}", HEAP_SIZE / 1024);
    checks.check_eq(&HEAP_ONCE, heap::init(HEAP_ADDRESS, HEAP_SIZE), Err(HeapError::AlreadyInitialised));
    checks.check_eq(&HEAP_NOT_WORDS, userlib::memory::write_word(HEAP_ADDRESS, 0), false);
    checks.check_eq(&HEAP_REGION, heap::region(), Some((HEAP_ADDRESS, HEAP_SIZE)));

    let numbers: Vec<u64> = (0..1000).collect();
    let sum: u64 = numbers.iter().sum();
    let text = format!("{}-{}", "lattice", "runtime");
    let usage = heap::usage();
    checks.check_eq(&VECTOR, sum, 499_500);
    checks.check_eq(&STRING, text.as_str(), "lattice-runtime");
    checks.check(
        &HEAP_COUNTS,
        usage.allocated >= 8000 && usage.allocations >= 2,
        (usage.allocated, usage.allocations),
    );
    println!(
        "runtime: vec sum {sum}, string {text:?}; {} bytes in {} allocations",
        usage.allocated, usage.allocations
    );
    drop(numbers);
    let allocated = heap::usage().allocated;
    checks.check(&HEAP_FREES, allocated < 8000, allocated);
    // A big allocation and many small ones, freed in between.
    let big = alloc::vec![7u8; 3 << 20];
    checks.check(&BIG, big.iter().all(|&byte| byte == 7), big.len());
    drop(big);
    let small: Vec<String> = (0..2000).map(|index| format!("item {index}")).collect();
    checks.check_eq(&SMALL, small.get(1999).map(String::as_str), Some("item 1999"));
    Ok(())
}

fn tracing_checks(checks: &mut Checks) {
    let installed = trace::init("test-runtime", tracing::Level::INFO);
    checks.check(&SUBSCRIBER, installed.is_ok(), installed);
    checks.check_eq(
        &SUBSCRIBER_ONCE,
        trace::init("again", tracing::Level::INFO),
        Err(trace::TraceError::AlreadyInitialised),
    );
    tracing::info!(target: "runtime", size = HEAP_SIZE, "heap ready");
    tracing::debug!(target: "runtime", "below the level, not printed");
    tracing::warn!(target: "audit", connection = 7u64, client = "test-runtime", "denied by rule");
}

fn rpc_checks(objects: &mut Objects, checks: &mut Checks) -> Result<(), Error> {
    let endpoint = objects.make(ObjectType::Endpoint)?;
    let notification = objects.make(ObjectType::Notification)?;
    let gift = objects.slot();
    object::mint(CNODE, gift, CNODE, notification, Rights::WRITE, GIFT_BADGE)?;
    SHARED.endpoint.store(endpoint, Ordering::Release);
    SHARED.reply_first.store(objects.make(ObjectType::Reply)?, Ordering::Release);
    SHARED.reply_second.store(objects.make(ObjectType::Reply)?, Ordering::Release);
    SHARED.receive_slot.store(objects.slot(), Ordering::Release);
    SHARED.gift.store(gift, Ordering::Release);
    objects.start(serve, 0, 255, 0)?;

    let sum = rpc::call::<Test>(endpoint, &Request::Add { a: 2, b: 3 });
    checks.check_eq(&CALL, &sum, &Ok(Response::Sum(5)));
    println!("runtime: rpc add 2 + 3 = {sum:?}");

    let long = "0123456789".repeat(90);
    let echoed = rpc::call::<Test>(endpoint, &Request::Echo { text: long.clone() });
    checks.check(&LONG, echoed == Ok(Response::Echoed(long)), echoed.as_ref().map(|_| "another text"));

    // A capability with the request: the server signals it.
    let ring = objects.slot();
    object::mint(CNODE, ring, CNODE, notification, Rights::WRITE, RING_BADGE)?;
    let rung = rpc::call_with::<Test>(endpoint, &Request::Ring, Transfer { send: Some(ring), receive: None });
    checks.check_eq(&CAPABILITY_SENT, rung, Ok((Response::Rung, false)));
    checks.check_eq(&CAPABILITY_USED, ipc::poll(notification), Ok(RING_BADGE));
    let unrung = rpc::call::<Test>(endpoint, &Request::Ring);
    checks.check_eq(&CAPABILITY_MISSING, unrung, Err(TestError::NoCapability));

    // A capability with the answer.
    let lent = objects.slot();
    let into = CapabilitySlot { cnode: CNODE, index: lent };
    let answer =
        rpc::call_with::<Test>(endpoint, &Request::Lend, Transfer { send: None, receive: Some(into) });
    checks.check_eq(&CAPABILITY_LENT, answer, Ok((Response::Lent, true)));
    let signalled = ipc::signal(lent);
    let polled = ipc::poll(notification);
    checks.check(&CAPABILITY_WORKS, signalled.is_ok() && polled == Ok(GIFT_BADGE), (signalled, polled));
    println!("runtime: capabilities travelled both ways");

    // A deferred answer, released by a helper thread that runs once this one waits.
    let joined = objects.make(ObjectType::Endpoint)?;
    objects.start(release, endpoint, 100, joined)?;
    let later = rpc::call::<Test>(endpoint, &Request::Later);
    checks.check_eq(&DEFERRED, later, Ok(Response::Done));
    let helper = ipc::receive(joined, 0).map(|(message, _)| message);
    let helper_status = helper
        .ok()
        .filter(|message| message.label == FAULT_LABEL && message.word(0) == FaultKind::Exited as usize)
        .map(|message| message.word(4));
    checks.check_eq(&RELEASED, helper_status, Some(0));
    println!("runtime: deferred answer released by another client");

    // Messages that break the wire format: answered with the typed error.
    let padding = ipc::call(endpoint, &Message::new(Test::LABEL, &[5, usize::MAX]))?;
    let malformed = rpc::decode_reply::<Test>(&padding);
    checks.check_eq(&BAD_PADDING, &malformed, &Err(TestError::Rpc(RpcError::Malformed)));
    let unknown = ipc::call(endpoint, &Message::new(Test::LABEL, &[1, 0x63]))?;
    checks.check_eq(
        &UNKNOWN_VARIANT,
        rpc::decode_reply::<Test>(&unknown),
        Err(TestError::Rpc(RpcError::Malformed)),
    );
    let huge = ipc::call(endpoint, &Message::new(Test::LABEL, &[2000, 0]))?;
    checks.check_eq(&HUGE_LENGTH, rpc::decode_reply::<Test>(&huge), Err(TestError::Rpc(RpcError::TooLarge)));
    let other = ipc::call(endpoint, &Message::new(label(*b"OTHR"), &[0]))?;
    checks.check_eq(
        &OTHER_PROTOCOL,
        rpc::decode_reply::<Test>(&other),
        Err(TestError::Rpc(RpcError::WrongProtocol)),
    );
    let empty = ipc::call(endpoint, &Message::new(Test::LABEL, &[]))?;
    checks.check_eq(&EMPTY, rpc::decode_reply::<Test>(&empty), Err(TestError::Rpc(RpcError::Malformed)));
    match malformed {
        Err(TestError::Rpc(error)) => println!("runtime: malformed request answered with {error}"),
        other => println!("runtime: malformed request answered with {other:?}"),
    }
    let still = rpc::call::<Test>(endpoint, &Request::Add { a: 40, b: 2 });
    checks.check_eq(&STILL_SERVES, still, Ok(Response::Sum(42)));
    let too_long = rpc::call::<Test>(endpoint, &Request::Echo { text: "x".repeat(2000) });
    checks.check_eq(&TOO_LARGE, too_long, Err(TestError::Rpc(RpcError::TooLarge)));
    Ok(())
}

/// The server thread: serves `Test` until its endpoint goes.
fn serve(_: usize) -> usize {
    let endpoint = SHARED.endpoint.load(Ordering::Acquire);
    let mut spare = SHARED.reply_second.load(Ordering::Acquire);
    let gift = SHARED.gift.load(Ordering::Acquire);
    let receive = CapabilitySlot { cnode: CNODE, index: SHARED.receive_slot.load(Ordering::Acquire) };
    let mut server = Server::new(endpoint, SHARED.reply_first.load(Ordering::Acquire)).receiving(receive);
    let mut deferred: Option<Cptr> = None;
    tracing::info!(target: "runtime", endpoint, "server ready");
    let error = server.serve::<Test>(|incoming, request| match request {
        Request::Add { a, b } => Ok(Response::Sum(a.wrapping_add(b))).into(),
        Request::Echo { text } => Ok(Response::Echoed(text)).into(),
        Request::Ring => match incoming.capability() {
            Some(slot) => match ipc::signal(slot.index) {
                Ok(()) => Ok(Response::Rung).into(),
                Err(error) => Err(TestError::Rpc(RpcError::from_kernel(error))).into(),
            },
            None => Err(TestError::NoCapability).into(),
        },
        Request::Lend => Reply::WithCapability(Ok(Response::Lent), gift),
        Request::Later if deferred.is_none() => {
            // Keep the caller's reply object; receive with the spare one meanwhile.
            deferred = Some(incoming.reply_object());
            Reply::Later { next_reply: spare }
        }
        Request::Later => Err(TestError::NothingDeferred).into(),
        Request::Release => match deferred.take() {
            Some(reply) => {
                let _ = rpc::answer::<Test>(reply, &Ok(Response::Done), None);
                spare = reply;
                Ok(Response::Released).into()
            }
            None => Err(TestError::NothingDeferred).into(),
        },
    });
    println!("runtime: server stopped: {error}");
    1
}

/// The helper thread: releases the deferred call; exits with 0 if that worked.
fn release(endpoint: usize) -> usize {
    match rpc::call::<Test>(endpoint, &Request::Release) {
        Ok(Response::Released) => 0,
        _ => 1,
    }
}
