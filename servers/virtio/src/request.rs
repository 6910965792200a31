//! The virtio-blk request format (virtio 1.2 §5.2.6) and the checks made before a request
//! reaches the device. Pure, so host-tested.
//!
//! A request is a chain of descriptors: a 16-byte header the device reads (type, reserved,
//! first sector, little-endian), the data (read by the device for a write, written for a
//! read or get-id; none for a flush), and one status byte the device writes. Transfers
//! longer than [`MAX_TRANSFER`] go as several requests ([`chunks`]), so one request's
//! bounce copies always fit the DMA pool's arena.

use core::ops::Range;

use crate::BlockError;

/// Bytes in a sector: virtio-blk counts capacity and addresses in 512-byte sectors whatever
/// the device's own block size.
pub const SECTOR_SIZE: usize = 512;

/// Most bytes one request moves (64 sectors).
pub const MAX_TRANSFER: usize = 32 << 10;

/// Bytes of a request's header.
pub const HEADER_SIZE: usize = 16;

/// Bytes of the device's identifier string (get-id): the disk's serial, zero padded.
pub const ID_SIZE: usize = 20;

/// What a request asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Kind {
    /// Read sectors (`VIRTIO_BLK_T_IN`).
    Read = 0,
    /// Write sectors (`VIRTIO_BLK_T_OUT`).
    Write = 1,
    /// Make every completed write durable (`VIRTIO_BLK_T_FLUSH`).
    Flush = 4,
    /// The device's identifier string (`VIRTIO_BLK_T_GET_ID`).
    GetId = 8,
}

/// The header of a request of `kind` at `sector`.
pub fn header(kind: Kind, sector: u64) -> [u8; HEADER_SIZE] {
    let mut header = [0; HEADER_SIZE];
    header[..4].copy_from_slice(&(kind as u32).to_le_bytes());
    header[8..].copy_from_slice(&sector.to_le_bytes());
    header
}

/// What the device said about a request, from its status byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceStatus {
    /// `VIRTIO_BLK_S_IOERR`: the device failed to do it.
    IoError,
    /// `VIRTIO_BLK_S_UNSUPP`: the device does not do this kind of request.
    Unsupported,
    /// A status byte the specification does not define.
    Unknown(u8),
}

impl core::fmt::Display for DeviceStatus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::IoError => f.write_str("an I/O error"),
            Self::Unsupported => f.write_str("an unsupported request"),
            Self::Unknown(status) => write!(f, "the undefined status {status}"),
        }
    }
}

/// The outcome a status byte gives.
pub fn status(byte: u8) -> Result<(), DeviceStatus> {
    match byte {
        0 => Ok(()),
        1 => Err(DeviceStatus::IoError),
        2 => Err(DeviceStatus::Unsupported),
        other => Err(DeviceStatus::Unknown(other)),
    }
}

/// Checks a transfer of `length` bytes from `sector` on a device of `capacity` sectors:
/// `length` a positive multiple of [`SECTOR_SIZE`] and every sector inside the device.
pub fn check(sector: u64, length: usize, capacity: u64) -> Result<(), BlockError> {
    if length == 0 || !length.is_multiple_of(SECTOR_SIZE) {
        return Err(BlockError::Misaligned { length });
    }
    let sectors = (length / SECTOR_SIZE) as u64;
    match sector.checked_add(sectors) {
        Some(end) if end <= capacity => Ok(()),
        _ => Err(BlockError::OutOfRange { sector, sectors, capacity }),
    }
}

/// The requests a checked transfer of `length` bytes from `sector` goes as: each one's
/// first sector and its byte range of the caller's buffer, at most [`MAX_TRANSFER`] long.
pub fn chunks(sector: u64, length: usize) -> impl Iterator<Item = (u64, Range<usize>)> {
    (0..length.div_ceil(MAX_TRANSFER)).map(move |index| {
        let start = index * MAX_TRANSFER;
        let end = length.min(start + MAX_TRANSFER);
        (sector + (start / SECTOR_SIZE) as u64, start..end)
    })
}

/// A disk's serial (the get-id string): up to [`ID_SIZE`] printable ASCII bytes.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Serial {
    bytes: [u8; ID_SIZE],
    length: usize,
}

