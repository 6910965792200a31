//! The network device: [`VirtioNet`], virtio-drivers' `VirtIONetRaw` with its packet
//! buffers in the DMA pool and its interrupt on a bit of the kit's notification.
//!
//! Invariants: every receive buffer is with the device except while [`VirtioNet::receive`]
//! copies a frame out of it (then it goes straight back); a transmit buffer is with the
//! device from `transmit` until its completion is reclaimed; the buffers are pool pages
//! taken for good ([`hal::take_pages`]), so the device reads and writes them in place and
//! never sees other memory; nothing here waits: the server's loop calls in when the
//! interrupt bit comes and whenever it has frames to send.

use core::ptr::NonNull;

use kit::{Kit, Slot};
use loader::server_slots as at;
use userlib::object;
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};

use crate::block::{DeviceSlot, ensure_pool, transports};
use crate::hal::{self, PoolHal};
use crate::packets::{PacketBooks, frame_range};
use crate::pool::PAGE_SIZE;
use crate::{BlockError, Config, NET_DEVICE};

/// Descriptors in each of the two queues (a packet takes one).
const QUEUE_SIZE: usize = 16;
/// Bytes of one packet buffer: a virtio-net header and the largest Ethernet frame (1514)
/// fit; two per page.
pub const PACKET_BUFFER_BYTES: usize = 2048;
/// Receive buffers (all with the device) and transmit buffers.
const RECEIVE_BUFFERS: usize = 16;
const TRANSMIT_BUFFERS: usize = 8;
/// The largest Ethernet frame this device sends or receives (no VLAN tag, no FCS).
pub const MAX_FRAME_BYTES: usize = 1514;

/// Why the network device could not be found, opened or used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NicError {
    /// No network device (virtio device id 1) behind the transports this server was given.
    NoDevice,
    /// Setting up the transports, the pool or the interrupt failed.
    Setup(BlockError),
    /// The device refused the features or the queues, or a queue operation failed.
    Virtio(virtio_drivers::Error),
    /// Every transmit buffer is with the device (try again after its interrupt).
    Busy,
    /// A frame longer than [`MAX_FRAME_BYTES`].
    TooLong,
}

impl From<BlockError> for NicError {
    fn from(error: BlockError) -> Self {
        Self::Setup(error)
    }
}

impl core::fmt::Display for NicError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoDevice => f.write_str("no network device behind the transports this server was given"),
            Self::Setup(error) => write!(f, "setting the device up: {error}"),
            Self::Virtio(error) => write!(f, "the virtio layer refused: {error}"),
            Self::Busy => f.write_str("every transmit buffer is with the device"),
            Self::TooLong => write!(f, "a frame longer than {MAX_FRAME_BYTES} bytes"),
        }
    }
}

/// What the device has done since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStatistics {
    /// Frames received and handed to the caller.
    pub received: u64,
    /// Frames given to the device to send.
    pub transmitted: u64,
    /// Received frames dropped (longer than the caller's buffer, or malformed).
    pub dropped: u64,
    /// Interrupts taken.
    pub interrupts: u64,
}

/// The first network device among the manifest's transports, opened: its interrupt
/// signals `config.first_bit` of the kit's notification (the server's `notified` then
/// calls [`VirtioNet::interrupted`] and drains [`VirtioNet::receive`]).
pub fn open_net_device<S: Default>(kit: &Kit<S>, config: &Config) -> Result<VirtioNet, NicError> {
    for slot in transports(config)? {
        if slot.device_id() == NET_DEVICE {
            return VirtioNet::open(kit, config, slot);
        }
    }
    Err(NicError::NoDevice)
}

/// A virtio network device: Ethernet frames in and out, never blocking.
///
/// | operation | errors |
/// | --- | --- |
/// | [`receive`](Self::receive) | none: `None` when no frame waits |
/// | [`transmit`](Self::transmit) | `Busy` (no free transmit buffer: nothing sent), `TooLong`, `Virtio` |
pub struct VirtioNet {
    // Fields drop in order: the device first (it lets go of its queues), then the frame of
    // the registers.
    device: VirtIONetRaw<PoolHal, MmioTransport<'static>, QUEUE_SIZE>,
    _frame: Slot,
    /// Where the packet buffers are mapped: receive buffers first, then transmit.
    buffers: usize,
    receive_books: PacketBooks<QUEUE_SIZE>,
    transmit_books: PacketBooks<QUEUE_SIZE>,
    irq_handler: usize,
    _signal: Slot,
    physical_address: usize,
    statistics: NetStatistics,
}

