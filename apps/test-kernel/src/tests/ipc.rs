//! Endpoints and replies: message transfer, blocking, rights, capability transfer, and
//! what happens to waiters when objects go away.

use kernel_abi::syscall::MAX_MESSAGE_WORDS;
use kernel_abi::{Error, ObjectType, Rights};
use userlib::ipc::{self, Message};
use userlib::object;
use userlib::syscall::{debug_check, yield_now};

use crate::context::{CNODE, Context, Outcome, Test, exit_status, pack, unpack};
use crate::{check, check_eq, ok};

/// The IPC tests.
pub const ALL: &[Test] = &[
    Test {
        id: "IPC0020",
        about: "calls and replies of every length from 0 to 12 words deliver every word (the fastpath carries only four)",
        run: every_length,
    },
    Test {
        id: "IPC0001",
        about: "send and receive between two threads move four words and the badge",
        run: send_receive,
    },
    Test {
        id: "IPC0002",
        about: "a call is answered through the reply object with reply_recv",
        run: call_reply,
    },
    Test {
        id: "IPC0003",
        about: "a 120-word message arrives whole through the IPC buffers",
        run: long_message,
    },
    Test {
        id: "IPC0004",
        about: "nb_send without a receiver and nb_recv without a sender are WouldBlock",
        run: would_block,
    },
    Test {
        id: "IPC0005",
        about: "send and call need WRITE, recv needs READ, checked before blocking",
        run: rights_checked,
    },
    Test {
        id: "IPC0006",
        about: "a capability sent with GRANT arrives in the receiver's receive slot; without GRANT none arrives",
        run: capability_transfer,
    },
    Test {
        id: "IPC0007",
        about: "revoking a capability deletes the copy it was transferred as",
        run: revoke_transferred,
    },
    Test {
        id: "IPC0008",
        about: "deleting the last endpoint capability cancels a thread blocked in recv on it",
        run: delete_cancels_receiver,
    },
    Test {
        id: "IPC0009",
        about: "deleting the last endpoint capability cancels a thread blocked in send on it",
        run: delete_cancels_sender,
    },
    Test {
        id: "IPC0010",
        about: "deleting a thread blocked in recv takes it off the endpoint queue",
        run: delete_waiting_thread,
    },
    Test { id: "IPC0011", about: "a reply with no caller waiting is NoCaller", run: reply_without_caller },
    Test {
        id: "IPC0012",
        about: "a call received without a reply object is delivered, and the caller gets Cancelled",
        run: call_without_reply_object,
    },
    Test {
        id: "IPC0013",
        about: "the reply capability of recv and reply_recv must be a reply (IllegalOperation) in a valid slot",
        run: reply_argument_checked,
    },
    Test {
        id: "IPC0014",
        about: "blocked senders are received in the order they arrived",
        run: senders_fifo,
    },
    Test {
        id: "IPC0015",
        about: "a server answers successive calls through one reply object with reply_recv",
        run: server_loop,
    },
    Test {
        id: "IPC0016",
        about: "a capability sent to an occupied or absent receive slot is dropped; the message still arrives",
        run: transfer_refused,
    },
    Test {
        id: "IPC0017",
        about: "deleting the reply object while its caller waits wakes the caller with Cancelled",
        run: delete_reply_cancels_caller,
    },
    Test {
        id: "IPC0018",
        about: "an unbadged endpoint delivers badge 0, and a call's reply carries label and words back",
        run: unbadged_and_reply_words,
    },
    Test {
        id: "IPC0021",
        about: "an Untyped sent with GRANT or in a reply moves: the sender's slot empties, the receiver retypes from it, and revoking the sender's parent Untyped destroys it and its objects",
        run: untyped_moves,
    },
];

/// Once a known bug (the receiving thread kept a dangling reference to the deleted reply
/// object); kept as its own constant because it was reported apart while open.
pub const REPLY_DELETED_WHILE_RECEIVING: Test = Test {
    id: "IPC0019",
    about: "deleting the reply object a thread receives with cancels that receive",
    run: delete_reply_cancels_receiver,
};

