//! The root task: the first user program. It holds every capability at boot and starts the
//! system described by the manifest in the boot archive (`image/systems/*.toml`), in order:
//! each server gets an Untyped of its memory budget, carved from the free memory, and is
//! built from its program in the boot archive. Then the root task steps back: it waits on
//! the servers' fault endpoint and reports their faults and exits.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use kernel_abi::bootarchive::BootArchive;
use kernel_abi::bootinfo::{BootInfo, slot};
use kernel_abi::{FaultKind, ObjectType, Rights};
use loader::{Spec, Workspace};
use userlib::{ipc, object, println};

userlib::entry!(main);

/// Most servers a manifest may list.
const MAX_SERVERS: usize = 16;
/// A page in the root task's address space to copy through (next to the boot info page,
/// whose page tables the kernel made).
const SCRATCH: usize = kernel_abi::bootinfo::BOOT_INFO_ADDRESS + 0x2000;

/// One line of the manifest: `server <name> <priority> <memory> <devices> <args...>`.
struct ServerLine<'a> {
    name: &'a str,
    priority: usize,
    memory: usize,
    arguments: [&'a str; 8],
    argument_count: usize,
}

fn parse_line(line: &str) -> Option<ServerLine<'_>> {
    let mut words = line.split_ascii_whitespace();
    if words.next()? != "server" {
        return None;
    }
    let name = words.next()?;
    let priority = words.next()?.parse().ok()?;
    let memory = words.next()?.parse().ok()?;
    let _devices = words.next()?;
    let mut arguments = [""; 8];
    let mut argument_count = 0;
    for word in words.take(arguments.len()) {
        arguments[argument_count] = word;
        argument_count += 1;
    }
    Some(ServerLine { name, priority, memory, arguments, argument_count })
}

/// Free slots of the root CNode, from the boot info's first free one.
struct Slots {
    next: usize,
    end: usize,
}

impl Slots {
    fn take(&mut self) -> Option<usize> {
        (self.next < self.end).then(|| {
            self.next += 1;
            self.next - 1
        })
    }
}

/// The largest RAM Untyped.
fn largest_ram(info: &BootInfo) -> Option<usize> {
    (0..info.untyped_count)
        .filter(|&index| info.untyped[index].is_device == 0)
        .max_by_key(|&index| info.untyped[index].size_bits)
        .map(|index| slot::FIRST_UNTYPED + index)
}

fn main() -> i32 {
    let Some(info) = userlib::boot_info() else {
        println!("root: no boot info; the root task must be started by the kernel");
        return 1;
    };
    let Ok(archive) = BootArchive::parse(userlib::boot_archive(info)) else {
        println!("root: the boot archive is unreadable");
        return 1;
    };
    let Some(manifest) = archive.find("manifest").and_then(|entry| core::str::from_utf8(entry.data).ok())
    else {
        println!("root: the boot archive has no manifest");
        return 1;
    };
    if manifest.lines().next() != Some("lattice-manifest 1") {
        println!("root: unknown manifest format");
        return 1;
    }
    let Some(pool) = largest_ram(info) else {
        println!("root: no RAM untyped");
        return 1;
    };
    let mut slots = Slots { next: info.first_free_slot, end: info.cnode_slots };
    let Some(faults) = slots.take() else { return 1 };
    if object::retype(pool, ObjectType::Endpoint, 0, slot::CNODE, faults, 1).is_err() {
        println!("root: cannot make the fault endpoint");
        return 1;
    }

    let mut names = [""; MAX_SERVERS];
    let mut started = 0;
    for line in manifest.lines().skip(1) {
        let Some(server) = parse_line(line) else {
            println!("root: bad manifest line `{line}`");
            return 1;
        };
        if started == MAX_SERVERS {
            println!("root: more than {MAX_SERVERS} servers; the rest are not started");
            break;
        }
        match start_server(&archive, &mut slots, pool, faults, started + 1, &server) {
            Ok(kib) => {
                println!(
                    "root: started {} (priority {}, {} KiB of {} KiB budget)",
                    server.name,
                    server.priority,
                    kib,
                    server.memory >> 10
                );
                names[started] = server.name;
                started += 1;
            }
            Err(message) => println!("root: cannot start {}: {message}", server.name),
        }
    }

    // Step back: report what happens to the servers.
    let mut running = started;
    while running > 0 {
        let Ok((message, badge)) = ipc::receive(faults, 0) else { break };
        let name = names.get(badge.wrapping_sub(1)).copied().unwrap_or("?");
        match FaultKind::from_word(message.word(0)) {
            Some(FaultKind::Exited) => println!("root: {name} exited with status {}", message.word(4)),
            Some(kind) => println!(
                "root: {name} faulted: {} at {:#x}, pc {:#x}",
                kind.describe(),
                message.word(2),
                message.word(1)
            ),
            None => println!("root: unexpected message from {name}"),
        }
        running -= 1;
    }
    println!("root: every server has ended; nothing left to run");
    0
}

/// Builds and starts one server from its program in the archive; returns the KiB used.
fn start_server(
    archive: &BootArchive<'_>,
    slots: &mut Slots,
    pool: usize,
    faults: usize,
    badge: usize,
    server: &ServerLine<'_>,
) -> Result<usize, &'static str> {
    let elf = archive.find(server.name).ok_or("not in the boot archive")?.data;
    // Its own Untyped of the budget (rounded up to a power of two).
    let bits = usize::try_from(server.memory.max(4096).next_power_of_two().trailing_zeros()).unwrap_or(12);
    let untyped = slots.take().ok_or("no free slot")?;
    object::retype(pool, ObjectType::Untyped, bits, slot::CNODE, untyped, 1)
        .map_err(|_| "not enough memory")?;
    let fault_endpoint = slots.take().ok_or("no free slot")?;
    object::mint(slot::CNODE, fault_endpoint, slot::CNODE, faults, Rights::WRITE, badge)
        .map_err(|_| "mint")?;
    let mut take = || slots.take();
    let mut workspace = Workspace {
        untyped,
        cnode: slot::CNODE,
        next_slot: &mut take,
        address_space: slot::ADDRESS_SPACE,
        scratch: SCRATCH,
    };
    let spec = Spec {
        name: server.name,
        elf,
        arguments: &server.arguments[..server.argument_count],
        environment: &[],
        priority: server.priority,
        cnode_radix: 8,
        stack_pages: 16,
        heap_pages: 16,
        fault_endpoint,
        grants: &[],
    };
    let process = loader::build(&mut workspace, &spec).map_err(|error| match error {
        loader::BuildError::Elf(_) => "not a valid program",
        loader::BuildError::Kernel(_) => "not enough memory",
        loader::BuildError::StartInfoTooLarge => "arguments too long",
        loader::BuildError::NoSlots => "no free slots",
    })?;
    loader::start(&process).map_err(|_| "cannot start its thread")?;
    Ok(process.pages * 4)
}
