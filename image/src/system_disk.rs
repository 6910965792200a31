//! The system disk: the FAT32 image `cargo xtask build` and `run` keep at
//! `target/lattice/disk.img`, which `run` attaches as a virtio-blk device (serial
//! [`SERIAL`]).
//!
//! It is made with `lamfat` (no hand-written FAT) from three sources:
//!
//! - the tree kept in the repo, `image/disk/` (`/www` and `/home/user`), as it is;
//! - the built user programs, in `/bin`;
//! - the shipped policies `policy/*.rhai`, in `/etc/policy`;
//!
//! and the standard directories ([`DIRECTORIES`]: `/tmp`, `/var`, ...) even when empty.
//!
//! **The disk is a person's.** When the image exists, a build refreshes only what the build
//! owns: `/bin` and `/etc` are removed and written again, and everything else (`/home/user`,
//! `/www`, `/tmp`, `/var`, whatever was added) stays as it was left. So files survive from
//! one run to the next, and a page edited in `/www` is not overwritten by the repo's.
//! `cargo xtask run --fresh-disk` (or deleting the file) starts from a new disk. A file
//! there that is not a FAT volume is refused, never overwritten. The image is changed in
//! memory and written to a temporary file that is renamed over the old one, so a refresh
//! that fails half-way leaves the old disk whole. A volume left dirty (the machine stopped
//! without the filesystem's unmount) stays marked dirty, for the filesystem server's mount
//! check; it is refreshed all the same, and `build` says so.

use std::path::{Path, PathBuf};

use crate::disk;

/// The image's size: 64 MiB, FAT32 (at 512-byte sectors, more than FAT32's 65 525 clusters).
pub const SIZE: u64 = 64 << 20;

/// The serial `cargo xtask run` gives the system disk (virtio-blk get-id), by which the
/// filesystem server tells it from other disks.
pub const SERIAL: &str = "lattice-system";

/// Directories every system disk has.
pub const DIRECTORIES: &[&str] = &["bin", "etc", "etc/policy", "home", "home/user", "tmp", "var", "www"];

/// The directories the build owns and writes again on every refresh.
pub const REFRESHED: &[&str] = &["bin", "etc"];

/// What goes on the disk besides the standard directories.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contents {
    /// Files of the repo's tree: path inside the image (`www/index.html`) and contents.
    pub tree: Vec<(String, Vec<u8>)>,
    /// Programs for `/bin`: name and ELF file.
    pub programs: Vec<(String, Vec<u8>)>,
    /// Policies for `/etc/policy`: file name and script.
    pub policies: Vec<(String, Vec<u8>)>,
}

/// What [`prepare`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prepared {
    /// A new disk, from the tree.
    Fresh,
    /// The existing disk, `/bin` and `/etc` written again, the rest kept.
    Refreshed {
        /// Whether the volume was marked dirty (left by a machine that stopped without
        /// unmounting).
        dirty: bool,
    },
}