fn send_receive(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let minted = context.slot();
    ok!(object::mint(CNODE, minted, CNODE, endpoint, Rights::WRITE, 0xbeef));
    ok!(context.spawn(super::send_one, minted, 100, 0));
    let (message, badge) = ok!(ipc::receive(endpoint, 0));
    check_eq!((message.label, message.words()), (7, &[1usize, 2, 3, 4][..]));
    check_eq!(badge, 0xbeef);
    Ok(())
}

/// Serves calls until an error: replies with label 1 and the sum of the words.
fn adder(arguments: usize) -> usize {
    let (endpoint, reply) = (unpack(arguments, 0), unpack(arguments, 1));
    let Ok((mut request, _)) = ipc::receive(endpoint, reply) else { return 1 };
    loop {
        let sum: usize = request.words().iter().sum();
        match ipc::reply_receive(endpoint, &Message::new(1, &[sum, request.label]), reply) {
            Ok((next, _)) => request = next,
            Err(error) => return error as usize,
        }
    }
}

fn call_reply(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let reply = ok!(context.make(ObjectType::Reply, 0));
    // The root task has the highest priority, so the server gets the same and runs when
    // the root task blocks in its call.
    ok!(context.spawn(adder, pack([endpoint, reply, 0, 0]), 255, 0));
    let answer = ok!(ipc::call(endpoint, &Message::new(3, &[10, 20, 30, 40, 50, 60])));
    check_eq!(answer.label, 1);
    check_eq!(answer.word(0), 210);
    Ok(())
}

fn send_long(endpoint: usize) -> usize {
    let words: [usize; MAX_MESSAGE_WORDS] = core::array::from_fn(|index| index * 3 + 1);
    match ipc::send(endpoint, &Message::new(9, &words)) {
        Ok(()) => 0,
        Err(error) => error as usize,
    }
}

fn long_message(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    ok!(context.spawn(send_long, endpoint, 100, 0));
    let (message, _) = ok!(ipc::receive(endpoint, 0));
    check_eq!(message.label, 9);
    check_eq!(message.length, MAX_MESSAGE_WORDS);
    for (index, word) in message.words().iter().enumerate() {
        check_eq!(*word, index * 3 + 1);
    }
    Ok(())
}

fn would_block(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    check_eq!(ipc::try_send(endpoint, &Message::new(1, &[1])), Err(Error::WouldBlock));
    check_eq!(ipc::try_receive(endpoint, 0).map(|_| ()), Err(Error::WouldBlock));
    // A failed nb_send leaves nothing queued.
    check_eq!(ipc::try_receive(endpoint, 0).map(|_| ()), Err(Error::WouldBlock));
    Ok(())
}

fn rights_checked(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let (receive_only, send_only) = (context.slot(), context.slot());
    ok!(object::copy(CNODE, receive_only, CNODE, endpoint, Rights::READ | Rights::GRANT));
    ok!(object::copy(CNODE, send_only, CNODE, endpoint, Rights::WRITE | Rights::GRANT_REPLY));
    // Each of these would block forever if the right were not checked first.
    check_eq!(ipc::send(receive_only, &Message::new(0, &[])), Err(Error::InsufficientRights));
    check_eq!(ipc::call(receive_only, &Message::new(0, &[])).map(|_| ()), Err(Error::InsufficientRights));
    check_eq!(ipc::receive(send_only, 0).map(|_| ()), Err(Error::InsufficientRights));
    Ok(())
}

/// Sends label 5 through endpoint `0` carrying the capability at `1` (packed).
fn send_capability(arguments: usize) -> usize {
    let (endpoint, capability) = (unpack(arguments, 0), unpack(arguments, 1));
    if let Some(buffer) = ipc::ipc_buffer() {
        buffer.set_send_cap(0, capability);
    }
    let mut message = Message::new(5, &[capability]);
    message.caps = 1;
    match ipc::send(endpoint, &message) {
        Ok(()) => 0,
        Err(error) => error as usize,
    }
}

/// Sets where this thread receives a capability (0: nowhere).
fn set_receive_slot(index: usize) {
    if let Some(buffer) = ipc::ipc_buffer() {
        buffer.set_receive_slot(0, index);
    }
}

