//! Threads: configuration, registers, priorities and preemption, suspend and resume, and
//! faults and exits delivered to fault endpoints.

use core::sync::atomic::{AtomicUsize, Ordering};

use kernel_abi::invocation::ThreadOp;
use kernel_abi::syscall::FAULT_LABEL;
use kernel_abi::{Error, FaultKind, ObjectType, Rights};
use userlib::ipc::{self, Message};
use userlib::object;
use userlib::syscall::yield_now;

use crate::context::{ADDRESS_SPACE, CNODE, Context, Failure, Outcome, Test, exit_status};
use crate::{check, check_eq, ok};

/// The thread tests.
pub const ALL: &[Test] = &[
    Test {
        id: "THREAD0001",
        about: "a thread's fault is delivered to its fault endpoint",
        run: fault_delivered,
    },
    Test {
        id: "THREAD0002",
        about: "registers written to a thread read back the same",
        run: registers_round_trip,
    },
    Test {
        id: "THREAD0003",
        about: "resuming a thread without CSpace and address space is BadThreadState",
        run: resume_unconfigured,
    },
    Test {
        id: "THREAD0004",
        about: "a priority above 255 or above the invoking thread's own is a RangeError",
        run: priority_ceiling,
    },
    Test {
        id: "THREAD0005",
        about: "a signal that wakes a higher-priority thread runs it before the signaller continues",
        run: wake_preempts,
    },
    Test {
        id: "THREAD0006",
        about: "a suspended thread does not run until resumed",
        run: suspend_and_resume,
    },
    Test {
        id: "THREAD0007",
        about: "a store to an unmapped page is a StorePageFault with the address, pc and scause 15",
        run: store_fault_words,
    },
    Test {
        id: "THREAD0008",
        about: "a load from kernel memory is a LoadPageFault with the address and scause 13",
        run: load_fault_words,
    },
    Test {
        id: "THREAD0009",
        about: "an illegal instruction is reported with its encoding and scause 2",
        run: illegal_instruction_words,
    },
    Test {
        id: "THREAD0010",
        about: "exit sends kind Exited with the status in word 4 and the fault endpoint's badge",
        run: exit_message,
    },
    Test {
        id: "THREAD0011",
        about: "a thread stopped by a fault can be restarted with new registers and resume",
        run: restart_after_fault,
    },
    Test {
        id: "THREAD0012",
        about: "configure checks every capability's type, the IPC buffer's alignment and rights, and the fault endpoint's WRITE",
        run: configure_errors,
    },
    Test {
        id: "THREAD0013",
        about: "an unknown thread operation is IllegalOperation; missing words are InvalidArgument",
        run: bad_invocation,
    },
    Test { id: "THREAD0014", about: "threads of one priority take turns at yield", run: yield_round_robin },
    Test {
        id: "THREAD0015",
        about: "raising a ready thread's priority lets it run before one that was ahead of it",
        run: set_priority_requeues,
    },
    Test {
        id: "THREAD0016",
        about: "suspending a thread blocked in recv takes it off the endpoint queue",
        run: suspend_leaves_queue,
    },
    Test {
        id: "THREAD0017",
        about: "a thread never runs in another thread's address space after its own is revoked",
        run: revoked_address_space_never_borrowed,
    },
    Test {
        id: "THREAD0018",
        about: "a thread whose old CSpace alone kept it alive configures itself out of it: it is destroyed whole, after the invocation, and never runs again",
        run: configured_out_of_its_own_cspace,
    },
];

/// The order in which threads of the current test reached their marks, as decimal digits.
static ORDER: AtomicUsize = AtomicUsize::new(0);

/// Appends digit `mark` to [`ORDER`].
fn mark(mark: usize) {
    let _ = ORDER.fetch_update(Ordering::AcqRel, Ordering::Acquire, |order| Some(order * 10 + mark));
}

fn store_to_null(_: usize) -> usize {
    userlib::fault::store_to_null()
}

fn fault_delivered(context: &mut Context) -> Outcome {
    let faults = ok!(context.make(ObjectType::Endpoint, 0));
    let badged = context.slot();
    ok!(object::mint(CNODE, badged, CNODE, faults, Rights::WRITE, 77));
    ok!(context.spawn(store_to_null, 0, 100, badged));
    let (message, badge) = ok!(ipc::receive(faults, 0));
    check_eq!(badge, 77);
    check_eq!(message.label, FAULT_LABEL);
    check_eq!(message.length, kernel_abi::syscall::FAULT_MESSAGE_WORDS);
    check_eq!(message.word(0), FaultKind::StorePageFault as usize);
    check_eq!(message.word(2), 0);
    check!(message.word(1) != 0);
    Ok(())
}

