//! virtio-drivers' [`Hal`] over the program's one DMA pool ([`crate::pool`]): the only
//! module of Lattice's user level, outside `userlib`, with `unsafe` code.
//!
//! virtio-drivers calls its `Hal` through static functions (no `self`), so the pool is a
//! program-wide static, installed once ([`install`]) from frames the driver retyped from
//! the server's own memory and mapped (their physical addresses from `FrameOp::Address`).
//!
//! - `dma_alloc` / `dma_dealloc`: whole zeroed queue pages of the pool.
//! - `share`: a buffer already in the pool is given to the device as it is; any other
//!   buffer (a request header on the stack, the caller's data, the status byte) is copied
//!   into the bounce arena first (zeroed instead when the device only writes it), so the
//!   device only ever touches pool memory, never a client's.
//! - `unshare`: what the device wrote is copied back out of the arena, and the piece given
//!   back.
//! - `mmio_phys_to_virt` is only for PCI BARs; virtio-mmio never calls it.
//!
//! Why `unsafe` cannot be avoided here: the trait is an `unsafe trait` whose methods are
//! `unsafe fn`s, and `share`/`unshare` receive raw pointers to the driver's buffers, which
//! only a raw copy can read or write. What keeps it sound is written at each block; the
//! invariant underneath all of them is that the pool's pages are mapped read-write in this
//! program for its whole life and hold no Rust object, so a raw access to them aliases
//! nothing the compiler knows of.
//!
//! `share` cannot fail (it returns an address). The driver makes sure it never has to:
//! before each request it asks [`can_share`] whether the arena holds every piece the
//! request will share, and refuses the request otherwise. A `share` that still found no room
//! would be a bug in that check, and panics rather than hand the device an address that
//! is not the pool's.

use core::ptr::NonNull;

use virtio_drivers::{BufferDirection, Hal, PhysAddr};

use crate::pool::{PAGE_SIZE, Pool, Region};

/// The program's DMA pool, once installed.
static POOL: spin::Mutex<Option<Pool>> = spin::Mutex::new(None);

/// Makes `pool` the program's DMA pool. Returns it back if one is installed already.
///
/// Its region must be mapped read-write in this program for the rest of its life, hold no
/// Rust object, and be the physical memory it says (the driver retypes, maps and asks the
/// kernel for the addresses of its frames, and never unmaps them).
pub fn install(pool: Pool) -> Result<(), Pool> {
    let mut installed = POOL.lock();
    if installed.is_some() {
        return Err(pool);
    }
    *installed = Some(pool);
    Ok(())
}

/// The installed pool's region.
pub fn region() -> Option<Region> {
    POOL.lock().as_ref().map(Pool::region)
}

/// Whether the bounce arena can take pieces of these lengths now (a request's buffers).
pub fn can_share(lengths: &[usize]) -> bool {
    POOL.lock().as_ref().is_some_and(|pool| pool.can_lend(lengths))
}

/// The request in flight will never complete: its arena pieces stay lent (the device may
/// still write them), and later requests use the rest.
pub fn abandon() {
    if let Some(pool) = POOL.lock().as_mut() {
        pool.abandon();
    }
}

/// Takes `pages` whole pages of the pool for good (`Pool::take_arena_pages`): a network
/// device's packet buffers, given to the device in place. Returns their virtual and
/// physical addresses; the pages are mapped read-write for the program's life and hold no
/// Rust object.
pub fn take_pages(pages: usize) -> Option<(usize, u64)> {
    let mut installed = POOL.lock();
    let pool = installed.as_mut()?;
    let address = pool.take_arena_pages(pages)?;
    Some((address, pool.region().physical(address)?))
}

/// Arena pieces lent now (0 between requests).
pub fn lent() -> usize {
    POOL.lock().as_ref().map_or(0, Pool::lent)
}

/// Empties the installed pool (host tests install one of their own per test).
#[cfg(test)]
pub(crate) fn uninstall() {
    *POOL.lock() = None;
}

/// virtio-drivers' hardware abstraction over the program's DMA pool.
pub struct PoolHal;