fn capability_transfer(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let notification = ok!(context.make(ObjectType::Notification, 0));
    let (granting, plain, sent, received) = (context.slot(), context.slot(), context.slot(), context.slot());
    ok!(object::copy(CNODE, granting, CNODE, endpoint, Rights::WRITE | Rights::GRANT));
    ok!(object::copy(CNODE, plain, CNODE, endpoint, Rights::WRITE));
    ok!(object::mint(CNODE, sent, CNODE, notification, Rights::WRITE, 0x40));
    set_receive_slot(received);
    ok!(context.spawn(send_capability, pack([granting, sent, 0, 0]), 100, 0));
    let (message, _) = ok!(ipc::receive(endpoint, 0));
    check_eq!((message.label, message.caps), (5, 1));
    check_eq!(ipc::ipc_buffer().map(|buffer| buffer.received_caps()), Some(1));
    // The copy signals the same notification with the same badge.
    ok!(ipc::signal(received));
    check_eq!(ipc::poll(notification), Ok(0x40));
    ok!(object::delete(CNODE, received));
    // Without GRANT the message arrives without the capability.
    ok!(context.spawn(send_capability, pack([plain, sent, 0, 0]), 100, 0));
    let (message, _) = ok!(ipc::receive(endpoint, 0));
    check_eq!((message.label, message.caps), (5, 0));
    check_eq!(ipc::ipc_buffer().map(|buffer| buffer.received_caps()), Some(0));
    check_eq!(ipc::signal(received), Err(Error::InvalidCapability));
    Ok(())
}

fn revoke_transferred(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let notification = ok!(context.make(ObjectType::Notification, 0));
    let (sent, received) = (context.slot(), context.slot());
    ok!(object::mint(CNODE, sent, CNODE, notification, Rights::WRITE, 1));
    set_receive_slot(received);
    ok!(context.spawn(send_capability, pack([endpoint, sent, 0, 0]), 100, 0));
    let (message, _) = ok!(ipc::receive(endpoint, 0));
    check_eq!(message.caps, 1);
    ok!(ipc::signal(received));
    check_eq!(object::revoke(CNODE, sent), Ok(1));
    check_eq!(ipc::signal(received), Err(Error::InvalidCapability));
    // The original is untouched.
    ok!(ipc::signal(sent));
    check_eq!(ipc::poll(notification), Ok(1));
    Ok(())
}

/// Receives once on the endpoint in the argument; exits with the error code (0: a message).
fn receive_once(endpoint: usize) -> usize {
    match ipc::receive(endpoint, 0) {
        Ok(_) => 0,
        Err(error) => error as usize,
    }
}

/// Sends once on the endpoint in the argument; exits with the error code (0: delivered).
fn send_once(endpoint: usize) -> usize {
    match ipc::send(endpoint, &Message::new(2, &[])) {
        Ok(()) => 0,
        Err(error) => error as usize,
    }
}

fn delete_cancels_receiver(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let (_, faults) = ok!(context.spawn_joinable(receive_once, endpoint, 255));
    // Same priority: the thread runs until it blocks in recv, then we continue.
    yield_now();
    ok!(object::delete(CNODE, endpoint));
    check_eq!(exit_status(faults).ok(), Some(Error::Cancelled as usize));
    Ok(())
}

fn delete_cancels_sender(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let (_, faults) = ok!(context.spawn_joinable(send_once, endpoint, 255));
    yield_now();
    ok!(object::delete(CNODE, endpoint));
    check_eq!(exit_status(faults).ok(), Some(Error::Cancelled as usize));
    Ok(())
}

fn delete_waiting_thread(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let thread = ok!(context.spawn(receive_once, endpoint, 255, 0));
    yield_now();
    ok!(object::delete(CNODE, thread));
    check_eq!(ipc::try_send(endpoint, &Message::new(0, &[])), Err(Error::WouldBlock));
    Ok(())
}

fn reply_without_caller(context: &mut Context) -> Outcome {
    let reply = ok!(context.make(ObjectType::Reply, 0));
    check_eq!(ipc::send(reply, &Message::new(0, &[1])), Err(Error::NoCaller));
    check_eq!(ipc::try_send(reply, &Message::new(0, &[1])), Err(Error::NoCaller));
    Ok(())
}

