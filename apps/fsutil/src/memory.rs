//! An in-memory filesystem that keeps the fs server's promises (the operations table and
//! the error list of `fs_api`), for the host tests of the programs that use files: the
//! shell's `cd` and the tools of `apps/coreutils`.
//!
//! Like the server on its FAT volume: names are found without case and kept as created;
//! a directory lists its entries in the order they were made (a renamed entry moves to
//! the end of its new directory, as FAT writes a new entry); a file is open for writing
//! once at a time (`Busy`); an open file cannot be unlinked or renamed; names are checked
//! before anything changes (`InvalidName`, `NameTooLong`); a rename that only changes
//! case does nothing (lamfat finds the same entry); a write that does not fit is refused
//! whole (`NoSpace`).
//!
//! What it checks for the tests: every path it is given must be absolute and normal (one
//! that is not is refused with `InvalidName` and recorded: [`MemoryFs::abnormal_paths`]),
//! and [`MemoryFs::open_handles`] tells a program that left files open. It can refuse
//! paths as a scope does ([`MemoryFs::deny`]), be full ([`MemoryFs::set_capacity`]),
//! read-only, or fail reads past a point of a file ([`MemoryFs::fail_reads`]).

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::path::{file_name, is_within, normalize, parent};
use crate::{DirectoryEntry, FileKind, FileSystem, FsError, FsStatus, Metadata, OpenFlags};
use fs_api::{FatKind, MAX_NAME_BYTES};

/// What a denial covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    /// Every operation (a path outside the scope).
    Everything,
    /// Writes, creation and deletion (a read-only grant).
    Changes,
}

#[derive(Clone, Debug)]
enum Contents {
    File(Vec<u8>),
    Directory,
}

#[derive(Clone, Debug)]
struct Node {
    /// The path as created (normal, absolute).
    path: String,
    contents: Contents,
    modified: String,
    /// When its entry was written: a directory lists its entries in this order.
    order: u64,
}

impl Node {
    fn kind(&self) -> FileKind {
        match self.contents {
            Contents::File(_) => FileKind::File,
            Contents::Directory => FileKind::Directory,
        }
    }

    fn size(&self) -> u64 {
        match &self.contents {
            Contents::File(data) => data.len() as u64,
            Contents::Directory => 0,
        }
    }
}

#[derive(Clone, Debug)]
struct Handle {
    /// The open file's key.
    key: String,
    position: u64,
    flags: OpenFlags,
}

/// The fake filesystem. See the module documentation.
#[derive(Clone, Debug)]
pub struct MemoryFs {
    /// Every file and directory but the root, by its path without case ([`key`]). Every
    /// node's parent is a directory node (or the root).
    nodes: BTreeMap<String, Node>,
    next_order: u64,
    handles: BTreeMap<u32, Handle>,
    next_handle: u32,
    denials: Vec<(String, Denial)>,
    capacity: u64,
    read_only: bool,
    read_failures: Vec<(String, u64)>,
    abnormal: Vec<String>,
    syncs: usize,
    max_open: u32,
    clock: String,
    log: Vec<String>,
}

/// Bytes per cluster the fake reports.
pub const CLUSTER_BYTES: u32 = 4096;

/// A path as FAT compares it: without case.
fn key(path: &str) -> String {
    path.chars().flat_map(char::to_lowercase).collect()
}

impl Default for MemoryFs {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryFs {
    /// An empty volume of 16 MiB, 16 open files at most, every time `1980-01-01 00:00:00`.
    pub fn new() -> Self {
        Self {
            nodes: BTreeMap::new(),
            next_order: 0,
            handles: BTreeMap::new(),
            next_handle: 1,
            denials: Vec::new(),
            capacity: 16 << 20,
            read_only: false,
            read_failures: Vec::new(),
            abnormal: Vec::new(),
            syncs: 0,
            max_open: 16,
            clock: String::from("1980-01-01 00:00:00"),
            log: Vec::new(),
        }
    }

    /// With a file at `path` holding `bytes` (its directories made as needed).
    pub fn with_file(mut self, path: &str, bytes: &[u8]) -> Self {
        self.add(path, Contents::File(bytes.to_vec()));
        self
    }

    /// With a directory at `path` (its parents made as needed).
    pub fn with_directory(mut self, path: &str) -> Self {
        self.add(path, Contents::Directory);
        self
    }

