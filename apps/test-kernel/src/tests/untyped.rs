//! Untyped memory: retype, its limits, and revoke making memory reusable.

use kernel_abi::bootinfo::slot;
use kernel_abi::invocation::UntypedOp;
use kernel_abi::{Error, ObjectType, Rights};
use userlib::ipc::{self, Message};
use userlib::object;

use crate::context::{CNODE, Context, Outcome, Test};
use crate::{check, check_eq, ok};

/// The Untyped tests.
pub const ALL: &[Test] = &[
    Test { id: "UNTYPED0001", about: "every object type can be retyped from RAM untyped", run: every_type },
    Test { id: "UNTYPED0002", about: "an unknown object type is an invalid argument", run: unknown_type },
    Test {
        id: "UNTYPED0003",
        about: "retyping into an occupied slot needs the slot emptied first",
        run: occupied,
    },
    Test {
        id: "UNTYPED0004",
        about: "a small untyped runs out with NotEnoughMemory, and revoke makes it whole again",
        run: exhaust_and_revoke,
    },
    Test {
        id: "UNTYPED0005",
        about: "a retype makes 1 to 256 objects; a count of 0 or 257 is a RangeError",
        run: count_range,
    },
    Test {
        id: "UNTYPED0006",
        about: "sizes out of range (CNode radix 0 or 17, Untyped of 2^37) are RangeErrors; more than the untyped holds is NotEnoughMemory",
        run: size_range,
    },
    Test {
        id: "UNTYPED0007",
        about: "destination slots must exist and be empty; a refused retype makes nothing",
        run: destination_range,
    },
    Test {
        id: "UNTYPED0008",
        about: "an Untyped cannot be copied or minted, but can be moved and still retypes",
        run: copy_refused,
    },
    Test {
        id: "UNTYPED0009",
        about: "boot info lists device untyped; they make frames at their own address but no kernel objects",
        run: device_untyped,
    },
    Test {
        id: "UNTYPED0010",
        about: "objects are placed at the first free aligned address, and revoke hands the same memory out again",
        run: placement_and_reuse,
    },
    Test {
        id: "UNTYPED0011",
        about: "an unknown Untyped operation is IllegalOperation; a retype with missing words is InvalidArgument",
        run: bad_invocation,
    },
    Test {
        id: "UNTYPED0012",
        about: "deleting every object made from an untyped (without revoke) lets it start again from its base",
        run: delete_children_resets,
    },
    Test {
        id: "UNTYPED0013",
        about: "revoking an untyped destroys objects made from untyped carved out of it",
        run: revoke_grandchildren,
    },
    Test {
        id: "UNTYPED0014",
        about: "the destination CNode must be a CNode capability (0 and out-of-range addresses are invalid)",
        run: destination_cnode,
    },
];

fn every_type(context: &mut Context) -> Outcome {
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
        (ObjectType::Timer, 0),
    ] {
        ok!(context.make(object_type, size_bits));
    }
    Ok(())
}

fn unknown_type(context: &mut Context) -> Outcome {
    let slot = context.slot();
    check_eq!(object::retype(context.pool, ObjectType::Untyped, 3, CNODE, slot, 1), Err(Error::RangeError));
    let raw = ipc::invoke(context.pool, UntypedOp::Retype as usize, &[99, 0, CNODE, slot, 1]).map(|_| ());
    check_eq!(raw, Err(Error::InvalidArgument));
    Ok(())
}

fn occupied(context: &mut Context) -> Outcome {
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    check_eq!(
        object::retype(context.pool, ObjectType::Endpoint, 0, CNODE, endpoint, 1),
        Err(Error::DeleteFirst)
    );
    Ok(())
}

fn exhaust_and_revoke(context: &mut Context) -> Outcome {
    let small = ok!(context.make(ObjectType::Untyped, 12));
    let first = context.slots(64);
    // 4 KiB holds 64 endpoints of 64 bytes.
    ok!(object::retype(small, ObjectType::Endpoint, 0, CNODE, first, 64));
    let extra = context.slot();
    check_eq!(object::retype(small, ObjectType::Endpoint, 0, CNODE, extra, 1), Err(Error::NotEnoughMemory));
    check_eq!(object::revoke(CNODE, small), Ok(64));
    ok!(object::retype(small, ObjectType::Endpoint, 0, CNODE, first, 64));
    Ok(())
}

fn count_range(context: &mut Context) -> Outcome {
    let first = context.slots(256);
    let pool = context.pool;
    check_eq!(object::retype(pool, ObjectType::Endpoint, 0, CNODE, first, 0), Err(Error::RangeError));
    check_eq!(object::retype(pool, ObjectType::Endpoint, 0, CNODE, first, 257), Err(Error::RangeError));
    ok!(object::retype(pool, ObjectType::Endpoint, 0, CNODE, first, 256));
    // The last of them is a live endpoint; the slot after them stayed empty.
    check_eq!(ipc::try_send(first + 255, &Message::new(0, &[])), Err(Error::WouldBlock));
    let after = context.slot();
    check_eq!(ipc::try_send(after, &Message::new(0, &[])), Err(Error::InvalidCapability));
    Ok(())
}

