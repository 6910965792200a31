//! Where a spawned program comes from: the name resolved to the path that labels it and
//! the file that holds it, what to do when the filesystem gives no file, and the file read
//! in as far as its load plan needs. Pure logic over the filesystem's answers; `main.rs`
//! makes the calls.
//!
//! The rules (`proc_api::Request::Spawn`):
//! - an absolute path (`/home/user/tool`) is normalised once (`.`, `..`, `//`) and read from
//!   the filesystem only; it labels the process as written after normalising;
//! - a bare name `NAME` (no `/`) is the file `/bin/NAME`, and `/bin/NAME` labels the process
//!   wherever its bytes come from (the security server names programs so, and so do the
//!   spawn scopes); the boot archive's entry `NAME` stands in only when the filesystem
//!   cannot give the file: no session (no filesystem in this system, or the policy gives
//!   the manager none), no volume, no such file. A file that is there but is not a program,
//!   a refusal of the manager's own scope, or a failing device is the answer, never a
//!   reason to run something else;
//! - with nothing to stand in, a missing file (or filesystem) is `NoSuchProgram`, but a
//!   filesystem without a volume says so (`Unreadable`, with the fs server's reason: a
//!   blank or broken disk is not "command not found");
//! - a relative path (`./tool`, `sub/tool`) is refused: the manager has no working
//!   directory; the caller resolves the path against its own (the shell does).
//!
//! Invariants: a [`ProgramName`]'s path is absolute and normal (a `grant::FsPath`), so the
//! spawn scope, the filesystem and the security server's label all see the same text; only
//! a bare name has an archive entry.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use fs_api::FsError;
use grant::FsPath;
use kernel_core::elf::{self, ElfError};
use proc_api::ProcError;

/// The most bytes of a program file the manager reads: its loadable part (ELF headers and
/// segments; symbols and debug information past them are never read). It is also about
/// what a process's own half of its quota (2 MiB) can hold, so nothing larger could be
/// built anyway; the manager's heap is sized for one such file at a time.
pub const MAX_PROGRAM_BYTES: usize = 2 << 20;

/// Bytes read first: the file header and, in every program the toolchain links, the
/// program headers.
pub const HEADER_BYTES: usize = 4096;

/// The directory bare names are looked up in.
pub const PROGRAM_DIRECTORY: &str = "/bin";

/// A program named in a `Spawn`, resolved (see the module invariants).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramName {
    path: FsPath,
    archive: Option<String>,
}

impl ProgramName {
    /// Resolves what a `Spawn` names: an absolute path, or a bare name. Empty names,
    /// relative paths, `..` above the root and names that make no path are
    /// `NoSuchProgram`.
    pub fn resolve(program: &str) -> Result<ProgramName, ProcError> {
        if program.starts_with('/') {
            let path = FsPath::normalize(program).map_err(|_| ProcError::NoSuchProgram)?;
            return Ok(ProgramName { path, archive: None });
        }
        if program.is_empty() || program.contains('/') {
            return Err(ProcError::NoSuchProgram);
        }
        // `.`, `..` and control characters make no path under /bin.
        let path =
            FsPath::parse(&format!("{PROGRAM_DIRECTORY}/{program}")).map_err(|_| ProcError::NoSuchProgram)?;
        Ok(ProgramName { path, archive: Some(program.to_string()) })
    }

    /// The file, and the path the process is labelled by: `/bin/NAME` for a bare name.
    pub fn path(&self) -> &str {
        self.path.as_str()
    }

    /// The boot archive's entry that stands in for a bare name's file.
    pub fn archive_entry(&self) -> Option<&str> {
        self.archive.as_deref()
    }
}

/// Why the filesystem gave no file.
#[derive(Clone, Copy, Debug)]
pub enum NoFile<'a> {
    /// The manager has no filesystem session: no filesystem in this system, or the policy
    /// gives the manager none (or it was revoked and could not be opened again).
    NoSession,
    /// The filesystem's answer to opening or reading the file.
    Answer(&'a FsError),
}

/// What to do when the filesystem gave no file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Instead<'a> {
    /// Load the boot archive's entry of this name.
    Archive(&'a str),
    /// Refuse the spawn.
    Refuse(ProcError),
}

