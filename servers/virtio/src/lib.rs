//! Virtio drivers for Lattice servers, over `virtio-drivers` 0.13: the virtio-mmio
//! transports the manifest gives a server, found by device id; a DMA pool of frames the
//! driver owns; an interrupt-driven block device ([`VirtioBlock`]), which the
//! filesystem server's volume reads and writes through; and a network device
//! (`VirtioNet`: virtio-drivers' `VirtIONetRaw`, its packet buffers pool pages taken for
//! good, never blocking: the network server's loop takes frames when its interrupt bit
//! comes and sends when smoltcp has something to send).
//!
//! How a server (on the kit) uses it:
//!
//! ```ignore
//! let kit = Kit::start(Config::new("fs").service("fs", SESSION_BYTES))?;
//! // Every block device behind the manifest's `devices` of this server (virtio device id
//! // 2; other transports are left alone), each with two bits of the kit's notification
//! // from `first_bit` on: its interrupt and its deadline timer.
//! let mut disks = virtio::open_block_devices(&kit, &virtio::Config::new(1 << 4))?;
//! let disk = disks.iter_mut().find(|disk| disk.serial().as_str() == "lattice-system");
//! disk.read(0, &mut sector)?;          // whole 512-byte sectors
//! disk.write(2048, &data)?;
//! disk.flush()?;                       // every completed write is durable
//! ```
//!
//! - **Finding devices** ([`transports`]): the root task puts each manifest device's
//!   register Untyped at `server_slots::DEVICE_MEMORY + 2 * i` and its IRQ handler at
//!   `DEVICE_IRQ + 2 * i`. The driver maps every one it can, reads its identification
//!   registers (magic, version, device id) and keeps those whose device id is 2 (block). The
//!   slot's position says nothing: QEMU fills its transports from the last one down, in the
//!   order of its command line. Disks are told apart by their serial (QEMU's
//!   `serial=`, read with a get-id request).
//! - **DMA** ([`hal`], [`pool`]): one pool per program of 32 frames retyped from the
//!   server's memory out of one Untyped (so physically contiguous, which is checked), mapped
//!   in the server, their physical addresses from `FrameOp::Address`. Queue rings come from
//!   it; every buffer given to a device is copied into its bounce arena and back, so a
//!   device never reads or writes memory outside the pool: never a client's donation.
//! - **Completion by interrupt** ([`VirtioBlock`]): a request is submitted, then the server
//!   blocks on its kit notification ([`kit::BitWaiter`]) until the device's interrupt bit
//!   comes (the device's IRQ handler signals it), acknowledges the device and the IRQ, and
//!   takes the completion. A kernel timer on a second bit bounds the wait: a device that
//!   does not answer within [`Config::timeout`] is an error ([`BlockError::Timeout`]) and is
//!   not used again. Nothing polls.
//! - **One request at a time** per program: each call returns when its requests completed.
//!   Transfers longer than [`MAX_TRANSFER`] go as several requests.
//!
//! Why not virtio-drivers' `VirtIOBlk`: its flush and get-id requests (and its blocking
//! reads and writes) go through `add_notify_wait_pop`, which spins on the used ring, and
//! its request header's fields are private, so only reads and writes can be submitted
//! without waiting; a flush would have to busy-poll. The block protocol itself is a
//! 16-byte header and a status byte ([`request`]); the crate still does the parts worth
//! having: the transport (feature negotiation, legacy and modern registers) and the split
//! virtqueue.
//!
//! `unsafe` is confined to [`hal`] (the `Hal` trait is `unsafe` and copies through raw
//! pointers) and to the few calls into virtio-drivers that are `unsafe fn`s (making the
//! transport over the mapped registers, adding and popping a request's buffers), each with
//! its `// SAFETY:`; the crate denies `unsafe_code` everywhere else.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

extern crate alloc;

#[allow(unsafe_code)]
pub mod hal;
pub mod packets;
pub mod pool;
pub mod request;