/// Receives without a reply object; exits with the label received.
fn receive_label(endpoint: usize) -> usize {
    match ipc::receive(endpoint, 0) {
        Ok((message, _)) => message.label,
        Err(error) => 1000 + error as usize,
    }
}

fn call_without_reply_object(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let (_, faults) = ok!(context.spawn_joinable(receive_label, endpoint, 255));
    yield_now();
    check_eq!(ipc::call(endpoint, &Message::new(5, &[])).map(|_| ()), Err(Error::Cancelled));
    check_eq!(exit_status(faults).ok(), Some(5));
    Ok(())
}

fn reply_argument_checked(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let notification = ok!(context.make(ObjectType::Notification, 0));
    let empty = context.slot();
    check_eq!(ipc::receive(endpoint, notification).map(|_| ()), Err(Error::IllegalOperation));
    check_eq!(ipc::receive(endpoint, empty).map(|_| ()), Err(Error::InvalidCapability));
    check_eq!(
        ipc::reply_receive(endpoint, &Message::new(0, &[]), notification).map(|_| ()),
        Err(Error::IllegalOperation)
    );
    check_eq!(
        ipc::reply_receive(endpoint, &Message::new(0, &[]), empty).map(|_| ()),
        Err(Error::InvalidCapability)
    );
    check_eq!(
        ipc::reply_receive(endpoint, &Message::new(0, &[]), 0).map(|_| ()),
        Err(Error::InvalidCapability)
    );
    Ok(())
}

fn senders_fifo(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let (first, second) = (context.slot(), context.slot());
    ok!(object::mint(CNODE, first, CNODE, endpoint, Rights::WRITE, 1));
    ok!(object::mint(CNODE, second, CNODE, endpoint, Rights::WRITE, 2));
    ok!(context.spawn(send_once, first, 255, 0));
    ok!(context.spawn(send_once, second, 255, 0));
    // Both run and block in send before we go on.
    yield_now();
    check_eq!(ipc::try_receive(endpoint, 0).map(|(_, badge)| badge), Ok(1));
    check_eq!(ipc::try_receive(endpoint, 0).map(|(_, badge)| badge), Ok(2));
    check_eq!(ipc::try_receive(endpoint, 0).map(|_| ()), Err(Error::WouldBlock));
    Ok(())
}

fn server_loop(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let reply = ok!(context.make(ObjectType::Reply, 0));
    ok!(context.spawn(adder, pack([endpoint, reply, 0, 0]), 255, 0));
    for round in 1..=3usize {
        let answer = ok!(ipc::call(endpoint, &Message::new(round, &[round, 100])));
        check_eq!((answer.label, answer.word(0), answer.word(1)), (1, round + 100, round));
    }
    Ok(())
}

fn transfer_refused(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let notification = ok!(context.make(ObjectType::Notification, 0));
    let occupied = ok!(context.make(ObjectType::Endpoint, 0));
    let empty = context.slot();
    set_receive_slot(occupied);
    ok!(context.spawn(send_capability, pack([endpoint, notification, 0, 0]), 100, 0));
    let (message, _) = ok!(ipc::receive(endpoint, 0));
    check_eq!((message.label, message.caps), (5, 0));
    // The occupied slot still holds the endpoint.
    check_eq!(ipc::try_send(occupied, &Message::new(0, &[])), Err(Error::WouldBlock));
    // Naming an empty slot to send transfers nothing either.
    set_receive_slot(context.slot());
    ok!(context.spawn(send_capability, pack([endpoint, empty, 0, 0]), 100, 0));
    let (message, _) = ok!(ipc::receive(endpoint, 0));
    check_eq!((message.label, message.caps), (5, 0));
    // And receiving with no receive slot accepts none.
    set_receive_slot(0);
    ok!(context.spawn(send_capability, pack([endpoint, notification, 0, 0]), 100, 0));
    let (message, _) = ok!(ipc::receive(endpoint, 0));
    check_eq!((message.label, message.caps), (5, 0));
    Ok(())
}