fn size_range(context: &mut Context) -> Outcome {
    let slot = context.slot();
    let pool = context.pool;
    check_eq!(object::retype(pool, ObjectType::CNode, 0, CNODE, slot, 1), Err(Error::RangeError));
    check_eq!(object::retype(pool, ObjectType::CNode, 17, CNODE, slot, 1), Err(Error::RangeError));
    check_eq!(object::retype(pool, ObjectType::Untyped, 37, CNODE, slot, 1), Err(Error::RangeError));
    check_eq!(
        object::retype(pool, ObjectType::Untyped, context.pool_bits + 1, CNODE, slot, 1),
        Err(Error::NotEnoughMemory)
    );
    // None of the refusals filled the slot.
    ok!(object::retype(pool, ObjectType::CNode, 16, CNODE, slot, 1));
    Ok(())
}

fn destination_range(context: &mut Context) -> Outcome {
    let pool = context.pool;
    let last = context.info.cnode_slots - 1;
    check_eq!(object::retype(pool, ObjectType::Endpoint, 0, CNODE, 0, 1), Err(Error::RangeError));
    check_eq!(object::retype(pool, ObjectType::Endpoint, 0, CNODE, last + 1, 1), Err(Error::RangeError));
    check_eq!(object::retype(pool, ObjectType::Endpoint, 0, CNODE, last, 2), Err(Error::RangeError));
    check_eq!(object::retype(pool, ObjectType::Endpoint, 0, CNODE, usize::MAX, 2), Err(Error::RangeError));
    // A run with an occupied slot in the middle is refused as a whole.
    let first = context.slots(3);
    ok!(object::retype(pool, ObjectType::Notification, 0, CNODE, first + 1, 1));
    check_eq!(object::retype(pool, ObjectType::Endpoint, 0, CNODE, first, 3), Err(Error::DeleteFirst));
    check_eq!(ipc::try_send(first, &Message::new(0, &[])), Err(Error::InvalidCapability));
    check_eq!(ipc::poll(first + 1), Ok(0));
    // The last slot of the CNode is usable.
    ok!(object::retype(pool, ObjectType::Endpoint, 0, CNODE, last, 1));
    check_eq!(ipc::try_send(last, &Message::new(0, &[])), Err(Error::WouldBlock));
    ok!(object::delete(CNODE, last));
    Ok(())
}

fn copy_refused(context: &mut Context) -> Outcome {
    let small = ok!(context.make(ObjectType::Untyped, 16));
    let copy = context.slot();
    check_eq!(object::copy(CNODE, copy, CNODE, small, Rights::ALL), Err(Error::IllegalOperation));
    check_eq!(object::mint(CNODE, copy, CNODE, small, Rights::ALL, 1), Err(Error::IllegalOperation));
    ok!(object::move_capability(CNODE, copy, CNODE, small));
    let endpoint = context.slot();
    check_eq!(
        object::retype(small, ObjectType::Endpoint, 0, CNODE, endpoint, 1),
        Err(Error::InvalidCapability)
    );
    ok!(object::retype(copy, ObjectType::Endpoint, 0, CNODE, endpoint, 1));
    // The moved untyped is still the pool's child: revoking the pool reaches its objects.
    check!(ok!(object::revoke(CNODE, context.pool)) >= 2);
    check_eq!(ipc::try_send(endpoint, &Message::new(0, &[])), Err(Error::InvalidCapability));
    Ok(())
}

fn device_untyped(context: &mut Context) -> Outcome {
    let info = context.info;
    let Some(index) = (0..info.untyped_count).find(|&index| info.untyped[index].is_device == 1) else {
        check!(false);
        return Ok(());
    };
    let descriptor = info.untyped[index];
    let device = slot::FIRST_UNTYPED + index;
    let target = context.slot();
    for object_type in [ObjectType::Endpoint, ObjectType::CNode, ObjectType::Thread, ObjectType::PageTable] {
        check_eq!(object::retype(device, object_type, 4, CNODE, target, 1), Err(Error::IllegalOperation));
    }
    ok!(object::retype(device, ObjectType::Frame, 0, CNODE, target, 1));
    check_eq!(object::frame_address(target), Ok(descriptor.physical_address));
    // Device untyped are not in the pool: give the memory back explicitly.
    check_eq!(object::revoke(CNODE, device), Ok(1));
    Ok(())
}