fn registers_round_trip(context: &mut Context) -> Outcome {
    let thread = ok!(context.make(ObjectType::Thread, 0));
    check_eq!(object::read_registers(thread), Ok([0; 6]));
    ok!(object::write_registers(thread, 0x1_0000, 0x2_0000, [1, 2, usize::MAX, 4]));
    check_eq!(object::read_registers(thread), Ok([0x1_0000, 0x2_0000, 1, 2, usize::MAX, 4]));
    Ok(())
}

fn resume_unconfigured(context: &mut Context) -> Outcome {
    let thread = ok!(context.make(ObjectType::Thread, 0));
    check_eq!(object::resume(thread), Err(Error::BadThreadState));
    // Suspending a thread that never ran is harmless.
    ok!(object::suspend(thread));
    check_eq!(object::resume(thread), Err(Error::BadThreadState));
    Ok(())
}

/// Tries to give the thread in the argument priority 150 and then 100 (from a thread of
/// priority 100); exits with the first error code times 100 plus the second's.
fn set_priorities(target: usize) -> usize {
    let code = |result: Result<(), Error>| result.err().map_or(0, |error| error as usize);
    code(object::set_priority(target, 150)) * 100 + code(object::set_priority(target, 100))
}

fn priority_ceiling(context: &mut Context) -> Outcome {
    let target = ok!(context.make(ObjectType::Thread, 0));
    check_eq!(object::set_priority(target, 256), Err(Error::RangeError));
    check_eq!(object::set_priority(target, usize::MAX), Err(Error::RangeError));
    ok!(object::set_priority(target, 255));
    let (_, faults) = ok!(context.spawn_joinable(set_priorities, target, 100));
    check_eq!(exit_status(faults).ok(), Some(Error::RangeError as usize * 100));
    Ok(())
}

/// Waits on the notification in the argument, then marks 1.
fn wait_then_mark(notification: usize) -> usize {
    let word = ipc::wait(notification);
    mark(1);
    word.unwrap_or(0)
}

/// Signals the notification in the argument, then marks 2.
fn signal_then_mark(notification: usize) -> usize {
    let result = ipc::signal(notification);
    mark(2);
    result.err().map_or(0, |error| error as usize)
}

fn wake_preempts(context: &mut Context) -> Outcome {
    ORDER.store(0, Ordering::Release);
    let notification = ok!(context.make(ObjectType::Notification, 0));
    let badged = context.slot();
    ok!(object::mint(CNODE, badged, CNODE, notification, Rights::WRITE, 1));
    let (_, high) = ok!(context.spawn_joinable(wait_then_mark, notification, 200));
    let (_, low) = ok!(context.spawn_joinable(signal_then_mark, badged, 100));
    check_eq!(exit_status(high).ok(), Some(1));
    check_eq!(exit_status(low).ok(), Some(0));
    check_eq!(ORDER.load(Ordering::Acquire), 12);
    Ok(())
}

/// Signals the notification capability in the argument once.
fn signal_once(notification: usize) -> usize {
    ipc::signal(notification).err().map_or(0, |error| error as usize)
}

fn suspend_and_resume(context: &mut Context) -> Outcome {
    let notification = ok!(context.make(ObjectType::Notification, 0));
    let (first, second) = (context.slot(), context.slot());
    ok!(object::mint(CNODE, first, CNODE, notification, Rights::WRITE, 1));
    ok!(object::mint(CNODE, second, CNODE, notification, Rights::WRITE, 2));
    let suspended = ok!(context.spawn(signal_once, first, 100, 0));
    ok!(object::suspend(suspended));
    ok!(context.spawn(signal_once, second, 50, 0));
    // Only the priority-50 thread can run while we wait.
    check_eq!(ipc::wait(notification), Ok(2));
    ok!(object::resume(suspended));
    check_eq!(ipc::wait(notification), Ok(1));
    Ok(())
}

/// An address nothing is ever mapped at in the test suite.
const UNMAPPED: usize = 0x20_0000_0000;

fn store_to_unmapped(_: usize) -> usize {
    userlib::memory::write_word(UNMAPPED + 8, 1);
    0
}

