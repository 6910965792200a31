//! The root task: the first user program. It holds every capability at boot and starts the
//! system described by the manifest in the boot archive (`image/systems/*.toml`), in order:
//! each server gets an Untyped of its memory budget, carved from the free memory, and is
//! built from its program in the boot archive. Then the root task steps back: it waits on
//! the servers' fault endpoint and reports their faults and exits, and exits itself (powering
//! the machine off) once every program, a server that provides no service, has ended.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use kernel_abi::bootarchive::{BootArchive, writer};
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

/// Where the root task's heap goes, and its size (one 2 MiB page).
const HEAP_ADDRESS: usize = 0x3c_0000_0000;
const HEAP_BYTES: usize = 2 << 20;

/// Most services a server uses, and devices it drives (the manifest checker's limits).
const MAX_USES: usize = 16;
const MAX_DEVICES: usize = 4;

/// One device a server drives: name, register page, interrupt.
#[derive(Clone, Copy, Default)]
struct Device<'a> {
    name: &'a str,
    address: usize,
    irq: usize,
}

/// One line of the manifest (format 2, written by `image/src/manifest.rs`):
/// `server <name> <priority> <memory> <provides|-> <uses,..|-> <device@address:irq,..|-> <flags|-> <args..>`.
#[derive(Clone, Copy, Default)]
struct ServerLine<'a> {
    name: &'a str,
    priority: usize,
    memory: usize,
    provides: Option<&'a str>,
    uses: [&'a str; MAX_USES],
    use_count: usize,
    devices: [Device<'a>; MAX_DEVICES],
    device_count: usize,
    arguments: [&'a str; 8],
    argument_count: usize,
    boot_archive: bool,
    /// Heap bytes (0: the default).
    heap: usize,
    /// Boot archive entries it gets an archive of (instead of the whole archive).
    entries: &'a str,
    /// Whether it gets the scheduling control capability.
    sched_control: bool,
}

/// Heap pages of a server whose manifest entry names none.
const DEFAULT_HEAP_PAGES: usize = 64;

fn list(word: &str) -> impl Iterator<Item = &str> {
    word.split(',').filter(move |item| !item.is_empty() && word != "-")
}

fn parse_line(line: &str) -> Option<ServerLine<'_>> {
    let mut words = line.split_ascii_whitespace();
    if words.next()? != "server" {
        return None;
    }
    let mut server = ServerLine {
        name: words.next()?,
        priority: words.next()?.parse().ok()?,
        memory: words.next()?.parse().ok()?,
        ..ServerLine::default()
    };
    server.provides = Some(words.next()?).filter(|word| *word != "-");
    for service in list(words.next()?) {
        *server.uses.get_mut(server.use_count)? = service;
        server.use_count += 1;
    }
    for device in list(words.next()?) {
        let (name, rest) = device.split_once('@')?;
        let (address, irq) = rest.split_once(':')?;
        let address = usize::from_str_radix(address.strip_prefix("0x")?, 16).ok()?;
        *server.devices.get_mut(server.device_count)? = Device { name, address, irq: irq.parse().ok()? };
        server.device_count += 1;
    }
    for flag in list(words.next()?) {
        match flag.split_once('=') {
            None if flag == "archive" => server.boot_archive = true,
            None if flag == "sched" => server.sched_control = true,
            Some(("heap", bytes)) => server.heap = bytes.parse().ok()?,
            Some(("entries", names)) => server.entries = names,
            _ => return None,
        }
    }
    for word in words.take(server.arguments.len()) {
        server.arguments[server.argument_count] = word;
        server.argument_count += 1;
    }
    Some(server)
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
    if manifest.lines().next() != Some("lattice-manifest 3") {
        println!("root: unknown manifest format");
        return 1;
    }
    let Some(pool) = largest_ram(info) else {
        println!("root: no RAM untyped");
        return 1;
    };
    let mut slots = Slots { next: info.first_free_slot, end: info.cnode_slots };
    // A heap, for packing the boot archives of servers that get a few entries of it.
    let heap = userlib::heap::UntypedHeap {
        untyped: pool,
        cnode: slot::CNODE,
        next_slot: &mut slots.next,
        address_space: slot::ADDRESS_SPACE,
        address: HEAP_ADDRESS,
        size: HEAP_BYTES,
    };
    if let Err(error) = userlib::heap::init_from_untyped(heap) {
        println!("root: cannot make its heap: {error:?}");
        return 1;
    }
    let Some(faults) = slots.take() else { return 1 };
    if object::retype(pool, ObjectType::Endpoint, 0, slot::CNODE, faults, 1).is_err() {
        println!("root: cannot make the fault endpoint");
        return 1;
    }

    let mut servers = [ServerLine::default(); MAX_SERVERS];
    let mut count = 0;
    for line in manifest.lines().skip(1) {
        let Some(server) = parse_line(line) else {
            println!("root: bad manifest line `{line}`");
            return 1;
        };
        if count == MAX_SERVERS {
            println!("root: more than {MAX_SERVERS} servers; the rest are not started");
            break;
        }
        servers[count] = server;
        count += 1;
    }
    let servers = &servers[..count];
    // Every service's endpoint exists before any server starts, so that a server can be
    // given an endpoint to a service whose server starts after it.
    let mut services = [("", 0usize); MAX_SERVERS];
    for (index, server) in servers.iter().enumerate() {
        if let Some(service) = server.provides {
            let Some(endpoint) = slots.take() else { return 1 };
            if object::retype(pool, ObjectType::Endpoint, 0, slot::CNODE, endpoint, 1).is_err() {
                println!("root: cannot make the endpoint of {service}");
                return 1;
            }
            services[index] = (service, endpoint);
        }
    }

    let mut names = [""; MAX_SERVERS];
    let mut started = 0;
    let mut world = World { info, archive: &archive, faults, services: &services };
    for (index, server) in servers.iter().enumerate() {
        match start_server(&mut world, &mut slots, index + 1, server) {
            Ok(kib) => {
                println!(
                    "root: started {} (priority {}, {} KiB image, {} KiB budget)",
                    server.name,
                    server.priority,
                    kib,
                    server.memory >> 10
                );
                names[index] = server.name;
                started += 1;
            }
            Err(message) => println!("root: cannot start {}: {message}", server.name),
        }
    }
    // The archive's pages, their mappings and every server's image and heap each take a
    // slot of this CNode: what is left is the headroom for a larger system (CAVEATS.md).
    println!("root: {} of {} capability slots left", slots.end - slots.next, slots.end);

    // Step back: report what happens to the servers. A server that provides a service
    // serves for ever; the system has done its work when its programs (the servers that
    // provide none) have ended, and the root task then exits, which powers the machine
    // off. A system of services alone runs until every one has ended.
    let is_program = |index: usize| servers.get(index).is_some_and(|server| server.provides.is_none());
    let programs = (0..servers.len()).filter(|&index| !names[index].is_empty() && is_program(index)).count();
    let mut running = if programs > 0 { programs } else { started };
    while running > 0 {
        let Ok((message, badge)) = ipc::receive(faults, 0) else { break };
        let name = names.get(badge.wrapping_sub(1)).copied().unwrap_or("?");
        if programs == 0 || is_program(badge.wrapping_sub(1)) {
            running -= 1;
        }
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
    }
    if programs > 0 {
        println!("root: every program has ended; stopping the system");
    } else {
        println!("root: every server has ended; nothing left to run");
    }
    0
}

/// What starting servers needs from the root task.
struct World<'a> {
    info: &'a BootInfo,
    archive: &'a BootArchive<'a>,
    faults: usize,
    services: &'a [(&'a str, usize)],
}

