//! Disk images for system tests: made fresh on the host for each test, attached to QEMU as
//! virtio-blk ([`crate::qemu::Boot::disk`]), and checked with `fsck.fat -n` after the
//! machine stops ([`check_fat`]; the test runner does it for every FAT image a test
//! attached).
//!
//! FAT images are made with `lamfat` (a republish of rust-fatfs 0.4, the engine DESIGN.md
//! names for the filesystem server) and judged by dosfstools' `fsck.fat`, an independent
//! implementation. (The released `fatfs` 0.3.6 was tried first: `fsck.fat` rejects the `.`
//! and `..` entries of every directory it makes.)

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::host;

/// A disk image file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    path: PathBuf,
    fat: bool,
}

/// The volume label of images made here.
pub const LABEL: &str = "LATTICE";

impl Image {
    /// Makes a FAT image of `size` bytes (a multiple of 512; FAT12, 16 or 32 as the size
    /// calls for) at `path`, replacing what was there, holding `files`: a path inside the
    /// image (`/`-separated; directories are made) and the contents.
    pub fn fat(path: &Path, size: u64, files: &[(&str, &[u8])]) -> Result<Self, String> {
        let what = |error: String| format!("making the FAT image {}: {error}", path.display());
        let mut bytes = format(size, None).map_err(what)?;
        {
            let volume = mount(&mut bytes).map_err(what)?;
            for (name, contents) in files {
                put_file(&volume, name, contents).map_err(what)?;
            }
            volume.unmount().map_err(|error| what(error.to_string()))?;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|error| format!("create {}: {error}", parent.display()))?;
        }
        std::fs::write(path, bytes.into_inner())
            .map_err(|error| format!("write {}: {error}", path.display()))?;
        Ok(Self { path: path.to_path_buf(), fat: true })
    }

    /// Makes a raw image of `size` zero bytes at `path` (no file system: not checked).
    pub fn raw(path: &Path, size: u64) -> Result<Self, String> {
        let file =
            std::fs::File::create(path).map_err(|error| format!("create {}: {error}", path.display()))?;
        file.set_len(size).map_err(|error| format!("size {}: {error}", path.display()))?;
        Ok(Self { path: path.to_path_buf(), fat: false })
    }

    /// Writes `bytes` at `path` as a deliberately bad disk (not FAT, a volume cut short,
    /// noise): the runner does not run `fsck.fat` on it after the machine stops, since it is
    /// not meant to be a volume; the test judges it instead (by its bytes).
    pub fn bad(path: &Path, bytes: &[u8]) -> Result<Self, String> {
        std::fs::write(path, bytes).map_err(|error| format!("write {}: {error}", path.display()))?;
        Ok(Self { path: path.to_path_buf(), fat: false })
    }

    /// An image at `path` taken as it is (the system disk, host tests of command lines).
    pub fn existing(path: &Path, fat: bool) -> Self {
        Self { path: path.to_path_buf(), fat }
    }

    /// The image file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether it holds a FAT file system.
    pub fn is_fat(&self) -> bool {
        self.fat
    }

    /// Reads the file at `name` (`/`-separated) out of a FAT image.
    pub fn read(&self, name: &str) -> Result<Vec<u8>, String> {
        let what = |error: String| format!("reading {name} from {}: {error}", self.path.display());
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .map_err(|error| format!("open {}: {error}", self.path.display()))?;
        let volume = lamfat::FileSystem::new(&mut file, lamfat::FsOptions::new())
            .map_err(|error| what(error.to_string()))?;
        let mut contents = Vec::new();
        let mut entry = volume
            .root_dir()
            .open_file(name.trim_start_matches('/'))
            .map_err(|error| what(error.to_string()))?;
        entry.read_to_end(&mut contents).map_err(|error| what(error.to_string()))?;
        Ok(contents)
    }
}

/// A FAT volume in memory, as `lamfat` mounts it.
pub type Volume<'a> = lamfat::FileSystem<lamfat::StdIoWrapper<&'a mut Cursor<Vec<u8>>>>;

/// A directory of a [`Volume`].
pub type Directory<'a, 'b> = lamfat::Dir<
    'a,
    lamfat::StdIoWrapper<&'b mut Cursor<Vec<u8>>>,
    lamfat::DefaultTimeProvider,
    lamfat::LossyOemCpConverter,
