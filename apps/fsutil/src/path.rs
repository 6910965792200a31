//! Paths against a working directory: what a program turns a typed path into before it
//! asks the filesystem, which takes absolute, normal paths only.
//!
//! Resolution is lexical, as the fs server's own normalisation is (FAT has no symbolic
//! links, so `a/../b` is `b` on the disk too): a relative path is joined to the working
//! directory, empty and `.` components go, and `..` takes back the component before it;
//! `..` at the root stays at the root, as POSIX says of `/..`. What comes out starts with
//! `/`, has no empty, `.` or `..` component, no trailing `/` (but the root's) and no
//! control character, and is at most [`MAX_PATH_BYTES`] long: the server's normalisation
//! leaves it as it is, so the path a scope is asked about is the one the person meant.
//!
//! Names are compared as FAT compares them where it matters for safety
//! ([`same_file`], [`is_within`]): without case, so that `cp a A` is seen to be one file.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// The longest path the filesystem takes, in bytes (the scopes' limit).
pub const MAX_PATH_BYTES: usize = grant::MAX_PATH_LEN;

/// Why a typed path cannot name anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathError {
    /// The path is empty.
    Empty,
    /// A relative path, and the working directory is not absolute (a bad `PWD`).
    BadWorkingDirectory {
        /// The working directory given.
        directory: String,
    },
    /// Longer than [`MAX_PATH_BYTES`] once resolved.
    TooLong {
        /// Its length, in bytes.
        bytes: usize,
    },
    /// It holds a control character (a name on the disk never does).
    ControlCharacter,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("an empty path names nothing"),
            Self::BadWorkingDirectory { directory } => {
                write!(f, "relative to a working directory that is not absolute (PWD={directory:?})")
            }
            Self::TooLong { bytes } => write!(f, "path of {bytes} bytes, longer than {MAX_PATH_BYTES}"),
            Self::ControlCharacter => f.write_str("a path with a control character"),
        }
    }
}

/// `path`, absolute, made normal (see the module documentation). A path that does not
/// start with `/` is taken as starting there.
pub fn normalize(path: &str) -> Result<String, PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if path.chars().any(char::is_control) {
        return Err(PathError::ControlCharacter);
    }
    let mut components: Vec<&str> = Vec::new();
    for component in path.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                components.pop();
            }
            name => components.push(name),
        }
    }
    let mut normal = String::with_capacity(path.len().min(MAX_PATH_BYTES) + 1);
    for component in &components {
        normal.push('/');
        normal.push_str(component);
    }
    if normal.is_empty() {
        normal.push('/');
    }
    if normal.len() > MAX_PATH_BYTES {
        return Err(PathError::TooLong { bytes: normal.len() });
    }
    Ok(normal)
}

/// `path` as typed, resolved against `directory` (the working directory) unless it is
/// absolute: an absolute, normal path.
pub fn resolve(directory: &str, path: &str) -> Result<String, PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if path.starts_with('/') {
        return normalize(path);
    }
    if !directory.starts_with('/') {
        return Err(PathError::BadWorkingDirectory { directory: directory.into() });
    }
    let mut joined = String::with_capacity(directory.len() + 1 + path.len());
    joined.push_str(directory);
    joined.push('/');
    joined.push_str(path);
    normalize(&joined)
}

/// The working directory a program was started in, from its `PWD` (the shell passes its
/// directory so): the root without one; normal if absolute; an error if not.
pub fn working_directory(pwd: Option<&str>) -> Result<String, PathError> {
    match pwd {
        None => Ok(String::from("/")),
        Some(directory) if directory.starts_with('/') => normalize(directory),
        Some(directory) => Err(PathError::BadWorkingDirectory { directory: directory.into() }),
    }
}

/// The directory holding `path` (a normal path); the root's is the root.
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(slash) => path.get(..slash).unwrap_or("/"),
    }
}

/// The last name of `path` (a normal path); `None` for the root.
pub fn file_name(path: &str) -> Option<&str> {
    let name = path.rsplit('/').next()?;
    (!name.is_empty()).then_some(name)
}

/// `name` in `directory` (a normal path), normal if `name` is one name; too long is an
/// error.
pub fn join(directory: &str, name: &str) -> Result<String, PathError> {
    let mut path = String::with_capacity(directory.len() + 1 + name.len());
    path.push_str(directory);
    if !directory.ends_with('/') {
        path.push('/');
    }
    path.push_str(name);
    if path.len() > MAX_PATH_BYTES {
        return Err(PathError::TooLong { bytes: path.len() });
    }
    Ok(path)
}

/// Whether the typed path can only name a directory: it ends in `/`, or its last
/// component is `.` or `..` (`cp a dir/` must not make a file called `dir`).
pub fn names_directory(typed: &str) -> bool {
    typed.ends_with('/') || matches!(typed.rsplit('/').next(), Some("." | ".."))
}

/// Whether the typed path's last component is `.` or `..` (which `rm` refuses, as POSIX
/// says).
pub fn ends_in_dot(typed: &str) -> bool {
    matches!(typed.trim_end_matches('/').rsplit('/').next(), Some("." | ".."))
}

/// Whether two normal paths name the same file on a FAT volume: equal but for case.
/// Errs on the side of "the same" for names whose case FAT folds differently, which is
/// the safe side (a copy refused, not a file truncated).
pub fn same_file(first: &str, second: &str) -> bool {
    first.chars().flat_map(char::to_lowercase).eq(second.chars().flat_map(char::to_lowercase))
}

