//! The mounted volume and its sessions: the fs protocol's operations on paths, each
//! normalised and asked of the session's scope before anything on the volume changes.
//!
//! lamfat is the FAT engine for metadata, over the sector cache: directories, names,
//! creation, truncation, removal, rename, the free count. File contents take a direct
//! path instead ([`crate::data`]): a `File` borrows the filesystem, so none can live
//! across requests, and a new one placed at a position walks the chain from the first
//! cluster (lamfat's `seek`), which made the n-th piece of a file cost O(n). So an open
//! file has a [`FileMap`], shared by its handles and made once at open: its clusters as
//! runs, its size and (for a writer) where its directory entry is. Reads go from the
//! runs to the cache; writes allocate clusters themselves in the table (through the
//! cache, as lamfat would: end of chain first, then the link), write the data, and put
//! the new size and first cluster in the entry. lamfat's free count lives in its memory
//! and misses those allocations: the volume keeps their number (`allocated_outside`)
//! and takes it off lamfat's count wherever the count is used or written (space checks,
//! `StatFs`, FAT32's information sector at sync and unmount).
//!
//! Finding a path through lamfat means iterating every directory from the root (each
//! entry decoded, its long name assembled and compared): most of what an `Open` or a
//! `Stat` cost. So the volume remembers where recently used paths' entries lie
//! ([`crate::lookups`]) and reads just that entry through the cache; a path not
//! remembered, or an `Open` that truncates (lamfat's work), walks as before.
//!
//! lamfat's other traps:
//! - a `File` keeps its own copy of its directory entry: the only `File`s made are for a
//!   truncate at open and for the first cluster of an opened file, each dropped at once.
//! - `rename` deletes the source's entries before it checks the new name: every name is
//!   checked first ([`crate::names`]), and a rename is refused unless a cluster is free
//!   (the target directory may have to grow after the source entry is gone).
//! - `rename` of a directory to another parent leaves its `..` stale: fixed here.
//! - neither `unmount` nor a `File` flush writes the storage: `sync` does ([`Volume::sync`]).
//! - its allocator takes the first free cluster from its own next-free hint, which it keeps
//!   to itself: it could take a cluster freed since the last sync, which the disk may
//!   still give to its old file (see [`crate::freed`]). The data path's allocator skips
//!   those; lamfat allocates only for directories (a new directory, a directory that grows
//!   for a new entry), so before those the volume syncs if any cluster is waiting
//!   (a rename syncs before it anyway).
//!
//! Invariants:
//! - a file is open for writing by at most one handle, in any session;
//! - a session's open files and shared buffer cost no more than its donation;
//! - an open file's path names the same file until it is closed (open files cannot be
//!   renamed or unlinked: `Busy`), so its map and its directory entry's place hold;
//! - the free count is lamfat's less `allocated_outside` (lamfat counts the volume's free
//!   clusters at mount, before the data path allocates any, and adds every cluster it
//!   frees, whoever allocated it);
//! - no cluster freed since the last complete sync is allocated again (by the data path
//!   or lamfat) before a sync puts the freeing on the disk; when the volume would be full
//!   but for them, the write syncs first instead of answering `NoSpace`;
//! - a remembered path names the entry a walk would find: every operation that adds,
//!   removes or renames an entry (create, make directory, unlink, remove directory,
//!   rename) forgets them all before it changes anything, and with them the maps kept for
//!   closed files (a closed file's map is otherwise the file: only the data path, through
//!   an open handle, and a truncate at open, which makes the map again, change a file);
//! - a refused request changed nothing: every check (path, names, scope, flags, budget,
//!   existence, space) comes before the first write.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;

use fs_api::{
    DirectoryEntry, FileKind, Fs, FsError, FsStatus, MAX_BUFFER_BYTES, MAX_INLINE_BYTES, Metadata,
    OPEN_FILE_BYTES, OpenFlags, Place, Request, Response, SeekFrom, Source,
};
use grant::{FsOp, FsPath, Scope};
use lamfat::{LossyOemCpConverter, NullTimeProvider};

use crate::cache::{CacheIo, CacheStats, Class, SectorCache, StorageError};
use crate::check::{Repair, check_and_repair};
use crate::data::FileMap;
use crate::device::{BlockDevice, SECTOR_SIZE};
use crate::layout::{self, FOREIGN_BYTES, Layout};
use crate::lookups::{Located, Lookups};
use crate::names::{
    check_new_name, checked_owned_path, client_path, components, file_key, same_name, with_file_key,
};

/// Where FAT32's information sector keeps the free cluster count.
const FS_INFO_FREE_COUNT: u64 = 488;

type Engine<D> = lamfat::FileSystem<CacheIo<D>, NullTimeProvider, LossyOemCpConverter>;
type EngineDir<'a, D> = lamfat::Dir<'a, CacheIo<D>, NullTimeProvider, LossyOemCpConverter>;
type EngineEntry<'a, D> = lamfat::DirEntry<'a, CacheIo<D>, NullTimeProvider, LossyOemCpConverter>;
type EngineError = lamfat::Error<StorageError>;

/// A remembered path's place and its directory entry's bytes as the cache holds them.
type LookedUp = (Rc<Located>, [u8; 32]);

/// How many records of files `Volume::files` keeps when no handle has them open (their
/// maps, for the next open).
const KEPT_MAPS: usize = 64;

/// Forgets every remembered path in `lookups` and every map in `files` no handle has open
/// before an entry is added, removed or renamed; a function of the two fields, for callers
/// holding lamfat's directories).
fn forget(lookups: &RefCell<Lookups>, files: &mut BTreeMap<Rc<str>, Use>) {
    lookups.borrow_mut().clear();
    files.retain(|_, usage| usage.open > 0);
}

/// A session: a connection id the security server chose.
pub type SessionId = u64;

/// Page size of shared buffers: they are made of frames.
const PAGE_BYTES: u64 = 4096;

/// Puts `free` in FAT32's information sector (if the volume has one), through the cache.
fn write_free_count<D: BlockDevice>(
    cache: &mut SectorCache<D>,
    layout: &Layout,
    free: u64,
) -> Result<(), FsError> {
    if layout.fs_info_sector == 0 {
        return Ok(());
    }
    let free = u32::try_from(free).unwrap_or(u32::MAX).to_le_bytes();
    let offset = u64::from(layout.fs_info_sector) * SECTOR_SIZE as u64 + FS_INFO_FREE_COUNT;
    let mut stored = [0u8; 4];
    cache.read_at(offset, &mut stored).map_err(|_| FsError::Io)?;
    if stored != free {
        cache.write_at(offset, &free).map_err(|_| FsError::Io)?;
    }
    Ok(())
}

/// Whether the volume's boot sector (as the cache reads it) has its dirty bit set.
fn cache_marks_dirty<D: BlockDevice>(cache: &mut SectorCache<D>, layout: &Layout) -> bool {
    let mut flag = [0u8];
    cache.read_at(layout.dirty_flag_offset() as u64, &mut flag).map_or(true, |_| flag[0] & 1 != 0)
}