/// The rule of the module doc: the archive stands in for a bare name when the file is
/// absent (`in_archive` says whether the archive holds the entry); every other answer is
/// turned into the spawn's error.
pub fn instead<'a>(name: &'a ProgramName, why: NoFile<'_>, in_archive: impl Fn(&str) -> bool) -> Instead<'a> {
    // What to say when nothing stands in for an absent file.
    let absent = match why {
        NoFile::NoSession => ProcError::NoSuchProgram,
        NoFile::Answer(error) => match error {
            FsError::NotFound
            | FsError::NotADirectory
            | FsError::InvalidName { .. }
            | FsError::NameTooLong => ProcError::NoSuchProgram,
            FsError::NoVolume { .. } => ProcError::Unreadable(error.to_string()),
            FsError::Denied { .. } => return Instead::Refuse(ProcError::NotPermitted),
            FsError::IsADirectory => return Instead::Refuse(ProcError::BadElf("a directory".to_string())),
            other => return Instead::Refuse(ProcError::Unreadable(other.to_string())),
        },
    };
    match name.archive_entry() {
        Some(entry) if in_archive(entry) => Instead::Archive(entry),
        _ => Instead::Refuse(absent),
    }
}

/// Why a program file could not be read in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadError<E> {
    /// Reading failed (the filesystem's error).
    Read(E),
    /// The headers are not a RISC-V executable's.
    Elf(ElfError),
    /// The manager's heap cannot hold the file.
    OutOfMemory,
    /// The loadable part is larger than the limit.
    TooLarge {
        /// Bytes it needs read.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
}

impl<E> ReadError<E> {
    /// The spawn's error, given how to turn the filesystem's.
    pub fn into_proc_error(self, read: impl FnOnce(E) -> ProcError) -> ProcError {
        match self {
            ReadError::Read(error) => read(error),
            ReadError::Elf(error) => ProcError::BadElf(format!("{error}")),
            ReadError::OutOfMemory => ProcError::OutOfMemory,
            ReadError::TooLarge { bytes, limit } => {
                ProcError::TooLarge { bytes: bytes as u64, limit: limit as u64 }
            }
        }
    }
}