// SAFETY: `dma_alloc` returns pages of the pool: mapped read-write for the program's life,
// page aligned, zeroed, lent to one caller until `dma_dealloc` (the pool's books keep each
// page lent once); `share` returns the physical address of pool memory holding (or, for the
// device to write, reserved for) exactly the buffer's bytes; `unshare` copies back what the
// device wrote. See the module documentation.
unsafe impl Hal for PoolHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let mut installed = POOL.lock();
        let Some(pool) = installed.as_mut() else { return (0, NonNull::dangling()) };
        let region = pool.region();
        let Some(address) = pool.allocate_pages(pages) else { return (0, NonNull::dangling()) };
        let (Some(physical), Some(pointer)) = (region.physical(address), NonNull::new(address as *mut u8))
        else {
            pool.free_pages(address, pages);
            return (0, NonNull::dangling());
        };
        // SAFETY: `pages` pages from `address` are queue pages of the pool, just lent to this
        // caller alone and mapped read-write (`install`'s contract); no Rust object lives
        // there.
        unsafe { core::ptr::write_bytes(pointer.as_ptr(), 0, pages * PAGE_SIZE) };
        (physical, pointer)
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, vaddr: NonNull<u8>, pages: usize) -> i32 {
        let freed = POOL.lock().as_mut().is_some_and(|pool| pool.free_pages(vaddr.as_ptr() as usize, pages));
        if freed { 0 } else { -1 }
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, size: usize) -> NonNull<u8> {
        // Only the PCI transport asks (for its BARs); this program maps its virtio-mmio
        // registers itself and never makes a PCI transport. Handing out any pointer here
        // would be a lie the caller dereferences.
        panic!("virtio: PCI BARs are not supported ({paddr:#x}, {size} bytes)")
    }

    unsafe fn share(buffer: NonNull<[u8]>, direction: BufferDirection) -> PhysAddr {
        let address = buffer.as_ptr().cast::<u8>() as usize;
        let length = buffer.len();
        let mut installed = POOL.lock();
        let Some(pool) = installed.as_mut() else {
            panic!("virtio: a buffer shared before the DMA pool was installed");
        };
        let region = pool.region();
        if region.contains(address, length) {
            // Pool memory already: the device may use it where it is.
            if let Some(physical) = region.physical(address) {
                return physical;
            }
        }
        let Some(bounce) = pool.lend(length) else {
            panic!("virtio: the bounce arena has no room for {length} bytes (the request was not checked)");
        };
        let Some(physical) = region.physical(bounce) else {
            panic!("virtio: a bounce piece outside the pool");
        };
        let to = bounce as *mut u8;
        match direction {
            // SAFETY: `buffer` is valid for reads of `length` bytes and not accessed by others
            // during this call (the caller's contract); `to` is `length` bytes of arena just
            // lent to this buffer alone, mapped read-write, holding no Rust object, so the
            // two cannot overlap (`buffer` is not pool memory: checked above).
            BufferDirection::DriverToDevice | BufferDirection::Both => unsafe {
                core::ptr::copy_nonoverlapping(buffer.as_ptr().cast::<u8>(), to, length)
            },
            // The device only writes it; zeroed, so a short write never hands the caller
            // an earlier request's bytes.
            // SAFETY: as above, for the arena piece alone.
            BufferDirection::DeviceToDriver => unsafe { core::ptr::write_bytes(to, 0, length) },
        }
        physical
    }

    unsafe fn unshare(paddr: PhysAddr, buffer: NonNull<[u8]>, direction: BufferDirection) {
        let address = buffer.as_ptr().cast::<u8>() as usize;
        let length = buffer.len();
        let mut installed = POOL.lock();
        let Some(pool) = installed.as_mut() else { return };
        let region = pool.region();
        if region.contains(address, length) {
            return; // shared in place: nothing was copied
        }
        let Some(bounce) = region.virtual_address(paddr) else { return };
        if !region.contains(bounce, length) {
            return;
        }
        if direction != BufferDirection::DriverToDevice {
            // SAFETY: `buffer` is valid for writes of `length` bytes and not accessed by
            // others during this call (the caller's contract); `bounce` is the arena piece
            // `share` lent it (`paddr` is what `share` returned), `length` bytes of mapped
            // pool memory holding no Rust object, which the device has finished writing
            // (the request completed), and the two do not overlap.
            unsafe {
                core::ptr::copy_nonoverlapping(bounce as *const u8, buffer.as_ptr().cast::<u8>(), length)
            };
        }
        pool.give_back(bounce);
    }
}