impl Serial {
    /// The serial in a get-id answer: up to the first zero byte. Bytes that are not
    /// printable ASCII become `?`, so the serial is always a plain string.
    pub fn from_id(id: &[u8; ID_SIZE]) -> Serial {
        let length = id.iter().position(|&byte| byte == 0).unwrap_or(ID_SIZE);
        let mut bytes = [0; ID_SIZE];
        for (to, &from) in bytes.iter_mut().zip(&id[..length]) {
            *to = if from.is_ascii_graphic() || from == b' ' { from } else { b'?' };
        }
        Serial { bytes, length }
    }

    /// It as text (empty when the disk has none).
    pub fn as_str(&self) -> &str {
        // Only printable ASCII is ever stored (`from_id`).
        core::str::from_utf8(&self.bytes[..self.length]).unwrap_or("")
    }
}

impl core::fmt::Debug for Serial {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl core::fmt::Display for Serial {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_type_reserved_sector_little_endian() {
        assert_eq!(header(Kind::Read, 0), [0; 16]);
        assert_eq!(
            header(Kind::Write, 0x0102_0304_0506_0708),
            [1, 0, 0, 0, 0, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1]
        );
        assert_eq!(header(Kind::Flush, 9)[..4], [4, 0, 0, 0]);
        assert_eq!(header(Kind::GetId, 0)[..4], [8, 0, 0, 0]);
    }

    #[test]
    fn status_bytes_are_typed() {
        assert_eq!(status(0), Ok(()));
        assert_eq!(status(1), Err(DeviceStatus::IoError));
        assert_eq!(status(2), Err(DeviceStatus::Unsupported));
        assert_eq!(status(0xFF), Err(DeviceStatus::Unknown(0xFF)));
    }

    #[test]
    fn transfers_must_be_whole_sectors_inside_the_device() {
        assert_eq!(check(0, 512, 1), Ok(()));
        assert_eq!(check(7, 1024, 9), Ok(()));
        assert_eq!(check(0, 0, 8), Err(BlockError::Misaligned { length: 0 }));
        assert_eq!(check(0, 100, 8), Err(BlockError::Misaligned { length: 100 }));
        assert_eq!(check(0, 513, 8), Err(BlockError::Misaligned { length: 513 }));
        assert_eq!(check(8, 512, 8), Err(BlockError::OutOfRange { sector: 8, sectors: 1, capacity: 8 }));
        assert_eq!(check(7, 1024, 8), Err(BlockError::OutOfRange { sector: 7, sectors: 2, capacity: 8 }));
        assert_eq!(
            check(u64::MAX, 512, u64::MAX),
            Err(BlockError::OutOfRange { sector: u64::MAX, sectors: 1, capacity: u64::MAX })
        );
    }

    #[test]
    fn long_transfers_go_as_requests_of_at_most_max_transfer() {
        let all: Vec<_> = chunks(10, 512).collect();
        assert_eq!(all, [(10, 0..512)]);
        let all: Vec<_> = chunks(100, MAX_TRANSFER).collect();
        assert_eq!(all, [(100, 0..MAX_TRANSFER)]);
        let length = 2 * MAX_TRANSFER + 3 * SECTOR_SIZE;
        let all: Vec<_> = chunks(1000, length).collect();
        let per = (MAX_TRANSFER / SECTOR_SIZE) as u64;
        assert_eq!(
            all,
            [
                (1000, 0..MAX_TRANSFER),
                (1000 + per, MAX_TRANSFER..2 * MAX_TRANSFER),
                (1000 + 2 * per, 2 * MAX_TRANSFER..length)
            ]
        );
        assert_eq!(chunks(0, 0).count(), 0);
    }

    #[test]
    fn a_serial_is_the_id_up_to_its_first_zero_in_plain_text() {
        let mut id = [0u8; ID_SIZE];
        assert_eq!(Serial::from_id(&id).as_str(), "");
        id[..7].copy_from_slice(b"scratch");
        assert_eq!(Serial::from_id(&id).as_str(), "scratch");
        let full = *b"ABCDEFGHIJKLMNOPQRST";
        assert_eq!(Serial::from_id(&full).as_str(), "ABCDEFGHIJKLMNOPQRST");
        let mut id = [0u8; ID_SIZE];
        id[..4].copy_from_slice(&[b'a', 0xFF, b'\n', b'b']);
        assert_eq!(Serial::from_id(&id).as_str(), "a??b", "not printable: replaced");
        assert_eq!(format!("{:?}", Serial::from_id(&id)), "\"a??b\"");
    }
}
