//! Notifications: signal, wait, poll, badges, and binding to a thread.

use kernel_abi::{Error, ObjectType, Rights};
use userlib::ipc::{self, Message};
use userlib::object;
use userlib::syscall::yield_now;

use crate::context::{CNODE, Context, Outcome, Test, exit_status, pack, unpack};
use crate::{check_eq, ok};

/// The notification tests.
pub const ALL: &[Test] = &[
    Test {
        id: "NTFN0001",
        about: "signals OR their badges; poll takes the word and clears it",
        run: or_and_poll,
    },
    Test {
        id: "NTFN0002",
        about: "wait blocks until a signal arrives and returns the signalled badge",
        run: wait_blocks_until_signalled,
    },
    Test {
        id: "NTFN0003",
        about: "a signal to a bound notification wakes its thread blocked in endpoint recv, with the word as badge",
        run: bound_wakes_receiver,
    },
    Test {
        id: "NTFN0004",
        about: "bits pending on a bound notification are delivered by the thread's next recv at once",
        run: bound_pending_first,
    },
    Test {
        id: "NTFN0005",
        about: "signal needs WRITE, wait and poll need READ, binding needs READ",
        run: rights_checked,
    },
    Test {
        id: "NTFN0006",
        about: "a thread binds one notification and a notification one thread; unbinding an unbound thread is refused",
        run: bind_once,
    },
    Test {
        id: "NTFN0007",
        about: "deleting the last notification capability cancels a waiting thread",
        run: delete_cancels_waiter,
    },
    Test {
        id: "NTFN0008",
        about: "nb_recv on an empty notification returns word 0 (not WouldBlock); signals before a wait are not lost",
        run: poll_and_early_signals,
    },
    Test {
        id: "NTFN0009",
        about: "after unbinding, a signal no longer interrupts the thread's endpoint recv",
        run: unbind_stops_wakeups,
    },
];

fn or_and_poll(context: &mut Context) -> Outcome {
    let notification = ok!(context.make(ObjectType::Notification, 0));
    let a = context.slot();
    let b = context.slot();
    ok!(object::mint(CNODE, a, CNODE, notification, Rights::WRITE, 0b001));
    ok!(object::mint(CNODE, b, CNODE, notification, Rights::WRITE, 0b100));
    ok!(ipc::signal(a));
    ok!(ipc::signal(b));
    ok!(ipc::signal(a));
    check_eq!(ipc::poll(notification), Ok(0b101));
    check_eq!(ipc::poll(notification), Ok(0));
    Ok(())
}

/// Waits on the notification in the argument; exits with the word.
fn wait_once(notification: usize) -> usize {
    match ipc::wait(notification) {
        Ok(word) => word,
        Err(error) => 1000 + error as usize,
    }
}

fn wait_blocks_until_signalled(context: &mut Context) -> Outcome {
    let notification = ok!(context.make(ObjectType::Notification, 0));
    let badged = context.slot();
    ok!(object::mint(CNODE, badged, CNODE, notification, Rights::WRITE, 0x10));
    let (_, faults) = ok!(context.spawn_joinable(wait_once, notification, 255));
    yield_now();
    // Had it not blocked, it would have exited already and the poll below would see its
    // exit message queued; instead it still waits, so our signal goes to it.
    check_eq!(ipc::try_receive(faults, 0).map(|_| ()), Err(Error::WouldBlock));
    ok!(ipc::signal(badged));
    check_eq!(ipc::poll(notification), Ok(0));
    check_eq!(exit_status(faults).ok(), Some(0x10));
    Ok(())
}

/// Binds notification 1 to thread 2 (its own capability), then receives on endpoint 0;
/// exits with the badge received plus 0x1000 times the label.
fn bound_receiver(arguments: usize) -> usize {
    let (endpoint, notification, thread) = (unpack(arguments, 0), unpack(arguments, 1), unpack(arguments, 2));
    if object::bind_notification(thread, notification).is_err() {
        return 0xdead;
    }
    match ipc::receive(endpoint, 0) {
        Ok((message, badge)) => badge + 0x1000 * message.label,
        Err(error) => 2000 + error as usize,
    }
}

fn bound_wakes_receiver(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let notification = ok!(context.make(ObjectType::Notification, 0));
    let badged = context.slot();
    ok!(object::mint(CNODE, badged, CNODE, notification, Rights::WRITE, 0x21));
    let thread = ok!(context.make(ObjectType::Thread, 0));
    let faults = ok!(context.make(ObjectType::Endpoint, 0));
    ok!(context.start(thread, bound_receiver, pack([endpoint, notification, thread, 0]), 255, faults));
    yield_now();
    ok!(ipc::signal(badged));
    // Label 0, badge = the notification word.
    check_eq!(exit_status(faults).ok(), Some(0x21));
    // The endpoint lost its receiver.
    check_eq!(ipc::try_send(endpoint, &Message::new(0, &[])), Err(Error::WouldBlock));
    Ok(())
}

