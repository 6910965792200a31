//! The tests, grouped by object. Each is `fn(&mut Context) -> Outcome`.

use kernel_abi::{Error, ObjectType, Rights};
use userlib::ipc::{self, Message};
use userlib::object;

use crate::context::{ADDRESS_SPACE, CNODE, Context, Outcome, Test};
use crate::{check, check_eq, ok};

/// Every test, in the order they run.
pub const ALL: &[Test] = &[
    Test {
        id: "UNTYPED0001",
        about: "every object type can be retyped from RAM untyped",
        run: untyped_every_type,
    },
    Test {
        id: "UNTYPED0002",
        about: "an unknown object type is an invalid argument",
        run: untyped_unknown_type,
    },
    Test {
        id: "UNTYPED0003",
        about: "retyping into an occupied slot needs the slot emptied first",
        run: untyped_occupied,
    },
    Test {
        id: "UNTYPED0004",
        about: "a small untyped runs out with NotEnoughMemory, and revoke makes it whole again",
        run: untyped_exhaust_and_revoke,
    },
    Test {
        id: "CNODE0001",
        about: "a minted endpoint delivers its badge; re-badging is refused",
        run: cnode_mint_badge,
    },
    Test {
        id: "CNODE0002",
        about: "revoke deletes children and grandchildren, wherever they are",
        run: cnode_revoke_descendants,
    },
    Test {
        id: "IPC0001",
        about: "send and receive between two threads move four words and the badge",
        run: ipc_send_receive,
    },
    Test {
        id: "IPC0002",
        about: "a call is answered through the reply object with reply_recv",
        run: ipc_call_reply,
    },
    Test {
        id: "NTFN0001",
        about: "signals OR their badges; poll takes the word and clears it",
        run: notification_or_and_poll,
    },
    Test {
        id: "THREAD0001",
        about: "a thread's fault is delivered to its fault endpoint",
        run: thread_fault_delivered,
    },
];

fn untyped_every_type(context: &mut Context) -> Outcome {
    for (object_type, size_bits) in [
        (ObjectType::Untyped, 12),
        (ObjectType::CNode, 4),
        (ObjectType::Thread, 0),
        (ObjectType::AddressSpace, 0),
        (ObjectType::PageTable, 0),
        (ObjectType::Frame, 0),
        (ObjectType::LargeFrame, 0),
        (ObjectType::Endpoint, 0),
        (ObjectType::Notification, 0),
        (ObjectType::Reply, 0),
        (ObjectType::SchedContext, 0),
    ] {
        ok!(context.make(object_type, size_bits));
    }
    Ok(())
}

fn untyped_unknown_type(context: &mut Context) -> Outcome {
    let slot = context.slot();
    check_eq!(object::retype(context.pool, ObjectType::Untyped, 3, CNODE, slot, 1), Err(Error::RangeError));
    let raw = ipc::invoke(context.pool, 1, &[99, 0, CNODE, slot, 1]).map(|_| ());
    check_eq!(raw, Err(Error::InvalidArgument));
    Ok(())
}

fn untyped_occupied(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    check_eq!(
        object::retype(context.pool, ObjectType::Endpoint, 0, CNODE, endpoint, 1),
        Err(Error::DeleteFirst)
    );
    Ok(())
}

fn untyped_exhaust_and_revoke(context: &mut Context) -> Outcome {
    let small = ok!(context.make(ObjectType::Untyped, 12));
    let first = context.slot();
    for _ in 1..64 {
        context.slot();
    }
    // 4 KiB holds 64 endpoints of 64 bytes.
    ok!(object::retype(small, ObjectType::Endpoint, 0, CNODE, first, 64));
    let extra = context.slot();
    check_eq!(object::retype(small, ObjectType::Endpoint, 0, CNODE, extra, 1), Err(Error::NotEnoughMemory));
    check_eq!(object::revoke(CNODE, small), Ok(64));
    ok!(object::retype(small, ObjectType::Endpoint, 0, CNODE, first, 64));
    Ok(())
}