#[allow(unsafe_code)]
impl VirtioNet {
    fn open<S: Default>(kit: &Kit<S>, config: &Config, slot: DeviceSlot) -> Result<VirtioNet, NicError> {
        ensure_pool(config)?;
        let pages = (RECEIVE_BUFFERS + TRANSMIT_BUFFERS) * PACKET_BUFFER_BYTES / PAGE_SIZE;
        let (buffers, _) = hal::take_pages(pages).ok_or(NicError::Setup(BlockError::NoDmaMemory))?;
        let irq_handler = at::DEVICE_IRQ + 2 * slot.index();
        let signal = kit.notification(config.first_bit).map_err(BlockError::from)?;
        object::irq_set_notification(irq_handler, signal.index()).map_err(BlockError::from)?;
        let header = NonNull::new(slot.address() as *mut VirtIOHeader)
            .ok_or(NicError::Setup(BlockError::NotVirtio))?;
        // SAFETY: `header` is the page `transports` mapped read-write from this transport's
        // device frame: 4 KiB, page aligned, holding the header and the config space. The
        // frame's slot moves into the `VirtioNet` after the device, so the mapping outlives
        // the transport's pointers ('static stands for that); nothing else touches the page.
        let transport = unsafe { MmioTransport::new(header, PAGE_SIZE) }
            .map_err(|_| NicError::Setup(BlockError::NotVirtio))?;
        let device = VirtIONetRaw::new(transport).map_err(NicError::Virtio)?;
        let physical_address = slot.physical_address();
        let mut net = VirtioNet {
            device,
            _frame: slot.into_frame(),
            buffers,
            receive_books: PacketBooks::new(RECEIVE_BUFFERS).ok_or(NicError::NoDevice)?,
            transmit_books: PacketBooks::new(TRANSMIT_BUFFERS).ok_or(NicError::NoDevice)?,
            irq_handler,
            _signal: signal,
            physical_address,
            statistics: NetStatistics::default(),
        };
        while let Some(index) = net.receive_books.take() {
            net.give_receive_buffer(index)?;
        }
        net.device.enable_interrupts();
        Ok(net)
    }