/// Receives a call with the reply object, then deletes the reply object instead of
/// answering.
fn receive_then_drop_reply(arguments: usize) -> usize {
    let (endpoint, reply) = (unpack(arguments, 0), unpack(arguments, 1));
    if ipc::receive(endpoint, reply).is_err() {
        return 1;
    }
    match object::delete(CNODE, reply) {
        Ok(()) => 0,
        Err(error) => error as usize,
    }
}

fn delete_reply_cancels_caller(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let reply = ok!(context.make(ObjectType::Reply, 0));
    let (_, faults) =
        ok!(context.spawn_joinable(receive_then_drop_reply, pack([endpoint, reply, 0, 0]), 255));
    check_eq!(ipc::call(endpoint, &Message::new(1, &[])).map(|_| ()), Err(Error::Cancelled));
    check_eq!(exit_status(faults).ok(), Some(0));
    Ok(())
}

fn unbadged_and_reply_words(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    ok!(context.spawn(super::send_one, endpoint, 100, 0));
    let (message, badge) = ok!(ipc::receive(endpoint, 0));
    check_eq!((message.label, badge), (7, 0));
    let reply = ok!(context.make(ObjectType::Reply, 0));
    ok!(context.spawn(adder, pack([endpoint, reply, 0, 0]), 255, 0));
    let words: [usize; 10] = core::array::from_fn(|index| index + 1);
    let answer = ok!(ipc::call(endpoint, &Message::new(77, &words)));
    check_eq!((answer.label, answer.length), (1, 2));
    check_eq!((answer.word(0), answer.word(1)), (55, 77));
    check!(answer.caps == 0);
    Ok(())
}

/// Receives once with the reply object; exits with the error code (0: a message).
fn receive_with_reply(arguments: usize) -> usize {
    ipc::receive(unpack(arguments, 0), unpack(arguments, 1)).err().map_or(0, |error| error as usize)
}

fn delete_reply_cancels_receiver(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let reply = ok!(context.make(ObjectType::Reply, 0));
    let (_, faults) = ok!(context.spawn_joinable(receive_with_reply, pack([endpoint, reply, 0, 0]), 255));
    yield_now();
    ok!(object::delete(CNODE, reply));
    // A plain send, not a call: with the bug the receiver takes it (a call would bind the
    // caller to the freed reply object).
    check_eq!(ipc::try_send(endpoint, &Message::new(0, &[])), Err(Error::WouldBlock));
    check_eq!(exit_status(faults).ok(), Some(Error::Cancelled as usize));
    Ok(())
}

/// Serves calls until an error: replies with the request's words reversed.
fn reverser(arguments: usize) -> usize {
    let (endpoint, reply) = (unpack(arguments, 0), unpack(arguments, 1));
    let Ok((mut request, _)) = ipc::receive(endpoint, reply) else { return 1 };
    loop {
        let mut words = [0usize; 12];
        let length = request.length.min(words.len());
        for (index, word) in request.words().iter().rev().take(length).enumerate() {
            words[index] = *word;
        }
        match ipc::reply_receive(endpoint, &Message::new(request.label, &words[..length]), reply) {
            Ok((next, _)) => request = next,
            Err(error) => return error as usize,
        }
    }
}

fn every_length(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let reply = ok!(context.make(ObjectType::Reply, 0));
    ok!(context.spawn(reverser, pack([endpoint, reply, 0, 0]), 255, 0));
    for length in 0..=12usize {
        let words: [usize; 12] = core::array::from_fn(|index| 0x1000 * (length + 1) + index);
        let answer = ok!(ipc::call(endpoint, &Message::new(length, &words[..length])));
        check_eq!(answer.label, length);
        check_eq!(answer.length, length);
        for index in 0..length {
            check_eq!(answer.word(index), words[length - 1 - index]);
        }
    }
    Ok(())
}