>;

/// A freshly formatted FAT volume of `size` bytes (a positive multiple of 512) in memory,
/// labelled [`LABEL`]: FAT12, 16 or 32 as the size calls for, or `fat_type`.
pub fn format(size: u64, fat_type: Option<lamfat::FatType>) -> Result<Cursor<Vec<u8>>, String> {
    if size == 0 || !size.is_multiple_of(512) {
        return Err(format!("a disk image's size must be a positive multiple of 512, not {size}"));
    }
    let length = usize::try_from(size).map_err(|_| format!("{size} bytes do not fit in memory"))?;
    // Made in memory and written once: fatfs writes in small pieces.
    let mut bytes = Cursor::new(vec![0u8; length]);
    let label = format!("{LABEL:<11}");
    let mut volume_label = [b' '; 11];
    volume_label.copy_from_slice(&label.as_bytes()[..11]);
    let mut options = lamfat::FormatVolumeOptions::new().volume_label(volume_label);
    if let Some(fat_type) = fat_type {
        options = options.fat_type(fat_type);
    }
    lamfat::format_volume(&mut lamfat::StdIoWrapper::new(&mut bytes), options)
        .map_err(|error| error.to_string())?;
    bytes.set_position(0);
    Ok(bytes)
}

/// Mounts the FAT volume in `bytes` (from its start).
pub fn mount(bytes: &mut Cursor<Vec<u8>>) -> Result<Volume<'_>, String> {
    bytes.set_position(0);
    lamfat::FileSystem::new(bytes, lamfat::FsOptions::new()).map_err(|error| error.to_string())
}

/// The directory at `name` (`/`-separated, from the root), made with its parents if missing.
pub fn make_directories<'a, 'b>(volume: &'a Volume<'b>, name: &str) -> Result<Directory<'a, 'b>, String> {
    let mut directory = volume.root_dir();
    for part in name.split('/').filter(|part| !part.is_empty()) {
        directory = match directory.open_dir(part) {
            Ok(existing) => existing,
            Err(_) => {
                directory.create_dir(part).map_err(|error| format!("make directory {name}: {error}"))?
            }
        };
    }
    Ok(directory)
}

/// Writes `contents` to the file at `name` (`/`-separated; directories made), replacing
/// what it held.
pub fn put_file(volume: &Volume<'_>, name: &str, contents: &[u8]) -> Result<(), String> {
    let name = name.trim_start_matches('/');
    let (parent, file_name) = name.rsplit_once('/').unwrap_or(("", name));
    if file_name.is_empty() {
        return Err(format!("no file name in {name:?}"));
    }
    let directory = make_directories(volume, parent)?;
    let mut file = directory.create_file(file_name).map_err(|error| format!("create {name}: {error}"))?;
    file.truncate().map_err(|error| format!("truncate {name}: {error}"))?;
    file.write_all(contents).map_err(|error| format!("write {name}: {error}"))?;
    file.flush().map_err(|error| format!("write {name}: {error}"))
}

/// Removes the file or directory at `name` and everything under it; returns whether there
/// was one.
pub fn remove_tree(volume: &Volume<'_>, name: &str) -> Result<bool, String> {
    let name = name.trim_matches('/');
    let (parent, last) = name.rsplit_once('/').unwrap_or(("", name));
    let mut directory = volume.root_dir();
    for part in parent.split('/').filter(|part| !part.is_empty()) {
        match directory.open_dir(part) {
            Ok(next) => directory = next,
            Err(_) => return Ok(false),
        }
    }
    let Some(entry) =
        directory.iter().filter_map(Result::ok).find(|entry| entry.file_name().eq_ignore_ascii_case(last))
    else {
        return Ok(false);
    };
    if entry.is_dir() {
        let children: Vec<String> = entry
            .to_dir()
            .iter()
            .filter_map(Result::ok)
            .map(|child| child.file_name())
            .filter(|child| child != "." && child != "..")
            .collect();
        for child in children {
            remove_tree(volume, &format!("{name}/{child}"))?;
        }
    }
    directory.remove(last).map_err(|error| format!("remove {name}: {error}"))?;
    Ok(true)
}