    /// The device's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.device.mac_address()
    }

    /// The transport's physical address (for messages).
    pub fn physical_address(&self) -> usize {
        self.physical_address
    }

    /// What it has done so far.
    pub fn statistics(&self) -> NetStatistics {
        self.statistics
    }

    /// Packet buffer `index` (receive buffers first). Only made while the buffer is not
    /// with the device, or to hand the same slice to the device and back.
    fn buffer(&mut self, index: usize) -> &'static mut [u8] {
        let address = self.buffers + index * PACKET_BUFFER_BYTES;
        // SAFETY: `address` lies in the pool pages taken for this device's buffers alone
        // (`hal::take_pages`: mapped read-write for the program's life, holding no Rust
        // object); `index` is below the number of buffers (the books hand out no other), so
        // the slice stays inside them. The books keep each buffer with one owner: the device
        // (which only the queue's add and pop_used hand it to and take it from) or this
        // driver for the length of one call, so no two live slices overlap.
        unsafe { core::slice::from_raw_parts_mut(address as *mut u8, PACKET_BUFFER_BYTES) }
    }

    fn give_receive_buffer(&mut self, index: usize) -> Result<(), NicError> {
        let buffer = self.buffer(index);
        // SAFETY: the buffer is pool memory the books say is this driver's; it is not
        // touched again until its token completes and `receive_complete` takes it back.
        match unsafe { self.device.receive_begin(buffer) } {
            Ok(token) if self.receive_books.submitted(token, index, PACKET_BUFFER_BYTES) => Ok(()),
            Ok(_) => Err(NicError::Virtio(virtio_drivers::Error::WrongToken)),
            Err(error) => {
                self.receive_books.put_back(index);
                Err(NicError::Virtio(error))
            }
        }
    }

    /// The interrupt bit came: acknowledge the device, then its IRQ handler (so the line is
    /// down before the PLIC takes the source again).
    pub fn interrupted(&mut self) {
        self.statistics.interrupts += 1;
        self.device.ack_interrupt();
        let _ = object::irq_acknowledge(self.irq_handler);
    }

    /// Whether a received frame waits to be taken.
    pub fn has_received(&self) -> bool {
        self.device.poll_receive().is_some()
    }

    /// Copies the next received frame into `into`; returns its length. `None` when no
    /// frame waits. A frame longer than `into` is dropped (and counted). The buffer goes
    /// back to the device before this returns.
    pub fn receive(&mut self, into: &mut [u8]) -> Option<usize> {
        loop {
            let token = self.device.poll_receive()?;
            let Some((index, _)) = self.receive_books.completed(token) else {
                // A completion this driver never asked for: nothing to take back.
                self.statistics.dropped += 1;
                return None;
            };
            let buffer = self.buffer(index);
            // SAFETY: the same buffer `receive_begin` was given under this token.
            let completed = unsafe { self.device.receive_complete(token, buffer) };
            let copied = match completed {
                Ok((header, packet)) => frame_range(header, packet, PACKET_BUFFER_BYTES)
                    .filter(|range| range.len() <= into.len())
                    .map(|range| {
                        let length = range.len();
                        into[..length].copy_from_slice(&buffer[range]);
                        length
                    }),
                Err(_) => None,
            };
            self.receive_books.put_back(index);
            if let Some(index) = self.receive_books.take() {
                let _ = self.give_receive_buffer(index);
            }
            match copied {
                Some(length) => {
                    self.statistics.received += 1;
                    return Some(length);
                }
                None => self.statistics.dropped += 1,
            }
        }
    }

    /// Takes back the transmit buffers the device is done with.
    fn reclaim(&mut self) {
        while let Some(token) = self.device.poll_transmit() {
            let Some((index, length)) = self.transmit_books.completed(token) else { return };
            let buffer = self.buffer(TRANSMIT_OFFSET + index);
            // SAFETY: the same slice `transmit_begin` was given under this token.
            let _ = unsafe { self.device.transmit_complete(token, &buffer[..length]) };
            self.transmit_books.put_back(index);
        }
    }

    /// Whether a frame can be sent now (a transmit buffer is free).
    pub fn can_transmit(&mut self) -> bool {
        self.reclaim();
        self.transmit_books.free() > 0 && self.device.can_send()
    }

    /// Sends a frame of `length` bytes, which `fill` writes; returns what `fill` returns.
    /// `Busy` (and `fill` is not called) when every transmit buffer is with the device.
    pub fn transmit<R>(&mut self, length: usize, fill: impl FnOnce(&mut [u8]) -> R) -> Result<R, NicError> {
        if length > MAX_FRAME_BYTES {
            return Err(NicError::TooLong);
        }
        self.reclaim();
        let index = self.transmit_books.take().ok_or(NicError::Busy)?;
        let buffer = self.buffer(TRANSMIT_OFFSET + index);
        let header = match self.device.fill_buffer_header(buffer) {
            Ok(header) => header,
            Err(error) => {
                self.transmit_books.put_back(index);
                return Err(NicError::Virtio(error));
            }
        };
        let result = fill(&mut buffer[header..header + length]);
        let packet = &buffer[..header + length];
        // SAFETY: pool memory the books say is this driver's, not touched again until its
        // token completes and `reclaim` hands the same slice to `transmit_complete`.
        match unsafe { self.device.transmit_begin(packet) } {
            Ok(token) => {
                if !self.transmit_books.submitted(token, index, header + length) {
                    return Err(NicError::Virtio(virtio_drivers::Error::WrongToken));
                }
                self.statistics.transmitted += 1;
                Ok(result)
            }
            Err(error) => {
                self.transmit_books.put_back(index);
                Err(NicError::Virtio(error))
            }
        }
    }
}

/// The first transmit buffer's index among all packet buffers.
const TRANSMIT_OFFSET: usize = RECEIVE_BUFFERS;