#[cfg(test)]
mod tests {
    //! The Hal over a pool in host memory, with made-up physical addresses: what the device
    //! would see at an address is read from the pool's bytes there.
    use super::*;

    use std::sync::Mutex;

    /// The pool is one static: these tests take turns.
    static TURN: Mutex<()> = Mutex::new(());

    const PHYSICAL: u64 = 0x8800_0000;
    const PAGES: usize = 8;

    #[repr(C, align(4096))]
    struct Pages([u8; PAGES * PAGE_SIZE]);

    /// The pool's host pages, reached only through raw pointers (as the device would).
    #[derive(Clone, Copy)]
    struct Memory {
        region: Region,
    }

    impl Memory {
        /// What the device sees at `physical`.
        fn read(self, physical: PhysAddr, length: usize) -> Vec<u8> {
            let address = self.region.virtual_address(physical).unwrap();
            assert!(self.region.contains(address, length));
            // SAFETY: inside the leaked pages (checked), which only raw pointers reach.
            unsafe { std::slice::from_raw_parts(address as *const u8, length).to_vec() }
        }

        /// The device writes `bytes` at `physical`.
        fn write(self, physical: PhysAddr, bytes: &[u8]) {
            let address = self.region.virtual_address(physical).unwrap();
            assert!(self.region.contains(address, bytes.len()));
            // SAFETY: as in `read`.
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), address as *mut u8, bytes.len()) };
        }
    }

    /// Installs a pool over fresh host pages (leaked: the pool is static) with two queue
    /// pages, every byte 0xAA.
    fn fresh_pool() -> (Region, Memory) {
        uninstall();
        let pages = Box::into_raw(Box::new(Pages([0xAA; PAGES * PAGE_SIZE])));
        let region = Region { virtual_base: pages as usize, physical_base: PHYSICAL, pages: PAGES };
        install(Pool::new(region, 2).unwrap()).unwrap();
        (region, Memory { region })
    }

    #[test]
    fn a_second_pool_is_refused() {
        let _turn = TURN.lock().unwrap();
        let (region, _) = fresh_pool();
        assert!(install(Pool::new(region, 2).unwrap()).is_err());
        assert_eq!(super::region(), Some(region));
    }

    #[test]
    fn queue_pages_come_zeroed_with_their_physical_address_and_go_back() {
        let _turn = TURN.lock().unwrap();
        let (region, memory) = fresh_pool();
        let (physical, pointer) = PoolHal::dma_alloc(2, BufferDirection::Both);
        assert_eq!(physical, PHYSICAL);
        assert_eq!(pointer.as_ptr() as usize, region.virtual_base);
        assert!(memory.read(PHYSICAL, 2 * PAGE_SIZE).iter().all(|&byte| byte == 0), "zeroed");
        let arena = memory.read(PHYSICAL + 2 * PAGE_SIZE as u64, 6 * PAGE_SIZE);
        assert!(arena.iter().all(|&byte| byte == 0xAA), "the arena is not touched");
        assert_eq!(PoolHal::dma_alloc(1, BufferDirection::Both).0, 0, "no queue page left");
        // SAFETY: the values dma_alloc returned.
        assert_eq!(unsafe { PoolHal::dma_dealloc(physical, pointer, 2) }, 0);
        // SAFETY: as above; given back twice is refused, not undefined.
        assert_eq!(unsafe { PoolHal::dma_dealloc(physical, pointer, 2) }, -1);
        assert_eq!(PoolHal::dma_alloc(1, BufferDirection::Both).0, PHYSICAL);
    }

    #[test]
    fn buffers_outside_the_pool_are_copied_in_and_out() {
        let _turn = TURN.lock().unwrap();
        let (_, memory) = fresh_pool();
        let header = [1u8, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
        let mut data = [0x55u8; 512];
        let mut status = [0xFFu8];
        assert!(can_share(&[header.len(), data.len(), status.len()]));
        // SAFETY: live buffers, untouched until unshare.
        let (header_at, data_at, status_at) = unsafe {
            (
                PoolHal::share(NonNull::from(&header[..]), BufferDirection::DriverToDevice),
                PoolHal::share(NonNull::from(&mut data[..]), BufferDirection::DeviceToDriver),
                PoolHal::share(NonNull::from(&mut status[..]), BufferDirection::DeviceToDriver),
            )
        };
        assert_eq!(header_at, PHYSICAL + 2 * PAGE_SIZE as u64, "the arena follows the queue pages");
        assert_eq!(memory.read(header_at, 16), header, "the device reads the header");
        assert_eq!(memory.read(data_at, 512), [0; 512], "a buffer to be written is zeroed");
        assert_eq!(lent(), 3);
        // The device writes the data and the status into the arena.
        memory.write(data_at, &[0x42; 512]);
        memory.write(status_at, &[0]);
        // SAFETY: the addresses share returned, the same buffers.
        unsafe {
            PoolHal::unshare(header_at, NonNull::from(&header[..]), BufferDirection::DriverToDevice);
            PoolHal::unshare(data_at, NonNull::from(&mut data[..]), BufferDirection::DeviceToDriver);
            PoolHal::unshare(status_at, NonNull::from(&mut status[..]), BufferDirection::DeviceToDriver);
        }
        assert_eq!(data, [0x42; 512], "what the device wrote is copied out");
        assert_eq!(status, [0]);
        assert_eq!(header[0], 1, "a buffer the device only read is not written back");
        assert_eq!(lent(), 0, "every piece came back");
    }

    #[test]
    fn pool_memory_is_shared_in_place() {
        let _turn = TURN.lock().unwrap();
        let (region, _) = fresh_pool();
        let (physical, pointer) = PoolHal::dma_alloc(1, BufferDirection::Both);
        let inside = NonNull::slice_from_raw_parts(pointer, 100);
        // SAFETY: pool memory lent to this test, untouched until unshare.
        let shared = unsafe { PoolHal::share(inside, BufferDirection::DriverToDevice) };
        assert_eq!(shared, physical);
        assert_eq!(lent(), 0, "nothing was copied");
        // SAFETY: as above.
        unsafe { PoolHal::unshare(shared, inside, BufferDirection::DriverToDevice) };
        assert_eq!(region.physical(pointer.as_ptr() as usize), Some(physical));
    }

    #[test]
    fn a_request_larger_than_the_arena_is_seen_before_sharing() {
        let _turn = TURN.lock().unwrap();
        fresh_pool();
        assert!(can_share(&[16, 6 * PAGE_SIZE - 128, 1]));
        assert!(!can_share(&[16, 6 * PAGE_SIZE - 127, 1]));
        uninstall();
        assert!(!can_share(&[1]), "no pool, no room");
        assert_eq!(PoolHal::dma_alloc(1, BufferDirection::Both).0, 0);
    }

    #[test]
    fn an_abandoned_request_keeps_its_pieces() {
        let _turn = TURN.lock().unwrap();
        fresh_pool();
        let mut data = [0u8; 64];
        // SAFETY: a live buffer; abandoned, so never unshared.
        let stuck = unsafe { PoolHal::share(NonNull::from(&mut data[..]), BufferDirection::DeviceToDriver) };
        abandon();
        assert_eq!(lent(), 0);
        let header = [7u8; 16];
        // SAFETY: a live buffer.
        let next = unsafe { PoolHal::share(NonNull::from(&header[..]), BufferDirection::DriverToDevice) };
        assert!(next > stuck, "the next request does not reuse what the device may still write");
        // SAFETY: as above.
        unsafe { PoolHal::unshare(next, NonNull::from(&header[..]), BufferDirection::DriverToDevice) };
    }
}
