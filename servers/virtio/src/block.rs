//! The block device: the manifest's transports mapped and identified ([`transports`]), the
//! DMA pool made once, and [`VirtioBlock`], whose requests complete by interrupt.
//!
//! Invariants: a [`VirtioBlock`] has at most one request in flight, and none between calls;
//! after a timeout (or a completion it did not ask for) it is broken and submits nothing
//! again; the device only ever sees pool memory ([`crate::hal`]). Page tables made for the
//! driver's mappings are kept for the program's life (a page table deleted would unmap its
//! neighbours' pages too).

use alloc::vec::Vec;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};

use kernel_abi::{Error, ObjectType, Rights};
use kit::{BitWaiter, Kit, Slot};
use loader::server_slots as at;
use userlib::mmio::Registers;
use userlib::object;
use virtio_drivers::queue::VirtQueue;
use virtio_drivers::transport::Transport;
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};

use crate::hal::{self, PoolHal};
use crate::pool::{PAGE_SIZE, Pool, Region};
use crate::request::{self, HEADER_SIZE, ID_SIZE, Kind, SECTOR_SIZE, Serial};
use crate::{BLOCK_DEVICE, BlockError, Config, MAX_DEVICES};

/// The transport's identification registers (virtio 1.2 §4.2.2) and the magic value
/// ("virt", little-endian).
const MAGIC_VALUE: usize = 0x000;
const VERSION: usize = 0x004;
const DEVICE_ID: usize = 0x008;
const MAGIC: u32 = 0x7472_6976;

/// Descriptors in the request queue (a request takes three).
const QUEUE_SIZE: usize = 16;
/// The DMA pool: 32 pages out of one 128 KiB Untyped; two queue pages per device (a legacy
/// queue's rings take two), the rest the bounce arena (a [`crate::MAX_TRANSFER`] request
/// and its header and status, several times over).
const POOL_PAGES: usize = 32;
const POOL_SIZE_BITS: usize = 17;
const QUEUE_PAGES: usize = 2 * MAX_DEVICES;
/// Page tables one mapping may need (Sv39: two below the root).
const PAGE_TABLES: usize = 2;

bitflags::bitflags! {
    /// The virtio-blk features this driver accepts (virtio 1.2 §5.2.3): no indirect
    /// descriptors or event index, which one request at a time does not need.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Features: u64 {
        /// The device is read-only.
        const READ_ONLY = 1 << 5;
        /// The device has a write cache and takes flush requests.
        const FLUSH = 1 << 9;
        /// The non-legacy interface.
        const VERSION_1 = 1 << 32;
    }
}

/// Block devices opened in this program, so each gets its own notification bits.
static OPENED: AtomicUsize = AtomicUsize::new(0);

/// Runs `attempt` (a mapping at `address`), making the page tables it is missing and
/// keeping them for the program's life.
fn with_page_tables<T>(
    address: usize,
    mut attempt: impl FnMut() -> Result<T, Error>,
) -> Result<T, BlockError> {
    for _ in 0..=PAGE_TABLES {
        match attempt() {
            Err(Error::MissingPageTable) => {
                let table = Slot::make(ObjectType::PageTable, 0)?;
                object::map_page_table(table.index(), at::ADDRESS_SPACE, address)?;
                table.leak();
            }
            other => return other.map_err(BlockError::from),
        }
    }
    Err(BlockError::Kernel(Error::MissingPageTable))
}

/// One device the manifest gave this server, its registers mapped and identity read.
/// Dropping it unmaps the registers and frees the device memory for another look.
#[derive(Debug)]
pub struct DeviceSlot {
    /// `i` of `server_slots::DEVICE_MEMORY + 2 * i`.
    index: usize,
    /// Where its registers are mapped here.
    address: usize,
    /// Where they are on the bus.
    physical_address: usize,
    version: u32,
    device_id: u32,
    /// The frame of its registers (mapped at `address`).
    frame: Slot,
}

impl DeviceSlot {
    /// Which of the manifest's devices of this server it is (`devices[i]`).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The transport's physical address.
    pub fn physical_address(&self) -> usize {
        self.physical_address
    }