fn cnode_mint_badge(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let minted = context.slot();
    ok!(object::mint(CNODE, minted, CNODE, endpoint, Rights::ALL, 0x55));
    let rebadged = context.slot();
    check_eq!(object::mint(CNODE, rebadged, CNODE, minted, Rights::ALL, 0x66), Err(Error::IllegalOperation));
    // A thread at lower priority sends through the minted capability once we wait.
    ok!(context.spawn(send_one, minted, 100, 0));
    let (message, badge) = ok!(ipc::receive(endpoint, 0));
    check_eq!(badge, 0x55);
    check_eq!(message.label, 7);
    Ok(())
}

fn send_one(endpoint: usize) -> usize {
    let _ = ipc::send(endpoint, &Message::new(7, &[1, 2, 3, 4]));
    0
}

fn cnode_revoke_descendants(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let child = context.slot();
    let grandchild = context.slot();
    let other_child = context.slot();
    ok!(object::copy(CNODE, child, CNODE, endpoint, Rights::ALL));
    ok!(object::copy(CNODE, grandchild, CNODE, child, Rights::ALL));
    ok!(object::mint(CNODE, other_child, CNODE, endpoint, Rights::WRITE, 9));
    check_eq!(object::revoke(CNODE, endpoint), Ok(3));
    check_eq!(ipc::try_send(grandchild, &Message::new(0, &[])), Err(Error::InvalidCapability));
    check_eq!(ipc::try_send(endpoint, &Message::new(0, &[])), Err(Error::WouldBlock));
    Ok(())
}

fn ipc_send_receive(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let minted = context.slot();
    ok!(object::mint(CNODE, minted, CNODE, endpoint, Rights::WRITE, 0xbeef));
    ok!(context.spawn(send_one, minted, 100, 0));
    let (message, badge) = ok!(ipc::receive(endpoint, 0));
    check_eq!((message.label, message.words()), (7, &[1usize, 2, 3, 4][..]));
    check_eq!(badge, 0xbeef);
    Ok(())
}

/// Serves one call: replies with the sum of the words, label 1.
fn adder(endpoint_and_reply: usize) -> usize {
    let (endpoint, reply) = (endpoint_and_reply & 0xffff, endpoint_and_reply >> 16);
    let Ok((request, _)) = ipc::receive(endpoint, reply) else { return 1 };
    let sum: usize = request.words().iter().sum();
    let _ = ipc::reply_receive(endpoint, &Message::new(1, &[sum]), reply);
    0
}

fn ipc_call_reply(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let reply = ok!(context.make(ObjectType::Reply, 0));
    // The server runs at a higher priority than... the root task's 255 is the highest, so
    // the server gets 255 too and runs when the root task blocks in its call.
    ok!(context.spawn(adder, endpoint | reply << 16, 255, 0));
    let answer = ok!(ipc::call(endpoint, &Message::new(3, &[10, 20, 30, 40, 50, 60])));
    check_eq!(answer.label, 1);
    check_eq!(answer.word(0), 210);
    Ok(())
}

fn notification_or_and_poll(context: &mut Context) -> Outcome {
    let notification = ok!(context.make(ObjectType::Notification, 0));
    let a = context.slot();
    let b = context.slot();
    ok!(object::mint(CNODE, a, CNODE, notification, Rights::WRITE, 0b001));
    ok!(object::mint(CNODE, b, CNODE, notification, Rights::WRITE, 0b100));
    ok!(ipc::signal(a));
    ok!(ipc::signal(b));
    check_eq!(ipc::poll(notification), Ok(0b101));
    check_eq!(ipc::poll(notification), Ok(0));
    check_eq!(ipc::wait(a), Err(Error::InsufficientRights));
    Ok(())
}

fn store_to_null(_: usize) -> usize {
    userlib::fault::store_to_null()
}

fn thread_fault_delivered(context: &mut Context) -> Outcome {
    let faults = ok!(context.make(ObjectType::Endpoint, 0));
    let badged = context.slot();
    ok!(object::mint(CNODE, badged, CNODE, faults, Rights::WRITE, 77));
    ok!(context.spawn(store_to_null, 0, 100, badged));
    let (message, badge) = ok!(ipc::receive(faults, 0));
    check_eq!(badge, 77);
    check_eq!(message.label, kernel_abi::syscall::FAULT_LABEL);
    check_eq!(message.word(0), kernel_abi::FaultKind::StorePageFault as usize);
    check_eq!(message.word(2), 0);
    let _ = ADDRESS_SPACE;
    check!(message.word(1) != 0);
    Ok(())
}