/// lamfat's error as the protocol's.
fn engine_error(error: EngineError) -> FsError {
    match error {
        lamfat::Error::NotFound => FsError::NotFound,
        lamfat::Error::AlreadyExists => FsError::Exists,
        lamfat::Error::DirectoryIsNotEmpty => FsError::NotEmpty,
        lamfat::Error::NotEnoughSpace => FsError::NoSpace,
        lamfat::Error::InvalidFileNameLength => FsError::NameTooLong,
        lamfat::Error::UnsupportedFileNameCharacter => FsError::InvalidName { name: String::new() },
        lamfat::Error::CorruptedFileSystem | lamfat::Error::UnexpectedEof | lamfat::Error::InvalidInput => {
            FsError::Corrupted
        }
        _ => FsError::Io,
    }
}

/// How the volume came up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mounted {
    /// What the mount check repaired.
    pub repair: Repair,
    /// Whether the volume is read-only (the repair could not be written).
    pub read_only: bool,
}

/// An open file of a session.
#[derive(Clone, Debug)]
struct OpenFile {
    /// The path the client opened, normalised: what the scope is asked about.
    path: FsPath,
    /// The stored path in upper case: the file's record in `Volume::files` (its map),
    /// shared with that record and the remembered lookup.
    key: Rc<str>,
    flags: OpenFlags,
    position: u64,
    written: bool,
}

/// A session's state.
#[derive(Clone, Debug)]
struct Session {
    scope: Scope,
    donation: u64,
    buffer: u64,
    handles: Handles,
}

/// A session's open files by handle. A session has few (its donation pays for each), so
/// a vector searched in order: no map node made and freed per open and close.
#[derive(Clone, Debug, Default)]
struct Handles(Vec<(u32, OpenFile)>);

impl Handles {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn contains(&self, handle: u32) -> bool {
        self.0.iter().any(|(number, _)| *number == handle)
    }

    fn get(&self, handle: u32) -> Option<&OpenFile> {
        self.0.iter().find(|(number, _)| *number == handle).map(|(_, file)| file)
    }

    fn get_mut(&mut self, handle: u32) -> Option<&mut OpenFile> {
        self.0.iter_mut().find(|(number, _)| *number == handle).map(|(_, file)| file)
    }

    /// Adds `handle` (not already there: [`Volume::new_handle`] gives only free ones).
    fn insert(&mut self, handle: u32, file: OpenFile) {
        self.0.push((handle, file));
    }

    fn remove(&mut self, handle: u32) -> Option<OpenFile> {
        let index = self.0.iter().position(|(number, _)| *number == handle)?;
        Some(self.0.swap_remove(index).1)
    }

    fn into_files(self) -> impl Iterator<Item = OpenFile> {
        self.0.into_iter().map(|(_, file)| file)
    }
}

impl Session {
    fn spent(&self) -> u64 {
        self.handles.len() as u64 * OPEN_FILE_BYTES + self.buffer
    }

    fn allow(&self, path: &FsPath, op: FsOp) -> Result<(), FsError> {
        if self.scope.allows(path, op) {
            return Ok(());
        }
        Err(FsError::Denied {
            grant: format!("the grant `{}` gives no {} at {path}", self.scope, op.right()),
        })
    }
}

/// How many handles, across sessions, have a file open, and how many for writing, and
/// where the file lies (one map for all its handles: the writer's growth is the readers').
#[derive(Clone, Debug, Default)]
struct Use {
    open: u32,
    writers: u32,
    map: FileMap,
}

/// What a path names on the volume.
enum Found<'a, D: BlockDevice> {
    Root,
    Entry(EngineEntry<'a, D>),
}

/// A path found: what it names, its names as stored, and their short names as lamfat
/// shows them (for [`crate::raw::locate_entry`]).
struct Resolved<'a, D: BlockDevice> {
    found: Found<'a, D>,
    stored: Vec<String>,
    shorts: Vec<Vec<u8>>,
}

impl<D: BlockDevice> Resolved<'_, D> {
    fn is_dir(&self) -> bool {
        match &self.found {
            Found::Root => true,
            Found::Entry(entry) => entry.is_dir(),
        }
    }
}

/// The entry called `name` in `directory`, as lamfat would find it.
fn find<'a, D: BlockDevice>(
    directory: &EngineDir<'a, D>,
    name: &str,
) -> Result<Option<EngineEntry<'a, D>>, FsError> {
    for entry in directory.iter() {
        let entry = entry.map_err(engine_error)?;
        if same_name(entry.long_file_name_as_ucs2_units(), &entry.short_file_name(), name) {
            return Ok(Some(entry));
        }
    }
    Ok(None)
}

/// Finds the path `names` from the root.
fn resolve<'a, D: BlockDevice>(fs: &'a Engine<D>, names: &[String]) -> Result<Resolved<'a, D>, FsError> {
    let mut directory = fs.root_dir();
    let mut stored = Vec::with_capacity(names.len());
    let mut shorts = Vec::with_capacity(names.len());
    for (index, name) in names.iter().enumerate() {
        let entry = find(&directory, name)?.ok_or(FsError::NotFound)?;
        stored.push(entry.file_name());
        shorts.push(entry.short_file_name_as_bytes().to_vec());
        if index + 1 == names.len() {
            return Ok(Resolved { found: Found::Entry(entry), stored, shorts });
        }
        if !entry.is_dir() {
            return Err(FsError::NotADirectory);
        }
        directory = entry.to_dir();
    }
    Ok(Resolved { found: Found::Root, stored, shorts })
}

/// The directory at `names`, and its names as stored.
fn open_directory<'a, D: BlockDevice>(
    fs: &'a Engine<D>,
    names: &[String],
) -> Result<(EngineDir<'a, D>, Vec<String>), FsError> {
    open_directory_with_shorts(fs, names).map(|(directory, stored, _)| (directory, stored))
}

/// A directory, its path's names as stored, and their short names as lamfat shows them.
type DirectoryAndNames<'a, D> = (EngineDir<'a, D>, Vec<String>, Vec<Vec<u8>>);

/// [`open_directory`], and the short names of the path as lamfat shows them.
fn open_directory_with_shorts<'a, D: BlockDevice>(
    fs: &'a Engine<D>,
    names: &[String],
) -> Result<DirectoryAndNames<'a, D>, FsError> {
    let resolved = resolve(fs, names)?;
    match resolved.found {
        Found::Root => Ok((fs.root_dir(), resolved.stored, resolved.shorts)),
        Found::Entry(entry) if entry.is_dir() => Ok((entry.to_dir(), resolved.stored, resolved.shorts)),
        Found::Entry(_) => Err(FsError::NotADirectory),
    }
}

/// The first cluster of a file's entry (0: none), as lamfat sees it: the first extent.
fn first_cluster_of<D: BlockDevice>(entry: &EngineEntry<'_, D>, layout: &Layout) -> Result<u32, FsError> {
    let mut file = entry.to_file();
    let first = file.extents().next();
    drop(file);
    let Some(extent) = first else { return Ok(0) };
    let offset = extent.map_err(engine_error)?.offset;
    let sector = (offset / SECTOR_SIZE as u64).saturating_sub(u64::from(layout.first_data_sector));
    let cluster = sector / u64::from(layout.sectors_per_cluster) + u64::from(crate::layout::FIRST_CLUSTER);
    u32::try_from(cluster).map_err(|_| FsError::Corrupted)
}