    /// The transport's version (1 legacy, 2 modern).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The virtio device id behind it (0: none, 1: network, 2: block, ...).
    pub fn device_id(&self) -> u32 {
        self.device_id
    }

    /// Where its registers are mapped in this program.
    pub(crate) fn address(&self) -> usize {
        self.address
    }

    /// The frame of its registers, for the device that keeps them mapped.
    pub(crate) fn into_frame(self) -> Slot {
        self.frame
    }
}

/// Maps and identifies every virtio-mmio transport among the devices the manifest gave this
/// server (a slot that is empty, is not device memory, or is in use by an open device is
/// skipped). `Err(NotVirtio)` if a device's registers are not a virtio transport's.
pub fn transports(config: &Config) -> Result<Vec<DeviceSlot>, BlockError> {
    let mut found = Vec::new();
    for index in 0..MAX_DEVICES {
        let frame = Slot::new()?;
        let memory = at::DEVICE_MEMORY + 2 * index;
        if object::retype(memory, ObjectType::Frame, 0, at::CNODE, frame.index(), 1).is_err() {
            continue;
        }
        let physical_address = object::frame_address(frame.index())?;
        let address = config.registers_address + index * PAGE_SIZE;
        let registers =
            with_page_tables(address, || Registers::map(frame.index(), at::ADDRESS_SPACE, address))?;
        if registers.read32(MAGIC_VALUE) != MAGIC || !matches!(registers.read32(VERSION), 1 | 2) {
            return Err(BlockError::NotVirtio);
        }
        found.push(DeviceSlot {
            index,
            address,
            physical_address,
            version: registers.read32(VERSION),
            device_id: registers.read32(DEVICE_ID),
            frame,
        });
    }
    Ok(found)
}

/// Opens every block device among the transports the manifest gave this server, in device
/// slot order (tell them apart by [`VirtioBlock::serial`]). `Err(NoDevice)` if there is
/// none (or every one is open already).
pub fn open_block_devices<S: Default>(kit: &Kit<S>, config: &Config) -> Result<Vec<VirtioBlock>, BlockError> {
    let mut disks = Vec::new();
    for slot in transports(config)? {
        if slot.device_id() == BLOCK_DEVICE {
            disks.push(VirtioBlock::open(kit, config, slot)?);
        }
    }
    if disks.is_empty() { Err(BlockError::NoDevice) } else { Ok(disks) }
}

/// Makes the program's DMA pool if it has none: 32 frames from one Untyped of the server's
/// memory, mapped at `config.pool_address`, kept for the program's life.
pub(crate) fn ensure_pool(config: &Config) -> Result<(), BlockError> {
    if hal::region().is_some() {
        return Ok(());
    }
    let untyped = Slot::make(ObjectType::Untyped, POOL_SIZE_BITS)?;
    let mut frames = Vec::with_capacity(POOL_PAGES);
    let mut physical_base = 0;
    for page in 0..POOL_PAGES {
        let frame = Slot::new()?;
        object::retype(untyped.index(), ObjectType::Frame, 0, at::CNODE, frame.index(), 1)?;
        let physical = object::frame_address(frame.index())?;
        if page == 0 {
            physical_base = physical;
        } else if physical != physical_base + page * PAGE_SIZE {
            // Frames from one Untyped follow each other; anything else is not a pool.
            return Err(BlockError::NoDmaMemory);
        }
        let address = config.pool_address + page * PAGE_SIZE;
        with_page_tables(address, || {
            object::map_frame(frame.index(), at::ADDRESS_SPACE, address, Rights::READ | Rights::WRITE)
        })?;
        frames.push(frame);
    }
    let region =
        Region { virtual_base: config.pool_address, physical_base: physical_base as u64, pages: POOL_PAGES };
    let pool = Pool::new(region, QUEUE_PAGES).ok_or(BlockError::NoDmaMemory)?;
    hal::install(pool).map_err(|_| BlockError::NoDmaMemory)?;
    for frame in frames {
        frame.leak();
    }
    untyped.leak();
    Ok(())
}

