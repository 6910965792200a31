//! The books of a network device's packet buffers: which buffer each queue token stands
//! for, and which are free. Pure bookkeeping, host-tested; [`crate::VirtioNet`] pairs it
//! with the pool pages the buffers live in.
//!
//! Invariants: a buffer is either free or with the device under exactly one token; a token
//! names at most one buffer; `length` of a buffer with the device is what was given to it
//! (the same slice must be handed back when its token completes).

/// Buffers of one queue, at most 32, under tokens below `TOKENS`.
#[derive(Debug)]
pub struct PacketBooks<const TOKENS: usize> {
    buffers: usize,
    /// Bit `i`: buffer `i` is free.
    free: u32,
    /// The buffer and length under each token.
    by_token: [Option<(u8, u16)>; TOKENS],
}

impl<const TOKENS: usize> PacketBooks<TOKENS> {
    /// Books for `buffers` buffers, all free. `None` for 0 or more than 32.
    pub fn new(buffers: usize) -> Option<Self> {
        if buffers == 0 || buffers > 32 {
            return None;
        }
        let free = if buffers == 32 { u32::MAX } else { (1u32 << buffers) - 1 };
        Some(Self { buffers, free, by_token: [None; TOKENS] })
    }

    /// How many buffers there are.
    pub fn buffers(&self) -> usize {
        self.buffers
    }

    /// How many are free.
    pub fn free(&self) -> usize {
        self.free.count_ones() as usize
    }

    /// Takes a free buffer (the lowest).
    pub fn take(&mut self) -> Option<usize> {
        if self.free == 0 {
            return None;
        }
        let index = self.free.trailing_zeros() as usize;
        self.free &= !(1 << index);
        Some(index)
    }

    /// A taken buffer goes back unused.
    pub fn put_back(&mut self, index: usize) {
        if index < self.buffers {
            self.free |= 1 << index;
        }
    }

    /// Buffer `index` (taken) went to the device as `length` bytes under `token`. Returns
    /// false (and the buffer is free again) if the token is out of range or already used.
    pub fn submitted(&mut self, token: u16, index: usize, length: usize) -> bool {
        let (Some(slot), Ok(buffer), Ok(length)) =
            (self.by_token.get_mut(usize::from(token)), u8::try_from(index), u16::try_from(length))
        else {
            self.put_back(index);
            return false;
        };
        if slot.is_some() || index >= self.buffers {
            self.put_back(index);
            return false;
        }
        *slot = Some((buffer, length));
        true
    }

    /// The device completed `token`: its buffer and the length it was given, now the
    /// caller's (taken, not free). `None` for a token with no buffer.
    pub fn completed(&mut self, token: u16) -> Option<(usize, usize)> {
        let (buffer, length) = self.by_token.get_mut(usize::from(token))?.take()?;
        Some((usize::from(buffer), usize::from(length)))
    }
}

/// The Ethernet frame in a received buffer: `total` bytes the device wrote, of which
/// `header` are its virtio-net header. `None` if the device wrote less than a header or
/// more than the buffer holds.
pub fn frame_range(header: usize, packet: usize, buffer: usize) -> Option<core::ops::Range<usize>> {
    let end = header.checked_add(packet)?;
    (end <= buffer).then_some(header..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_go_to_the_device_under_a_token_and_come_back_by_it() {
        let mut books = PacketBooks::<16>::new(3).unwrap();
        assert_eq!(books.free(), 3);
        let a = books.take().unwrap();
        let b = books.take().unwrap();
        assert_eq!((a, b), (0, 1));
        assert!(books.submitted(5, a, 1526));
        assert!(books.submitted(9, b, 60));
        assert_eq!(books.free(), 1);
        assert_eq!(books.completed(9), Some((1, 60)));
        assert_eq!(books.completed(9), None, "a token completes once");
        assert_eq!(books.completed(2), None, "a token never given");
        assert_eq!(books.completed(200), None, "out of range");
        books.put_back(b);
        assert_eq!(books.free(), 2);
        assert_eq!(books.completed(5), Some((0, 1526)));
    }

    #[test]
    fn a_token_in_use_or_out_of_range_is_refused_and_the_buffer_stays_free() {
        let mut books = PacketBooks::<4>::new(2).unwrap();
        let a = books.take().unwrap();
        assert!(books.submitted(1, a, 10));
        let b = books.take().unwrap();
        assert!(!books.submitted(1, b, 10), "token 1 holds a buffer");
        assert_eq!(books.free(), 1);
        let b = books.take().unwrap();
        assert!(!books.submitted(4, b, 10), "no token 4");
        let b = books.take().unwrap();
        assert!(!books.submitted(2, b, 70_000), "longer than a u16");
        assert_eq!(books.free(), 1);
    }

    #[test]
    fn every_buffer_is_handed_out_once() {
        let mut books = PacketBooks::<32>::new(32).unwrap();
        let taken: Vec<usize> = core::iter::from_fn(|| books.take()).collect();
        assert_eq!(taken, (0..32).collect::<Vec<_>>());
        assert_eq!(books.free(), 0);
        assert!(PacketBooks::<4>::new(0).is_none());
        assert!(PacketBooks::<4>::new(33).is_none());
    }

    #[test]
    fn a_frame_lies_after_the_header_inside_the_buffer() {
        assert_eq!(frame_range(12, 60, 2048), Some(12..72));
        assert_eq!(frame_range(12, 2040, 2048), None);
        assert_eq!(frame_range(usize::MAX, 1, 2048), None);
    }
}