fn placement_and_reuse(context: &mut Context) -> Outcome {
    let small = ok!(context.make(ObjectType::Untyped, 16));
    let first = context.slots(3);
    ok!(object::retype(small, ObjectType::Frame, 0, CNODE, first, 1));
    let base = ok!(object::frame_address(first));
    check_eq!(base % 0x1_0000, 0);
    ok!(object::retype(small, ObjectType::Endpoint, 0, CNODE, first + 1, 1));
    // The endpoint took 64 bytes after the frame; the next frame starts at the next page.
    ok!(object::retype(small, ObjectType::Frame, 0, CNODE, first + 2, 1));
    check_eq!(object::frame_address(first + 2), Ok(base + 0x2000));
    check_eq!(object::revoke(CNODE, small), Ok(3));
    ok!(object::retype(small, ObjectType::Frame, 0, CNODE, first, 1));
    check_eq!(object::frame_address(first), Ok(base));
    // A large frame is aligned to 2 MiB, wherever the untyped's free memory starts.
    let large = context.slot();
    ok!(object::retype(context.pool, ObjectType::LargeFrame, 0, CNODE, large, 1));
    check_eq!(ok!(object::frame_address(large)) % (2 << 20), 0);
    Ok(())
}

fn bad_invocation(context: &mut Context) -> Outcome {
    let slot = context.slot();
    let words = [ObjectType::Endpoint as usize, 0, CNODE, slot, 1];
    check_eq!(ipc::invoke(context.pool, 2, &words).map(|_| ()), Err(Error::IllegalOperation));
    check_eq!(ipc::invoke(context.pool, 0, &words).map(|_| ()), Err(Error::IllegalOperation));
    check_eq!(
        ipc::invoke(context.pool, UntypedOp::Retype as usize, &words[..4]).map(|_| ()),
        Err(Error::InvalidArgument)
    );
    check_eq!(ipc::try_send(slot, &Message::new(0, &[])), Err(Error::InvalidCapability));
    Ok(())
}

fn delete_children_resets(context: &mut Context) -> Outcome {
    let small = ok!(context.make(ObjectType::Untyped, 14));
    let first = context.slots(2);
    ok!(object::retype(small, ObjectType::Frame, 0, CNODE, first, 2));
    let base = ok!(object::frame_address(first));
    check_eq!(object::frame_address(first + 1), Ok(base + 0x1000));
    ok!(object::delete(CNODE, first + 1));
    // One child is left: the next frame goes after the watermark, not into the hole.
    let next = context.slot();
    ok!(object::retype(small, ObjectType::Frame, 0, CNODE, next, 1));
    check_eq!(object::frame_address(next), Ok(base + 0x2000));
    ok!(object::delete(CNODE, first));
    ok!(object::delete(CNODE, next));
    ok!(object::retype(small, ObjectType::Frame, 0, CNODE, first, 1));
    check_eq!(object::frame_address(first), Ok(base));
    Ok(())
}

fn revoke_grandchildren(context: &mut Context) -> Outcome {
    let middle = ok!(context.make(ObjectType::Untyped, 18));
    let inner = context.slot();
    ok!(object::retype(middle, ObjectType::Untyped, 16, CNODE, inner, 1));
    let endpoint = context.slot();
    ok!(object::retype(inner, ObjectType::Endpoint, 0, CNODE, endpoint, 1));
    check_eq!(ipc::try_send(endpoint, &Message::new(0, &[])), Err(Error::WouldBlock));
    check_eq!(object::revoke(CNODE, middle), Ok(2));
    check_eq!(ipc::try_send(endpoint, &Message::new(0, &[])), Err(Error::InvalidCapability));
    check_eq!(object::revoke(CNODE, inner), Err(Error::InvalidCapability));
    ok!(object::retype(middle, ObjectType::Untyped, 18, CNODE, inner, 1));
    Ok(())
}

fn destination_cnode(context: &mut Context) -> Outcome {
    let pool = context.pool;
    let target = context.slot();
    let endpoint = ok!(context.make(ObjectType::Endpoint, 0));
    let empty = context.slot();
    let beyond = context.info.cnode_slots;
    check_eq!(object::retype(pool, ObjectType::Endpoint, 0, 0, target, 1), Err(Error::InvalidCapability));
    check_eq!(
        object::retype(pool, ObjectType::Endpoint, 0, beyond, target, 1),
        Err(Error::InvalidCapability)
    );
    check_eq!(
        object::retype(pool, ObjectType::Endpoint, 0, endpoint, target, 1),
        Err(Error::IllegalOperation)
    );
    // An empty slot names no capability at all.
    check_eq!(object::retype(pool, ObjectType::Endpoint, 0, empty, target, 1), Err(Error::InvalidCapability));
    // Into a CNode of 16 slots: 15 is the last.
    let small = ok!(context.make(ObjectType::CNode, 4));
    check_eq!(object::retype(pool, ObjectType::Endpoint, 0, small, 16, 1), Err(Error::RangeError));
    ok!(object::retype(pool, ObjectType::Endpoint, 0, small, 15, 1));
    Ok(())
}