/// The size a raw directory entry gives.
fn raw_size(raw: &[u8; 32]) -> u64 {
    u64::from(u32::from_le_bytes([raw[28], raw[29], raw[30], raw[31]]))
}

/// The metadata of the raw directory entry `raw` called `name` (as lamfat reads it:
/// its size, its kind, its modification time).
fn raw_metadata(name: String, raw: &[u8; 32]) -> Metadata {
    let time = u16::from_le_bytes([raw[22], raw[23]]);
    let date = u16::from_le_bytes([raw[24], raw[25]]);
    Metadata {
        name,
        kind: if raw[11] & 0x10 != 0 { FileKind::Directory } else { FileKind::File },
        size: raw_size(raw),
        modified: format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            (date >> 9) + 1980,
            (date >> 5) & 0xF,
            date & 0x1F,
            time >> 11,
            (time >> 5) & 0x3F,
            (time & 0x1F) * 2
        ),
    }
}

fn joined(names: &[String]) -> String {
    if names.is_empty() {
        return String::from("/");
    }
    names.iter().fold(String::new(), |mut path, name| {
        path.push('/');
        path.push_str(name);
        path
    })
}

fn metadata<D: BlockDevice>(entry: &EngineEntry<'_, D>) -> Metadata {
    let modified = entry.modified();
    Metadata {
        name: entry.file_name(),
        kind: if entry.is_dir() { FileKind::Directory } else { FileKind::File },
        size: entry.len(),
        modified: format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            modified.date.year,
            modified.date.month,
            modified.date.day,
            modified.time.hour,
            modified.time.min,
            modified.time.sec
        ),
    }
}

/// A mounted FAT volume and its sessions (see the module doc).
pub struct Volume<D: BlockDevice> {
    fs: Engine<D>,
    cache: Rc<RefCell<SectorCache<D>>>,
    layout: Layout,
    sessions: BTreeMap<SessionId, Session>,
    /// Open files' records by stored path in upper case, and those of recently closed
    /// ones (see [`Volume::release`]).
    files: BTreeMap<Rc<str>, Use>,
    next_handle: u32,
    /// Whether `next_handle` has wrapped round: until it does, every number it gives is
    /// new, and no session's handles need searching.
    handles_wrapped: bool,
    mounted: Mounted,
    /// Clusters the data path allocated, which lamfat's free count (kept in its memory,
    /// and known from the mount on) still counts as free: the volume's free count is
    /// lamfat's less these. lamfat adds every cluster it frees, whoever allocated it, so
    /// the difference stays right through truncates and unlinks.
    allocated_outside: u32,
    /// Where the data path looks for a free cluster for a file that has none.
    free_hint: u32,
    /// Where shared-buffer transfers pass through (the buffer is never lent as a slice),
    /// kept between requests so a transfer does not allocate and zero a fresh one. Only
    /// the bytes a request fills are ever copied out of it.
    scratch: Vec<u8>,
    /// Where recently used paths' entries lie, so `Open` and `Stat` skip the walk from the
    /// root (see [`crate::lookups`]); in a cell, as `stat` remembers what it found.
    lookups: RefCell<Lookups>,
}

impl<D: BlockDevice> core::fmt::Debug for Volume<D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Volume")
            .field("layout", &self.layout)
            .field("mounted", &self.mounted)
            .finish_non_exhaustive()
    }
}

impl<D: BlockDevice> Volume<D> {
    /// Mounts the FAT volume on `device` with a cache of `cache_sectors` sectors: reads
    /// the boot sector, checks and repairs the volume (and syncs the repair), then hands
    /// it to lamfat. A device that is empty, not FAT, truncated, unreadable or random is
    /// `NoVolume`, saying which.
    pub fn mount(device: D, cache_sectors: usize) -> Result<Volume<D>, FsError> {
        let no_volume = |why: String| FsError::NoVolume { why };
        let sectors = device.sectors();
        if sectors == 0 {
            return Err(no_volume(String::from("the disk is empty (0 sectors)")));
        }
        let mut cache = SectorCache::new(device, cache_sectors);
        let mut boot = [0_u8; SECTOR_SIZE];
        cache
            .read_at(0, &mut boot)
            .map_err(|error| no_volume(format!("cannot read the boot sector: {error}")))?;
        let layout = Layout::parse(&boot, sectors).map_err(|why| {
            // Say what the disk holds instead, if it is plainly something else.
            let mut head = [0_u8; FOREIGN_BYTES];
            let read = cache.read_at(0, &mut head).unwrap_or(0);
            no_volume(head.get(..read).and_then(layout::foreign).map_or(why, String::from))
        })?;
        cache.set_layout(layout.clone());
        let repair = check_and_repair(&mut cache, &layout)
            .map_err(|error| no_volume(format!("the mount check could not read the volume: {error}")))?;
        let read_only = repair.changed() && cache.sync().is_err();
        if !read_only && !cache_marks_dirty(&mut cache, &layout) {
            cache.assume_clean_on_device();
        }
        let cache = Rc::new(RefCell::new(cache));
        let options = lamfat::FsOptions::new().time_provider(NullTimeProvider::new());
        let fs = lamfat::FileSystem::new(CacheIo::new(Rc::clone(&cache)), options)
            .map_err(|error| no_volume(format!("lamfat refused the volume: {error:?}")))?;
        // lamfat counts the free clusters at its first `stats` (FAT12/16, or a FAT32 count
        // it does not trust): now, before the data path allocates any (see
        // `allocated_outside`).
        fs.stats().map_err(|error| no_volume(format!("cannot count the free clusters: {error:?}")))?;
        Ok(Volume {
            fs,
            cache,
            layout,
            sessions: BTreeMap::new(),
            files: BTreeMap::new(),
            next_handle: 1,
            handles_wrapped: false,
            mounted: Mounted { repair, read_only },
            allocated_outside: 0,
            free_hint: crate::layout::FIRST_CLUSTER,
            scratch: Vec::new(),
            lookups: RefCell::new(Lookups::new()),
        })
    }

    /// How the volume came up: the repair, and whether it is read-only.
    pub fn mounted(&self) -> &Mounted {
        &self.mounted
    }

    /// The volume's layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// How many paths are remembered for `Open` and `Stat` (see [`crate::lookups`]).
    pub fn remembered_paths(&self) -> usize {
        self.lookups.borrow().len()
    }