    fn add(&mut self, path: &str, contents: Contents) {
        let normal = normalize(path).expect("a test path");
        assert_eq!(normal, path, "test paths are written normal");
        let mut prefix = String::new();
        let components: Vec<&str> = path.split('/').skip(1).collect();
        let Some((last, directories)) = components.split_last() else { return };
        for directory in directories {
            prefix.push('/');
            prefix.push_str(directory);
            match self.get(&prefix) {
                Some(node) => assert!(matches!(node.contents, Contents::Directory), "{prefix} is a file"),
                None => self.insert(&prefix.clone(), Contents::Directory),
            }
        }
        prefix.push('/');
        prefix.push_str(last);
        assert!(self.get(&prefix).is_none(), "{prefix} is there already");
        self.insert(&prefix, contents);
    }

    /// Refuses what `what` says at `prefix` and under it, as a scope would (paths compared
    /// as written, component by component).
    pub fn deny(&mut self, prefix: &str, what: Denial) {
        self.denials.push((prefix.into(), what));
    }

    /// The volume holds this many bytes of file data at most.
    pub fn set_capacity(&mut self, bytes: u64) {
        self.capacity = bytes;
    }

    /// Every change is refused with `ReadOnly`.
    pub fn set_read_only(&mut self, read_only: bool) {
        self.read_only = read_only;
    }

    /// Reads of the file at `path` that reach past byte `at` fail with `Io`.
    pub fn fail_reads(&mut self, path: &str, at: u64) {
        self.read_failures.push((key(path), at));
    }

    /// At most `files` open at once (`TooManyOpenFiles` past them).
    pub fn set_max_open(&mut self, files: u32) {
        self.max_open = files;
    }

    /// The time new and changed files get.
    pub fn set_clock(&mut self, modified: &str) {
        self.clock = modified.into();
    }

    /// The contents of the file at `path`, if there is one.
    pub fn file(&self, path: &str) -> Option<&[u8]> {
        match &self.get(path)?.contents {
            Contents::File(data) => Some(data),
            Contents::Directory => None,
        }
    }

    /// What is at `path`, if anything.
    pub fn kind(&self, path: &str) -> Option<FileKind> {
        if path == "/" {
            return Some(FileKind::Directory);
        }
        Some(self.get(path)?.kind())
    }

    /// The names in directory `path`, in its order.
    pub fn names(&self, path: &str) -> Vec<String> {
        self.children(path).iter().map(|node| String::from(file_name(&node.path).unwrap_or(""))).collect()
    }

    /// Every path there is, sorted, directories with a trailing `/` (to compare trees).
    pub fn tree(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .nodes
            .values()
            .map(|node| match node.contents {
                Contents::File(_) => node.path.clone(),
                Contents::Directory => format!("{}/", node.path),
            })
            .collect();
        all.sort();
        all
    }

    /// Handles open now.
    pub fn open_handles(&self) -> usize {
        self.handles.len()
    }

    /// Paths the fake was given that were not absolute and normal.
    pub fn abnormal_paths(&self) -> &[String] {
        &self.abnormal
    }

    /// Every request by path so far, as `operation path` (`open /a`, `stat /a`,
    /// `read_directory /a`, `make_directory /a`, `remove_directory /a`, `unlink /a`,
    /// `rename /a /b`), to check what a program asks.
    pub fn requests(&self) -> &[String] {
        &self.log
    }

    /// How many times `sync` was asked.
    pub fn syncs(&self) -> usize {
        self.syncs
    }

    fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(&key(path))
    }

    /// Makes a node at `path` (its parent exists): kept under its parent's path as stored
    /// and its own name as given, as FAT keeps one name per entry.
    fn insert(&mut self, path: &str, contents: Contents) {
        let order = self.next_order;
        self.next_order += 1;
        let stored = match (self.get(parent(path)), file_name(path)) {
            (Some(directory), Some(name)) => format!("{}/{name}", directory.path),
            _ => path.into(),
        };
        self.nodes.insert(key(path), Node { path: stored, contents, modified: self.clock.clone(), order });
    }

