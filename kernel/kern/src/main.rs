//! The Lattice microkernel.
//!
//! Boot: `arch::riscv64::entry` turns paging on and calls [`kernel_main`], which reads the
//! device tree, reports the machine, builds the kernel page table, makes the boot programs
//! from the boot archive (the first is the root task), hands every remaining frame to the
//! root task as Untyped capabilities, and enters it. From then on the kernel runs only on
//! traps: [`trap_from_user`] handles one and returns the thread to resume.
//!
//! Invariants: the kernel runs on one hart with interrupts disabled and is never preempted;
//! it allocates memory only during boot (every later object is retyped from Untyped memory
//! that user level holds); a user program can make it return an error or stop that program,
//! never panic.
#![no_std]
#![no_main]

mod arch;
mod boot;
mod cell;
mod console;
mod fastpath;
mod invariants;
mod ipc;
mod loader;
mod memory;
mod object;
mod power;
mod scheduler;
mod syscall;

use core::fmt::Write as _;

use kernel_abi::bootarchive::BootArchive;
use kernel_abi::syscall::FAULT_MESSAGE_WORDS;
use kernel_abi::{FaultKind, exit_status};
use kernel_core::board::{BoardInfo, Region};
use kernel_core::capability::Capability;
use kernel_core::frames::FrameAllocator;

use arch::riscv64::{csr, trap};
use cell::KernelCell;
use object::ObjectRef;
use object::thread::{self, FAULT_ENDPOINT_SLOT, Pending, Thread};
use object::vspace::AsidTable;
use scheduler::Scheduler;

/// The kernel's version, printed in the banner.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The boot archive, packed by `cargo xtask build` (see build.rs).
/// Page aligned (and padded to whole pages), so the kernel can map exactly the archive's
/// pages into the root task.
#[repr(C, align(4096))]
struct Aligned<T: ?Sized>(T);
static BOOT_ARCHIVE: &Aligned<[u8]> = &Aligned(*include_bytes!(env!("LATTICE_BOOT_ARCHIVE_PATH")));

/// All kernel state that is not in kernel objects. (`repr(C)`: the scheduler, which the
/// IPC fastpath uses, comes first.)
#[repr(C)]
pub struct Kernel {
    /// Ready queues and the running thread.
    pub scheduler: Scheduler,
    /// Address-space ids.
    pub asids: AsidTable,
    /// Dead CNodes and threads waiting to have their slots emptied.
    pub zombies: usize,
    /// The kernel page table, whose upper half every address space shares.
    pub kernel_root: usize,
    /// The root task's thread: its exit or fault ends the system.
    root_thread: usize,
    /// The interrupt controller and IRQ handlers.
    pub interrupts: object::irq::Interrupts,
    /// The armed timers, earliest first.
    pub timers: kernel_core::deadlines::DeadlineList,
    /// Instructions retired while no thread could run, since boot (`IdleInstructions`).
    pub idle_instructions: usize,
}

static KERNEL: KernelCell<Kernel> = KernelCell::new(Kernel {
    scheduler: Scheduler::new(10_000_000),
    asids: AsidTable::new(),
    zombies: 0,
    kernel_root: 0,
    root_thread: 0,
    interrupts: object::irq::Interrupts::new(),
    timers: kernel_core::deadlines::DeadlineList::new(),
    idle_instructions: 0,
});

impl Kernel {
    /// Ends `thread` with `status`: an exit message to its fault endpoint if it has one,
    /// otherwise a report; the root task's exit powers the machine off.
    pub fn exit_thread(&mut self, thread: ObjectRef<Thread>, status: usize) {
        // SAFETY: live: the thread that called exit; exclusive: one read.
        let pc = unsafe { thread.get() }.frame.pc;
        self.stop_thread(thread, [FaultKind::Exited as usize, pc, 0, 0, status]);
    }

    /// Reports a fault of `thread` and stops it.
    fn fault_thread(&mut self, thread: ObjectRef<Thread>, kind: FaultKind, cause: usize) {
        // SAFETY: live: the thread that trapped; exclusive: one read.
        let pc = unsafe { thread.get() }.frame.pc;
        self.stop_thread(thread, [kind as usize, pc, csr::read_stval(), cause, 0]);
    }

