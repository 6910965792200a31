//! CNodes: copy, mint, move, delete, revoke, and the derivation tree behind them.

use kernel_abi::invocation::CNodeOp;
use kernel_abi::{Error, ObjectType, Rights};
use userlib::ipc::{self, Message};
use userlib::object;

use crate::context::{CNODE, Context, Outcome, Test};
use crate::{check_eq, ok};

/// The CNode tests.
pub const ALL: &[Test] = &[
    Test {
        id: "CNODE0001",
        about: "a minted endpoint delivers its badge; re-badging is refused",
        run: mint_badge,
    },
    Test {
        id: "CNODE0002",
        about: "revoke deletes children and grandchildren, wherever they are",
        run: revoke_descendants,
    },
    Test {
        id: "CNODE0003",
        about: "a copy has at most the rights asked for and never more than its source",
        run: rights_only_shrink,
    },
    Test {
        id: "CNODE0004",
        about: "copy needs an empty destination inside the CNode and an occupied source",
        run: copy_errors,
    },
    Test {
        id: "CNODE0005",
        about: "move empties the source, keeps the capability's place in the derivation tree, and needs an empty destination",
        run: move_keeps_derivation,
    },
    Test {
        id: "CNODE0006",
        about: "deleting an empty slot is a no-op; slot 0 and slots past the end are invalid; revoke needs a capability",
        run: delete_and_revoke_edges,
    },
    Test {
        id: "CNODE0007",
        about: "an unknown CNode operation is IllegalOperation and missing argument words are InvalidArgument",
        run: bad_invocation,
    },
    Test {
        id: "CNODE0008",
        about: "deleting a capability keeps its children, and a revoke of its parent still finds them",
        run: delete_keeps_children,
    },
    Test {
        id: "CNODE0009",
        about: "endpoints and notifications take badges; a thread refuses one, a frame ignores it",
        run: mint_only_badgeable,
    },
    Test {
        id: "CNODE0010",
        about: "a retyped CNode of radix 4 has slots 1..=15, and revoke reaches copies inside it",
        run: small_cnode,
    },
    Test {
        id: "CNODE0011",
        about: "deleting the last capability to a CNode deletes the capabilities it holds",
        run: delete_cnode_contents,
    },
    Test { id: "CNODE0012", about: "reply and page-table capabilities cannot be copied", run: uncopyable },
];

fn mint_badge(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let minted = context.slot();
    ok!(object::mint(CNODE, minted, CNODE, endpoint, Rights::ALL, 0x55));
    let rebadged = context.slot();
    check_eq!(object::mint(CNODE, rebadged, CNODE, minted, Rights::ALL, 0x66), Err(Error::IllegalOperation));
    // Minting again with the same badge is a plain copy.
    ok!(object::mint(CNODE, rebadged, CNODE, minted, Rights::ALL, 0x55));
    // A thread at lower priority sends through the minted capability once we wait.
    ok!(context.spawn(super::send_one, minted, 100, 0));
    let (message, badge) = ok!(ipc::receive(endpoint, 0));
    check_eq!(badge, 0x55);
    check_eq!(message.label, 7);
    Ok(())
}