/// Every file under `root`, as (`/`-separated path relative to `root`, contents), sorted
/// by path so an image's bytes follow from its files.
pub fn read_tree(root: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    fn walk(root: &Path, directory: &Path, files: &mut Vec<(String, Vec<u8>)>) -> Result<(), String> {
        let entries =
            std::fs::read_dir(directory).map_err(|error| format!("read {}: {error}", directory.display()))?;
        for entry in entries {
            let path = entry.map_err(|error| format!("read {}: {error}", directory.display()))?.path();
            if path.is_dir() {
                walk(root, &path, files)?;
            } else {
                let relative = path.strip_prefix(root).map_err(|error| error.to_string())?;
                let name = relative
                    .components()
                    .map(|part| part.as_os_str().to_str().ok_or(format!("{} is not UTF-8", path.display())))
                    .collect::<Result<Vec<_>, _>>()?
                    .join("/");
                let bytes =
                    std::fs::read(&path).map_err(|error| format!("read {}: {error}", path.display()))?;
                files.push((name, bytes));
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(root, root, &mut files)?;
    files.sort();
    Ok(files)
}

/// The shipped policies: every `*.rhai` in `directory`, sorted by name.
pub fn read_policies(directory: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    let entries =
        std::fs::read_dir(directory).map_err(|error| format!("read {}: {error}", directory.display()))?;
    let mut policies = Vec::new();
    for entry in entries {
        let path = entry.map_err(|error| error.to_string())?.path();
        let Some(name) = path.file_name().and_then(|name| name.to_str()) else { continue };
        if path.is_file() && name.ends_with(".rhai") {
            let bytes = std::fs::read(&path).map_err(|error| format!("read {}: {error}", path.display()))?;
            policies.push((name.to_string(), bytes));
        }
    }
    policies.sort();
    Ok(policies)
}

/// Writes what the build owns (`/bin`, `/etc/policy`) and the standard directories into
/// `volume`.
fn write_owned(volume: &disk::Volume<'_>, contents: &Contents) -> Result<(), String> {
    for directory in DIRECTORIES {
        disk::make_directories(volume, directory)?;
    }
    for (name, bytes) in &contents.programs {
        disk::put_file(volume, &format!("bin/{name}"), bytes)?;
    }
    for (name, bytes) in &contents.policies {
        disk::put_file(volume, &format!("etc/policy/{name}"), bytes)?;
    }
    Ok(())
}

/// A new system disk of `size` bytes holding `contents`.
pub fn fresh(size: u64, contents: &Contents) -> Result<Vec<u8>, String> {
    let mut bytes = disk::format(size, Some(lamfat::FatType::Fat32))?;
    {
        let volume = disk::mount(&mut bytes)?;
        for (name, file) in &contents.tree {
            if REFRESHED.iter().any(|owned| name.split('/').next() == Some(owned)) {
                return Err(format!(
                    "image/disk/{name}: /bin and /etc are written by the build, not kept in the tree"
                ));
            }
            disk::put_file(&volume, name, file)?;
        }
        write_owned(&volume, contents)?;
        volume.unmount().map_err(|error| error.to_string())?;
    }
    Ok(bytes.into_inner())
}

/// The system disk in `image` with `/bin` and `/etc` written again from `contents` and
/// everything else kept; and whether the volume was marked dirty.
pub fn refresh(image: Vec<u8>, contents: &Contents) -> Result<(Vec<u8>, bool), String> {
    let mut bytes = std::io::Cursor::new(image);
    let dirty;
    {
        let volume = disk::mount(&mut bytes).map_err(|error| format!("not a FAT volume ({error})"))?;
        dirty = volume.read_status_flags().map_err(|error| error.to_string())?.dirty();
        for owned in REFRESHED {
            disk::remove_tree(&volume, owned)?;
        }
        write_owned(&volume, contents)?;
        volume.unmount().map_err(|error| error.to_string())?;
    }
    Ok((bytes.into_inner(), dirty))
}

/// Makes (`fresh`, or no image at `path`) or refreshes the system disk at `path`.
pub fn prepare(path: &Path, size: u64, contents: &Contents, fresh: bool) -> Result<Prepared, String> {
    let (bytes, prepared) = if fresh || !path.exists() {
        (self::fresh(size, contents)?, Prepared::Fresh)
    } else {
        let old = std::fs::read(path).map_err(|error| format!("read {}: {error}", path.display()))?;
        let (bytes, dirty) = refresh(old, contents).map_err(|error| {
            format!(
                "the system disk {} could not be refreshed: {error}; it is left as it was \
                 (`cargo xtask run --fresh-disk` replaces it with a new one)",
                path.display()
            )
        })?;
        (bytes, Prepared::Refreshed { dirty })
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|error| format!("create {}: {error}", parent.display()))?;
    }
    let partial = partial_path(path);
    std::fs::write(&partial, bytes).map_err(|error| format!("write {}: {error}", partial.display()))?;
    std::fs::rename(&partial, path)
        .map_err(|error| format!("rename {} to {}: {error}", partial.display(), path.display()))?;
    Ok(prepared)
}

/// Where a new image is written before it replaces the old one.
fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::io::{Cursor, Read as _};

    fn scratch(name: &str) -> PathBuf {
        let directory = std::env::temp_dir().join(format!("lattice-system-disk-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        directory.join(name)
    }

    /// Contents like a build's: the repo's real tree, two programs, two policies.
    fn contents(version: &str) -> Contents {
        let root = crate::build::workspace_root();
        Contents {
            tree: read_tree(&root.join("image").join("disk")).unwrap(),
            programs: vec![
                ("hello".into(), format!("\x7fELF hello {version}").into_bytes()),
                ("sleep".into(), format!("\x7fELF sleep {version}").into_bytes()),
            ],
            policies: vec![("default.rhai".into(), format!("// {version}\n").into_bytes())],
        }
    }

    fn read(image: &Path, name: &str) -> Option<Vec<u8>> {
        let mut bytes = Cursor::new(std::fs::read(image).unwrap());
        let volume = disk::mount(&mut bytes).unwrap();
        let mut file = volume.root_dir().open_file(name).ok()?;
        let mut contents = Vec::new();
        file.read_to_end(&mut contents).unwrap();
        Some(contents)
    }

    fn names(image: &Path, directory: &str) -> Vec<String> {
        let mut bytes = Cursor::new(std::fs::read(image).unwrap());
        let volume = disk::mount(&mut bytes).unwrap();
        let directory = if directory.is_empty() {
            volume.root_dir()
        } else {
            volume.root_dir().open_dir(directory).unwrap()
        };
        let mut names: Vec<String> = directory
            .iter()
            .map(|entry| entry.unwrap().file_name())
            .filter(|name| name != "." && name != "..")
            .collect();
        names.sort();
        names
    }

    /// Adds `name` to the image as a person would (through the same engine as the guest).
    fn add_file(image: &Path, name: &str, contents: &[u8]) {
        let mut bytes = Cursor::new(std::fs::read(image).unwrap());
        {
            let volume = disk::mount(&mut bytes).unwrap();
            disk::put_file(&volume, name, contents).unwrap();
            volume.unmount().unwrap();
        }
        std::fs::write(image, bytes.into_inner()).unwrap();
    }

    #[test]
    fn the_repos_tree_has_the_pages_and_the_home_directory() {
        let tree = read_tree(&crate::build::workspace_root().join("image").join("disk")).unwrap();
        let names: Vec<&str> = tree.iter().map(|(name, _)| name.as_str()).collect();
        assert!(names.contains(&"www/index.html"), "{names:?}");
        assert!(names.contains(&"home/user/welcome.txt"), "{names:?}");
        assert!(names.iter().all(|name| !name.starts_with("bin/") && !name.starts_with("etc/")));
        let policies = read_policies(&crate::build::workspace_root().join("policy")).unwrap();
        assert!(policies.iter().any(|(name, _)| name == "default.rhai"), "{policies:?}");
    }

    #[test]
    fn a_fresh_disk_is_fat32_with_the_tree_programs_policies_and_directories() {
        let path = scratch("fresh.img");
        assert_eq!(prepare(&path, SIZE, &contents("v1"), true).unwrap(), Prepared::Fresh);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), SIZE);
        let mut bytes = Cursor::new(std::fs::read(&path).unwrap());
        assert_eq!(disk::mount(&mut bytes).unwrap().fat_type(), lamfat::FatType::Fat32);
        assert_eq!(names(&path, ""), ["bin", "etc", "home", "tmp", "var", "www"]);
        assert_eq!(names(&path, "bin"), ["hello", "sleep"]);
        assert_eq!(read(&path, "etc/policy/default.rhai").unwrap(), b"// v1\n");
        assert!(read(&path, "www/index.html").unwrap().starts_with(b"<!DOCTYPE html>"));
        // A long name with spaces, kept as it is.
        assert!(names(&path, "www").contains(&"what this disk holds.txt".to_string()));
        assert!(read(&path, "home/user/welcome.txt").is_some());
        assert!(names(&path, "tmp").is_empty() && names(&path, "var").is_empty());
        disk::check_fat(&path).unwrap();
        assert!(!partial_path(&path).exists());
    }

    #[test]
    fn a_refresh_rewrites_bin_and_etc_and_keeps_a_persons_files() {
        let path = scratch("refresh.img");
        prepare(&path, SIZE, &contents("v1"), false).unwrap();
        add_file(&path, "home/user/notes about the disk.txt", b"mine\n");
        add_file(&path, "www/index.html", b"<h1>my own page</h1>\n");
        add_file(&path, "bin/stale-program", b"left over");
        add_file(&path, "etc/motd", b"old\n");
        let refreshed = prepare(&path, SIZE, &contents("v2"), false).unwrap();
        assert_eq!(refreshed, Prepared::Refreshed { dirty: false });
        assert_eq!(read(&path, "home/user/notes about the disk.txt").unwrap(), b"mine\n");
        assert_eq!(read(&path, "www/index.html").unwrap(), b"<h1>my own page</h1>\n", "not the repo's");
        assert_eq!(names(&path, "bin"), ["hello", "sleep"], "the stale program is gone");
        assert_eq!(read(&path, "bin/hello").unwrap(), b"\x7fELF hello v2");
        assert_eq!(read(&path, "etc/policy/default.rhai").unwrap(), b"// v2\n");
        assert!(read(&path, "etc/motd").is_none(), "/etc is the build's");
        disk::check_fat(&path).unwrap();
        // --fresh-disk starts over.
        assert_eq!(prepare(&path, SIZE, &contents("v3"), true).unwrap(), Prepared::Fresh);
        assert!(read(&path, "home/user/notes about the disk.txt").is_none());
        assert!(read(&path, "www/index.html").unwrap().starts_with(b"<!DOCTYPE html>"));
    }

    #[test]
    fn a_file_that_is_not_a_fat_volume_is_refused_and_left_alone() {
        let path = scratch("not-fat.img");
        std::fs::write(&path, vec![0x5Au8; 1 << 20]).unwrap();
        let error = prepare(&path, SIZE, &contents("v1"), false).unwrap_err();
        assert!(error.contains("could not be refreshed") && error.contains("--fresh-disk"), "{error}");
        assert_eq!(std::fs::read(&path).unwrap(), vec![0x5Au8; 1 << 20], "left as it was");
    }

    #[test]
    fn a_dirty_volume_is_refreshed_and_stays_marked_dirty() {
        let path = scratch("dirty.img");
        prepare(&path, SIZE, &contents("v1"), true).unwrap();
        // FAT32 keeps the dirty flag in byte 0x41 of the boot sector.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[0x41] |= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(
            prepare(&path, SIZE, &contents("v2"), false).unwrap(),
            Prepared::Refreshed { dirty: true }
        );
        assert_eq!(std::fs::read(&path).unwrap()[0x41] & 1, 1, "left for the filesystem's mount check");
        assert!(disk::check_fat(&path).unwrap_err().contains("Dirty bit"));
    }

    #[test]
    fn the_tree_may_not_hold_what_the_build_writes() {
        let mut bad = contents("v1");
        bad.tree.push(("bin/mine".into(), b"x".to_vec()));
        assert!(fresh(SIZE, &bad).unwrap_err().contains("written by the build"));
    }
}