    /// Stops `thread` with the fault (or exit) message `words`: delivered to its fault
    /// endpoint, or reported on the console when it has none.
    fn stop_thread(&mut self, thread: ObjectRef<Thread>, words: [usize; FAULT_MESSAGE_WORDS]) {
        // SAFETY: live: the thread that trapped or exited; exclusive: one read.
        let fault_endpoint = unsafe { thread.get() }.capability(FAULT_ENDPOINT_SLOT);
        if let Capability::Endpoint { object, badge, .. } = fault_endpoint {
            thread::stop(self, thread);
            // SAFETY: as above; `stop` has returned.
            unsafe { thread.get() }.pending = Pending::Fault { badge, words };
            object::endpoint::send_fault(self, ObjectRef::new(object), thread);
            return;
        }
        // SAFETY: as above; the reports below only read the name, and call nothing that
        // touches the thread until `stop`.
        let tcb = unsafe { thread.get() };
        let kind = FaultKind::from_word(words[0]).unwrap_or(FaultKind::IllegalInstruction);
        if kind == FaultKind::Exited {
            kprintln!("[kernel] {} exited with status {}", tcb.name(), words[4]);
        } else {
            let mut report = console::Console;
            let _ = write!(report, "[kernel] fault: {}: {} ", tcb.name(), kind.describe());
            if kind.has_address() {
                let _ = write!(report, "at {:#x}", words[2]);
            } else {
                let _ = write!(report, "(instruction {:#x})", words[2]);
            }
            kprintln!(", pc {:#x}, scause {}; thread stopped", words[1], words[3]);
        }
        thread::stop(self, thread);
        if thread.address() == self.root_thread {
            if kind == FaultKind::Exited {
                kprintln!("[kernel] root task exited; powering off");
                power::shutdown(u16::try_from(words[4]).unwrap_or(u16::MAX));
            }
            kprintln!("[kernel] the root task is gone; powering off");
            power::shutdown(exit_status::ROOT_TASK_FAULTED);
        }
    }

    /// Handles one trap from the running thread; returns the frame of the thread to resume.
    /// The general trap handler (kept out of line, so that the fastpath does not pay for
    /// its stack frame).
    #[inline(never)]
    fn handle_trap(&mut self) -> *mut trap::TrapFrame {
        let cause = csr::read_scause();
        let is_interrupt = cause >> 63 != 0;
        let code = cause & !(1 << 63);
        let current = self.scheduler.current().expect("trap from user mode with no current thread");
        if is_interrupt {
            match code {
                5 => {
                    let now = csr::read_time() as u64;
                    self.scheduler.account(now);
                    self.timer_interrupt(now);
                }
                9 => object::irq::handle(self),
                other => kprintln!("[kernel] unexpected interrupt {other} ignored"),
            }
        } else if code == 8 {
            syscall::handle(self, current);
        } else if code == 2 && self.scheduler.fpu_trap(current) {
            // First FP instruction since the thread got the processor: retried now.
        } else {
            let kind = FaultKind::from_exception_code(code).unwrap_or(FaultKind::IllegalInstruction);
            self.fault_thread(current, kind, code);
        }
        self.schedule()
    }

    /// The SBI timer fired: the scheduler's tick and refills, the user timers due by `now`,
    /// then the SBI timer is set for the next of all of them (the running thread may go on
    /// without a reschedule that would set it). Out of line, so that the syscall path
    /// through `handle_trap` does not pay for its registers.
    #[inline(never)]
    fn timer_interrupt(&mut self, now: u64) {
        self.scheduler.timer_interrupt(now);
        object::timer::expire(self, now);
        self.scheduler.program_next_event();
    }

    /// The frame of the next thread to run; while none can run, waits for interrupts (taken
    /// by polling `sip`: the kernel keeps them disabled) and handles them.
    /// The instructions from the first time nothing could run to the moment a thread can
    /// again count as idle (`IdleInstructions`).
    fn schedule(&mut self) -> *mut trap::TrapFrame {
        let mut idle_since = None;
        loop {
            if let Some(frame) = self.scheduler.switch_to_next() {
                if let Some(since) = idle_since {
                    self.idle_instructions =
                        self.idle_instructions.wrapping_add(csr::read_instret().wrapping_sub(since));
                }
                return frame;
            }
            idle_since.get_or_insert_with(csr::read_instret);
            self.scheduler.idle();
            csr::wait_for_interrupt();
            let pending = csr::read_sip();
            if pending & csr::SIP_TIMER != 0 {
                self.timer_interrupt(csr::read_time() as u64);
            }
            if pending & csr::SIP_EXTERNAL != 0 {
                object::irq::handle(self);
            }
        }
    }
}

/// Called by the trap vector for every trap from user mode, with the current thread's saved
/// registers in `frame`. Returns the frame to resume.
extern "C" fn trap_from_user(_frame: *mut trap::TrapFrame) -> *mut trap::TrapFrame {
    let handle = |kernel: &mut Kernel| fastpath::try_fast(kernel).unwrap_or_else(|| kernel.handle_trap());
    // SAFETY: the trap entry from user mode is the only borrower while user code runs, and
    // cannot be re-entered (the kernel runs with interrupts off; a trap in kernel mode goes
    // to `trap_from_kernel`, which touches no kernel state); `handle` does not call `with`.
    unsafe { KERNEL.with(handle) }
}