/// What `fsck.fat -n` said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fsck {
    /// No problem: the summary line (`IMAGE: N files, USED/TOTAL clusters`).
    Clean(String),
    /// Problems: every line that is not the version banner or the summary.
    Problems(Vec<String>),
}

/// Reads `fsck.fat -n`'s exit status and output. Clean means exit status 0 *and* nothing
/// but the banner and the summary: dosfstools prints some findings (a dirty bit, a
/// differing backup boot sector) and still exits 0 under `-n`.
pub fn parse_fsck(status: Option<i32>, output: &str) -> Fsck {
    let mut summary = None;
    let mut problems = Vec::new();
    for line in output.lines().map(str::trim_end).filter(|line| !line.is_empty()) {
        if line.starts_with("fsck.fat ") && line.ends_with(')') && summary.is_none() && problems.is_empty() {
            continue; // fsck.fat 4.2 (2021-01-31)
        }
        if is_summary(line) {
            summary = Some(line.to_string());
        } else {
            problems.push(line.to_string());
        }
    }
    match (status, summary) {
        (Some(0), Some(summary)) if problems.is_empty() => Fsck::Clean(summary),
        (status, summary) => {
            if status != Some(0) {
                problems.push(match status {
                    Some(code) => format!("(fsck.fat exited with status {code})"),
                    None => "(fsck.fat did not finish)".to_string(),
                });
            } else if summary.is_none() {
                problems.push("(no summary line)".to_string());
            }
            Fsck::Problems(problems)
        }
    }
}

/// `IMAGE: N files, USED/TOTAL clusters`.
fn is_summary(line: &str) -> bool {
    let Some((_, rest)) = line.rsplit_once(": ") else { return false };
    let Some((files, clusters)) = rest.split_once(" files, ") else { return false };
    let Some(counts) = clusters.strip_suffix(" clusters") else { return false };
    let Some((used, total)) = counts.split_once('/') else { return false };
    [files, used, total]
        .iter()
        .all(|number| !number.is_empty() && number.bytes().all(|byte| byte.is_ascii_digit()))
}