fn revoke_descendants(context: &mut Context) -> Outcome {
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

fn rights_only_shrink(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let (send_only, receive_only, regrown) = (context.slot(), context.slot(), context.slot());
    ok!(object::copy(CNODE, send_only, CNODE, endpoint, Rights::WRITE));
    ok!(object::copy(CNODE, receive_only, CNODE, endpoint, Rights::READ));
    check_eq!(ipc::try_receive(send_only, 0).map(|_| ()), Err(Error::InsufficientRights));
    check_eq!(ipc::try_send(send_only, &Message::new(0, &[])), Err(Error::WouldBlock));
    check_eq!(ipc::try_send(receive_only, &Message::new(0, &[])), Err(Error::InsufficientRights));
    check_eq!(ipc::try_receive(receive_only, 0).map(|_| ()), Err(Error::WouldBlock));
    // Asking for every right from a send-only capability still gives send only.
    ok!(object::copy(CNODE, regrown, CNODE, send_only, Rights::ALL));
    check_eq!(ipc::try_receive(regrown, 0).map(|_| ()), Err(Error::InsufficientRights));
    Ok(())
}

fn copy_errors(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let occupied = ok!(context.make(ObjectType::Notification, 0));
    let (empty, destination) = (context.slot(), context.slot());
    let beyond = context.info.cnode_slots;
    check_eq!(object::copy(CNODE, occupied, CNODE, endpoint, Rights::ALL), Err(Error::DeleteFirst));
    check_eq!(object::copy(CNODE, destination, CNODE, empty, Rights::ALL), Err(Error::InvalidCapability));
    check_eq!(object::copy(CNODE, 0, CNODE, endpoint, Rights::ALL), Err(Error::InvalidCapability));
    check_eq!(object::copy(CNODE, beyond, CNODE, endpoint, Rights::ALL), Err(Error::InvalidCapability));
    check_eq!(object::copy(CNODE, destination, CNODE, 0, Rights::ALL), Err(Error::InvalidCapability));
    check_eq!(object::copy(CNODE, destination, CNODE, beyond, Rights::ALL), Err(Error::InvalidCapability));
    check_eq!(object::copy(CNODE, destination, endpoint, 1, Rights::ALL), Err(Error::IllegalOperation));
    // None of that wrote anything.
    check_eq!(ipc::try_send(destination, &Message::new(0, &[])), Err(Error::InvalidCapability));
    check_eq!(ipc::poll(occupied), Ok(0));
    Ok(())
}

fn move_keeps_derivation(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let (child, moved, empty) = (context.slot(), context.slot(), context.slot());
    ok!(object::copy(CNODE, child, CNODE, endpoint, Rights::ALL));
    ok!(object::move_capability(CNODE, moved, CNODE, child));
    check_eq!(ipc::try_send(child, &Message::new(0, &[])), Err(Error::InvalidCapability));
    check_eq!(ipc::try_send(moved, &Message::new(0, &[])), Err(Error::WouldBlock));
    check_eq!(object::move_capability(CNODE, endpoint, CNODE, moved), Err(Error::DeleteFirst));
    check_eq!(object::move_capability(CNODE, child, CNODE, empty), Err(Error::InvalidCapability));
    check_eq!(object::move_capability(CNODE, moved, CNODE, moved), Err(Error::DeleteFirst));
    check_eq!(object::revoke(CNODE, endpoint), Ok(1));
    check_eq!(ipc::try_send(moved, &Message::new(0, &[])), Err(Error::InvalidCapability));
    Ok(())
}

fn delete_and_revoke_edges(context: &mut Context) -> Outcome {
    let empty = context.slot();
    let beyond = context.info.cnode_slots;
    ok!(object::delete(CNODE, empty));
    check_eq!(object::delete(CNODE, 0), Err(Error::InvalidCapability));
    check_eq!(object::delete(CNODE, beyond), Err(Error::InvalidCapability));
    check_eq!(object::revoke(CNODE, empty), Err(Error::InvalidCapability));
    check_eq!(object::revoke(CNODE, 0), Err(Error::InvalidCapability));
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    check_eq!(object::revoke(CNODE, endpoint), Ok(0));
    ok!(object::delete(CNODE, endpoint));
    check_eq!(ipc::try_send(endpoint, &Message::new(0, &[])), Err(Error::InvalidCapability));
    Ok(())
}

fn bad_invocation(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let destination = context.slot();
    check_eq!(ipc::invoke(CNODE, 0, &[destination]).map(|_| ()), Err(Error::IllegalOperation));
    check_eq!(ipc::invoke(CNODE, 6, &[destination]).map(|_| ()), Err(Error::IllegalOperation));
    let copy = CNodeOp::Copy as usize;
    check_eq!(
        ipc::invoke(CNODE, copy, &[destination, CNODE, endpoint]).map(|_| ()),
        Err(Error::InvalidArgument)
    );
    // Mint's badge is the fifth word, which travels in the IPC buffer.
    let mint = CNodeOp::Mint as usize;
    let words = [destination, CNODE, endpoint, Rights::ALL.0 as usize];
    check_eq!(ipc::invoke(CNODE, mint, &words).map(|_| ()), Err(Error::InvalidArgument));
    check_eq!(ipc::invoke(CNODE, CNodeOp::Delete as usize, &[]).map(|_| ()), Err(Error::InvalidArgument));
    check_eq!(ipc::try_send(destination, &Message::new(0, &[])), Err(Error::InvalidCapability));
    Ok(())
}

fn delete_keeps_children(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let (child, grandchild) = (context.slot(), context.slot());
    ok!(object::copy(CNODE, child, CNODE, endpoint, Rights::ALL));
    ok!(object::copy(CNODE, grandchild, CNODE, child, Rights::ALL));
    ok!(object::delete(CNODE, child));
    check_eq!(ipc::try_send(grandchild, &Message::new(0, &[])), Err(Error::WouldBlock));
    check_eq!(object::revoke(CNODE, endpoint), Ok(1));
    check_eq!(ipc::try_send(grandchild, &Message::new(0, &[])), Err(Error::InvalidCapability));
    Ok(())
}

fn mint_only_badgeable(context: &mut Context) -> Outcome {
    let frame = ok!(context.make(ObjectType::Frame, 0));
    let thread = ok!(context.make(ObjectType::Thread, 0));
    let notification = ok!(context.make(ObjectType::Notification, 0));
    let destination = context.slot();
    check_eq!(object::mint(CNODE, destination, CNODE, thread, Rights::ALL, 5), Err(Error::IllegalOperation));
    ok!(object::copy(CNODE, destination, CNODE, thread, Rights::ALL));
    check_eq!(object::read_registers(destination).map(|registers| registers[0]), Ok(0));
    // A frame has no badge to set: as in seL4, the badge word is ignored and it is copied.
    let frame_copy = context.slot();
    ok!(object::mint(CNODE, frame_copy, CNODE, frame, Rights::READ, 5));
    check_eq!(object::frame_address(frame_copy), object::frame_address(frame));
    let badged = context.slot();
    ok!(object::mint(CNODE, badged, CNODE, notification, Rights::ALL, 0x30));
    ok!(ipc::signal(badged));
    check_eq!(ipc::poll(notification), Ok(0x30));
    Ok(())
}

fn small_cnode(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let small = ok!(context.make(ObjectType::CNode, 4));
    ok!(object::copy(small, 15, CNODE, endpoint, Rights::ALL));
    check_eq!(object::copy(small, 16, CNODE, endpoint, Rights::ALL), Err(Error::InvalidCapability));
    check_eq!(object::copy(small, 0, CNODE, endpoint, Rights::ALL), Err(Error::InvalidCapability));
    // Copy back out of it, then revoke: both copies go.
    let back = context.slot();
    ok!(object::copy(CNODE, back, small, 15, Rights::ALL));
    check_eq!(object::revoke(CNODE, endpoint), Ok(2));
    check_eq!(object::copy(CNODE, back, small, 15, Rights::ALL), Err(Error::InvalidCapability));
    Ok(())
}

fn delete_cnode_contents(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let small = ok!(context.make(ObjectType::CNode, 2));
    ok!(object::copy(small, 1, CNODE, endpoint, Rights::ALL));
    ok!(object::copy(small, 3, CNODE, endpoint, Rights::READ));
    ok!(object::delete(CNODE, small));
    check_eq!(object::revoke(CNODE, endpoint), Ok(0));
    Ok(())
}

fn uncopyable(context: &mut Context) -> Outcome {
    let reply = ok!(context.make(ObjectType::Reply, 0));
    let table = ok!(context.make(ObjectType::PageTable, 0));
    let destination = context.slot();
    check_eq!(object::copy(CNODE, destination, CNODE, reply, Rights::ALL), Err(Error::IllegalOperation));
    check_eq!(object::copy(CNODE, destination, CNODE, table, Rights::ALL), Err(Error::IllegalOperation));
    // Moving them is fine.
    ok!(object::move_capability(CNODE, destination, CNODE, reply));
    check_eq!(ipc::send(destination, &Message::new(0, &[])), Err(Error::NoCaller));
    Ok(())
}