/// The device tree blob at `physical_address`, seen through the boot direct map.
fn device_tree(physical_address: usize) -> &'static [u8] {
    assert!(
        physical_address != 0
            && physical_address.is_multiple_of(8)
            && physical_address < kernel_core::layout::PHYS_MAP_SIZE,
        "no usable device tree pointer from the firmware (a1 = {physical_address:#x})"
    );
    let header = memory::direct_map(physical_address) as *const u32;
    // SAFETY: the firmware passes the device tree's physical address in a1 (RISC-V boot
    // protocol); the boot page table maps the first 128 GiB of physical memory, which the
    // assertion checked. The header's second word is the blob's total size.
    let total_size = u32::from_be(unsafe { header.add(1).read_volatile() }) as usize;
    assert!((40..16 << 20).contains(&total_size), "device tree size {total_size} is implausible");
    // SAFETY: as above for the whole blob; the firmware does not change it after boot, and
    // the kernel reserves its frames so nothing else is ever placed there.
    unsafe { core::slice::from_raw_parts(header.cast::<u8>(), total_size) }
}

fn print_region(label: &str, region: Region, note: &str) {
    let size = region.size;
    let start = region.start;
    let end = region.end();
    if size >= 1 << 20 {
        // Tenths of a MiB, rounded down.
        let tenths = size / ((1 << 20) / 10);
        let (whole, tenth) = (tenths / 10, tenths % 10);
        if tenth == 0 {
            kprintln!("  {label:<9} {start:#012x}..{end:#012x} {whole:>6} MiB{note}");
        } else {
            kprintln!("  {label:<9} {start:#012x}..{end:#012x} {whole:>4}.{tenth} MiB{note}");
        }
    } else {
        kprintln!("  {label:<9} {start:#012x}..{end:#012x} {:>6} KiB{note}", size.div_ceil(1024));
    }
}

fn print_banner(
    board: &BoardInfo<'_>,
    hart_id: usize,
    image: &memory::KernelImage,
    dtb: Region,
    frames: &FrameAllocator,
) {
    kprintln!();
    kprintln!("Lattice kernel {VERSION} (riscv64, Sv39) on {}", board.model);
    kprint!("  harts:");
    for hart in &board.harts {
        kprint!(" {hart}");
    }
    if board.harts_ignored > 0 {
        kprint!(" (+{} not used)", board.harts_ignored);
    }
    kprintln!("; booted on hart {hart_id}; timebase {} Hz", board.timebase_hz);
    if !board.bootargs.is_empty() {
        kprintln!("  bootargs: {}", board.bootargs);
    }
    kprintln!("memory map:");
    for bank in &board.memory {
        print_region("ram", *bank, "");
    }
    for reserved in &board.reserved {
        print_region("reserved", *reserved, " (firmware)");
    }
    print_region("kernel", image.region(), "");
    print_region("dtb", dtb, "");
    for range in frames.free_ranges() {
        print_region("free", *range, "");
    }
    kprintln!("devices:");
    match board.uart {
        Some(uart) => kprintln!(
            "  uart      ns16550a at {:#x}, irq {}",
            uart.registers.start,
            uart.interrupt.unwrap_or(0)
        ),
        None => kprintln!("  uart      none usable (console through SBI)"),
    }
    if let Some(plic) = board.plic {
        kprintln!("  plic      at {:#x}, {} sources", plic.registers.start, plic.sources);
    }
    for device in &board.virtio {
        kprintln!("  virtio    mmio at {:#x}, irq {}", device.registers.start, device.interrupt.unwrap_or(0));
    }
    if let Some(exit) = board.exit_device {
        kprintln!("  exit      sifive,test at {:#x}", exit.start);
    }
}

/// Boot failure before any user program runs: report and power off.
fn boot_failure(message: core::fmt::Arguments<'_>) -> ! {
    kprintln!("[kernel] boot failed: {message}");
    power::shutdown(exit_status::BOOT_FAILURE);
}