/// Receives a fault message on `faults`, checks its kind, address word and scause, and
/// returns the pc it reports.
fn expect_fault(faults: usize, kind: FaultKind, address: usize, scause: usize) -> Result<usize, Failure> {
    let (message, _) = ok!(ipc::receive(faults, 0));
    check_eq!(message.label, FAULT_LABEL);
    check_eq!(FaultKind::from_word(message.word(0)), Some(kind));
    check_eq!(message.word(2), address);
    check_eq!(message.word(3), scause);
    check!(message.word(1) > 0x1000);
    Ok(message.word(1))
}

fn store_fault_words(context: &mut Context) -> Outcome {
    let faults = ok!(context.make(ObjectType::Endpoint, 0));
    let thread = ok!(context.spawn(store_to_unmapped, 0, 100, faults));
    let pc = expect_fault(faults, FaultKind::StorePageFault, UNMAPPED + 8, 15)?;
    // The thread stays stopped at the faulting instruction.
    check_eq!(object::read_registers(thread).map(|registers| registers[0]), Ok(pc));
    Ok(())
}

fn load_from_kernel(_: usize) -> usize {
    userlib::fault::load_from_kernel()
}

fn load_fault_words(context: &mut Context) -> Outcome {
    let faults = ok!(context.make(ObjectType::Endpoint, 0));
    ok!(context.spawn(load_from_kernel, 0, 100, faults));
    expect_fault(faults, FaultKind::LoadPageFault, 0xffff_ffff_8020_0000, 13).map(|_| ())
}

fn illegal_instruction(_: usize) -> usize {
    userlib::fault::illegal_instruction()
}

fn illegal_instruction_words(context: &mut Context) -> Outcome {
    let faults = ok!(context.make(ObjectType::Endpoint, 0));
    ok!(context.spawn(illegal_instruction, 0, 100, faults));
    // `csrr t0, sstatus`: csrrs x5, 0x100, x0.
    expect_fault(faults, FaultKind::IllegalInstruction, 0x1000_22f3, 2).map(|_| ())
}

fn exit_with(status: usize) -> usize {
    status
}

fn exit_message(context: &mut Context) -> Outcome {
    let faults = ok!(context.make(ObjectType::Endpoint, 0));
    let badged = context.slot();
    ok!(object::mint(CNODE, badged, CNODE, faults, Rights::WRITE, 0x99));
    ok!(context.spawn(exit_with, 42, 100, badged));
    let (message, badge) = ok!(ipc::receive(faults, 0));
    check_eq!((message.label, badge), (FAULT_LABEL, 0x99));
    check_eq!(message.word(0), FaultKind::Exited as usize);
    check_eq!(message.word(4), 42);
    Ok(())
}

fn restart_after_fault(context: &mut Context) -> Outcome {
    let faults = ok!(context.make(ObjectType::Endpoint, 0));
    let thread = ok!(context.spawn(store_to_null, 0, 100, faults));
    let (message, _) = ok!(ipc::receive(faults, 0));
    check_eq!(message.word(0), FaultKind::StorePageFault as usize);
    ok!(context.start(thread, exit_with, 43, 100, faults));
    check_eq!(exit_status(faults).ok(), Some(43));
    Ok(())
}

fn configure_errors(context: &mut Context) -> Outcome {
    let thread = ok!(context.make(ObjectType::Thread, 0));
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let (frame, address) = ok!(context.mapped_frame());
    let (read_only, receive_only, empty) = (context.slot(), context.slot(), context.slot());
    ok!(object::copy(CNODE, read_only, CNODE, frame, Rights::READ));
    ok!(object::copy(CNODE, receive_only, CNODE, endpoint, Rights::READ));
    let configure = |cspace, address_space, buffer, buffer_frame, fault| {
        object::configure_thread(thread, cspace, address_space, buffer, buffer_frame, fault)
    };
    check_eq!(configure(endpoint, ADDRESS_SPACE, address, frame, 0), Err(Error::IllegalOperation));
    check_eq!(configure(empty, ADDRESS_SPACE, address, frame, 0), Err(Error::InvalidCapability));
    check_eq!(configure(0, ADDRESS_SPACE, address, frame, 0), Err(Error::InvalidCapability));
    check_eq!(configure(CNODE, CNODE, address, frame, 0), Err(Error::IllegalOperation));
    check_eq!(configure(CNODE, ADDRESS_SPACE, address + 4, frame, 0), Err(Error::AlignmentError));
    check_eq!(configure(CNODE, ADDRESS_SPACE, address + 0xff8, frame, 0), Err(Error::AlignmentError));
    check_eq!(configure(CNODE, ADDRESS_SPACE, address, read_only, 0), Err(Error::InsufficientRights));
    check_eq!(configure(CNODE, ADDRESS_SPACE, address, endpoint, 0), Err(Error::IllegalOperation));
    check_eq!(configure(CNODE, ADDRESS_SPACE, address, frame, receive_only), Err(Error::IllegalOperation));
    check_eq!(configure(CNODE, ADDRESS_SPACE, address, frame, frame), Err(Error::IllegalOperation));
    // None of those made the thread runnable.
    check_eq!(object::resume(thread), Err(Error::BadThreadState));
    ok!(configure(CNODE, ADDRESS_SPACE, address, frame, endpoint));
    ok!(configure(CNODE, ADDRESS_SPACE, 0, 0, 0));
    Ok(())
}

