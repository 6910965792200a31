//! `fs`: the filesystem server. It runs on the server kit: the kit registers `fs` with the
//! security server and delivers each session's requests, its opening and closing, and the
//! notification bits of the disk and the sync timer; the logic is the library
//! ([`fs::Volume`] over a [`fs::BlockDevice`]), which the host tests exercise over an
//! in-memory device. This file is the plumbing:
//!
//! - the disk is the virtio block device with serial `lattice-system` among the manifest's
//!   transports (`servers/virtio`: found by device id, DMA from a pool of frames this server
//!   owns, completed by interrupt), or the first block device if none has that serial;
//! - it is mounted (checked and repaired) at start; a missing, broken or non-FAT disk is
//!   reported and every request is then answered `NoVolume` with the reason, so the system
//!   still reaches the shell;
//! - a session opens in the volume with its typed scope and its donation when the kit hears
//!   of it, and closes (its files with it) when the security server says so;
//! - changes reach the disk at a client's `Sync`, at the close of a written file, and
//!   [`SYNC_DELAY`] after the last change, by a kernel timer on a kit notification bit.
//!
//! - a session's shared buffer is made at its first `AttachBuffer`: frames retyped from the
//!   session's donated memory, mapped in a run of this server's mapping window
//!   (`userlib::shared`) and each page's capability (read and write) sent to the client
//!   when it asks for that page; revoking the session's donation (the security server and
//!   the donor do, when it closes) deletes the frames, unmapping them from both sides, and
//!   the run goes back to the window when the kit reports the session closed.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
userlib::entry!(program::main);

/// On the host this binary only says where it runs: the library is what the tests use.
#[cfg(not(target_os = "none"))]
fn main() {
    println!("fs: the filesystem server runs on Lattice; `cargo test -p fs` tests its logic");
}

#[cfg(target_os = "none")]
mod program {
    extern crate alloc;

    use alloc::format;
    use alloc::string::{String, ToString};
    use core::time::Duration;

    use alloc::vec::Vec;

    use fs::{BlockDevice, DeviceError, SharedMemory, Volume};
    use fs_api::{Fs, FsError, Request, Response};
    use kernel_abi::{ObjectType, Rights};
    use kit::{Answer, Call, Caller, Config, Kit, Session, Slot};
    use userlib::println;
    use userlib::shared::Region;
    use userlib::time::Timer;
    use virtio::{BlockError, VirtioBlock};

    /// What a session costs its client: its shared buffer (`fs_api::MAX_BUFFER_BYTES`) and
    /// its open files (`fs_api::OPEN_FILE_BYTES` each).
    const SESSION_BYTES: u64 = 128 << 10;
    /// Sectors the write-back cache holds (256 KiB, from the heap).
    const CACHE_SECTORS: usize = 512;
    /// The kit notification bit of the sync timer.
    const SYNC_BIT: usize = 1 << 1;
    /// The first of the block driver's bits (two per disk: its interrupt and its timer).
    const DISK_BITS: usize = 1 << 4;
    /// How long after the last change the server syncs by itself.
    const SYNC_DELAY: Duration = Duration::from_secs(3);
    /// The serial `cargo xtask` gives the system disk.
    const SYSTEM_SERIAL: &str = "lattice-system";

    /// The virtio disk as the volume's block device.
    struct Disk(VirtioBlock);

    fn device_error(error: BlockError) -> DeviceError {
        match error {
            BlockError::OutOfRange { sector, capacity, .. } => {
                DeviceError::OutOfRange { sector, sectors: capacity }
            }
            BlockError::Misaligned { .. } => DeviceError::BadLength,
            BlockError::Timeout | BlockError::NoDevice => DeviceError::Gone,
            _ => DeviceError::Failed,
        }
    }

    impl BlockDevice for Disk {
        fn sectors(&self) -> u64 {
            self.0.capacity()
        }

        fn read_sectors(&mut self, first: u64, buffer: &mut [u8]) -> Result<(), DeviceError> {
            self.0.read(first, buffer).map_err(device_error)
        }

        fn write_sectors(&mut self, first: u64, data: &[u8]) -> Result<(), DeviceError> {
            self.0.write(first, data).map_err(device_error)
        }

        fn flush(&mut self) -> Result<(), DeviceError> {
            self.0.flush().map_err(device_error)
        }
    }

    /// A session's shared buffer as this server holds it: the frames (made from the
    /// session's donation), the read-write copies it sends, and where they are mapped.
    #[derive(Default)]
    struct Buffer {
        frames: Vec<Slot>,
        copies: Vec<Slot>,
        region: Option<Region>,
    }