    /// The cache's counters.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.borrow().stats()
    }

    /// Runs `change` on the device (tests cut it, read its log).
    pub fn with_device<R>(&self, change: impl FnOnce(&mut D) -> R) -> R {
        change(self.cache.borrow_mut().device_mut())
    }

    /// Writes every change to the device, in the order that keeps it consistent, and
    /// returns when the device has flushed.
    pub fn sync(&mut self) -> Result<(), FsError> {
        self.sync_volume()
    }

    /// [`Volume::sync`], for the operations that hold lamfat's directories while they sync.
    fn sync_volume(&self) -> Result<(), FsError> {
        // FAT32's information sector holds the free cluster count, which lamfat writes only
        // at unmount: it goes out with the sync (from lamfat's books), and the volume is
        // marked clean afterwards, so a synced volume is a clean one on the disk.
        let free = self.free_clusters()?;
        let mut cache = self.cache.borrow_mut();
        write_free_count(&mut cache, &self.layout, free)?;
        cache.sync_clean().map(|_| ()).map_err(|_| FsError::Io)
    }

    /// Unmounts: lamfat writes its information sector and clears the dirty flag, the
    /// cache syncs, and the device comes back.
    pub fn unmount(self) -> Result<D, FsError> {
        let free = self.free_clusters()?;
        let Volume { fs, cache, layout, .. } = self;
        fs.unmount().map_err(engine_error)?;
        // lamfat's count misses what the data path allocated: the right one goes last.
        write_free_count(&mut cache.borrow_mut(), &layout, free)?;
        cache.borrow_mut().sync().map_err(|_| FsError::Io)?;
        let cache = Rc::try_unwrap(cache).map_err(|_| FsError::Io)?;
        Ok(cache.into_inner().into_device())
    }

    /// A session opened: `scope` says what it may reach, `donation_bytes` what it pays
    /// for its open files and shared buffer with. A session already open under this id
    /// is closed first.
    pub fn open_session(
        &mut self,
        session: SessionId,
        scope: Scope,
        donation_bytes: u64,
    ) -> Result<(), FsError> {
        if self.sessions.contains_key(&session) {
            self.close_session(session)?;
        }
        let state = Session { scope, donation: donation_bytes, buffer: 0, handles: Handles::default() };
        self.sessions.insert(session, state);
        Ok(())
    }

    /// The session's scope changed (a policy swap narrowed it): it holds from the next
    /// request, for open handles too.
    pub fn set_scope(&mut self, session: SessionId, scope: Scope) -> Result<(), FsError> {
        self.session_mut(session)?.scope = scope;
        Ok(())
    }

    /// The session closed: its handles close, and if it wrote, the volume syncs.
    pub fn close_session(&mut self, session: SessionId) -> Result<(), FsError> {
        let Some(state) = self.sessions.remove(&session) else { return Ok(()) };
        let mut written = false;
        for file in state.handles.into_files() {
            written |= file.written;
            self.release(&file);
        }
        if written { self.sync() } else { Ok(()) }
    }

    /// Open files of `session`.
    pub fn open_files(&self, session: SessionId) -> usize {
        self.sessions.get(&session).map_or(0, |state| state.handles.len())
    }

    fn session(&self, session: SessionId) -> Result<&Session, FsError> {
        self.sessions
            .get(&session)
            .ok_or_else(|| FsError::Denied { grant: String::from("no session for this connection") })
    }

    fn session_mut(&mut self, session: SessionId) -> Result<&mut Session, FsError> {
        self.sessions
            .get_mut(&session)
            .ok_or_else(|| FsError::Denied { grant: String::from("no session for this connection") })
    }

    fn writable(&self) -> Result<(), FsError> {
        if self.mounted.read_only { Err(FsError::ReadOnly) } else { Ok(()) }
    }

    /// Free clusters: lamfat's count less what the data path allocated.
    fn free_clusters(&self) -> Result<u64, FsError> {
        let lamfat = self.fs.stats().map(|stats| u64::from(stats.free_clusters())).map_err(engine_error)?;
        Ok(lamfat.saturating_sub(u64::from(self.allocated_outside)))
    }

    /// Refuses unless `clusters` clusters are free.
    fn need_space(&self, clusters: u64) -> Result<(), FsError> {
        if self.free_clusters()? < clusters { Err(FsError::NoSpace) } else { Ok(()) }
    }

    /// Free clusters the data path may allocate now: the free ones less those freed since
    /// the last complete sync.
    fn allocatable_clusters(&self) -> Result<u64, FsError> {
        let waiting = u64::from(self.cache.borrow().freed().len());
        Ok(self.free_clusters()?.saturating_sub(waiting))
    }

    /// Before lamfat may allocate (a directory made or grown): syncs if any cluster freed
    /// since the last sync is waiting, since lamfat's allocator would not skip it.
    fn settle_freed(&self) -> Result<(), FsError> {
        if self.cache.borrow().freed().is_empty() { Ok(()) } else { self.sync_volume() }
    }

    /// The entry of `path` (normalised, not the root), if the path is remembered: where it
    /// lies and its 32 bytes as the cache holds them now. An entry that is not the one
    /// remembered (which the invariants of [`crate::lookups`] rule out) is forgotten and
    /// the path walked again.
    fn looked_up(&self, path: &FsPath) -> Result<Option<LookedUp>, FsError> {
        let remembered = with_file_key(path.as_str(), |key| self.lookups.borrow().get(key).cloned());
        let Some(located) = remembered else { return Ok(None) };
        let mut raw = [0_u8; 32];
        let read = self.cache.borrow_mut().read_at(located.entry, &mut raw).map_err(|_| FsError::Io)?;
        let live = read == raw.len()
            && !matches!(raw[0], 0 | 0xE5)
            && raw[11] & 0x0F != 0x0F
            && raw[..11] == located.short;
        if !live {
            with_file_key(path.as_str(), |key| self.lookups.borrow_mut().remove(key));
            return Ok(None);
        }
        Ok(Some((located, raw)))
    }

    /// Remembers where `path` lies: its names as stored, their short names as lamfat shows
    /// them, and its entry's place and bytes if known (else found from the short names).
    /// Only a cache: a path that cannot be located is not remembered.
    fn remember(&self, path: &FsPath, stored: &[String], shorts: &[Vec<u8>], entry: Option<(u64, [u8; 32])>) {
        let Some(name) = stored.last() else { return };
        let entry = match entry {
            Some(entry) => Some(entry),
            None => {
                crate::raw::locate_entry(&mut self.cache.borrow_mut(), &self.layout, shorts).ok().flatten()
            }
        };
        let Some((at, raw)) = entry else { return };
        let mut short = [0_u8; 11];
        short.copy_from_slice(&raw[..11]);
        let key = Rc::from(file_key(&joined(stored)));
        let located = Located { entry: at, short, key, name: name.clone() };
        self.lookups.borrow_mut().insert(file_key(path.as_str()), located);
    }

    /// A handle closed: the file's counts go down. The map of a file no handle has open
    /// any more is kept (while at most [`KEPT_MAPS`] records are), so the next open of it
    /// skips the chain walk: only an `Open` with `TRUNCATE` (which makes the map again)
    /// or an operation that forgets the lookups (which drops it) changes a closed file.
    fn release(&mut self, file: &OpenFile) {
        let records = self.files.len();
        if let Some(usage) = self.files.get_mut(&file.key) {
            usage.open = usage.open.saturating_sub(1);
            if file.flags.contains(OpenFlags::WRITE) {
                usage.writers = usage.writers.saturating_sub(1);
            }
            if usage.open == 0 && records > KEPT_MAPS {
                self.files.remove(&file.key);
            }
        }
    }

    /// Whether a file at stored path `key`, or under it, is open.
    fn in_use(&self, key: &str) -> bool {
        let below = format!("{key}/");
        self.files.iter().any(|(open, usage)| usage.open > 0 && (&**open == key || open.starts_with(&below)))
    }

    /// Opens `path` for `session`: returns the handle and the file's size.
    pub fn open(&mut self, session: SessionId, path: &str, flags: OpenFlags) -> Result<(u32, u64), FsError> {
        self.open_owned(session, String::from(path), flags)
    }

    /// [`Volume::open`] of a path the caller owns (a request's): a normal path becomes the
    /// open file's without a copy.
    pub fn open_owned(
        &mut self,
        session: SessionId,
        path: String,
        flags: OpenFlags,
    ) -> Result<(u32, u64), FsError> {
        let writes = flags.contains(OpenFlags::WRITE);
        let wants_write = flags.contains(OpenFlags::TRUNCATE) || flags.contains(OpenFlags::APPEND);
        if (!writes && (wants_write || !flags.contains(OpenFlags::READ)))
            || (flags.contains(OpenFlags::EXCLUSIVE) && !flags.contains(OpenFlags::CREATE))
        {
            return Err(FsError::InvalidFlags);
        }
        let path = checked_owned_path(path)?;
        let state = self.session(session)?;
        if state.spent() + OPEN_FILE_BYTES > state.donation {
            return Err(FsError::TooManyOpenFiles {
                open: u32::try_from(state.handles.len()).unwrap_or(u32::MAX),
            });
        }
        if flags.contains(OpenFlags::READ) {
            state.allow(&path, FsOp::Read)?;
        }
        if writes {
            state.allow(&path, FsOp::Write)?;
            self.writable()?;
        }
        if path.as_str() == "/" {
            return Err(FsError::IsADirectory);
        }
        // A path used before, and no truncate (lamfat's work): its entry, without the walk.
        if !flags.contains(OpenFlags::TRUNCATE)
            && let Some((located, raw)) = self.looked_up(&path)?
        {
            return self.open_located(session, path, flags, &located, &raw);
        }
        let names = components(&path);
        let Some((name, parent)) = names.split_last() else { return Err(FsError::IsADirectory) };
        let (directory, mut stored, mut shorts) = open_directory_with_shorts(&self.fs, parent)?;
        let existing = find(&directory, name)?;
        let created = existing.is_none();
        let entry = match existing {
            Some(entry) => {
                if flags.contains(OpenFlags::EXCLUSIVE) {
                    return Err(FsError::Exists);
                }
                if entry.is_dir() {
                    return Err(FsError::IsADirectory);
                }
                Some(entry)
            }
            None if !flags.contains(OpenFlags::CREATE) => return Err(FsError::NotFound),
            None => {
                state.allow(&path, FsOp::Create)?;
                self.writable()?;
                check_new_name(name)?;
                self.need_space(1)?;
                None
            }
        };
        let stored_name = entry.as_ref().map_or_else(|| name.clone(), |entry| entry.file_name());
        stored.push(stored_name);
        let key: Rc<str> = Rc::from(file_key(&joined(&stored)));
        if writes && self.files.get(&key).is_some_and(|usage| usage.writers > 0) {
            return Err(FsError::Busy);
        }
        // Every check passed: from here the volume changes.
        let truncate = flags.contains(OpenFlags::TRUNCATE);
        let (size, first, short) = match entry {
            Some(entry) if truncate && entry.len() > 0 => {
                let mut file = entry.to_file();
                file.truncate().map_err(engine_error)?;
                drop(file);
                (0, 0, entry.short_file_name_as_bytes().to_vec())
            }
            Some(entry) => {
                let first = first_cluster_of(&entry, &self.layout)?;
                (entry.len(), first, entry.short_file_name_as_bytes().to_vec())
            }
            None => {
                self.settle_freed()?;
                forget(&self.lookups, &mut self.files);
                let file = directory.create_file(name).map_err(engine_error)?;
                drop(file);
                let entry = find(&directory, name)?.ok_or(FsError::Corrupted)?;
                (0, 0, entry.short_file_name_as_bytes().to_vec())
            }
        };
        drop(directory);
        shorts.push(short);
        // One map for all the file's handles: made at the first open (and again after a
        // truncate); a writer's needs the directory entry's place.
        let mut map = match self.files.get_mut(&key) {
            Some(usage) if !truncate => core::mem::take(&mut usage.map),
            _ => {
                let size = u32::try_from(size).map_err(|_| FsError::Corrupted)?;
                FileMap::build(&mut self.cache.borrow_mut(), &self.layout, first, size)?
            }
        };
        let mut entry = None;
        if writes && !map.has_entry() {
            let located = crate::raw::locate_entry(&mut self.cache.borrow_mut(), &self.layout, &shorts)
                .map_err(|_| FsError::Io)?;
            let Some((at, raw)) = located else { return Err(FsError::Corrupted) };
            if raw[11] & 0x10 != 0 || raw_size(&raw) != map.size() {
                return Err(FsError::Corrupted);
            }
            map.set_entry(at);
            entry = Some((at, raw));
        }
        self.remember(&path, &stored, &shorts, entry);
        let handle = self.new_handle();
        let usage = self.files.entry(key.clone()).or_default();
        usage.map = map;
        usage.open += 1;
        if writes {
            usage.writers += 1;
        }
        let position = if flags.contains(OpenFlags::APPEND) { size } else { 0 };
        let file =
            OpenFile { path, key, flags, position, written: created || flags.contains(OpenFlags::TRUNCATE) };
        self.session_mut(session)?.handles.insert(handle, file);
        Ok((handle, size))
    }

    /// [`Volume::open`] of a remembered path whose entry is `raw` (no truncate): the same
    /// checks in the same order, the map the file's other handles share (or one made from
    /// the entry), and for a writer the entry's place, known already.
    fn open_located(
        &mut self,
        session: SessionId,
        path: FsPath,
        flags: OpenFlags,
        located: &Located,
        raw: &[u8; 32],
    ) -> Result<(u32, u64), FsError> {
        if flags.contains(OpenFlags::EXCLUSIVE) {
            return Err(FsError::Exists);
        }
        if raw[11] & 0x10 != 0 {
            return Err(FsError::IsADirectory);
        }
        let writes = flags.contains(OpenFlags::WRITE);
        let usage = self.files.get(&located.key);
        if writes && usage.is_some_and(|usage| usage.writers > 0) {
            return Err(FsError::Busy);
        }
        let size = raw_size(raw);
        // The entry a writer keeps up to date must say what the map says.
        if writes && usage.is_some_and(|usage| !usage.map.has_entry() && usage.map.size() != size) {
            return Err(FsError::Corrupted);
        }
        // Every check passed: from here the volume's books change.
        let mut map = match self.files.get_mut(&located.key) {
            Some(usage) => core::mem::take(&mut usage.map),
            None => {
                let first = crate::raw::entry_first_cluster(&self.layout, raw);
                let bytes = u32::try_from(size).map_err(|_| FsError::Corrupted)?;
                FileMap::build(&mut self.cache.borrow_mut(), &self.layout, first, bytes)?
            }
        };
        if writes && !map.has_entry() {
            map.set_entry(located.entry);
        }
        let size = map.size();
        let handle = self.new_handle();
        let usage = match self.files.get_mut(&located.key) {
            Some(usage) => usage,
            None => self.files.entry(located.key.clone()).or_default(),
        };
        usage.map = map;
        usage.open += 1;
        if writes {
            usage.writers += 1;
        }
        let position = if flags.contains(OpenFlags::APPEND) { size } else { 0 };
        let file = OpenFile { path, key: located.key.clone(), flags, position, written: false };
        self.session_mut(session)?.handles.insert(handle, file);
        Ok((handle, size))
    }

    fn new_handle(&mut self) -> u32 {
        loop {
            let handle = self.next_handle;
            self.next_handle = match self.next_handle.checked_add(1) {
                Some(next) => next,
                None => {
                    self.handles_wrapped = true;
                    1
                }
            };
            let taken =
                self.handles_wrapped && self.sessions.values().any(|state| state.handles.contains(handle));
            if !taken {
                return handle;
            }
        }
    }

    fn handle(&self, session: SessionId, handle: u32) -> Result<(&Session, &OpenFile), FsError> {
        let state = self.session(session)?;
        let file = state.handles.get(handle).ok_or(FsError::BadHandle)?;
        Ok((state, file))
    }

    /// Reads from the handle's position into `buffer`; returns how many bytes (0 at the end).
    pub fn read(&mut self, session: SessionId, handle: u32, buffer: &mut [u8]) -> Result<usize, FsError> {
        let (state, open) = self.handle(session, handle)?;
        if !open.flags.contains(OpenFlags::READ) {
            return Err(FsError::BadHandle);
        }
        state.allow(&open.path, FsOp::Read)?;
        let map = &self.files.get(&open.key).ok_or(FsError::BadHandle)?.map;
        let position = open.position.min(map.size());
        let done = map.read(&mut self.cache.borrow_mut(), &self.layout, position, buffer)?;
        if let Some(open) = self.session_mut(session)?.handles.get_mut(handle) {
            open.position = position + done as u64;
        }
        Ok(done)
    }

    /// Writes `data` at the handle's position (the end, for `APPEND`); returns how many
    /// bytes (all, or an error and nothing written when the volume lacks the space).
    pub fn write(&mut self, session: SessionId, handle: u32, data: &[u8]) -> Result<usize, FsError> {
        let (state, open) = self.handle(session, handle)?;
        if !open.flags.contains(OpenFlags::WRITE) {
            return Err(FsError::BadHandle);
        }
        state.allow(&open.path, FsOp::Write)?;
        self.writable()?;
        let append = open.flags.contains(OpenFlags::APPEND);
        let (key, position) = (open.key.clone(), open.position);
        let map = &self.files.get(&key).ok_or(FsError::BadHandle)?.map;
        let size = map.size();
        let position = if append { size } else { position.min(size) };
        let end = position + data.len() as u64;
        if end > u64::from(u32::MAX) {
            return Err(FsError::InvalidSeek);
        }
        let growth = map.growth(&self.layout, end);
        self.need_space(growth)?;
        if growth > self.allocatable_clusters()? {
            // Full but for clusters freed since the last sync: the sync frees them for good.
            self.sync()?;
        }
        let map = &mut self.files.get_mut(&key).ok_or(FsError::BadHandle)?.map;
        let mut allocated = 0;
        let written = map.write(
            &mut self.cache.borrow_mut(),
            &self.layout,
            position,
            data,
            &mut self.free_hint,
            &mut allocated,
        );
        self.allocated_outside += allocated;
        written?;
        if let Some(open) = self.session_mut(session)?.handles.get_mut(handle) {
            open.position = end;
            open.written = true;
        }
        Ok(data.len())
    }

    /// Moves the handle's position (not past the end); returns it.
    pub fn seek(&mut self, session: SessionId, handle: u32, to: SeekFrom) -> Result<u64, FsError> {
        let (_, open) = self.handle(session, handle)?;
        let size = self.files.get(&open.key).ok_or(FsError::BadHandle)?.map.size();
        let target = match to {
            SeekFrom::Start(offset) => Some(offset),
            SeekFrom::End(delta) => size.checked_add_signed(delta),
            SeekFrom::Current(delta) => open.position.checked_add_signed(delta),
        };
        let position = target.filter(|&position| position <= size).ok_or(FsError::InvalidSeek)?;
        if let Some(open) = self.session_mut(session)?.handles.get_mut(handle) {
            open.position = position;
        }
        Ok(position)
    }

    /// Closes the handle; a file it wrote reaches the device before the answer.
    pub fn close(&mut self, session: SessionId, handle: u32) -> Result<(), FsError> {
        let file = self.session_mut(session)?.handles.remove(handle).ok_or(FsError::BadHandle)?;
        self.release(&file);
        if file.written { self.sync() } else { Ok(()) }
    }

    /// The metadata at `path`.
    pub fn stat(&self, session: SessionId, path: &str) -> Result<Metadata, FsError> {
        self.stat_owned(session, String::from(path))
    }

    /// [`Volume::stat`] of a path the caller owns (a request's).
    pub fn stat_owned(&self, session: SessionId, path: String) -> Result<Metadata, FsError> {
        let path = checked_owned_path(path)?;
        self.session(session)?.allow(&path, FsOp::Read)?;
        if path.as_str() != "/"
            && let Some((located, raw)) = self.looked_up(&path)?
        {
            return Ok(raw_metadata(located.name.clone(), &raw));
        }
        let names = components(&path);
        let resolved = resolve(&self.fs, &names)?;
        match &resolved.found {
            Found::Root => Ok(Metadata {
                name: String::from("/"),
                kind: FileKind::Directory,
                size: 0,
                modified: String::from("1980-01-01 00:00:00"),
            }),
            Found::Entry(entry) => {
                let metadata = metadata(entry);
                self.remember(&path, &resolved.stored, &resolved.shorts, None);
                Ok(metadata)
            }
        }
    }

    /// The directory at `path` from its `start`th entry: as many as `fits` accepts (at
    /// least one), and whether more follow.
    pub fn read_directory(
        &self,
        session: SessionId,
        path: &str,
        start: u32,
        fits: impl Fn(&[DirectoryEntry]) -> bool,
    ) -> Result<(Vec<DirectoryEntry>, bool), FsError> {
        let (path, names) = client_path(path)?;
        self.session(session)?.allow(&path, FsOp::Read)?;
        let (directory, _) = open_directory(&self.fs, &names)?;
        let mut page = Vec::new();
        let listed = directory.iter().filter(|entry| {
            entry.as_ref().map_or(true, |entry| {
                let short = entry.short_file_name_as_bytes();
                short != b"." && short != b".."
            })
        });
        for entry in listed.skip(start as usize) {
            let entry = entry.map_err(engine_error)?;
            let listed = DirectoryEntry {
                name: entry.file_name(),
                kind: if entry.is_dir() { FileKind::Directory } else { FileKind::File },
                size: entry.len(),
            };
            page.push(listed);
            if !fits(&page) {
                if page.len() > 1 {
                    page.pop();
                    return Ok((page, true));
                }
                return Err(FsError::NameTooLong);
            }
        }
        Ok((page, false))
    }

    /// Makes the directory `path`.
    pub fn make_directory(&mut self, session: SessionId, path: &str) -> Result<(), FsError> {
        let (path, names) = client_path(path)?;
        let Some((name, parent)) = names.split_last() else { return Err(FsError::Exists) };
        self.session(session)?.allow(&path, FsOp::Create)?;
        self.writable()?;
        check_new_name(name)?;
        let (directory, _) = open_directory(&self.fs, parent)?;
        if find(&directory, name)?.is_some() {
            return Err(FsError::Exists);
        }
        // Its own cluster, and one more if the parent must grow.
        self.need_space(2)?;
        self.settle_freed()?;
        forget(&self.lookups, &mut self.files);
        directory.create_dir(name).map_err(engine_error)?;
        Ok(())
    }

    /// Removes the empty directory `path`.
    pub fn remove_directory(&mut self, session: SessionId, path: &str) -> Result<(), FsError> {
        let (path, names) = client_path(path)?;
        let Some((_, parent)) = names.split_last() else { return Err(FsError::Busy) };
        self.session(session)?.allow(&path, FsOp::Delete)?;
        self.writable()?;
        let resolved = resolve(&self.fs, &names)?;
        let Found::Entry(entry) = &resolved.found else { return Err(FsError::Busy) };
        if !entry.is_dir() {
            return Err(FsError::NotADirectory);
        }
        let empty = entry
            .to_dir()
            .iter()
            .all(|inner| inner.is_ok_and(|inner| matches!(inner.short_file_name_as_bytes(), b"." | b"..")));
        if !empty {
            return Err(FsError::NotEmpty);
        }
        let stored_name = entry.file_name();
        drop(resolved);
        self.removed(parent, &stored_name)
    }

    /// Removes `name` from the directory at `parent`, and puts the removal on the disk
    /// in the order that cannot leave an entry with a freed chain.
    fn removed(&mut self, parent: &[String], name: &str) -> Result<(), FsError> {
        self.sync()?;
        let (directory, _) = open_directory(&self.fs, parent)?;
        forget(&self.lookups, &mut self.files);
        directory.remove(name).map_err(engine_error)?;
        drop(directory);
        self.cache.borrow_mut().sync_removal().map(|_| ()).map_err(|_| FsError::Io)
    }

    /// Removes the file `path`.
    pub fn unlink(&mut self, session: SessionId, path: &str) -> Result<(), FsError> {
        let (path, names) = client_path(path)?;
        let Some((_, parent)) = names.split_last() else { return Err(FsError::IsADirectory) };
        self.session(session)?.allow(&path, FsOp::Delete)?;
        self.writable()?;
        let resolved = resolve(&self.fs, &names)?;
        if resolved.is_dir() {
            return Err(FsError::IsADirectory);
        }
        if self.in_use(&file_key(&joined(&resolved.stored))) {
            return Err(FsError::Busy);
        }
        let Some(stored_name) = resolved.stored.last().cloned() else { return Err(FsError::IsADirectory) };
        drop(resolved);
        self.removed(parent, &stored_name)
    }

    /// Renames or moves `from` to `to`.
    pub fn rename(&mut self, session: SessionId, from: &str, to: &str) -> Result<(), FsError> {
        let (from_path, from_names) = client_path(from)?;
        let (to_path, to_names) = client_path(to)?;
        let (Some((_, from_parent)), Some((to_name, to_parent))) =
            (from_names.split_last(), to_names.split_last())
        else {
            return Err(FsError::InvalidName { name: String::from("/") });
        };
        let state = self.session(session)?;
        state.allow(&from_path, FsOp::Delete)?;
        state.allow(&to_path, FsOp::Create)?;
        self.writable()?;
        check_new_name(to_name)?;
        let source = resolve(&self.fs, &from_names)?;
        let is_dir = source.is_dir();
        let source_key = file_key(&joined(&source.stored));
        let Some(source_name) = source.stored.last().cloned() else { return Err(FsError::Busy) };
        let (target_directory, mut target_stored) = open_directory(&self.fs, to_parent)?;
        if let Some(existing) = find(&target_directory, to_name)? {
            let same = file_key(&joined(&target_stored))
                == file_key(&joined(&source.stored[..source.stored.len() - 1]))
                && file_key(&existing.file_name()) == file_key(&source_name);
            // lamfat leaves a rename onto the same entry (another case) as it is.
            return if same { Ok(()) } else { Err(FsError::Exists) };
        }
        target_stored.push(to_name.clone());
        let target_key = file_key(&joined(&target_stored));
        if is_dir && target_key.starts_with(&format!("{source_key}/")) {
            return Err(FsError::InvalidName { name: to_path.to_string() });
        }
        if self.in_use(&source_key) {
            return Err(FsError::Busy);
        }
        self.need_space(1)?;
        drop(source);
        drop(target_directory);
        // Only the rename's own changes are dirty when it is put on the disk.
        self.sync()?;
        let (target_directory, _) = open_directory(&self.fs, to_parent)?;
        let (source_directory, _) = open_directory(&self.fs, from_parent)?;
        forget(&self.lookups, &mut self.files);
        source_directory.rename(&source_name, &target_directory, to_name).map_err(engine_error)?;
        drop(source_directory);
        drop(target_directory);
        if is_dir && file_key(&joined(from_parent)) != file_key(&joined(to_parent)) {
            let mut cache = self.cache.borrow_mut();
            crate::raw::fix_dot_dot(&mut cache, &self.layout, &target_stored).map_err(|_| FsError::Io)?;
        }
        self.sync_rename()
    }

    /// Puts a rename on the disk: the sectors that gain the new entry first, then those
    /// that lose the old one (see `SectorCache::sync_rename`).
    fn sync_rename(&mut self) -> Result<(), FsError> {
        let mut cache = self.cache.borrow_mut();
        let mut first = Vec::new();
        for sector in cache.dirty_of(Class::Directory) {
            let before = cache.on_device(sector).map_err(|_| FsError::Io)?;
            let Some(after) = cache.cached(sector) else { continue };
            let loses = before
                .chunks(32)
                .zip(after.chunks(32))
                .any(|(old, new)| old[0] != 0 && old[0] != 0xE5 && new[0] == 0xE5);
            if !loses {
                first.push(sector);
            }
        }
        cache.sync_rename(&first).map(|_| ()).map_err(|_| FsError::Io)
    }

    /// The volume's size and free space.
    pub fn stat_fs(&self) -> Result<FsStatus, FsError> {
        let stats = self.fs.stats().map_err(engine_error)?;
        Ok(FsStatus {
            fat: self.layout.fat,
            cluster_bytes: stats.cluster_size(),
            total_clusters: stats.total_clusters(),
            free_clusters: u32::try_from(self.free_clusters()?).unwrap_or(u32::MAX),
            read_only: self.mounted.read_only,
        })
    }

    /// The session's shared buffer: charged to its donation the first time; returns its
    /// size (the server makes a buffer of that size from the donation and maps it).
    pub fn attach_buffer(&mut self, session: SessionId) -> Result<u64, FsError> {
        let state = self.session_mut(session)?;
        if state.buffer > 0 {
            return Ok(state.buffer);
        }
        let free = state.donation.saturating_sub(state.spent());
        let bytes = free.min(MAX_BUFFER_BYTES) / PAGE_BYTES * PAGE_BYTES;
        if bytes == 0 {
            return Err(FsError::DonationSpent { needed: PAGE_BYTES, free });
        }
        state.buffer = bytes;
        Ok(bytes)
    }

    /// The scratch buffer, at least `length` bytes long (zeroed only where it grows); the
    /// caller gives it back.
    fn take_scratch(&mut self, length: usize) -> Vec<u8> {
        let mut bytes = core::mem::take(&mut self.scratch);
        if bytes.len() < length {
            bytes.resize(length, 0);
        }
        bytes
    }

    /// Takes back the charge of the session's shared buffer: the server could not make it
    /// (its frames did not fit the donated memory).
    pub fn detach_buffer(&mut self, session: SessionId) -> Result<(), FsError> {
        self.session_mut(session)?.buffer = 0;
        Ok(())
    }

    /// Answers one request of `session`; `shared` is the session's shared buffer as the
    /// server maps it (empty before `AttachBuffer`). For `AttachBuffer`, the answer is the
    /// buffer's size; the server sends the asked page's frame with it.
    pub fn serve<S: SharedMemory + ?Sized>(
        &mut self,
        session: SessionId,
        request: Request,
        shared: &mut S,
    ) -> Result<Response, FsError> {
        let buffer = self.session(session)?.buffer;
        let shared_len = (shared.len() as u64).min(buffer);
        let range = |offset: u32, length: u32| -> Result<core::ops::Range<usize>, FsError> {
            let end = u64::from(offset) + u64::from(length);
            if end > shared_len {
                return Err(FsError::BadBuffer);
            }
            let end = usize::try_from(end).map_err(|_| FsError::BadBuffer)?;
            Ok(offset as usize..end)
        };
        match request {
            Request::Open { path, flags } => {
                self.open_owned(session, path, flags).map(|(handle, size)| Response::Opened { handle, size })
            }
            Request::Read { handle, into: Place::Inline { max } } => {
                let mut bytes = vec![0_u8; (max as usize).min(MAX_INLINE_BYTES)];
                let count = self.read(session, handle, &mut bytes)?;
                bytes.truncate(count);
                Ok(Response::Data(bytes))
            }
            Request::Read { handle, into: Place::Shared { offset, length } } => {
                let range = range(offset, length)?;
                // Read into our memory, then copy out: the buffer is shared, so it is
                // never lent as a slice.
                let mut bytes = self.take_scratch(range.len());
                let read = self.read(session, handle, &mut bytes[..range.len()]);
                let result = match read {
                    Ok(count) if shared.write(range.start, &bytes[..count]) => {
                        Ok(Response::Transferred { count: u32::try_from(count).unwrap_or(u32::MAX) })
                    }
                    Ok(_) => Err(FsError::BadBuffer),
                    Err(error) => Err(error),
                };
                self.scratch = bytes;
                result
            }
            Request::Write { handle, from: Source::Inline(bytes) } => {
                let count = self.write(session, handle, &bytes)?;
                Ok(Response::Written { count: u32::try_from(count).unwrap_or(u32::MAX) })
            }
            Request::Write { handle, from: Source::Shared { offset, length } } => {
                let range = range(offset, length)?;
                // Copied in once, then written: the client cannot change the bytes under
                // the engine while it works.
                let mut bytes = self.take_scratch(range.len());
                let result = if shared.read(range.start, &mut bytes[..range.len()]) {
                    self.write(session, handle, &bytes[..range.len()])
                } else {
                    Err(FsError::BadBuffer)
                };
                self.scratch = bytes;
                result.map(|count| Response::Written { count: u32::try_from(count).unwrap_or(u32::MAX) })
            }
            Request::Seek { handle, to } => {
                self.seek(session, handle, to).map(|offset| Response::Position { offset })
            }
            Request::Stat { path } => self.stat_owned(session, path).map(Response::Status),
            Request::ReadDirectory { path, start } => {
                let fits = |entries: &[DirectoryEntry]| {
                    userlib::rpc::reply_fits::<Fs>(&Response::Directory {
                        entries: entries.to_vec(),
                        more: true,
                    })
                };
                let (entries, more) = self.read_directory(session, &path, start, fits)?;
                Ok(Response::Directory { entries, more })
            }
            Request::MakeDirectory { path } => self.make_directory(session, &path).map(|()| Response::Done),
            Request::RemoveDirectory { path } => {
                self.remove_directory(session, &path).map(|()| Response::Done)
            }
            Request::Unlink { path } => self.unlink(session, &path).map(|()| Response::Done),
            Request::Rename { from, to } => self.rename(session, &from, &to).map(|()| Response::Done),
            Request::Sync => self.sync().map(|()| Response::Synced),
            Request::StatFs => self.stat_fs().map(Response::FsStatus),
            Request::Close { handle } => self.close(session, handle).map(|()| Response::Closed),
            Request::AttachBuffer { .. } => {
                self.attach_buffer(session).map(|bytes| Response::BufferAttached { bytes })
            }
        }
    }
}

/// A session's shared buffer as the server reaches it: copies in and out by offset, never a
/// slice (on Lattice it is memory the client may write at any moment). A byte slice is one
/// (the host tests'); the server's is its mapping of the buffer's frames.
pub trait SharedMemory {
    /// Its size in bytes (0: none attached).
    fn len(&self) -> usize;
    /// Whether it has no bytes (none attached).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Copies `into.len()` bytes at `offset` into `into`; `false` if the range is outside.
    fn read(&self, offset: usize, into: &mut [u8]) -> bool;
    /// Copies `bytes` to `offset`; `false` if the range is outside.
    fn write(&mut self, offset: usize, bytes: &[u8]) -> bool;
}

impl SharedMemory for [u8] {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }
    fn read(&self, offset: usize, into: &mut [u8]) -> bool {
        let source = offset.checked_add(into.len()).and_then(|end| self.get(offset..end));
        source.map(|source| into.copy_from_slice(source)).is_some()
    }
    fn write(&mut self, offset: usize, bytes: &[u8]) -> bool {
        let target = offset.checked_add(bytes.len()).and_then(|end| self.get_mut(offset..end));
        target.map(|target| target.copy_from_slice(bytes)).is_some()
    }
}