/// A memory donor: answers one call on endpoint `0` (received with reply object `2`) with a
/// 64 KiB Untyped retyped from the Untyped at `1` into slot `3`; exits with the error code.
fn donor(arguments: usize) -> usize {
    let (endpoint, parent, reply, child) =
        (unpack(arguments, 0), unpack(arguments, 1), unpack(arguments, 2), unpack(arguments, 3));
    if let Err(error) = ipc::receive(endpoint, reply) {
        return error as usize;
    }
    if let Err(error) = object::retype(parent, ObjectType::Untyped, 16, CNODE, child, 1) {
        return error as usize;
    }
    if let Some(buffer) = ipc::ipc_buffer() {
        buffer.set_send_cap(0, child);
    }
    let mut message = Message::new(6, &[]);
    message.caps = 1;
    ipc::send(reply, &message).err().map_or(0, |error| error as usize)
}

fn untyped_moves(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    // The donor keeps `parent` and gives away a child of the same size.
    let parent = ok!(context.make(ObjectType::Untyped, 16));
    let (granting, plain, child, received) = (context.slot(), context.slot(), context.slot(), context.slot());
    let (scratch, notification) = (context.slot(), context.slot());
    ok!(object::copy(CNODE, granting, CNODE, endpoint, Rights::WRITE | Rights::GRANT));
    ok!(object::copy(CNODE, plain, CNODE, endpoint, Rights::WRITE));
    ok!(object::retype(parent, ObjectType::Untyped, 16, CNODE, child, 1));
    set_receive_slot(received);
    // Without GRANT nothing moves: the sender keeps the Untyped (copying it is refused as
    // for any Untyped; from an empty slot it would be InvalidCapability).
    ok!(context.spawn(send_capability, pack([plain, child, 0, 0]), 100, 0));
    let (message, _) = ok!(ipc::receive(endpoint, 0));
    check_eq!((message.label, message.caps), (5, 0));
    check_eq!(object::copy(CNODE, scratch, CNODE, child, Rights::ALL), Err(Error::IllegalOperation));
    check_eq!(object::copy(CNODE, scratch, CNODE, received, Rights::ALL), Err(Error::InvalidCapability));
    // With GRANT it moves into the receive slot and the sender's slot is empty.
    ok!(context.spawn(send_capability, pack([granting, child, 0, 0]), 100, 0));
    let (message, _) = ok!(ipc::receive(endpoint, 0));
    check_eq!((message.label, message.caps), (5, 1));
    check_eq!(ipc::ipc_buffer().map(|buffer| buffer.received_caps()), Some(1));
    ok!(debug_check());
    check_eq!(object::copy(CNODE, scratch, CNODE, child, Rights::ALL), Err(Error::InvalidCapability));
    check_eq!(
        object::retype(child, ObjectType::Notification, 0, CNODE, notification, 1),
        Err(Error::InvalidCapability)
    );
    ok!(object::retype(received, ObjectType::Notification, 0, CNODE, notification, 1));
    ok!(ipc::signal(notification));
    check_eq!(ipc::poll(notification), Ok(0));
    // The moved child is still the parent's: revoking the parent destroys it and what was
    // made from it.
    check_eq!(object::revoke(CNODE, parent), Ok(2));
    ok!(debug_check());
    check_eq!(
        object::retype(received, ObjectType::Notification, 0, CNODE, scratch, 1),
        Err(Error::InvalidCapability)
    );
    check_eq!(ipc::poll(notification), Err(Error::InvalidCapability));
    // The same through a reply, as a memory server answers a request for memory.
    let reply = ok!(context.make(ObjectType::Reply, 0));
    let given = context.slot();
    let (_, faults) = ok!(context.spawn_joinable(donor, pack([endpoint, parent, reply, given]), 255));
    let answer = ok!(ipc::call(endpoint, &Message::new(1, &[])));
    check_eq!((answer.label, answer.caps), (6, 1));
    check_eq!(exit_status(faults).ok(), Some(0));
    check_eq!(object::copy(CNODE, scratch, CNODE, given, Rights::ALL), Err(Error::InvalidCapability));
    ok!(object::retype(received, ObjectType::Notification, 0, CNODE, notification, 1));
    check_eq!(ipc::poll(notification), Ok(0));
    check_eq!(object::revoke(CNODE, parent), Ok(2));
    check_eq!(ipc::poll(notification), Err(Error::InvalidCapability));
    check_eq!(object::revoke(CNODE, received), Err(Error::InvalidCapability));
    Ok(())
}