/// Runs `fsck.fat -n` (check, change nothing) on the image at `path`: `Ok` with the summary
/// line when it finds nothing, otherwise an error quoting what it found.
pub fn check_fat(path: &Path) -> Result<String, String> {
    let fsck = crate::setup::path_of(crate::setup::FSCK_FAT)?;
    let mut command = Command::new(fsck);
    command.arg("-n").arg(path);
    let output = host::run_with_deadline(&mut command, b"", Duration::from_secs(60))?;
    match parse_fsck(output.status, &output.all()) {
        Fsck::Clean(summary) => Ok(summary),
        Fsck::Problems(problems) => {
            Err(format!("fsck.fat -n {} found:\n          {}", path.display(), problems.join("\n          ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let directory = std::env::temp_dir().join(format!("lattice-disk-tests-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        directory.join(name)
    }

    /// A small tree with a long name, as the system's disk will hold.
    const FILES: &[(&str, &[u8])] = &[
        ("/bin/hello", b"\x7fELF not really"),
        ("etc/policy/default.rhai", b"// a policy\n"),
        ("www/index.html", b"<h1>Lattice</h1>\n"),
        ("a long file name.txt", b"long names work\n"),
    ];

    #[test]
    fn a_fat_image_holds_its_files_and_passes_fsck() {
        let path = scratch("files.img");
        let image = Image::fat(&path, 8 << 20, FILES).unwrap();
        assert!(image.is_fat());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 8 << 20);
        assert_eq!(image.read("www/index.html").unwrap(), b"<h1>Lattice</h1>\n");
        assert_eq!(image.read("/etc/policy/default.rhai").unwrap(), b"// a policy\n");
        assert_eq!(image.read("a long file name.txt").unwrap(), b"long names work\n");
        assert!(image.read("nosuch").is_err());
        let summary = check_fat(&path).unwrap();
        assert!(summary.contains(" files, "), "{summary}");
        // Made again from the same files, the image is the same bytes (no clock in it).
        let again = Image::fat(&scratch("again.img"), 8 << 20, FILES).unwrap();
        assert!(std::fs::read(&path).unwrap() == std::fs::read(again.path()).unwrap());
    }

    #[test]
    fn fsck_finds_a_cross_linked_file() {
        let path = scratch("broken.img");
        let image =
            Image::fat(&path, 4 << 20, &[("one.txt", b"first file\n"), ("two.txt", b"second file\n")])
                .unwrap();
        check_fat(image.path()).unwrap();
        // Point the second file's directory entry at the first file's cluster.
        let mut bytes = std::fs::read(&path).unwrap();
        let entry =
            |bytes: &[u8], name: &[u8; 11]| bytes.windows(11).position(|window| window == name).unwrap();
        let one = entry(&bytes, b"ONE     TXT");
        let two = entry(&bytes, b"TWO     TXT");
        let cluster = [bytes[one + 26], bytes[one + 27]];
        bytes[two + 26..two + 28].copy_from_slice(&cluster);
        std::fs::write(&path, &bytes).unwrap();
        let error = check_fat(&path).unwrap_err();
        assert!(error.contains("fsck.fat -n"), "{error}");
        assert!(error.to_lowercase().contains("cluster"), "{error}");
    }

    #[test]
    fn fsck_finds_a_volume_left_dirty() {
        // 16 MiB makes FAT16, whose boot sector has the dirty flag (byte 0x25, bit 0).
        let path = scratch("dirty.img");
        Image::fat(&path, 16 << 20, &[("file.txt", b"contents\n")]).unwrap();
        check_fat(&path).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[0x25] |= 1;
        std::fs::write(&path, &bytes).unwrap();
        let error = check_fat(&path).unwrap_err();
        assert!(error.contains("Dirty bit is set"), "{error}");
    }

    #[test]
    fn a_blank_raw_image_is_not_a_file_system() {
        let image = Image::raw(&scratch("blank.img"), 1 << 20).unwrap();
        assert!(!image.is_fat());
        assert!(check_fat(image.path()).is_err(), "fsck.fat accepts zeros");
        assert!(Image::fat(&scratch("odd.img"), 1000, &[]).is_err());
    }

    #[test]
    fn fsck_output_is_clean_only_with_status_0_and_nothing_but_the_summary() {
        let clean = "fsck.fat 4.2 (2021-01-31)\n/t/disk.img: 3 files, 5/2036 clusters\n";
        assert_eq!(parse_fsck(Some(0), clean), Fsck::Clean("/t/disk.img: 3 files, 5/2036 clusters".into()));
        // What fsck.fat 4.2 prints for a volume left dirty (exit status 1).
        let dirty = "fsck.fat 4.2 (2021-01-31)\nDirty bit is set. Fs was not properly unmounted and some data may be corrupt.\n Automatically removing dirty bit.\n\nLeaving filesystem unchanged.\nd.img: 0 files, 0/8167 clusters\n";
        assert_eq!(
            parse_fsck(Some(1), dirty),
            Fsck::Problems(vec![
                "Dirty bit is set. Fs was not properly unmounted and some data may be corrupt.".into(),
                " Automatically removing dirty bit.".into(),
                "Leaving filesystem unchanged.".into(),
                "(fsck.fat exited with status 1)".into()
            ])
        );
        // A finding with status 0 is still a finding.
        assert!(matches!(parse_fsck(Some(0), dirty), Fsck::Problems(_)));
        let broken = "fsck.fat 4.2 (2021-01-31)\n/TWO.TXT and\n/ONE.TXT\n  share clusters.\n";
        assert_eq!(
            parse_fsck(Some(1), broken),
            Fsck::Problems(vec![
                "/TWO.TXT and".into(),
                "/ONE.TXT".into(),
                "  share clusters.".into(),
                "(fsck.fat exited with status 1)".into()
            ])
        );
        assert_eq!(
            parse_fsck(Some(0), "fsck.fat 4.2 (2021-01-31)\n"),
            Fsck::Problems(vec!["(no summary line)".into()])
        );
        assert_eq!(parse_fsck(None, clean), Fsck::Problems(vec!["(fsck.fat did not finish)".into()]));
        // A file whose name looks like the banner is still a problem line after it.
        assert!(is_summary("/a b/c: d.img: 10 files, 1/2 clusters"));
        assert!(!is_summary("/t/disk.img: some files, 1/2 clusters"));
    }
}