    /// The keys of everything under `directory` (not itself), in key order.
    fn descendants(&self, directory: &str) -> Vec<String> {
        let mut prefix = key(directory);
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(node_key, _)| node_key.starts_with(&prefix))
            .map(|(node_key, _)| node_key.clone())
            .collect()
    }

    /// The entries of `directory`, in the order they were written.
    fn children(&self, directory: &str) -> Vec<&Node> {
        let mut prefix = key(directory);
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        let mut children: Vec<&Node> = self
            .nodes
            .range(prefix.clone()..)
            .take_while(|(node_key, _)| node_key.starts_with(&prefix))
            .filter(|(node_key, _)| !node_key[prefix.len()..].contains('/'))
            .map(|(_, node)| node)
            .collect();
        children.sort_by_key(|node| node.order);
        children
    }

    fn record(&mut self, operation: &str, path: &str) {
        self.log.push(format!("{operation} {path}"));
    }

    /// Refuses a path that is not absolute and normal, recording it.
    fn check_path(&mut self, path: &str) -> Result<(), FsError> {
        if path.starts_with('/') && normalize(path).is_ok_and(|normal| normal == path) {
            return Ok(());
        }
        self.abnormal.push(path.into());
        Err(FsError::InvalidName { name: path.into() })
    }

    fn check_denied(&self, path: &str, change: bool) -> Result<(), FsError> {
        for (prefix, what) in &self.denials {
            let inside = prefix == "/"
                || path == prefix
                || path.strip_prefix(prefix.as_str()).is_some_and(|rest| rest.starts_with('/'));
            if inside && (change || *what == Denial::Everything) {
                let right = if change { "changes" } else { "access" };
                return Err(FsError::Denied {
                    grant: format!("the fake's scope gives no {right} at {prefix}"),
                });
            }
        }
        Ok(())
    }

    fn check_writable(&self) -> Result<(), FsError> {
        if self.read_only { Err(FsError::ReadOnly) } else { Ok(()) }
    }

    /// Finds `path` (not the root): whether it is there, or why its parent cannot hold it
    /// (a component that is a file, or one missing).
    fn walk(&self, path: &str) -> Result<bool, FsError> {
        if self.get(path).is_some() {
            // Every node's parent is a directory.
            return Ok(true);
        }
        let mut ancestor = parent(path);
        let direct = ancestor;
        loop {
            if ancestor == "/" {
                return if direct == "/" { Ok(false) } else { Err(FsError::NotFound) };
            }
            match self.get(ancestor).map(|node| &node.contents) {
                Some(Contents::File(_)) => return Err(FsError::NotADirectory),
                Some(Contents::Directory) if ancestor == direct => return Ok(false),
                Some(Contents::Directory) => return Err(FsError::NotFound),
                None => ancestor = parent(ancestor),
            }
        }
    }

    /// The server's checks of a name it is to create.
    fn check_new_name(path: &str) -> Result<(), FsError> {
        let name = file_name(path).unwrap_or("");
        let invalid = || FsError::InvalidName { name: name.into() };
        if name.is_empty() {
            return Err(invalid());
        }
        if name.len() > MAX_NAME_BYTES {
            return Err(FsError::NameTooLong);
        }
        if name.chars().any(|character| character.is_control() || "\"*/:<>?\\|".contains(character))
            || name.ends_with('.')
            || name.ends_with(' ')
            || !name.starts_with(|character: char| character.is_ascii())
        {
            return Err(invalid());
        }
        Ok(())
    }

    fn used_bytes(&self) -> u64 {
        self.nodes.values().map(Node::size).sum()
    }

    fn handle(&mut self, handle: u32) -> Result<&mut Handle, FsError> {
        self.handles.get_mut(&handle).ok_or(FsError::BadHandle)
    }
}