    impl Drop for Buffer {
        fn drop(&mut self) {
            // The frames go first (their mapping with them), then the run of the window.
            self.copies.clear();
            self.frames.clear();
            if let Some(region) = self.region.take() {
                region.release();
            }
        }
    }

    impl SharedMemory for Buffer {
        fn len(&self) -> usize {
            self.region.map_or(0, |region| region.bytes())
        }
        fn read(&self, offset: usize, into: &mut [u8]) -> bool {
            self.region.is_some_and(|region| region.read(offset, into))
        }
        fn write(&mut self, offset: usize, bytes: &[u8]) -> bool {
            self.region.is_some_and(|region| region.write(offset, bytes))
        }
    }

    impl Buffer {
        /// Makes a buffer of `bytes` from the donated Untyped `donation`, mapped here.
        fn make(donation: usize, bytes: u64) -> Result<Buffer, FsError> {
            let pages = usize::try_from(bytes).unwrap_or(usize::MAX) / userlib::shared::PAGE_BYTES;
            let spent = |_| FsError::DonationSpent { needed: bytes, free: 0 };
            let region = Region::reserve(pages).ok_or(FsError::BadBuffer)?;
            let mut buffer = Buffer { frames: Vec::new(), copies: Vec::new(), region: Some(region) };
            let read_write = Rights::READ | Rights::WRITE;
            for page in 0..pages {
                let frame = Slot::make_from(donation, ObjectType::Frame, 0).map_err(spent)?;
                region.map(page, frame.index(), read_write).map_err(|_| FsError::BadBuffer)?;
                let copy = Slot::copy(frame.index(), read_write).map_err(|_| FsError::BadBuffer)?;
                buffer.frames.push(frame);
                buffer.copies.push(copy);
            }
            Ok(buffer)
        }
    }

    /// The server's state beyond the kit's.
    struct FileServer {
        /// The mounted volume, or why there is none.
        volume: Result<Volume<Disk>, String>,
        /// The timer that syncs a while after the last change, and whether it is armed.
        sync_timer: Option<(Timer, Slot)>,
        sync_armed: bool,
    }

    pub(crate) fn main() -> i32 {
        let _ = userlib::trace::init("fs", tracing::Level::INFO);
        let config = Config::new("fs").service("fs", SESSION_BYTES);
        let kit = match Kit::<Buffer>::start(config) {
            Ok(kit) => kit,
            Err(error) => {
                println!("fs: cannot start: {error}");
                return 1;
            }
        };
        let volume = mount(&kit);
        match &volume {
            Ok(volume) => {
                let mounted = volume.mounted();
                tracing::debug!(read_only = mounted.read_only, "mounted the system disk");
                if mounted.repair.changed() {
                    tracing::warn!(repair = %mounted.repair, "the mount check repaired the volume");
                }
            }
            Err(why) => tracing::warn!("no volume: {why}; every file request is answered NoVolume"),
        }
        let sync_timer = make_sync_timer(&kit).map_err(|error| tracing::warn!(%error, "no sync timer")).ok();
        let mut server = FileServer { volume, sync_timer, sync_armed: false };
        let error = kit.run(&mut server);
        println!("fs: stopped serving: {error:?}");
        1
    }

    /// Opens the system disk and mounts it.
    fn mount(kit: &Kit<Buffer>) -> Result<Volume<Disk>, String> {
        let disks = virtio::open_block_devices(kit, &virtio::Config::new(DISK_BITS))
            .map_err(|error| format!("no disk: {error}"))?;
        let mut disks = disks.into_iter();
        let mut first = None;
        let mut system = None;
        for disk in disks.by_ref() {
            if disk.serial().as_str() == SYSTEM_SERIAL {
                system = Some(disk);
                break;
            }
            first.get_or_insert(disk);
        }
        let disk = system.or(first).ok_or_else(|| "no block device".to_string())?;
        Volume::mount(Disk(disk), CACHE_SECTORS).map_err(|error| match error {
            FsError::NoVolume { why } => why,
            other => format!("{other}"),
        })
    }

    /// A kernel timer signalling the kit's notification with [`SYNC_BIT`], made from this
    /// server's memory.
    fn make_sync_timer(kit: &Kit<Buffer>) -> Result<(Timer, Slot), kit::KitError> {
        let timer = Slot::make(ObjectType::Timer, 0)?;
        let signal = kit.notification(SYNC_BIT)?;
        let bound = Timer::bind(timer.index(), signal.index())?;
        // The timer keeps its own copy of the notification capability; the slot of ours
        // stays with it for the server's life.
        let _ = signal.leak();
        Ok((bound, timer))
    }