/// The Rust entry point, called by `_start` on the boot hart with paging on.
extern "C" fn kernel_main(hart_id: usize, dtb_physical: usize, load_address: usize) -> ! {
    let dtb = device_tree(dtb_physical);
    let board = match BoardInfo::parse(dtb) {
        Ok(board) => board,
        Err(error) => panic!("cannot use the device tree: {error}"),
    };
    if let Some(uart) = &board.uart {
        console::init(uart);
    }
    power::init(board.exit_device);
    let image = memory::KernelImage::locate(load_address);
    let dtb_region = Region { start: dtb_physical, size: dtb.len() };

    let mut reserved = board.reserved.clone();
    for region in [image.region(), dtb_region] {
        if reserved.try_push(region).is_err() {
            panic!("too many reserved regions in the device tree");
        }
    }
    memory::set_ram(&board.memory);
    let mut frames = FrameAllocator::new(&board.memory, &reserved).expect("memory map too fragmented");
    print_banner(&board, hart_id, &image, dtb_region, &frames);
    let kernel_root = memory::build_kernel_page_table(&mut frames, &image, &board)
        .unwrap_or_else(|error| panic!("cannot build the kernel page table: {error:?}"));
    // SAFETY: the new table maps the kernel image at its link address, the direct map of
    // RAM and the console and exit devices, which is everything the kernel touches.
    unsafe { csr::switch_page_table(kernel_core::paging::satp(kernel_root, 0)) };
    trap::install_trap_vector();
    csr::allow_user_counters();

    if board.bootarg("lattice.selftest") == Some("panic") {
        panic!("deliberate panic requested by lattice.selftest=panic");
    }

    let archive =
        BootArchive::parse(&BOOT_ARCHIVE.0).unwrap_or_else(|error| boot_failure(format_args!("{error}")));
    let boot_list = board.bootarg("lattice.boot").unwrap_or("root");
    let boot = |kernel: &mut Kernel| {
        kernel.kernel_root = kernel_root;
        kernel.scheduler = Scheduler::new(board.timebase_hz);
        start_boot_programs(kernel, frames, &board, &archive, boot_list);
        if let Some(plic) = &board.plic {
            kernel.interrupts.init(plic, hart_id);
        }
        kernel.scheduler.start();
        csr::enable_interrupts(csr::SIE_TIMER | csr::SIE_EXTERNAL);
        kernel.schedule()
    };
    // SAFETY: boot's one borrow, before any user code runs (so before any trap: the kernel
    // itself runs with interrupts off); `boot` does not call `with`.
    let frame = unsafe { KERNEL.with(boot) };
    // SAFETY: the frame lives in the root task's thread object, which never moves;
    // switch_to_next put the thread's address space in satp.
    unsafe { trap::enter_user(frame) }
}

fn find_program<'a>(archive: &BootArchive<'a>, name: &str) -> &'a [u8] {
    match archive.find(name) {
        Some(entry) => entry.data,
        None => {
            kprint!("[kernel] boot program `{name}` is not in the boot archive; it holds:");
            for entry in archive.entries() {
                kprint!(" {}", entry.name);
            }
            kprintln!();
            boot_failure(format_args!("missing boot program `{name}`"));
        }
    }
}

/// Makes the boot programs named in `boot_list` (the first is the root task), then hands
/// the remaining memory to the root task. Takes the frame allocator: after this the kernel
/// allocates nothing.
fn start_boot_programs(
    kernel: &mut Kernel,
    mut frames: FrameAllocator,
    board: &BoardInfo<'_>,
    archive: &BootArchive<'_>,
    boot_list: &str,
) {
    let mut names = boot_list.split(',').filter(|name| !name.is_empty());
    let Some(root_name) = names.next() else { boot_failure(format_args!("lattice.boot names no program")) };
    let others: [Option<&str>; 15] = core::array::from_fn(|_| names.next());
    if names.next().is_some() {
        boot_failure(format_args!("lattice.boot names more than 16 programs"));
    }
    let root_elf = find_program(archive, root_name);
    for name in others.iter().flatten() {
        find_program(archive, name);
    }
    let root = boot::make_root_task(kernel, &mut frames, root_name, root_elf, &BOOT_ARCHIVE.0)
        .unwrap_or_else(|error| boot_failure(format_args!("cannot load `{root_name}`: {error}")));
    kernel.root_thread = root.thread.address();
    kprintln!("[kernel] loaded {root_name} (root task): entry {:#x}, {} KiB", root.entry, root.kib);
    for name in others.iter().flatten() {
        let elf = find_program(archive, name);
        let (_, entry, kib) = boot::make_boot_program(kernel, &mut frames, name, elf)
            .unwrap_or_else(|error| boot_failure(format_args!("cannot load `{name}`: {error}")));
        kprintln!("[kernel] loaded {name}: entry {entry:#x}, {kib} KiB");
    }
    let used = frames.allocated_pages() * 4;
    let free = frames.free_bytes() >> 20;
    let untyped = boot::hand_out_memory(kernel, &root, frames, board);
    kprintln!(
        "[kernel] {used} KiB used at boot; {free} MiB free as {untyped} untyped capabilities; starting {root_name}"
    );
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    match info.location() {
        Some(location) => kprintln!(
            "\n[kernel] kernel panic at {}:{}:{}: {}",
            location.file(),
            location.line(),
            location.column(),
            info.message()
        ),
        None => kprintln!("\n[kernel] kernel panic: {}", info.message()),
    }
    power::shutdown(exit_status::KERNEL_PANIC)
}