fn bound_pending_first(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let notification = ok!(context.make(ObjectType::Notification, 0));
    let badged = context.slot();
    ok!(object::mint(CNODE, badged, CNODE, notification, Rights::WRITE, 0x4));
    let thread = ok!(context.make(ObjectType::Thread, 0));
    let faults = ok!(context.make(ObjectType::Endpoint, 0));
    ok!(ipc::signal(badged));
    // The thread binds, then receives: the pending word comes first, without blocking.
    ok!(context.start(thread, bound_receiver, pack([endpoint, notification, thread, 0]), 100, faults));
    check_eq!(exit_status(faults).ok(), Some(0x4));
    check_eq!(ipc::poll(notification), Ok(0));
    Ok(())
}

fn rights_checked(context: &mut Context) -> Outcome {
    let notification = ok!(context.make(ObjectType::Notification, 0));
    let (signal_only, wait_only) = (context.slot(), context.slot());
    ok!(object::mint(CNODE, signal_only, CNODE, notification, Rights::WRITE, 1));
    ok!(object::copy(CNODE, wait_only, CNODE, notification, Rights::READ));
    check_eq!(ipc::wait(signal_only), Err(Error::InsufficientRights));
    check_eq!(ipc::poll(signal_only), Err(Error::InsufficientRights));
    check_eq!(ipc::signal(wait_only), Err(Error::InsufficientRights));
    let thread = ok!(context.make(ObjectType::Thread, 0));
    check_eq!(object::bind_notification(thread, signal_only), Err(Error::IllegalOperation));
    ok!(object::bind_notification(thread, wait_only));
    Ok(())
}

fn bind_once(context: &mut Context) -> Outcome {
    let first = ok!(context.make(ObjectType::Notification, 0));
    let second = ok!(context.make(ObjectType::Notification, 0));
    let thread = ok!(context.make(ObjectType::Thread, 0));
    let other = ok!(context.make(ObjectType::Thread, 0));
    check_eq!(object::unbind_notification(thread), Err(Error::IllegalOperation));
    ok!(object::bind_notification(thread, first));
    check_eq!(object::bind_notification(thread, second), Err(Error::IllegalOperation));
    check_eq!(object::bind_notification(other, first), Err(Error::IllegalOperation));
    ok!(object::unbind_notification(thread));
    ok!(object::bind_notification(other, first));
    ok!(object::bind_notification(thread, second));
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    check_eq!(object::bind_notification(thread, endpoint), Err(Error::IllegalOperation));
    Ok(())
}

fn delete_cancels_waiter(context: &mut Context) -> Outcome {
    let notification = ok!(context.make(ObjectType::Notification, 0));
    let (_, faults) = ok!(context.spawn_joinable(wait_once, notification, 255));
    yield_now();
    ok!(object::delete(CNODE, notification));
    check_eq!(exit_status(faults).ok(), Some(1000 + Error::Cancelled as usize));
    Ok(())
}

fn poll_and_early_signals(context: &mut Context) -> Outcome {
    let notification = ok!(context.make(ObjectType::Notification, 0));
    let badged = context.slot();
    ok!(object::mint(CNODE, badged, CNODE, notification, Rights::WRITE, 0x8));
    check_eq!(ipc::poll(notification), Ok(0));
    ok!(ipc::signal(badged));
    // Already signalled: the wait returns at once instead of blocking the root task.
    check_eq!(ipc::wait(notification), Ok(0x8));
    check_eq!(ipc::poll(notification), Ok(0));
    Ok(())
}

/// Binds notification 1 to thread 2, unbinds, then receives on endpoint 0 (as
/// [`bound_receiver`]).
fn unbound_receiver(arguments: usize) -> usize {
    let thread = unpack(arguments, 2);
    if object::bind_notification(thread, unpack(arguments, 1)).is_err()
        || object::unbind_notification(thread).is_err()
    {
        return 0xdead;
    }
    match ipc::receive(unpack(arguments, 0), 0) {
        Ok((message, badge)) => badge + 0x1000 * message.label,
        Err(error) => 2000 + error as usize,
    }
}

fn unbind_stops_wakeups(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let notification = ok!(context.make(ObjectType::Notification, 0));
    let badged = context.slot();
    ok!(object::mint(CNODE, badged, CNODE, notification, Rights::WRITE, 0x2));
    let thread = ok!(context.make(ObjectType::Thread, 0));
    let faults = ok!(context.make(ObjectType::Endpoint, 0));
    ok!(context.start(thread, unbound_receiver, pack([endpoint, notification, thread, 0]), 255, faults));
    yield_now();
    ok!(ipc::signal(badged));
    // The signal stayed in the word; the thread still waits on the endpoint.
    check_eq!(ipc::try_receive(faults, 0).map(|_| ()), Err(Error::WouldBlock));
    check_eq!(ipc::poll(notification), Ok(0x2));
    ok!(ipc::send(endpoint, &Message::new(3, &[])));
    check_eq!(exit_status(faults).ok(), Some(0x3000));
    Ok(())
}