#[cfg(target_arch = "riscv64")]
mod block;
#[cfg(target_arch = "riscv64")]
mod net;

#[cfg(target_arch = "riscv64")]
pub use block::{DeviceSlot, Statistics, VirtioBlock, open_block_devices, transports};
#[cfg(target_arch = "riscv64")]
pub use net::{MAX_FRAME_BYTES, NetStatistics, NicError, PACKET_BUFFER_BYTES, VirtioNet, open_net_device};
pub use request::{DeviceStatus, MAX_TRANSFER, SECTOR_SIZE, Serial};

use core::time::Duration;

/// The virtio device id of a block device (virtio 1.2 §5).
pub const BLOCK_DEVICE: u32 = 2;

/// The virtio device id of a network device (virtio 1.2 §5).
pub const NET_DEVICE: u32 = 1;

/// Most devices the manifest gives one server (`server_slots::DEVICE_MEMORY + 2 * i`, `i`
/// below this).
pub const MAX_DEVICES: usize = 4;

/// Where the driver maps things and which notification bits it uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The first of the kit notification bits the block devices use, two each (its
    /// interrupt, then its deadline timer), upwards: device `k` gets `first_bit << 2k` and
    /// `first_bit << 2k + 1`. They must stay clear of the server's other bits and below
    /// `security_api::FIRST_CONNECTION` (`1 << 16`). The server's `notified` may see them
    /// (an interrupt that came while no request was out) and should ignore them: the
    /// driver acknowledges such an interrupt before its next request.
    pub first_bit: usize,
    /// Where the transports' registers are mapped: device slot `i` at this plus `i` pages.
    pub registers_address: usize,
    /// Where the DMA pool is mapped (32 pages).
    pub pool_address: usize,
    /// How long a request may take before the device is given up.
    pub timeout: Duration,
}

impl Config {
    /// The defaults (registers at `0x21_0000_0000`, the pool 2 MiB above, a 10 s timeout),
    /// with bits from `first_bit`.
    pub const fn new(first_bit: usize) -> Config {
        Config {
            first_bit,
            registers_address: 0x21_0000_0000,
            pool_address: 0x21_0020_0000,
            timeout: Duration::from_secs(10),
        }
    }

    /// The interrupt and timer bits of the `index`th block device opened, if they fit below
    /// `1 << 16`.
    pub fn bits(&self, index: usize) -> Option<(usize, usize)> {
        let shift = u32::try_from(index.checked_mul(2)?).ok()?;
        let interrupt = self.first_bit.checked_shl(shift)?;
        let timer = interrupt.checked_shl(1)?;
        (self.first_bit.is_power_of_two() && timer < 1 << 16 && interrupt >> shift == self.first_bit)
            .then_some((interrupt, timer))
    }
}

/// Why a block device could not be found, opened or used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockError {
    /// No block device (virtio device id 2) is behind the transports this server was given
    /// (or every one is open already).
    NoDevice,
    /// The transport holds another kind of device (its virtio device id; 0: none).
    NotBlock {
        /// The transport's device id.
        device_id: u32,
    },
    /// The registers do not show the virtio magic value, or a transport version this driver
    /// does not know.
    NotVirtio,
    /// The device's queue is too small, or it refused the features or the queue.
    Virtio(virtio_drivers::Error),
    /// A buffer whose length is not a positive multiple of 512 bytes.
    Misaligned {
        /// Its length.
        length: usize,
    },
    /// Sectors past the device's end.
    OutOfRange {
        /// The first sector asked for.
        sector: u64,
        /// How many.
        sectors: u64,
        /// The device's size in sectors.
        capacity: u64,
    },
    /// A write to a device that is read-only.
    ReadOnly,
    /// The device answered that the request failed.
    Device(DeviceStatus),
    /// The device did not complete a request before the deadline; it is not used again.
    Timeout,
    /// An earlier timeout (or a completion the driver did not ask for) left the device
    /// unusable.
    Broken,
    /// The DMA pool has no room for the request's copies (or no pool could be made).
    NoDmaMemory,
    /// A kernel operation failed while setting the device up or waiting for it (mapping,
    /// retyping, routing its interrupt, the timer).
    Kernel(kernel_abi::Error),
    /// The server kit could not give a slot, a notification bit or a waiter.
    Kit(kit::KitError),
}