/// Whether normal path `path` is `ancestor` or lies under it, as FAT compares names
/// (without case), component by component (`/a` holds `/a/b`, not `/ab`).
pub fn is_within(ancestor: &str, path: &str) -> bool {
    if ancestor == "/" {
        return true;
    }
    let mut ancestor_components = ancestor.split('/');
    let mut path_components = path.split('/');
    loop {
        match (ancestor_components.next(), path_components.next()) {
            (None, _) => return true,
            (Some(_), None) => return false,
            (Some(mine), Some(theirs)) if same_file(mine, theirs) => {}
            (Some(_), Some(_)) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_against_the_working_directory() {
        let cases = [
            ("/home/user", "notes.txt", "/home/user/notes.txt"),
            ("/home/user", "./a/./b", "/home/user/a/b"),
            ("/home/user", "..", "/home"),
            ("/home/user", "../..", "/"),
            ("/home/user", "../../../..", "/"),
            ("/home/user", "a//b///", "/home/user/a/b"),
            ("/home/user", "/etc//policy/", "/etc/policy"),
            ("/home/user", "/..", "/"),
            ("/home/user", "/www/../etc", "/etc"),
            ("/home/user", "a/../../x", "/home/x"),
            ("/", "tmp", "/tmp"),
            ("/", ".", "/"),
            ("/", "///", "/"),
            ("/home/user", "long name with spaces.txt", "/home/user/long name with spaces.txt"),
            ("/home/user", "...", "/home/user/..."),
        ];
        for (directory, typed, expected) in cases {
            assert_eq!(resolve(directory, typed).as_deref(), Ok(expected), "{directory} + {typed}");
        }
    }

    #[test]
    fn refuses_what_names_nothing() {
        assert_eq!(resolve("/", ""), Err(PathError::Empty));
        assert_eq!(resolve("home", "x"), Err(PathError::BadWorkingDirectory { directory: "home".into() }));
        // An absolute path does not need the working directory.
        assert_eq!(resolve("home", "/x").as_deref(), Ok("/x"));
        assert_eq!(resolve("/", "a\tb"), Err(PathError::ControlCharacter));
        let long = "x".repeat(MAX_PATH_BYTES);
        assert_eq!(resolve("/", &long), Err(PathError::TooLong { bytes: MAX_PATH_BYTES + 1 }));
        // Long before normalising is fine if the result is short.
        let detour = "a/".repeat(600) + &"../".repeat(600) + "b";
        assert_eq!(resolve("/", &detour).as_deref(), Ok("/b"));
        let exactly = "/".to_string() + &"y".repeat(MAX_PATH_BYTES - 1);
        assert_eq!(normalize(&exactly).as_deref(), Ok(exactly.as_str()));
    }

    #[test]
    fn every_resolved_path_is_normal_for_the_server() {
        // The fs server normalises with `grant::FsPath::normalize`: a resolved path must
        // come out of it unchanged.
        let typed = ["a", "./a/../b", "../../..", "/x//y/./z/..", "a b/c.d", ".hidden", "..."];
        for directory in ["/", "/home/user", "/a/b/c"] {
            for path in typed {
                let resolved = resolve(directory, path).expect("valid");
                let server = grant::FsPath::normalize(&resolved).expect("the server takes it");
                assert_eq!(server.as_str(), resolved, "{directory} + {path}");
                assert_eq!(grant::FsPath::parse(&resolved).expect("already normal").as_str(), resolved);
            }
        }
    }

    #[test]
    fn working_directory_from_pwd() {
        assert_eq!(working_directory(None).as_deref(), Ok("/"));
        assert_eq!(working_directory(Some("/home/user/")).as_deref(), Ok("/home/user"));
        assert_eq!(working_directory(Some("/a/../b")).as_deref(), Ok("/b"));
        assert!(matches!(working_directory(Some("home")), Err(PathError::BadWorkingDirectory { .. })));
        assert!(matches!(working_directory(Some("")), Err(PathError::BadWorkingDirectory { .. })));
    }

    #[test]
    fn parents_names_and_joins() {
        assert_eq!(parent("/"), "/");
        assert_eq!(parent("/a"), "/");
        assert_eq!(parent("/a/b c"), "/a");
        assert_eq!(file_name("/"), None);
        assert_eq!(file_name("/a"), Some("a"));
        assert_eq!(file_name("/a/b c.txt"), Some("b c.txt"));
        assert_eq!(join("/", "a").as_deref(), Ok("/a"));
        assert_eq!(join("/a", "b").as_deref(), Ok("/a/b"));
        let long = "/".to_string() + &"d".repeat(MAX_PATH_BYTES - 2);
        assert_eq!(join(&long, "x"), Err(PathError::TooLong { bytes: MAX_PATH_BYTES + 1 }));
    }

    #[test]
    fn what_can_only_be_a_directory() {
        for typed in ["dir/", "/", ".", "..", "a/.", "a/..", "a//"] {
            assert!(names_directory(typed), "{typed}");
        }
        for typed in ["dir", "a/b", "...", ".a"] {
            assert!(!names_directory(typed), "{typed}");
        }
        for typed in [".", "..", "a/.", "a/..", "./", "../", "a/../"] {
            assert!(ends_in_dot(typed), "{typed}");
        }
        for typed in ["a", "...", ".a", "a/.b", "/"] {
            assert!(!ends_in_dot(typed), "{typed}");
        }
    }

    #[test]
    fn names_compare_as_fat_compares_them() {
        assert!(same_file("/home/Notes.TXT", "/home/notes.txt"));
        assert!(same_file("/Ä", "/ä"));
        assert!(!same_file("/home/a", "/home/b"));
        assert!(!same_file("/home/a", "/home/a2"));
        assert!(is_within("/", "/x"));
        assert!(is_within("/a", "/a"));
        assert!(is_within("/a", "/A/b"));
        assert!(is_within("/a/b", "/a/b/c/d"));
        assert!(!is_within("/a", "/ab"));
        assert!(!is_within("/a/b", "/a"));
    }
}
