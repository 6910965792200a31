//! Block devices: what the filesystem stores on ([`BlockDevice`], 512-byte sectors), and
//! [`MemoryDevice`], a device in memory that logs every write so tests can replay a crash
//! at any point, and that can be cut (every request fails from then on, as after power
//! loss).
//!
//! Invariant of every device: writes complete in the order they are issued, and a
//! `flush` returns only when everything written before it is durable. The sector cache
//! relies on both to keep the volume consistent (see `cache`).

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

/// Bytes in a sector: the unit of every device request.
pub const SECTOR_SIZE: usize = 512;

/// [`SECTOR_SIZE`] as a `u64`, for offsets.
pub const SECTOR_BYTES: u64 = 512;

/// Why a device request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceError {
    /// The request reaches past the last sector.
    OutOfRange {
        /// The first sector asked for.
        sector: u64,
        /// Sectors the device has.
        sectors: u64,
    },
    /// The buffer is not a whole number of sectors.
    BadLength,
    /// The device reported an error.
    Failed,
    /// The device is gone (cut, removed): nothing more reaches it.
    Gone,
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfRange { sector, sectors } => {
                write!(f, "sector {sector} is past the end ({sectors} sectors)")
            }
            Self::BadLength => f.write_str("not a whole number of sectors"),
            Self::Failed => f.write_str("the device failed"),
            Self::Gone => f.write_str("the device is gone"),
        }
    }
}

/// A device of 512-byte sectors.
pub trait BlockDevice {
    /// How many sectors it has.
    fn sectors(&self) -> u64;
    /// Reads sectors from `first` into `buffer` (a whole number of sectors).
    fn read_sectors(&mut self, first: u64, buffer: &mut [u8]) -> Result<(), DeviceError>;
    /// Writes `data` (a whole number of sectors) from sector `first`. Writes complete in
    /// the order they are issued.
    fn write_sectors(&mut self, first: u64, data: &[u8]) -> Result<(), DeviceError>;
    /// Returns when everything written before is durable.
    fn flush(&mut self) -> Result<(), DeviceError>;
}

/// Checks a request against a device of `sectors` sectors; returns the sector count.
pub fn check_request(first: u64, length: usize, sectors: u64) -> Result<u64, DeviceError> {
    if !length.is_multiple_of(SECTOR_SIZE) {
        return Err(DeviceError::BadLength);
    }
    let count = (length / SECTOR_SIZE) as u64;
    match first.checked_add(count) {
        Some(end) if end <= sectors => Ok(count),
        _ => Err(DeviceError::OutOfRange { sector: first, sectors }),
    }
}

/// One thing a [`MemoryDevice`] was asked to do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Logged {
    /// One sector written with these bytes.
    Write {
        /// The sector.
        sector: u64,
        /// Its new contents ([`SECTOR_SIZE`] bytes).
        data: Vec<u8>,
    },
    /// A flush.
    Flush,
}

/// A device in memory: an image, a log of every write and flush (one entry per sector),
/// and a fuse: after a set number of further sector writes, it is cut and every request
/// fails with [`DeviceError::Gone`].
#[derive(Clone, Debug)]
pub struct MemoryDevice {
    image: Vec<u8>,
    log: Vec<Logged>,
    /// Sector writes left before the device is cut (`None`: never).
    fuse: Option<u64>,
    cut: bool,
    reads: u64,
    read_requests: u64,
}

impl MemoryDevice {
    /// A zeroed device of `sectors` sectors.
    pub fn zeroed(sectors: u64) -> MemoryDevice {
        let bytes = usize::try_from(sectors).unwrap_or(0).saturating_mul(SECTOR_SIZE);
        MemoryDevice::from_image(vec![0; bytes])
    }

    /// A device holding `image` (cut short to a whole number of sectors).
    pub fn from_image(mut image: Vec<u8>) -> MemoryDevice {
        image.truncate(image.len() - image.len() % SECTOR_SIZE);
        MemoryDevice { image, log: Vec::new(), fuse: None, cut: false, reads: 0, read_requests: 0 }
    }

    /// The device's contents.
    pub fn image(&self) -> &[u8] {
        &self.image
    }

    /// The contents, taking the device apart.
    pub fn into_image(self) -> Vec<u8> {
        self.image
    }

    /// Every write and flush since the device was made or the log cleared.
    pub fn log(&self) -> &[Logged] {
        &self.log
    }

    /// Forgets the log.
    pub fn clear_log(&mut self) {
        self.log.clear();
    }

    /// Sector reads so far.
    pub fn reads(&self) -> u64 {
        self.reads
    }

    /// Read requests so far (a request of many sectors is one).
    pub fn read_requests(&self) -> u64 {
        self.read_requests
    }

    /// Cuts the device now.
    pub fn cut(&mut self) {
        self.cut = true;
    }

    /// Cuts the device after `writes` more sector writes (those land; the next fails).
    pub fn cut_after(&mut self, writes: u64) {
        self.fuse = Some(writes);
    }

    /// Whether the device is cut.
    pub fn is_cut(&self) -> bool {
        self.cut
    }
}

impl BlockDevice for MemoryDevice {
    fn sectors(&self) -> u64 {
        (self.image.len() / SECTOR_SIZE) as u64
    }

    fn read_sectors(&mut self, first: u64, buffer: &mut [u8]) -> Result<(), DeviceError> {
        if self.cut {
            return Err(DeviceError::Gone);
        }
        let count = check_request(first, buffer.len(), self.sectors())?;
        let start = usize::try_from(first).map_err(|_| DeviceError::Failed)? * SECTOR_SIZE;
        let source = self.image.get(start..start + buffer.len()).ok_or(DeviceError::Failed)?;
        buffer.copy_from_slice(source);
        self.reads += count;
        self.read_requests += 1;
        Ok(())
    }

    fn write_sectors(&mut self, first: u64, data: &[u8]) -> Result<(), DeviceError> {
        if self.cut {
            return Err(DeviceError::Gone);
        }
        check_request(first, data.len(), self.sectors())?;
        for (sector, bytes) in (first..).zip(data.chunks(SECTOR_SIZE)) {
            if let Some(left) = self.fuse.as_mut() {
                if *left == 0 {
                    self.cut = true;
                    return Err(DeviceError::Gone);
                }
                *left -= 1;
            }
            let start = usize::try_from(sector).map_err(|_| DeviceError::Failed)? * SECTOR_SIZE;
            let target = self.image.get_mut(start..start + SECTOR_SIZE).ok_or(DeviceError::Failed)?;
            target.copy_from_slice(bytes);
            self.log.push(Logged::Write { sector, data: bytes.to_vec() });
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DeviceError> {
        if self.cut {
            return Err(DeviceError::Gone);
        }
        self.log.push(Logged::Flush);
        Ok(())
    }
}

/// What the disk holds if power failed after the first `writes` sector writes of `log`
/// reached `base`: the image a crash replay mounts.
pub fn replay(base: &[u8], log: &[Logged], writes: usize) -> Vec<u8> {
    let mut image = base.to_vec();
    let landed = log.iter().filter_map(|entry| match entry {
        Logged::Write { sector, data } => Some((sector, data)),
        Logged::Flush => None,
    });
    for (sector, data) in landed.take(writes) {
        let Ok(start) = usize::try_from(*sector) else { continue };
        let start = start * SECTOR_SIZE;
        if let Some(target) = image.get_mut(start..start + SECTOR_SIZE) {
            target.copy_from_slice(data);
        }
    }
    image
}