/// Reads a program file of `size` bytes (as the filesystem said at open) through `read`,
/// which fills as much of the buffer it is given as the file holds from its position on and
/// returns how much: the headers first ([`HEADER_BYTES`]), then up to where the last
/// loadable segment ends (`kernel_core::elf::needed_bytes`), at most `limit` bytes. The
/// result holds everything `loader::build` reads; a file cut short is returned short, for
/// the load plan to refuse with its reason.
pub fn read_program<E>(
    size: u64,
    limit: usize,
    mut read: impl FnMut(&mut [u8]) -> Result<usize, E>,
) -> Result<Vec<u8>, ReadError<E>> {
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    let mut bytes = Vec::new();
    let mut want = size.min(HEADER_BYTES).min(limit);
    // Twice at most: the headers (and, if they lie past the first read, the program
    // headers), then the segments; a third pass is for program headers far into the file.
    for _ in 0..3 {
        let have = bytes.len();
        if want > have {
            bytes.try_reserve_exact(want - have).map_err(|_| ReadError::OutOfMemory)?;
            bytes.resize(want, 0);
            let count = read(&mut bytes[have..]).map_err(ReadError::Read)?;
            let count = count.min(want - have);
            bytes.truncate(have + count);
            if count < want - have {
                // The file ends here; the plan says what is missing.
                elf::needed_bytes(&bytes).map_err(ReadError::Elf)?;
                return Ok(bytes);
            }
        }
        let needed = elf::needed_bytes(&bytes).map_err(ReadError::Elf)?;
        if needed <= bytes.len() {
            bytes.truncate(needed);
            return Ok(bytes);
        }
        if needed > limit {
            return Err(ReadError::TooLarge { bytes: needed, limit });
        }
        want = needed;
    }
    Err(ReadError::Elf(ElfError::Malformed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn name(text: &str) -> ProgramName {
        ProgramName::resolve(text).expect("a program name")
    }

    #[test]
    fn names_resolve_to_the_paths_that_label_them() {
        assert_eq!(name("ls").path(), "/bin/ls");
        assert_eq!(name("ls").archive_entry(), Some("ls"));
        assert_eq!(name("/home/user/tool").path(), "/home/user/tool");
        assert_eq!(name("/home/user/tool").archive_entry(), None, "a path is the filesystem's only");
        // Paths are normalised once, as the filesystem and the spawn scope see them.
        assert_eq!(name("/home/user/../user//./tool").path(), "/home/user/tool");
        assert_eq!(name("/bin/ls").path(), "/bin/ls");
        assert_eq!(name("/bin/ls").archive_entry(), None, "/bin/ls spelled out is a path");
        for refused in ["", "./tool", "sub/tool", "..", ".", "/..", "/../bin/ls", "bad\u{7}name"] {
            assert_eq!(ProgramName::resolve(refused), Err(ProcError::NoSuchProgram), "{refused:?}");
        }
    }

    #[test]
    fn the_archive_stands_in_only_for_an_absent_file_of_a_bare_name() {
        let in_archive = |entry: &str| entry == "hello";
        let hello = name("hello");
        for absent in [
            FsError::NotFound,
            FsError::NotADirectory,
            FsError::NoVolume { why: "no disk".into() },
            FsError::InvalidName { name: "x".into() },
            FsError::NameTooLong,
        ] {
            assert_eq!(
                instead(&hello, NoFile::Answer(&absent), in_archive),
                Instead::Archive("hello"),
                "{absent:?}"
            );
        }
        assert_eq!(instead(&hello, NoFile::NoSession, in_archive), Instead::Archive("hello"));
        // Not in the archive either: no such program.
        let ls = name("ls");
        assert_eq!(instead(&ls, NoFile::NoSession, in_archive), Instead::Refuse(ProcError::NoSuchProgram));
        assert_eq!(
            instead(&ls, NoFile::Answer(&FsError::NotFound), in_archive),
            Instead::Refuse(ProcError::NoSuchProgram)
        );
        // A filesystem without a volume says why, rather than "no such program".
        let blank = FsError::NoVolume { why: "the disk is blank".into() };
        assert_eq!(
            instead(&ls, NoFile::Answer(&blank), in_archive),
            Instead::Refuse(ProcError::Unreadable("no volume: the disk is blank".into()))
        );
        assert_eq!(
            instead(&name("/home/user/tool"), NoFile::Answer(&blank), in_archive),
            Instead::Refuse(ProcError::Unreadable("no volume: the disk is blank".into()))
        );
        // A path never falls back, even to an entry of the same name.
        let path = name("/bin/hello");
        assert_eq!(
            instead(&path, NoFile::Answer(&FsError::NotFound), in_archive),
            Instead::Refuse(ProcError::NoSuchProgram)
        );
        assert_eq!(instead(&path, NoFile::NoSession, in_archive), Instead::Refuse(ProcError::NoSuchProgram));
    }

    #[test]
    fn a_file_that_is_there_is_the_answer() {
        let in_archive = |_: &str| true;
        let hello = name("hello");
        let denied = FsError::Denied { grant: "fs /bin read".into() };
        assert_eq!(
            instead(&hello, NoFile::Answer(&denied), in_archive),
            Instead::Refuse(ProcError::NotPermitted)
        );
        assert_eq!(
            instead(&hello, NoFile::Answer(&FsError::IsADirectory), in_archive),
            Instead::Refuse(ProcError::BadElf("a directory".into()))
        );
        assert_eq!(
            instead(&hello, NoFile::Answer(&FsError::Io), in_archive),
            Instead::Refuse(ProcError::Unreadable("device error".into()))
        );
        assert!(matches!(
            instead(&hello, NoFile::Answer(&FsError::Corrupted), in_archive),
            Instead::Refuse(ProcError::Unreadable(_))
        ));
    }

    /// A small RISC-V executable: one segment of `code` bytes at file offset 0x1000, then
    /// `tail` bytes of "symbols" the loader never reads.
    fn program(code: usize, tail: usize) -> Vec<u8> {
        let mut out = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0];
        out.resize(16, 0);
        out.extend_from_slice(&2u16.to_le_bytes()); // executable
        out.extend_from_slice(&243u16.to_le_bytes()); // RISC-V
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&0x1_1000u64.to_le_bytes()); // entry
        out.extend_from_slice(&64u64.to_le_bytes()); // program headers
        out.extend_from_slice(&0u64.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&64u16.to_le_bytes());
        out.extend_from_slice(&56u16.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&[0; 6]);
        out.extend_from_slice(&1u32.to_le_bytes()); // load
        out.extend_from_slice(&5u32.to_le_bytes()); // read, execute
        out.extend_from_slice(&0x1000u64.to_le_bytes());
        out.extend_from_slice(&0x1_1000u64.to_le_bytes());
        out.extend_from_slice(&0x1_1000u64.to_le_bytes());
        out.extend_from_slice(&(code as u64).to_le_bytes());
        out.extend_from_slice(&(code as u64).to_le_bytes());
        out.extend_from_slice(&0x1000u64.to_le_bytes());
        out.resize(0x1000 + code, 0x13);
        out.resize(0x1000 + code + tail, 0xee);
        out
    }

    /// A reader over `file` that records how many bytes it was asked for at each call.
    fn reader<'a>(
        file: &'a [u8],
        asked: &'a mut Vec<usize>,
    ) -> impl FnMut(&mut [u8]) -> Result<usize, FsError> + 'a {
        let mut position = 0;
        move |buffer: &mut [u8]| {
            asked.push(buffer.len());
            let count = buffer.len().min(file.len() - position);
            buffer[..count].copy_from_slice(&file[position..position + count]);
            position += count;
            Ok(count)
        }
    }

    #[test]
    fn a_program_is_read_as_far_as_its_segments_and_no_further() {
        let file = program(0x3000, 0x8000);
        let mut asked = Vec::new();
        let bytes =
            read_program(file.len() as u64, MAX_PROGRAM_BYTES, reader(&file, &mut asked)).expect("read");
        assert_eq!(bytes, file[..0x4000]);
        assert_eq!(asked, [HEADER_BYTES, 0x3000], "the headers, then the segments");
        assert_eq!(kernel_core::elf::plan(&bytes), kernel_core::elf::plan(&file));
        // Just past the first read: the rest of the segment, not the symbols after it.
        let small = program(0x10, 0x100);
        let mut asked = Vec::new();
        let bytes =
            read_program(small.len() as u64, MAX_PROGRAM_BYTES, reader(&small, &mut asked)).expect("read");
        assert_eq!(bytes, small[..0x1010]);
        assert_eq!(asked, [HEADER_BYTES, 0x10]);
    }

    #[test]
    fn what_is_not_a_program_is_refused_after_one_read() {
        let text = b"Welcome to Lattice.\n".to_vec();
        let mut asked = Vec::new();
        let error = read_program(text.len() as u64, MAX_PROGRAM_BYTES, reader(&text, &mut asked));
        assert_eq!(error, Err(ReadError::Elf(ElfError::Malformed)));
        assert_eq!(asked, [text.len()]);
        let empty: Vec<u8> = Vec::new();
        assert_eq!(
            read_program(0, MAX_PROGRAM_BYTES, reader(&empty, &mut Vec::new())),
            Err(ReadError::Elf(ElfError::Malformed))
        );
        let error =
            ReadError::<FsError>::Elf(ElfError::Malformed).into_proc_error(|_| ProcError::NoSuchProgram);
        assert_eq!(error, ProcError::BadElf("not an ELF file (bad or truncated headers)".into()));
    }

    #[test]
    fn a_program_past_the_limit_is_refused_before_its_segments_are_read() {
        let file = program(0x10_0000, 0);
        let mut asked = Vec::new();
        let error = read_program(file.len() as u64, 0x8_0000, reader(&file, &mut asked));
        assert_eq!(error, Err(ReadError::TooLarge { bytes: 0x10_1000, limit: 0x8_0000 }));
        assert_eq!(asked, [HEADER_BYTES], "only the headers were read");
        let error = ReadError::<FsError>::TooLarge { bytes: 3, limit: 2 }
            .into_proc_error(|_| ProcError::NoSuchProgram);
        assert_eq!(error, ProcError::TooLarge { bytes: 3, limit: 2 });
        // Symbols past the segments do not count.
        let file = program(0x1000, 0x20_0000);
        assert!(read_program(file.len() as u64, 0x8_0000, reader(&file, &mut Vec::new())).is_ok());
    }

    #[test]
    fn a_file_cut_short_comes_back_short_for_the_plan_to_refuse() {
        let file = program(0x3000, 0);
        let cut = &file[..0x2000];
        // The size the filesystem reported may promise more than the file gives.
        let bytes =
            read_program(file.len() as u64, MAX_PROGRAM_BYTES, reader(cut, &mut Vec::new())).expect("read");
        assert_eq!(bytes.len(), 0x2000);
        assert_eq!(kernel_core::elf::plan(&bytes), Err(ElfError::SegmentOutsideFile { index: 0 }));
        // Program headers cut short: the same.
        let head = &file[..100];
        let bytes = read_program(100, MAX_PROGRAM_BYTES, reader(head, &mut Vec::new())).expect("read");
        assert_eq!(bytes, head);
        assert_eq!(kernel_core::elf::plan(&bytes), Err(ElfError::Malformed));
        // A file header cut short is refused as it is read.
        assert_eq!(
            read_program(40, MAX_PROGRAM_BYTES, reader(&file[..40], &mut Vec::new())),
            Err(ReadError::Elf(ElfError::Malformed))
        );
        // A failing read is the filesystem's error.
        let failing = |_: &mut [u8]| Err::<usize, FsError>(FsError::Io);
        assert_eq!(read_program(4096, MAX_PROGRAM_BYTES, failing), Err(ReadError::Read(FsError::Io)));
    }
}