fn bad_invocation(context: &mut Context) -> Outcome {
    let thread = ok!(context.make(ObjectType::Thread, 0));
    check_eq!(ipc::invoke(thread, 0, &[]).map(|_| ()), Err(Error::IllegalOperation));
    check_eq!(ipc::invoke(thread, 99, &[]).map(|_| ()), Err(Error::IllegalOperation));
    let write = ThreadOp::WriteRegisters as usize;
    check_eq!(ipc::invoke(thread, write, &[1, 2, 3, 4, 5]).map(|_| ()), Err(Error::InvalidArgument));
    check_eq!(
        ipc::invoke(thread, ThreadOp::SetPriority as usize, &[]).map(|_| ()),
        Err(Error::InvalidArgument)
    );
    check_eq!(
        ipc::invoke(thread, ThreadOp::Configure as usize, &[CNODE]).map(|_| ()),
        Err(Error::InvalidArgument)
    );
    // The failed write changed nothing.
    check_eq!(object::read_registers(thread), Ok([0; 6]));
    Ok(())
}

/// Marks the digit in the argument, yields, and marks it again.
fn mark_yield_mark(digit: usize) -> usize {
    mark(digit);
    yield_now();
    mark(digit);
    0
}

fn yield_round_robin(context: &mut Context) -> Outcome {
    // Whichever starts, each yield hands the processor to the other. The round-robin tick
    // also rotates threads of one priority, and under QEMU without `-icount` it may land
    // between a mark and the yield (or between the two spawns); a broken yield gives the
    // wrong order every time, a tick only once in a great while, so three tries decide.
    let mut orders = [0; 3];
    for order in &mut orders {
        ORDER.store(0, Ordering::Release);
        let (_, first) = ok!(context.spawn_joinable(mark_yield_mark, 1, 255));
        let (_, second) = ok!(context.spawn_joinable(mark_yield_mark, 2, 255));
        check_eq!(exit_status(first).ok(), Some(0));
        check_eq!(exit_status(second).ok(), Some(0));
        *order = ORDER.load(Ordering::Acquire);
        if *order == 1212 || *order == 2121 {
            return Ok(());
        }
    }
    userlib::println!("  orders seen: {orders:?}");
    check!(orders.iter().any(|&order| order == 1212 || order == 2121));
    Ok(())
}

/// Marks the digit in the argument.
fn mark_once(digit: usize) -> usize {
    mark(digit);
    0
}

fn set_priority_requeues(context: &mut Context) -> Outcome {
    ORDER.store(0, Ordering::Release);
    let (_, first) = ok!(context.spawn_joinable(mark_once, 1, 100));
    let (second_thread, second) = ok!(context.spawn_joinable(mark_once, 2, 50));
    ok!(object::set_priority(second_thread, 150));
    check_eq!(exit_status(first).ok(), Some(0));
    check_eq!(exit_status(second).ok(), Some(0));
    check_eq!(ORDER.load(Ordering::Acquire), 21);
    Ok(())
}

/// Receives once on the endpoint in the argument; exits with the error code (0: a message).
fn receive_once(endpoint: usize) -> usize {
    ipc::receive(endpoint, 0).err().map_or(0, |error| error as usize)
}

fn suspend_leaves_queue(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let thread = ok!(context.spawn(receive_once, endpoint, 255, 0));
    yield_now();
    ok!(object::suspend(thread));
    check_eq!(ipc::try_send(endpoint, &Message::new(0, &[])), Err(Error::WouldBlock));
    Ok(())
}