impl From<kernel_abi::Error> for BlockError {
    fn from(error: kernel_abi::Error) -> Self {
        Self::Kernel(error)
    }
}

impl From<kit::KitError> for BlockError {
    fn from(error: kit::KitError) -> Self {
        match error {
            kit::KitError::Kernel(error) => Self::Kernel(error),
            other => Self::Kit(other),
        }
    }
}

impl core::fmt::Display for BlockError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoDevice => f.write_str("no block device behind the transports this server was given"),
            Self::NotBlock { device_id: 0 } => f.write_str("the transport holds no device"),
            Self::NotBlock { device_id } => {
                write!(f, "the transport holds virtio device {device_id}, not a block device")
            }
            Self::NotVirtio => f.write_str("not a virtio-mmio transport this driver knows"),
            Self::Virtio(error) => write!(f, "the virtio layer refused: {error}"),
            Self::Misaligned { length } => {
                write!(f, "{length} bytes is not a whole number of 512-byte sectors")
            }
            Self::OutOfRange { sector, sectors, capacity } => {
                write!(f, "sectors {sector}..+{sectors} are past the device's end ({capacity} sectors)")
            }
            Self::ReadOnly => f.write_str("the device is read-only"),
            Self::Device(status) => write!(f, "the device reported {status}"),
            Self::Timeout => f.write_str("the device did not complete the request in time; it is given up"),
            Self::Broken => f.write_str("the device was given up after an earlier failure"),
            Self::NoDmaMemory => f.write_str("no room in the DMA pool"),
            Self::Kernel(error) => write!(f, "kernel: {error:?}"),
            Self::Kit(error) => write!(f, "{error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_device_gets_two_bits_from_the_first_upwards() {
        let config = Config::new(1 << 4);
        assert_eq!(config.bits(0), Some((1 << 4, 1 << 5)));
        assert_eq!(config.bits(1), Some((1 << 6, 1 << 7)));
        assert_eq!(config.bits(5), Some((1 << 14, 1 << 15)));
        assert_eq!(config.bits(6), None, "past 1 << 16: a session's badge");
        assert_eq!(config.bits(usize::MAX), None);
        assert_eq!(Config::new(0).bits(0), None);
        assert_eq!(Config::new(3 << 2).bits(0), None, "one bit, not two");
    }

    #[test]
    fn errors_say_what_went_wrong() {
        let cases: [(BlockError, &str); 6] = [
            (BlockError::NoDevice, "no block device"),
            (BlockError::NotBlock { device_id: 1 }, "virtio device 1, not a block device"),
            (BlockError::NotBlock { device_id: 0 }, "holds no device"),
            (
                BlockError::OutOfRange { sector: 8, sectors: 2, capacity: 9 },
                "8..+2 are past the device's end (9",
            ),
            (BlockError::Device(DeviceStatus::IoError), "an I/O error"),
            (kernel_abi::Error::InvalidCapability.into(), "kernel: InvalidCapability"),
        ];
        for (error, needle) in cases {
            let text = error.to_string();
            assert!(text.contains(needle), "{text}");
        }
        assert_eq!(BlockError::from(kit::KitError::NoSlots), BlockError::Kit(kit::KitError::NoSlots));
        assert_eq!(
            BlockError::from(kit::KitError::Kernel(kernel_abi::Error::NotEnoughMemory)),
            BlockError::Kernel(kernel_abi::Error::NotEnoughMemory)
        );
    }
}
