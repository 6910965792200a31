//! The Lattice microkernel.
//!
//! Boot: `arch::riscv64::entry` turns paging on and calls [`kernel_main`], which reads the
//! device tree, reports the machine, builds the kernel page table, loads the boot programs
//! from the boot archive and enters the first of them, the root task. From then on the
//! kernel runs only on traps: [`trap_from_user`] handles one and returns the thread to
//! resume.
//!
//! Invariants: the kernel runs on one hart with interrupts disabled and is never preempted;
//! it allocates memory only during boot; a user program can make it return an error or
//! stop that program, never panic.
#![no_std]
#![no_main]

mod arch;
mod cell;
mod console;
mod loader;
mod memory;
mod power;
mod syscall;
mod thread;

use core::fmt::Write as _;

use kernel_abi::bootarchive::BootArchive;
use kernel_abi::{FaultKind, exit_status};
use kernel_core::board::{BoardInfo, Region};
use kernel_core::frames::FrameAllocator;

use arch::riscv64::{csr, trap};
use cell::KernelCell;
use thread::{Scheduler, ThreadState};

/// The kernel's version, printed in the banner.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The boot archive, packed by `cargo xtask build` (see build.rs).
#[repr(C, align(8))]
struct Aligned<T: ?Sized>(T);
static BOOT_ARCHIVE: &Aligned<[u8]> = &Aligned(*include_bytes!(env!("LATTICE_BOOT_ARCHIVE_PATH")));

/// All kernel state after boot.
pub struct Kernel {
    /// Threads and the run queue.
    pub scheduler: Scheduler,
    /// The thread whose exit or fault ends the system.
    root_thread: usize,
}

static KERNEL: KernelCell<Option<Kernel>> = KernelCell::new(None);

impl Kernel {
    /// Ends thread `index` with `status`. The root task's exit powers the machine off.
    pub fn exit_thread(&mut self, index: usize, status: usize) {
        let thread = self.scheduler.thread(index);
        kprintln!("[kernel] {} (thread {}) exited with status {}", thread.name(), index, status);
        self.scheduler.stop(index, ThreadState::Exited(status));
        if index == self.root_thread {
            kprintln!("[kernel] root task exited; powering off");
            power::shutdown(u16::try_from(status).unwrap_or(u16::MAX));
        }
    }

    /// Reports a fault of thread `index` and stops it.
    fn fault_thread(&mut self, index: usize, kind: FaultKind, cause: usize) {
        let thread = self.scheduler.thread(index);
        let value = csr::read_stval();
        let mut report = console::Console;
        let _ = write!(report, "[kernel] fault: {} (thread {}): {} ", thread.name(), index, kind.describe());
        if kind.has_address() {
            let _ = write!(report, "at {value:#x}");
        } else {
            let _ = write!(report, "(instruction {value:#x})");
        }
        kprintln!(", pc {:#x}, scause {}; program stopped", thread.frame.pc, cause);
        self.scheduler.stop(index, ThreadState::Faulted);
        if index == self.root_thread {
            kprintln!("[kernel] the root task is gone; powering off");
            power::shutdown(exit_status::ROOT_TASK_FAULTED);
        }
    }

    /// Handles one trap from the running thread; returns the frame of the thread to resume.
    fn handle_trap(&mut self) -> *mut trap::TrapFrame {
        let cause = csr::read_scause();
        let is_interrupt = cause >> 63 != 0;
        let code = cause & !(1 << 63);
        let current = self.scheduler.current().expect("trap from user mode with no current thread");
        if is_interrupt {
            match code {
                5 => {
                    self.scheduler.arm_timer();
                    self.scheduler.requeue_current();
                }
                other => kprintln!("[kernel] unexpected interrupt {other} ignored"),
            }
        } else if code == 8 {
            syscall::handle(self, current);
        } else {
            let kind = FaultKind::from_exception_code(code).unwrap_or(FaultKind::IllegalInstruction);
            self.fault_thread(current, kind, code);
        }
        self.scheduler.switch_to_next()
    }
}

/// Called by the trap vector for every trap from user mode, with the current thread's saved
/// registers in `frame`. Returns the frame to resume.
extern "C" fn trap_from_user(_frame: *mut trap::TrapFrame) -> *mut trap::TrapFrame {
    KERNEL.with(|kernel| kernel.as_mut().expect("trap before the kernel finished booting").handle_trap())
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
    let mut scheduler = Scheduler::new(board.timebase_hz);
    let mut root_thread = None;
    for name in boot_list.split(',').filter(|name| !name.is_empty()) {
        let Some(entry) = archive.find(name) else {
            kprint!("[kernel] boot program `{name}` is not in the boot archive; it holds:");
            for entry in archive.entries() {
                kprint!(" {}", entry.name);
            }
            kprintln!();
            boot_failure(format_args!("missing boot program `{name}`"));
        };
        let program = loader::load(&mut frames, kernel_root, entry.data)
            .unwrap_or_else(|error| boot_failure(format_args!("cannot load `{name}`: {error}")));
        let index = scheduler
            .spawn(name, program.address_space, program.entry, program.stack_pointer)
            .unwrap_or_else(|_| boot_failure(format_args!("too many boot programs")));
        kprintln!(
            "[kernel] loaded {name} as thread {index}: entry {:#x}, {} KiB",
            program.entry,
            program.frames_used * 4
        );
        root_thread.get_or_insert(index);
    }
    let Some(root_thread) = root_thread else {
        boot_failure(format_args!("lattice.boot names no program"));
    };
    kprintln!(
        "[kernel] {} KiB used at boot, {} MiB free; starting {}",
        frames.allocated_pages() * 4,
        frames.free_bytes() >> 20,
        scheduler.thread(root_thread).name()
    );

    scheduler.arm_timer();
    csr::enable_interrupts(csr::SIE_TIMER);
    let frame = KERNEL.with(|slot| {
        let kernel = slot.insert(Kernel { scheduler, root_thread });
        kernel.scheduler.switch_to_next()
    });
    // SAFETY: the frame lives in the scheduler's thread table inside the static KERNEL,
    // so it never moves; switch_to_next put the thread's address space in satp.
    unsafe { trap::enter_user(frame) }
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