fn revoked_address_space_never_borrowed(context: &mut Context) -> Outcome {
    let notification = ok!(context.make(ObjectType::Notification, 0));
    let (borrower, bystander) = (context.slot(), context.slot());
    ok!(object::mint(CNODE, borrower, CNODE, notification, Rights::WRITE, 1));
    ok!(object::mint(CNODE, bystander, CNODE, notification, Rights::WRITE, 2));
    // A thread in an address space of its own (where its code is not even mapped), ready
    // to run at priority 100.
    let address_space = ok!(context.make(ObjectType::AddressSpace, 0));
    let thread = ok!(context.make(ObjectType::Thread, 0));
    ok!(context.start_in(address_space, thread, signal_once, borrower, 100, 0));
    // Its address space goes away before it first runs.
    check_eq!(object::revoke(CNODE, address_space), Ok(1));
    ok!(object::delete(CNODE, address_space));
    ok!(context.spawn(signal_once, bystander, 50, 0));
    // Had it run in our address space (the one loaded when we block), its signal (1) would
    // come first; it must not run at all, or fault.
    check_eq!(ipc::wait(notification), Ok(2));
    Ok(())
}

/// Slots of the CSpace of the thread in [`configured_out_of_its_own_cspace`].
mod own_cspace {
    /// Its own thread capability (the only one left).
    pub const ITSELF: usize = 1;
    /// The CNode it moves to.
    pub const NEXT: usize = 2;
    /// The address space it keeps.
    pub const ADDRESS_SPACE: usize = 3;
    /// The notification it waits on before it moves.
    pub const GO: usize = 4;
}

/// Set by the thread of [`configured_out_of_its_own_cspace`] if its `Configure` returned.
static SURVIVED: AtomicUsize = AtomicUsize::new(0);

fn configure_out_of_own_cspace(_: usize) -> usize {
    let _ = ipc::wait(own_cspace::GO);
    let moved =
        object::configure_thread(own_cspace::ITSELF, own_cspace::NEXT, own_cspace::ADDRESS_SPACE, 0, 0, 0);
    // Only reached if the kernel let it run on after its own destruction.
    SURVIVED.store(if moved.is_ok() { 1 } else { 2 }, Ordering::Release);
    0
}

fn configured_out_of_its_own_cspace(context: &mut Context) -> Outcome {
    SURVIVED.store(0, Ordering::Release);
    let cspace = ok!(context.make(ObjectType::CNode, 4));
    let next = ok!(context.make(ObjectType::CNode, 4));
    let go = ok!(context.make(ObjectType::Notification, 0));
    let thread = ok!(context.make(ObjectType::Thread, 0));
    ok!(object::copy(cspace, own_cspace::ITSELF, CNODE, thread, Rights::ALL));
    ok!(object::copy(cspace, own_cspace::NEXT, CNODE, next, Rights::ALL));
    // Its address space, through a copy of ours whose descendants we can count afterwards.
    let space = context.slot();
    ok!(object::copy(CNODE, space, CNODE, ADDRESS_SPACE, Rights::ALL));
    ok!(object::copy(cspace, own_cspace::ADDRESS_SPACE, CNODE, space, Rights::ALL));
    ok!(object::copy(cspace, own_cspace::GO, CNODE, go, Rights::READ));
    // Above us, so it runs as soon as it is started and as soon as it is signalled.
    ok!(context.start_with_cspace(cspace, ADDRESS_SPACE, thread, configure_out_of_own_cspace, 0, 200, 0));
    // Now its CSpace holds the only capability to it, and its CSpace slot the only one to
    // its CSpace.
    ok!(object::delete(CNODE, thread));
    ok!(object::delete(CNODE, cspace));
    // When we block, it runs (200) before a thread below it (100) that tells us so: had it
    // survived its invocation, it would have stored 1 or 2 by then.
    let done = ok!(context.make(ObjectType::Notification, 0));
    let done_signal = context.slot();
    ok!(object::mint(CNODE, done_signal, CNODE, done, Rights::WRITE, 1));
    ok!(context.spawn(signal_once, done_signal, 100, 0));
    ok!(ipc::signal(go));
    check_eq!(ipc::wait(done), Ok(1));
    check_eq!(SURVIVED.load(Ordering::Acquire), 0);
    // Nothing of it is left anywhere: no copy of the CNode it moved to or of its address
    // space survives in its slots (the kernel wrote none into it after it died).
    check_eq!(object::revoke(CNODE, next), Ok(0));
    check_eq!(object::revoke(CNODE, space), Ok(0));
    ok!(object::delete(CNODE, space));
    Ok(())
}