impl FileSystem for MemoryFs {
    fn open(&mut self, path: &str, flags: OpenFlags) -> Result<(u32, u64), FsError> {
        self.record("open", path);
        let writes = flags.contains(OpenFlags::WRITE);
        let neither = !writes && !flags.contains(OpenFlags::READ);
        let needs_write = flags.contains(OpenFlags::TRUNCATE) || flags.contains(OpenFlags::APPEND);
        let lone_exclusive = flags.contains(OpenFlags::EXCLUSIVE) && !flags.contains(OpenFlags::CREATE);
        if neither || (needs_write && !writes) || lone_exclusive {
            return Err(FsError::InvalidFlags);
        }
        self.check_path(path)?;
        self.check_denied(path, writes || flags.contains(OpenFlags::CREATE))?;
        if writes {
            self.check_writable()?;
        }
        let open = u32::try_from(self.handles.len()).unwrap_or(u32::MAX);
        if open >= self.max_open {
            return Err(FsError::TooManyOpenFiles { open });
        }
        if path == "/" {
            return Err(FsError::IsADirectory);
        }
        let file_key = key(path);
        if self.walk(path)? {
            if matches!(self.get(path).map(|node| &node.contents), Some(Contents::Directory)) {
                return Err(FsError::IsADirectory);
            }
            if flags.contains(OpenFlags::CREATE) && flags.contains(OpenFlags::EXCLUSIVE) {
                return Err(FsError::Exists);
            }
            let written_elsewhere = self
                .handles
                .values()
                .any(|handle| handle.flags.contains(OpenFlags::WRITE) && handle.key == file_key);
            if writes && written_elsewhere {
                return Err(FsError::Busy);
            }
            if flags.contains(OpenFlags::TRUNCATE) {
                let clock = self.clock.clone();
                let node = self.nodes.get_mut(&file_key).ok_or(FsError::Corrupted)?;
                node.contents = Contents::File(Vec::new());
                node.modified = clock;
            }
        } else if flags.contains(OpenFlags::CREATE) {
            Self::check_new_name(path)?;
            self.insert(path, Contents::File(Vec::new()));
        } else {
            return Err(FsError::NotFound);
        }
        let size = self.nodes.get(&file_key).map_or(0, Node::size);
        let position = if flags.contains(OpenFlags::APPEND) { size } else { 0 };
        let handle = self.next_handle;
        self.next_handle += 1;
        self.handles.insert(handle, Handle { key: file_key, position, flags });
        Ok((handle, size))
    }

    fn read(&mut self, handle: u32, buffer: &mut [u8]) -> Result<usize, FsError> {
        let open = self.handle(handle)?.clone();
        if !open.flags.contains(OpenFlags::READ) {
            return Err(FsError::BadHandle);
        }
        let Some(Contents::File(data)) = self.nodes.get(&open.key).map(|node| &node.contents) else {
            return Err(FsError::Corrupted);
        };
        let start = usize::try_from(open.position).unwrap_or(usize::MAX).min(data.len());
        let count = buffer.len().min(data.len() - start);
        let end = (start + count) as u64;
        let fails =
            self.read_failures.iter().any(|(failing, at)| *failing == open.key && count > 0 && end > *at);
        if fails {
            return Err(FsError::Io);
        }
        buffer[..count].copy_from_slice(&data[start..start + count]);
        self.handle(handle)?.position = end;
        Ok(count)
    }

    fn write(&mut self, handle: u32, bytes: &[u8]) -> Result<(), FsError> {
        let open = self.handle(handle)?.clone();
        if !open.flags.contains(OpenFlags::WRITE) {
            return Err(FsError::BadHandle);
        }
        self.check_writable()?;
        let used = self.used_bytes();
        let capacity = self.capacity;
        let clock = self.clock.clone();
        let node = self.nodes.get_mut(&open.key).ok_or(FsError::Corrupted)?;
        let Contents::File(data) = &mut node.contents else { return Err(FsError::Corrupted) };
        let start = if open.flags.contains(OpenFlags::APPEND) {
            data.len()
        } else {
            usize::try_from(open.position).unwrap_or(usize::MAX).min(data.len())
        };
        let end = start + bytes.len();
        let growth = end.saturating_sub(data.len()) as u64;
        if used + growth > capacity {
            return Err(FsError::NoSpace);
        }
        if end > data.len() {
            data.resize(end, 0);
        }
        data[start..end].copy_from_slice(bytes);
        node.modified = clock;
        self.handle(handle)?.position = end as u64;
        Ok(())
    }

    fn close(&mut self, handle: u32) -> Result<(), FsError> {
        self.handles.remove(&handle).map(|_| ()).ok_or(FsError::BadHandle)
    }

    fn stat(&mut self, path: &str) -> Result<Metadata, FsError> {
        self.record("stat", path);
        self.check_path(path)?;
        self.check_denied(path, false)?;
        if path == "/" {
            return Ok(Metadata {
                name: String::from("/"),
                kind: FileKind::Directory,
                size: 0,
                modified: self.clock.clone(),
            });
        }
        if !self.walk(path)? {
            return Err(FsError::NotFound);
        }
        let node = self.get(path).ok_or(FsError::Corrupted)?;
        Ok(Metadata {
            name: file_name(&node.path).unwrap_or("").into(),
            kind: node.kind(),
            size: node.size(),
            modified: node.modified.clone(),
        })
    }

