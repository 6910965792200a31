//! Scheduling contexts: budgets are enforced, and passive servers run on their callers'.

use kernel_abi::bootinfo::slot;
use kernel_abi::{Error, ObjectType, Rights};
use userlib::ipc::{self, Message};
use userlib::object;

use crate::context::{CNODE, Context, Outcome, Test};
use crate::{check_eq, ok};

/// The scheduling tests, run after the others.
pub const ALL: &[Test] = &[
    Test {
        id: "SCHED0001",
        about: "a budget must be at least 50 us and at most the period",
        run: configure_ranges,
    },
    Test { id: "SCHED0002", about: "a scheduling context binds to one thread at a time", run: bind_once },
    Test {
        id: "SCHED0003",
        about: "a thread that spins on a 1 ms per 10 ms budget is throttled, so a lower priority runs",
        run: budget_enforced,
    },
    Test {
        id: "SCHED0004",
        about: "a passive server spinning in a call is charged to its caller's budget and throttled with it",
        run: passive_server_uses_callers_budget,
    },
];

fn configure_ranges(context: &mut Context) -> Outcome {
    let sc = ok!(context.make(ObjectType::SchedContext, 0));
    let control = slot::SCHED_CONTROL;
    check_eq!(object::configure_sched_context(control, sc, 2000, 1000), Err(Error::RangeError));
    check_eq!(object::configure_sched_context(control, sc, 10, 1000), Err(Error::RangeError));
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    check_eq!(object::configure_sched_context(control, endpoint, 100, 1000), Err(Error::IllegalOperation));
    ok!(object::configure_sched_context(control, sc, 1000, 10_000));
    Ok(())
}

fn bind_once(context: &mut Context) -> Outcome {
    let sc = ok!(context.make(ObjectType::SchedContext, 0));
    let first = ok!(context.make(ObjectType::Thread, 0));
    let second = ok!(context.make(ObjectType::Thread, 0));
    ok!(object::set_sched_context(first, sc));
    check_eq!(object::set_sched_context(second, sc), Err(Error::IllegalOperation));
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    check_eq!(object::set_sched_context(second, endpoint), Err(Error::IllegalOperation));
    Ok(())
}

fn spin(_: usize) -> usize {
    let mut value = 1u64;
    loop {
        value = core::hint::black_box(value.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
    }
}

fn signal_once(notification: usize) -> usize {
    let _ = ipc::signal(notification);
    0
}

fn budget_enforced(context: &mut Context) -> Outcome {
    let done = ok!(context.make(ObjectType::Notification, 0));
    let sc = ok!(context.make(ObjectType::SchedContext, 0));
    ok!(object::configure_sched_context(slot::SCHED_CONTROL, sc, 1000, 10_000));
    // Made inactive first so that it gets its budget before it first runs.
    let spinner = ok!(context.spawn_with(spin, 0, 200, 0, sc));
    ok!(context.spawn(signal_once, done, 100, 0));
    // The root task waits; the spinner (200) would starve the signaller (100) forever
    // without a budget.
    check_eq!(ipc::wait(done), Ok(0));
    ok!(object::suspend(spinner));
    Ok(())
}

fn serve_by_spinning(arguments: usize) -> usize {
    let (endpoint, reply) = (arguments & 0xffff, arguments >> 16);
    let _ = ipc::receive(endpoint, reply);
    spin(0)
}

fn call_once(endpoint: usize) -> usize {
    let _ = ipc::call(endpoint, &Message::new(1, &[]));
    0
}

fn passive_server_uses_callers_budget(context: &mut Context) -> Outcome {
    let done = ok!(context.make(ObjectType::Notification, 0));
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let reply = ok!(context.make(ObjectType::Reply, 0));
    let sc = ok!(context.make(ObjectType::SchedContext, 0));
    ok!(object::configure_sched_context(slot::SCHED_CONTROL, sc, 1000, 50_000));
    // The server is passive: it has no time of its own.
    ok!(context.spawn_with(serve_by_spinning, endpoint | reply << 16, 200, 0, 0));
    ok!(context.spawn_with(call_once, endpoint, 200, 0, sc));
    ok!(context.spawn(signal_once, done, 100, 0));
    check_eq!(ipc::wait(done), Ok(0));
    let _ = Rights::ALL;
    let _ = CNODE;
    Ok(())
}