/// What a device has done since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Statistics {
    /// Requests submitted (reads and writes count one per [`crate::MAX_TRANSFER`]).
    pub requests: u64,
    /// Requests the device completed.
    pub completed: u64,
    /// Interrupts taken from the device.
    pub interrupts: u64,
    /// Requests given up at their deadline.
    pub timeouts: u64,
    /// Sectors read.
    pub sectors_read: u64,
    /// Sectors written.
    pub sectors_written: u64,
    /// Flush requests the device completed.
    pub flushes: u64,
}

/// A virtio block device: 512-byte sectors read, written and flushed, each request
/// completed by the device's interrupt.
///
/// Operations (each blocks its caller until the device answered or the deadline passed):
///
/// | operation | errors |
/// | --- | --- |
/// | [`read`](Self::read) | `Misaligned` (not whole sectors), `OutOfRange`, `Device`, `Timeout`, `Broken`, `NoDmaMemory`, `Kernel` |
/// | [`write`](Self::write) | as `read`, and `ReadOnly` |
/// | [`flush`](Self::flush) | `Device`, `Timeout`, `Broken`, `NoDmaMemory`, `Kernel` |
///
/// A refusal (`Misaligned`, `OutOfRange`, `ReadOnly`, `Broken`, `NoDmaMemory`) changes
/// nothing and reaches no device. Reads and writes of whole sectors are idempotent.
pub struct VirtioBlock {
    // Fields drop in order: the transport first (its drop resets the device, which then
    // lets go of the queue's rings and its registers), then the queue (its rings go back to
    // the pool), then the frame of the registers (unmapped).
    transport: MmioTransport<'static>,
    queue: VirtQueue<PoolHal, QUEUE_SIZE>,
    _frame: Slot,
    physical_address: usize,
    capacity: u64,
    features: Features,
    serial: Serial,
    /// The device's IRQ handler (a manifest slot) and the bits of its interrupt and timer.
    irq_handler: usize,
    interrupt_bit: usize,
    timer_bit: usize,
    /// The deadline timer, and the capabilities that signal the two bits.
    timer: Slot,
    _signals: [Slot; 2],
    waiter: BitWaiter,
    timeout_ticks: u64,
    broken: bool,
    statistics: Statistics,
}

impl VirtioBlock {
    /// Opens the block device behind `slot`: routes its interrupt and a deadline timer to
    /// two new bits of the kit's notification, makes the DMA pool if the program has none,
    /// negotiates features, sets up its queue and reads its capacity and serial.
    /// `Err(NotBlock)` if the slot holds another kind of device (nothing is changed then).
    #[allow(unsafe_code)]
    pub fn open<S: Default>(
        kit: &Kit<S>,
        config: &Config,
        slot: DeviceSlot,
    ) -> Result<VirtioBlock, BlockError> {
        if slot.device_id != BLOCK_DEVICE {
            return Err(BlockError::NotBlock { device_id: slot.device_id });
        }
        let timeout_ticks =
            userlib::time::ticks(config.timeout).ok_or(BlockError::Kernel(Error::InvalidArgument))?;
        let (interrupt_bit, timer_bit) = config
            .bits(OPENED.fetch_add(1, Ordering::Relaxed))
            .ok_or(BlockError::Kernel(Error::InvalidArgument))?;
        ensure_pool(config)?;
        let irq_handler = at::DEVICE_IRQ + 2 * slot.index;
        let interrupt = kit.notification(interrupt_bit)?;
        object::irq_set_notification(irq_handler, interrupt.index())?;
        let timer = Slot::make(ObjectType::Timer, 0)?;
        let timer_signal = kit.notification(timer_bit)?;
        object::timer_set_notification(timer.index(), timer_signal.index())?;
        let waiter = kit.waiter(interrupt_bit | timer_bit)?;

        let header = NonNull::new(slot.address as *mut VirtIOHeader).ok_or(BlockError::NotVirtio)?;
        // SAFETY: `header` is the page `transports` mapped read-write from this transport's
        // device frame: 4 KiB, page aligned, holding the header and the config space after
        // it. The frame's slot moves into the `VirtioBlock` with the transport, declared
        // after it, so the mapping outlives the transport's pointers ('static stands for
        // that); nothing else in the program touches the page (the identity reads through
        // `Registers` are over).
        let mut transport =
            unsafe { MmioTransport::new(header, PAGE_SIZE) }.map_err(|_| BlockError::NotVirtio)?;
        let features = transport.begin_init(Features::READ_ONLY | Features::FLUSH | Features::VERSION_1);
        let capacity = transport
            .read_consistent(|| {
                let low: u32 = transport.read_config_space(0)?;
                let high: u32 = transport.read_config_space(4)?;
                Ok(u64::from(low) | u64::from(high) << 32)
            })
            .map_err(BlockError::Virtio)?;
        let queue = VirtQueue::new(&mut transport, 0, false, false).map_err(BlockError::Virtio)?;
        transport.finish_init();
        let mut device = VirtioBlock {
            transport,
            queue,
            _frame: slot.frame,
            physical_address: slot.physical_address,
            capacity,
            features,
            serial: Serial::default(),
            irq_handler,
            interrupt_bit,
            timer_bit,
            timer,
            _signals: [interrupt, timer_signal],
            waiter,
            timeout_ticks,
            broken: false,
            statistics: Statistics::default(),
        };
        let mut id = [0; ID_SIZE];
        match device.submit(&request::header(Kind::GetId, 0), &mut [&mut id[..]]) {
            Ok(()) => device.serial = Serial::from_id(&id),
            // A device without get-id has no serial.
            Err(BlockError::Device(_)) => {}
            Err(error) => return Err(error),
        }
        Ok(device)
    }