    fn read_directory(&mut self, path: &str) -> Result<Vec<DirectoryEntry>, FsError> {
        self.record("read_directory", path);
        self.check_path(path)?;
        self.check_denied(path, false)?;
        if path != "/" {
            if !self.walk(path)? {
                return Err(FsError::NotFound);
            }
            if matches!(self.get(path).map(|node| &node.contents), Some(Contents::File(_))) {
                return Err(FsError::NotADirectory);
            }
        }
        Ok(self
            .children(path)
            .into_iter()
            .map(|node| DirectoryEntry {
                name: file_name(&node.path).unwrap_or("").into(),
                kind: node.kind(),
                size: node.size(),
            })
            .collect())
    }

    fn make_directory(&mut self, path: &str) -> Result<(), FsError> {
        self.record("make_directory", path);
        self.check_path(path)?;
        self.check_denied(path, true)?;
        self.check_writable()?;
        if path == "/" || self.walk(path)? {
            return Err(FsError::Exists);
        }
        Self::check_new_name(path)?;
        self.insert(path, Contents::Directory);
        Ok(())
    }

    fn remove_directory(&mut self, path: &str) -> Result<(), FsError> {
        self.record("remove_directory", path);
        self.check_path(path)?;
        self.check_denied(path, true)?;
        self.check_writable()?;
        if path == "/" {
            return Err(FsError::InvalidName { name: path.into() });
        }
        if !self.walk(path)? {
            return Err(FsError::NotFound);
        }
        if matches!(self.get(path).map(|node| &node.contents), Some(Contents::File(_))) {
            return Err(FsError::NotADirectory);
        }
        if !self.children(path).is_empty() {
            return Err(FsError::NotEmpty);
        }
        self.nodes.remove(&key(path));
        Ok(())
    }

    fn unlink(&mut self, path: &str) -> Result<(), FsError> {
        self.record("unlink", path);
        self.check_path(path)?;
        self.check_denied(path, true)?;
        self.check_writable()?;
        if path == "/" {
            return Err(FsError::IsADirectory);
        }
        if !self.walk(path)? {
            return Err(FsError::NotFound);
        }
        if matches!(self.get(path).map(|node| &node.contents), Some(Contents::Directory)) {
            return Err(FsError::IsADirectory);
        }
        let file_key = key(path);
        if self.handles.values().any(|handle| handle.key == file_key) {
            return Err(FsError::Busy);
        }
        self.nodes.remove(&file_key);
        Ok(())
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<(), FsError> {
        self.record("rename", &format!("{from} {to}"));
        self.check_path(from)?;
        self.check_path(to)?;
        self.check_denied(from, true)?;
        self.check_denied(to, true)?;
        self.check_writable()?;
        if from == "/" {
            return Err(FsError::InvalidName { name: from.into() });
        }
        if !self.walk(from)? {
            return Err(FsError::NotFound);
        }
        if to == "/" {
            return Err(FsError::Exists);
        }
        let (from_key, to_key) = (key(from), key(to));
        if self.walk(to)? {
            // Only the case changes: lamfat finds the same entry and does nothing.
            return if from_key == to_key { Ok(()) } else { Err(FsError::Exists) };
        }
        if is_within(from, to) {
            return Err(FsError::InvalidName { name: to.into() });
        }
        if self.handles.values().any(|handle| is_within(&from_key, &handle.key)) {
            return Err(FsError::Busy);
        }
        Self::check_new_name(to)?;
        let stored = self.get(from).map(|node| node.path.clone()).ok_or(FsError::Corrupted)?;
        for descendant in self.descendants(from) {
            if let Some(mut node) = self.nodes.remove(&descendant) {
                let rest = node.path.get(stored.len()..).unwrap_or("");
                node.path = format!("{to}{rest}");
                self.nodes.insert(key(&node.path), node);
            }
        }
        let mut moved = self.nodes.remove(&from_key).ok_or(FsError::Corrupted)?;
        moved.path = to.into();
        moved.order = self.next_order;
        self.next_order += 1;
        self.nodes.insert(to_key, moved);
        Ok(())
    }

    fn sync(&mut self) -> Result<(), FsError> {
        self.syncs += 1;
        Ok(())
    }

    fn stat_fs(&mut self) -> Result<FsStatus, FsError> {
        let cluster = u64::from(CLUSTER_BYTES);
        let used: u64 = self
            .nodes
            .values()
            .map(|node| match &node.contents {
                Contents::File(data) => (data.len() as u64).div_ceil(cluster),
                Contents::Directory => 1,
            })
            .sum();
        let total = self.capacity / cluster;
        Ok(FsStatus {
            fat: FatKind::Fat32,
            cluster_bytes: CLUSTER_BYTES,
            total_clusters: u32::try_from(total).unwrap_or(u32::MAX),
            free_clusters: u32::try_from(total.saturating_sub(used)).unwrap_or(u32::MAX),
            read_only: self.read_only,
        })
    }
}

#[cfg(test)]
mod tests {
    //! The fake keeps the promises the tools rely on.
    use super::*;