/// A power-of-two Untyped of at least `bytes`, in a new slot: from the first RAM Untyped
/// (in boot info order) with room for it.
fn carve(world: &World<'_>, slots: &mut Slots, bytes: usize) -> Result<usize, &'static str> {
    let bits = usize::try_from(bytes.max(4096).next_power_of_two().trailing_zeros()).unwrap_or(12);
    let untyped = slots.take().ok_or("no free slot")?;
    let info = world.info;
    let fits = (0..info.untyped_count)
        .filter(|&index| info.untyped[index].is_device == 0 && info.untyped[index].size_bits >= bits)
        .map(|index| slot::FIRST_UNTYPED + index)
        .any(|source| object::retype(source, ObjectType::Untyped, bits, slot::CNODE, untyped, 1).is_ok());
    if fits { Ok(untyped) } else { Err("not enough memory") }
}

/// Builds and starts one server from its program in the archive, with the capabilities of
/// `loader::server_slots`; returns the KiB its image, stack and heap took.
fn start_server(
    world: &mut World<'_>,
    slots: &mut Slots,
    badge: usize,
    server: &ServerLine<'_>,
) -> Result<usize, &'static str> {
    use loader::server_slots as at;
    let elf = world.archive.find(server.name).ok_or("not in the boot archive")?.data;
    // A server that needs a few entries gets an archive of its own with just those.
    let own_archive = if server.entries.is_empty() {
        None
    } else {
        let mut entries = alloc::vec::Vec::new();
        for name in server.entries.split('+') {
            let entry = world.archive.find(name).ok_or("a boot entry it needs is not in the archive")?;
            entries.push((name, entry.data));
        }
        Some(writer::build(&entries).map_err(|_| "cannot pack its boot entries")?)
    };
    // The whole archive is shared (its pages mapped, not copied): only page tables.
    let archive_bytes = own_archive.as_ref().map_or(0, alloc::vec::Vec::len);
    let heap_pages = if server.heap == 0 { DEFAULT_HEAP_PAGES } else { server.heap.div_ceil(4096) };
    let build = carve(world, slots, (2 << 20) + archive_bytes + heap_pages * 4096)?;
    let fault_endpoint = slots.take().ok_or("no free slot")?;
    object::mint(slot::CNODE, fault_endpoint, slot::CNODE, world.faults, Rights::WRITE, badge)
        .map_err(|_| "mint")?;
    let mut take = || slots.take();
    let mut workspace = Workspace {
        untyped: build,
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
        cnode_radix: 12,
        stack_pages: 16,
        heap_pages,
        resident: loader::Resident::All,
        fault_endpoint,
        grants: &[],
        services: &server.uses[..server.use_count],
    };
    let process = loader::build(&mut workspace, &spec).map_err(|error| match error {
        loader::BuildError::Elf(_) => "not a valid program",
        loader::BuildError::Kernel(_) => "not enough memory",
        loader::BuildError::StartInfoTooLarge => "arguments too long",
        loader::BuildError::NoSlots => "no free slots",
    })?;
    if server.boot_archive || own_archive.is_some() {
        let mut take = || slots.take();
        let mut workspace = Workspace {
            untyped: build,
            cnode: slot::CNODE,
            next_slot: &mut take,
            address_space: slot::ADDRESS_SPACE,
            scratch: SCRATCH,
        };
        let address = kernel_abi::bootinfo::BOOT_ARCHIVE_ADDRESS;
        let given = match &own_archive {
            Some(archive) => loader::map_copy(&mut workspace, process.address_space, address, archive),
            None => {
                let first = world.info.first_archive_frame;
                let frames = first..first + world.info.archive_frames;
                loader::map_shared(&mut workspace, process.address_space, address, frames)
            }
        };
        given.map_err(|_| "cannot give it the boot archive")?;
    }
    let child = process.cnode;
    let copy = |index: usize, source: usize| {
        object::copy(child, index, slot::CNODE, source, Rights::ALL)
            .map_err(|_| "cannot give it a capability")
    };
    copy(at::CNODE, process.cnode)?;
    copy(at::THREAD, process.thread)?;
    if server.sched_control {
        copy(at::SCHED_CONTROL, slot::SCHED_CONTROL)?;
    }
    // Its budget: an Untyped moved to it (Untyped cannot be copied).
    let memory = carve(world, slots, server.memory)?;
    object::move_capability(child, at::MEMORY, slot::CNODE, memory).map_err(|_| "cannot give it memory")?;
    if let Some(service) = server.provides {
        let endpoint = world
            .services
            .iter()
            .find(|(name, _)| *name == service)
            .map(|(_, slot)| *slot)
            .ok_or("no endpoint")?;
        copy(at::SERVICE, endpoint)?;
    }
    for (index, service) in server.uses[..server.use_count].iter().enumerate() {
        let endpoint = world
            .services
            .iter()
            .find(|(name, _)| name == service)
            .map(|(_, slot)| *slot)
            .ok_or("unknown service")?;
        object::mint(
            child,
            at::FIRST_CLIENT + index,
            slot::CNODE,
            endpoint,
            Rights::WRITE | Rights::GRANT,
            badge,
        )
        .map_err(|_| "cannot give it a service")?;
    }
    for (index, device) in server.devices[..server.device_count].iter().enumerate() {
        let registers = (0..world.info.untyped_count)
            .find(|&i| {
                world.info.untyped[i].is_device != 0
                    && world.info.untyped[i].physical_address == device.address
            })
            .map(|i| slot::FIRST_UNTYPED + i)
            .ok_or("a device it drives has no device memory")?;
        object::move_capability(child, at::DEVICE_MEMORY + 2 * index, slot::CNODE, registers)
            .map_err(|_| "its device is already taken")?;
        let handler = slots.take().ok_or("no free slot")?;
        object::irq_handler(slot::IRQ_CONTROL, device.irq, slot::CNODE, handler)
            .map_err(|_| "its interrupt is taken")?;
        object::move_capability(child, at::DEVICE_IRQ + 2 * index, slot::CNODE, handler)
            .map_err(|_| "interrupt")?;
        let _ = device.name;
    }
    loader::start(&process).map_err(|_| "cannot start its thread")?;
    Ok(process.pages * 4)
}