    /// `AttachBuffer { page }`: makes the session's buffer the first time (charged to its
    /// donation in the volume's books, then made from its donated memory), and answers with
    /// the size and page `page`'s read-write frame capability.
    fn attach(
        volume: &mut Volume<Disk>,
        connection: u64,
        session: &mut Session<Buffer, Slot>,
        page: u32,
    ) -> Answer<Fs> {
        if session.state.region.is_none() {
            let bytes = match volume.attach_buffer(connection) {
                Ok(bytes) => bytes,
                Err(error) => return Answer::Now(Err(error)),
            };
            let Some(donation) = &session.donation else {
                let _ = volume.detach_buffer(connection);
                return Answer::Now(Err(FsError::DonationSpent { needed: bytes, free: 0 }));
            };
            match Buffer::make(donation.index(), bytes) {
                Ok(buffer) => session.state = buffer,
                Err(error) => {
                    let _ = volume.detach_buffer(connection);
                    tracing::info!(connection, %error, "cannot make the session's shared buffer");
                    return Answer::Now(Err(error));
                }
            }
        }
        let bytes = session.state.len() as u64;
        match session.state.copies.get(page as usize) {
            Some(copy) => Answer::WithCapability(Ok(Response::BufferAttached { bytes }), copy.index()),
            None => Answer::Now(Err(FsError::BadBuffer)),
        }
    }

    /// Whether `request` may leave changes in the cache (an `Open` only for writing: it may
    /// create or truncate; re-arming the timer is a system call or two).
    fn changes(request: &Request) -> bool {
        matches!(request, Request::Open { flags, .. } if flags.contains(fs_api::OpenFlags::WRITE))
            || matches!(
                request,
                Request::Write { .. }
                    | Request::MakeDirectory { .. }
                    | Request::RemoveDirectory { .. }
                    | Request::Unlink { .. }
                    | Request::Rename { .. }
            )
    }

    impl FileServer {
        /// Syncs [`SYNC_DELAY`] from now (re-arming replaces an earlier deadline, so the
        /// sync comes that long after the last change).
        fn sync_later(&mut self) {
            let Some((timer, _)) = &self.sync_timer else { return };
            if let Some(deadline) = userlib::time::deadline_after(SYNC_DELAY) {
                self.sync_armed = timer.arm_at(deadline).is_ok();
            }
        }
    }

    impl kit::Server for FileServer {
        type Protocol = Fs;
        type Session = Buffer;

        fn request(&mut self, kit: &mut Kit<Buffer>, call: &Call<'_>, request: Request) -> Answer<Fs> {
            let Caller::Session(connection) = call.caller() else {
                return Answer::Now(Err(FsError::Denied {
                    grant: "no grant: only sessions the security server opened reach files".into(),
                }));
            };
            let volume = match &mut self.volume {
                Ok(volume) => volume,
                Err(why) => return Answer::Now(Err(FsError::NoVolume { why: why.clone() })),
            };
            let Some(session) = kit.sessions.get_mut(connection) else {
                return Answer::Now(Err(FsError::Denied { grant: "no session: it has closed".into() }));
            };
            if let Request::AttachBuffer { page } = request {
                return attach(volume, connection, session, page);
            }
            let changing = changes(&request);
            let result = volume.serve(connection, request, &mut session.state);
            if changing && result.is_ok() {
                self.sync_later();
            }
            Answer::Now(result)
        }

        fn notified(&mut self, _kit: &mut Kit<Buffer>, bits: usize) {
            if bits & SYNC_BIT != 0 {
                self.sync_armed = false;
                if let Ok(volume) = &mut self.volume
                    && let Err(error) = volume.sync()
                {
                    tracing::warn!(%error, "the timed sync failed");
                }
            }
        }

        fn opened(&mut self, kit: &mut Kit<Buffer>, connection: u64) {
            let (Ok(volume), Some(session)) = (&mut self.volume, kit.sessions.get(connection)) else {
                return;
            };
            let info = &session.info;
            if let Err(error) = volume.open_session(connection, info.scope.clone(), info.donation_bytes) {
                tracing::warn!(connection, %error, "cannot open the session in the volume");
            }
        }

        fn closed(&mut self, _kit: &mut Kit<Buffer>, session: Session<Buffer, Slot>) {
            if let Ok(volume) = &mut self.volume {
                let _ = volume.close_session(session.info.connection);
            }
        }
    }
}