    fn read_all(fs: &mut MemoryFs, path: &str) -> Vec<u8> {
        let (handle, size) = fs.open(path, OpenFlags::READ).unwrap();
        let mut buffer = vec![0; usize::try_from(size).unwrap() + 8];
        let count = fs.read(handle, &mut buffer).unwrap();
        fs.close(handle).unwrap();
        buffer.truncate(count);
        buffer
    }

    #[test]
    fn files_are_found_without_case_and_listed_in_order() {
        let mut fs = MemoryFs::new().with_file("/home/user/Notes.txt", b"hi").with_directory("/home/user/b");
        assert_eq!(fs.stat("/HOME/USER/notes.TXT").unwrap().name, "Notes.txt");
        assert_eq!(fs.names("/home/user"), ["Notes.txt", "b"]);
        fs.make_directory("/HOME/User/New").unwrap();
        assert_eq!(
            fs.tree(),
            ["/home/", "/home/user/", "/home/user/New/", "/home/user/Notes.txt", "/home/user/b/"]
        );
        assert_eq!(read_all(&mut fs, "/home/user/notes.txt"), b"hi");
        assert_eq!(fs.stat("/home/user/Notes.txt/x"), Err(FsError::NotADirectory));
        assert_eq!(fs.stat("/home/nobody/x"), Err(FsError::NotFound));
        assert_eq!(fs.read_directory("/home/user/Notes.txt"), Err(FsError::NotADirectory));
        assert_eq!(
            fs.stat("/"),
            Ok(Metadata {
                name: "/".into(),
                kind: FileKind::Directory,
                size: 0,
                modified: "1980-01-01 00:00:00".into()
            })
        );
    }

    #[test]
    fn abnormal_paths_are_refused_and_recorded() {
        let mut fs = MemoryFs::new().with_directory("/a");
        for path in ["a", "/a/", "/a/../a", "/a//b", "/./a", ""] {
            assert!(matches!(fs.stat(path), Err(FsError::InvalidName { .. })), "{path:?}");
        }
        assert_eq!(fs.abnormal_paths().len(), 6);
    }

    #[test]
    fn open_write_read_and_the_rules_of_handles() {
        let mut fs = MemoryFs::new().with_directory("/d");
        let create = OpenFlags::WRITE.union(OpenFlags::CREATE);
        let (handle, size) = fs.open("/d/f", create).unwrap();
        assert_eq!(size, 0);
        assert_eq!(fs.open("/d/F", OpenFlags::WRITE), Err(FsError::Busy));
        assert_eq!(fs.unlink("/d/f"), Err(FsError::Busy));
        assert_eq!(fs.rename("/d", "/e"), Err(FsError::Busy));
        fs.write(handle, b"hello").unwrap();
        fs.write(handle, b" world").unwrap();
        assert_eq!(fs.read(handle, &mut [0; 4]), Err(FsError::BadHandle));
        fs.close(handle).unwrap();
        assert_eq!(fs.close(handle), Err(FsError::BadHandle));
        assert_eq!(fs.file("/d/f"), Some(&b"hello world"[..]));
        assert_eq!(fs.open("/d/f", create.union(OpenFlags::EXCLUSIVE)), Err(FsError::Exists));
        assert_eq!(fs.open("/d/f", OpenFlags::CREATE), Err(FsError::InvalidFlags));
        assert_eq!(fs.open("/d", OpenFlags::READ), Err(FsError::IsADirectory));
        assert_eq!(fs.open("/d/g", OpenFlags::READ), Err(FsError::NotFound));
        let (handle, size) = fs.open("/d/f", OpenFlags::WRITE.union(OpenFlags::TRUNCATE)).unwrap();
        assert_eq!(size, 0);
        fs.close(handle).unwrap();
        assert_eq!(fs.file("/d/f"), Some(&b""[..]));
        assert_eq!(fs.open_handles(), 0);
    }