    /// Its size in 512-byte sectors.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Its serial (QEMU's `serial=`), empty when it has none.
    pub fn serial(&self) -> Serial {
        self.serial
    }

    /// Whether it refuses writes.
    pub fn read_only(&self) -> bool {
        self.features.contains(Features::READ_ONLY)
    }

    /// The transport's physical address (for messages).
    pub fn physical_address(&self) -> usize {
        self.physical_address
    }

    /// What it has done so far.
    pub fn statistics(&self) -> Statistics {
        self.statistics
    }

    /// Whether a failure has made it unusable.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Reads `buffer.len()` bytes (whole sectors) from `sector` on.
    pub fn read(&mut self, sector: u64, buffer: &mut [u8]) -> Result<(), BlockError> {
        request::check(sector, buffer.len(), self.capacity)?;
        for (first, range) in request::chunks(sector, buffer.len()) {
            let sectors = (range.len() / SECTOR_SIZE) as u64;
            self.submit(&request::header(Kind::Read, first), &mut [&mut buffer[range]])?;
            self.statistics.sectors_read += sectors;
        }
        Ok(())
    }

    /// Writes `data` (whole sectors) from `sector` on. It is on the device when this
    /// returns, and durable after the next [`flush`](Self::flush).
    pub fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), BlockError> {
        request::check(sector, data.len(), self.capacity)?;
        if self.read_only() {
            return Err(BlockError::ReadOnly);
        }
        for (first, range) in request::chunks(sector, data.len()) {
            let sectors = (range.len() / SECTOR_SIZE) as u64;
            self.submit_write(&request::header(Kind::Write, first), &data[range])?;
            self.statistics.sectors_written += sectors;
        }
        Ok(())
    }

    /// Makes every write completed so far durable (a flush request), and answers when it
    /// is. A device without a write cache (no flush feature) writes through, so there is
    /// nothing to send.
    pub fn flush(&mut self) -> Result<(), BlockError> {
        if self.broken {
            return Err(BlockError::Broken);
        }
        if !self.features.contains(Features::FLUSH) {
            return Ok(());
        }
        self.submit(&request::header(Kind::Flush, 0), &mut [])?;
        self.statistics.flushes += 1;
        Ok(())
    }

    /// A write request: the header and `data` for the device to read.
    fn submit_write(&mut self, header: &[u8; HEADER_SIZE], data: &[u8]) -> Result<(), BlockError> {
        let mut status = [0xFF];
        self.transfer(&[&header[..], data], &mut [&mut status[..]])?;
        request::status(status[0]).map_err(BlockError::Device)
    }

    /// A request with `header` and `written` (buffers for the device to write, before the
    /// status byte).
    fn submit(&mut self, header: &[u8; HEADER_SIZE], written: &mut [&mut [u8]]) -> Result<(), BlockError> {
        let mut status = [0xFF];
        match written {
            [] => self.transfer(&[&header[..]], &mut [&mut status[..]])?,
            [data] => self.transfer(&[&header[..]], &mut [&mut **data, &mut status[..]])?,
            _ => return Err(BlockError::Virtio(virtio_drivers::Error::InvalidParam)),
        }
        request::status(status[0]).map_err(BlockError::Device)
    }

    /// Puts one descriptor chain on the queue, waits for its completion and takes it back.
    #[allow(unsafe_code)]
    fn transfer<'a>(
        &mut self,
        inputs: &'a [&'a [u8]],
        outputs: &'a mut [&'a mut [u8]],
    ) -> Result<(), BlockError> {
        if self.broken {
            return Err(BlockError::Broken);
        }
        let lengths =
            inputs.iter().map(|buffer| buffer.len()).chain(outputs.iter().map(|buffer| buffer.len()));
        let mut pieces = [0; 3];
        for (piece, length) in pieces.iter_mut().zip(lengths) {
            *piece = length;
        }
        if !hal::can_share(&pieces) {
            return Err(BlockError::NoDmaMemory);
        }
        // An interrupt the kit's loop took while no request was out (a completion seen at
        // its deadline whose interrupt came later, a configuration change) was never
        // acknowledged: the device still shows it, and the PLIC keeps its source masked
        // until it is, so no later request would be woken.
        if !self.transport.ack_interrupt().is_empty() {
            let _ = object::irq_acknowledge(self.irq_handler);
        }
        let deadline = userlib::time::now().saturating_add(self.timeout_ticks);
        // SAFETY: the buffers stay borrowed by this call until `pop_used` below takes them
        // back, and nothing else touches them meanwhile. If the request never completes
        // (a timeout), this returns without `pop_used` and the buffers are the caller's
        // again: the device was only ever given bounce copies of them in the DMA pool
        // (`hal::PoolHal::share` copies every buffer that is not pool memory), those stay
        // lent for ever (`hal::abandon`), and a broken device submits and pops nothing
        // again, so nothing reads or writes the buffers after this returns.
        let token = unsafe { self.queue.add(inputs, outputs) }.map_err(BlockError::Virtio)?;
        self.statistics.requests += 1;
        if self.queue.should_notify() {
            self.transport.notify(0);
        }
        self.wait_for(token, deadline)?;
        // SAFETY: the same buffers `add` was given for this token, which has completed.
        unsafe { self.queue.pop_used(token, inputs, outputs) }.map_err(|error| {
            self.give_up();
            BlockError::Virtio(error)
        })?;
        self.statistics.completed += 1;
        Ok(())
    }

    /// Blocks until the device's interrupt says `token` completed, or the deadline.
    fn wait_for(&mut self, token: u16, deadline: u64) -> Result<(), BlockError> {
        if let Err(error) = object::timer_arm(self.timer.index(), deadline) {
            self.give_up();
            return Err(error.into());
        }
        loop {
            let bits = match self.waiter.wait() {
                Ok(bits) => bits,
                Err(error) => {
                    self.give_up();
                    return Err(error.into());
                }
            };
            if bits & self.interrupt_bit != 0 {
                self.statistics.interrupts += 1;
                // The device's line goes down first, then the PLIC takes the source again.
                self.transport.ack_interrupt();
                let _ = object::irq_acknowledge(self.irq_handler);
            }
            match self.queue.peek_used() {
                Some(used) if used == token => {
                    let _ = object::timer_cancel(self.timer.index());
                    return Ok(());
                }
                Some(_) => {
                    // One request in flight, and the device completed another.
                    self.give_up();
                    return Err(BlockError::Broken);
                }
                None => {}
            }
            // A timer bit from an earlier request's deadline (fired just as it completed)
            // says nothing about this one.
            if bits & self.timer_bit != 0 && userlib::time::now() >= deadline {
                self.statistics.timeouts += 1;
                self.give_up();
                return Err(BlockError::Timeout);
            }
        }
    }

    /// The request in flight will not be taken back: the device is not used again.
    fn give_up(&mut self) {
        self.broken = true;
        hal::abandon();
    }
}