    #[test]
    fn reads_end_short_only_at_the_end_and_fail_where_told() {
        let mut fs = MemoryFs::new().with_file("/big", &[7; 10_000]);
        fs.fail_reads("/big", 6000);
        let (handle, _) = fs.open("/big", OpenFlags::READ).unwrap();
        let mut buffer = [0; 4096];
        assert_eq!(fs.read(handle, &mut buffer), Ok(4096));
        assert_eq!(fs.read(handle, &mut buffer), Err(FsError::Io));
        fs.close(handle).unwrap();
        let mut fs = MemoryFs::new().with_file("/f", b"abc");
        let (handle, _) = fs.open("/f", OpenFlags::READ).unwrap();
        assert_eq!(fs.read(handle, &mut buffer), Ok(3));
        assert_eq!(fs.read(handle, &mut buffer), Ok(0));
        fs.close(handle).unwrap();
    }

    #[test]
    fn directories_rename_and_names() {
        let mut fs = MemoryFs::new().with_file("/a/x", b"1").with_directory("/b");
        assert_eq!(fs.make_directory("/a"), Err(FsError::Exists));
        assert_eq!(fs.make_directory("/c/d"), Err(FsError::NotFound));
        assert_eq!(fs.make_directory("/a/x/d"), Err(FsError::NotADirectory));
        assert_eq!(fs.make_directory("/bad:name"), Err(FsError::InvalidName { name: "bad:name".into() }));
        assert_eq!(fs.make_directory(&format!("/{}", "n".repeat(256))), Err(FsError::NameTooLong));
        assert_eq!(fs.remove_directory("/a"), Err(FsError::NotEmpty));
        assert_eq!(fs.remove_directory("/a/x"), Err(FsError::NotADirectory));
        assert_eq!(fs.unlink("/a"), Err(FsError::IsADirectory));
        assert_eq!(fs.rename("/a", "/a/inside"), Err(FsError::InvalidName { name: "/a/inside".into() }));
        assert_eq!(fs.rename("/a", "/b"), Err(FsError::Exists));
        fs.rename("/a", "/b/a").unwrap();
        assert_eq!(fs.tree(), ["/b/", "/b/a/", "/b/a/x"]);
        // A change of case only does nothing, as lamfat.
        fs.rename("/b", "/B").unwrap();
        assert_eq!(fs.tree(), ["/b/", "/b/a/", "/b/a/x"]);
    }

    #[test]
    fn denials_full_volumes_and_read_only() {
        let mut fs = MemoryFs::new().with_file("/etc/p", b"x").with_directory("/home");
        fs.deny("/etc", Denial::Changes);
        assert!(fs.stat("/etc/p").is_ok());
        assert!(matches!(fs.unlink("/etc/p"), Err(FsError::Denied { .. })));
        fs.deny("/etc", Denial::Everything);
        assert!(matches!(fs.stat("/etc/p"), Err(FsError::Denied { .. })));
        // Paths are compared as written, component by component.
        assert!(fs.stat("/etcetera").is_err_and(|error| error == FsError::NotFound));
        fs.set_capacity(10);
        let (handle, _) = fs.open("/home/f", OpenFlags::WRITE.union(OpenFlags::CREATE)).unwrap();
        assert_eq!(fs.write(handle, &[0; 10]), Err(FsError::NoSpace));
        assert_eq!(fs.write(handle, &[0; 9]), Ok(()));
        fs.close(handle).unwrap();
        fs.set_read_only(true);
        assert_eq!(fs.make_directory("/home/d"), Err(FsError::ReadOnly));
        let status = fs.stat_fs().unwrap();
        assert!(status.read_only);
        assert_eq!(status.cluster_bytes, CLUSTER_BYTES);
    }
}
