//! Filesystem scopes: subtrees with read / write / create / delete, and the question an fs
//! server asks of a session's scope, [`Scope::allows`].
//!
//! Invariants: an [`FsPath`] is absolute and normal (no empty, `.` or `..` component, no
//! trailing `/` but the root's), so containment is a comparison of components and no path
//! can step out of a subtree; an fs scope's subtrees are sorted by path, one per path,
//! each with the rights no enclosing subtree already gives (none empty).
//!
//! A server turns a client's path into an [`FsPath`] once, with [`FsPath::normalize`], and
//! uses that same value both to ask the scope and to find the file, so what was checked is
//! what is opened. Normalising is lexical (`a/../b` is `b`), which is exact for a
//! filesystem without symbolic links (FAT); a server with links must resolve them first.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};

use crate::scope::Part;
use crate::{Rights, Scope, ScopeError, ScopeItem, ServiceKind};

/// The longest path a scope accepts.
pub const MAX_PATH_LEN: usize = 1024;

/// An absolute, normal path: starts with `/`, no empty, `.` or `..` components, no
/// trailing `/` (except the root itself), no control characters, at most
/// [`MAX_PATH_LEN`] bytes.
///
/// On the wire: the text; one that is not normal does not decode.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct FsPath(String);

impl FsPath {
    /// The root, `/`.
    pub fn root() -> FsPath {
        FsPath("/".into())
    }

    /// Parses a path that is already normal, as policies write them; a trailing `/` is
    /// dropped (`/www/` is `/www`). `.`, `..` and `//` are errors.
    pub fn parse(text: &str) -> Result<FsPath, ScopeError> {
        let rest = Self::check(text)?;
        let rest = match rest.strip_suffix('/') {
            Some("") => return Err(bad_path(text, "empty component (//)")),
            Some(stripped) => stripped,
            None => rest,
        };
        if let Some(why) = Self::abnormal_component(rest) {
            return Err(bad_path(text, why));
        }
        let mut path = String::with_capacity(rest.len() + 1);
        path.push('/');
        path.push_str(rest);
        Ok(FsPath(path))
    }

    /// What is wrong with the components of `rest` (a path after its leading `/`): an
    /// empty one (`//`, or a trailing `/`), `.` or `..`. The empty `rest` is the root.
    fn abnormal_component(rest: &str) -> Option<&'static str> {
        if rest.is_empty() {
            return None;
        }
        rest.split('/').find_map(|component| match component {
            "" => Some("empty component (// or a trailing /)"),
            "." | ".." => Some("`.` and `..` are not allowed"),
            _ => None,
        })
    }

    /// Normalises a path a client sent, lexically: empty and `.` components go, `..` takes
    /// back the component before it (`/www/a/../b` is `/www/b`, `/www/../etc` is `/etc`).
    /// A `..` above the root is an error, as are relative paths, control characters and
    /// paths longer than [`MAX_PATH_LEN`].
    pub fn normalize(text: &str) -> Result<FsPath, ScopeError> {
        let rest = Self::check(text)?;
        let mut components: Vec<&str> = Vec::new();
        for component in rest.split('/') {
            match component {
                "" | "." => {}
                ".." => {
                    if components.pop().is_none() {
                        return Err(bad_path(text, "`..` above the root"));
                    }
                }
                name => components.push(name),
            }
        }
        if components.is_empty() {
            return Ok(FsPath::root());
        }
        let mut path = String::with_capacity(text.len());
        for component in components {
            path.push('/');
            path.push_str(component);
        }
        Ok(FsPath(path))
    }

    /// [`FsPath::normalize`] of a path the caller owns: a path already normal (most are)
    /// becomes the `FsPath` as it is, checked in one pass over its bytes and not copied;
    /// any other is normalised as `normalize` does, with the same result and errors.
    pub fn normalize_owned(text: String) -> Result<FsPath, ScopeError> {
        if Self::is_plainly_normal(&text) { Ok(FsPath(text)) } else { Self::normalize(&text) }
    }

    /// Whether `text` is ASCII and already a normal path: `normalize` would give it back
    /// unchanged (absolute, no control character, no empty, `.` or `..` component, no
    /// trailing `/` but the root's, at most [`MAX_PATH_LEN`] bytes). `false` says only
    /// that the quick check does not know.
    fn is_plainly_normal(text: &str) -> bool {
        let bytes = text.as_bytes();
        if bytes.len() > MAX_PATH_LEN || bytes.first() != Some(&b'/') {
            return false;
        }
        if bytes.len() == 1 {
            return true;
        }
        // The bytes of the component since the last `/`, and whether they are all dots.
        let mut length = 0;
        let mut dots = true;
        for &byte in bytes.iter().skip(1) {
            if byte == b'/' {
                if length == 0 || (dots && length <= 2) {
                    return false;
                }
                length = 0;
                dots = true;
                continue;
            }
            if !byte.is_ascii() || byte.is_ascii_control() {
                return false;
            }
            length += 1;
            dots &= byte == b'.';
        }
        length > 0 && !(dots && length <= 2)
    }

    /// What both parsers refuse: too long, control characters, not absolute. Returns the
    /// text after the leading `/`.
    fn check(text: &str) -> Result<&str, ScopeError> {
        if text.len() > MAX_PATH_LEN {
            return Err(bad_path(text, "longer than 1024 bytes"));
        }
        if text.chars().any(char::is_control) {
            return Err(bad_path(text, "contains a control character"));
        }
        text.strip_prefix('/').ok_or_else(|| bad_path(text, "not absolute (must start with /)"))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `path` is this path or lies under it, component by component (`/www`
    /// contains `/www/a` but not `/wwwx`).
    pub fn contains(&self, path: &FsPath) -> bool {
        if self.0 == "/" {
            return true;
        }
        match path.0.strip_prefix(self.0.as_str()) {
            Some(rest) => rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }
}

fn bad_path(text: &str, why: &'static str) -> ScopeError {
    ScopeError::BadPath { text: text.into(), why }
}

/// Accepts only a path that is already normal, exactly as [`FsPath::parse`] would write
/// it (no trailing `/`), and keeps the text without copying it.
impl TryFrom<String> for FsPath {
    type Error = ScopeError;
    fn try_from(text: String) -> Result<Self, ScopeError> {
        let rest = Self::check(&text)?;
        match Self::abnormal_component(rest) {
            None => Ok(FsPath(text)),
            Some(why) => Err(ScopeError::BadPath { text, why }),
        }
    }
}

impl From<FsPath> for String {
    fn from(path: FsPath) -> String {
        path.0
    }
}

/// The text, borrowed (no copy, unlike `serde(into)`).
impl Serialize for FsPath {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl fmt::Display for FsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An operation on a file or directory, and the right it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FsOp {
    /// Read a file, list a directory, look at metadata: [`Rights::READ`].
    Read,
    /// Change an existing file: [`Rights::WRITE`].
    Write,
    /// Create a file or directory (the new path is what is asked about):
    /// [`Rights::CREATE`].
    Create,
    /// Delete a file or directory: [`Rights::DELETE`].
    Delete,
}

impl FsOp {
    /// The right the operation needs.
    pub const fn right(self) -> Rights {
        match self {
            FsOp::Read => Rights::READ,
            FsOp::Write => Rights::WRITE,
            FsOp::Create => Rights::CREATE,
            FsOp::Delete => Rights::DELETE,
        }
    }
}

/// A subtree of a filesystem and the rights that apply in it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Subtree {
    /// The root of the subtree.
    pub path: FsPath,
    /// What may be done in it (a subset of the fs rights).
    pub rights: Rights,
}

/// The fs part of a scope: subtrees (see the module invariants).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FsScope {
    subtrees: Vec<Subtree>,
}

impl FsScope {
    /// A part with these subtrees as they are, normal or not (tests of what decoding refuses).
    #[cfg(test)]
    pub(crate) fn from_subtrees(subtrees: Vec<Subtree>) -> FsScope {
        FsScope { subtrees }
    }

    /// Every right some subtree gives.
    pub(crate) fn rights(&self) -> Rights {
        self.subtrees.iter().fold(Rights::NONE, |acc, subtree| acc.union(subtree.rights))
    }

    /// The rights that apply at `path`: the union of every subtree containing it.
    fn rights_at(&self, path: &FsPath) -> Rights {
        self.subtrees
            .iter()
            .filter(|subtree| subtree.path.contains(path))
            .fold(Rights::NONE, |acc, subtree| acc.union(subtree.rights))
    }

    pub(crate) fn merge(&mut self, other: &FsScope) {
        self.subtrees.extend(other.subtrees.iter().cloned());
        self.normalize();
    }

    pub(crate) fn restricted_to(&self, rights: Rights) -> FsScope {
        let mut restricted = FsScope {
            subtrees: self
                .subtrees
                .iter()
                .map(|subtree| Subtree {
                    path: subtree.path.clone(),
                    rights: subtree.rights.intersection(rights),
                })
                .collect(),
        };
        restricted.normalize();
        restricted
    }

    /// Pushes onto `lost` what `self` allows that `by` does not.
    pub(crate) fn uncovered(&self, by: &FsScope, lost: &mut Vec<ScopeItem>) {
        for subtree in &self.subtrees {
            let missing = subtree.rights.difference(by.rights_at(&subtree.path));
            if !missing.is_empty() {
                lost.push(ScopeItem::Fs(Subtree { path: subtree.path.clone(), rights: missing }));
            }
        }
    }

    pub(crate) fn items(&self, items: &mut Vec<ScopeItem>) {
        items.extend(self.subtrees.iter().cloned().map(ScopeItem::Fs));
    }

    /// Whether the part is normal (see the module invariants), checked without copying:
    /// what [`FsScope::normalize`] makes, and only that, passes.
    pub(crate) fn is_normal(&self) -> bool {
        let fs = ServiceKind::Fs.rights();
        let subtrees = &self.subtrees;
        subtrees.iter().all(|subtree| !subtree.rights.is_empty() && fs.contains(subtree.rights))
            && subtrees.iter().zip(subtrees.iter().skip(1)).all(|(a, b)| a.path < b.path)
            && subtrees.iter().all(|inner| {
                subtrees.iter().all(|outer| {
                    outer.path == inner.path
                        || !outer.path.contains(&inner.path)
                        || !outer.rights.intersects(inner.rights)
                })
            })
    }

    /// One entry per path, then each right an enclosing subtree already gives dropped, and
    /// subtrees left with none removed.
    pub(crate) fn normalize(&mut self) {
        self.subtrees.sort();
        let mut merged: Vec<Subtree> = Vec::with_capacity(self.subtrees.len());
        for subtree in self.subtrees.drain(..) {
            match merged.last_mut() {
                Some(last) if last.path == subtree.path => last.rights = last.rights.union(subtree.rights),
                _ => merged.push(subtree),
            }
        }
        let enclosing: Vec<Rights> = merged
            .iter()
            .map(|inner| {
                merged
                    .iter()
                    .filter(|outer| outer.path != inner.path && outer.path.contains(&inner.path))
                    .fold(Rights::NONE, |acc, outer| acc.union(outer.rights))
            })
            .collect();
        self.subtrees = merged
            .into_iter()
            .zip(enclosing)
            .map(|(subtree, given)| Subtree { rights: subtree.rights.difference(given), path: subtree.path })
            .filter(|subtree| !subtree.rights.is_empty())
            .collect();
    }
}

/// Filesystem scopes and the fs server's questions.
impl Scope {
    /// fs: `rights` (read, write, create, delete) in the subtree at `path`.
    pub fn fs(path: FsPath, rights: Rights) -> Result<Scope, ScopeError> {
        Scope::check_rights(ServiceKind::Fs, rights)?;
        let mut part = FsScope { subtrees: alloc::vec![Subtree { path, rights }] };
        part.normalize();
        Ok(Scope::from_part(Part::Fs(part)))
    }

    /// fs: whether `op` is allowed at `path` (normalised by the server with
    /// [`FsPath::normalize`]). Any other kind of scope allows nothing.
    pub fn allows(&self, path: &FsPath, op: FsOp) -> bool {
        self.fs_rights_at(path).contains(op.right())
    }

    /// fs: every right that applies at `path` (each may come from a different subtree
    /// containing it); none for other kinds of scope.
    pub fn fs_rights_at(&self, path: &FsPath) -> Rights {
        match self.part() {
            Part::Fs(fs) => fs.rights_at(path),
            _ => Rights::NONE,
        }
    }

    /// fs: the subtrees, sorted by path (none for other kinds).
    pub fn subtrees(&self) -> &[Subtree] {
        match self.part() {
            Part::Fs(fs) => &fs.subtrees,
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;

    use super::*;

    use crate::testing::{fs, path, rights};

    #[test]
    fn normalising_an_owned_path_is_normalising_it() {
        let long = alloc::format!("/{}", "a".repeat(MAX_PATH_LEN - 1));
        let too_long = alloc::format!("/{}", "a".repeat(MAX_PATH_LEN));
        let cases = [
            "/",
            "/www",
            "/www/index.html",
            "/a/b/c",
            "/...",
            "/a/...",
            "/.a",
            "/a.",
            "/a/..b",
            "/www/",
            "//",
            "/a//b",
            "/a/../b",
            "/a/./b",
            "/.",
            "/..",
            "/a/.",
            "/a/..",
            "/../x",
            "www",
            "",
            "/a\n",
            "/a\u{7f}",
            "/a\u{85}b",
            "/caf\u{e9}",
            "/caf\u{e9}/./x",
            &long,
            &too_long,
        ];
        for text in cases {
            assert_eq!(FsPath::normalize_owned(text.to_string()), FsPath::normalize(text), "{text:?}");
        }
    }

    #[test]
    fn paths_from_policies_must_be_absolute_and_normal() {
        assert_eq!(path("/www/").as_str(), "/www");
        assert_eq!(path("/").as_str(), "/");
        for bad in ["www", "", "/a//b", "/a/../b", "/a/./b", "/a\n", "/..", "/www/../etc"] {
            assert!(FsPath::parse(bad).is_err(), "{bad:?} should not parse");
        }
        assert!(FsPath::parse(&alloc::format!("/{}", "a".repeat(MAX_PATH_LEN))).is_err());
        assert!(FsPath::parse(&alloc::format!("/{}", "a".repeat(MAX_PATH_LEN - 1))).is_ok());
    }

    #[test]
    fn client_paths_normalise_without_escaping_the_root() {
        let cases: [(&str, Option<&str>); 16] = [
            ("/", Some("/")),
            ("/www", Some("/www")),
            ("/www/", Some("/www")),
            ("//www//a/", Some("/www/a")),
            ("/www/./a/.", Some("/www/a")),
            ("/www/a/../b", Some("/www/b")),
            ("/www/../etc", Some("/etc")),
            ("/www/..", Some("/")),
            ("/www/a/../../etc/passwd", Some("/etc/passwd")),
            ("/a/b/c/../../..", Some("/")),
            ("/..", None),
            ("/www/../../etc", None),
            ("/../www", None),
            ("www/a", None),
            ("", None),
            ("/www/a\0b", None),
        ];
        for (text, expected) in cases {
            let got = FsPath::normalize(text).ok().map(|path| path.to_string());
            assert_eq!(got.as_deref(), expected, "normalize({text:?})");
        }
        // What normalise makes is what parse accepts, unchanged.
        let normal = FsPath::normalize("/x/./y/../z/").expect("valid");
        assert_eq!(FsPath::parse(normal.as_str()), Ok(normal));
    }

    #[test]
    fn containment_is_by_component() {
        let cases = [
            ("/www", "/www", true),
            ("/www", "/www/index.html", true),
            ("/www", "/www/a/b/c", true),
            ("/www", "/wwwx", false),
            ("/www", "/wwwx/index.html", false),
            ("/www", "/ww", false),
            ("/www", "/", false),
            ("/www/a", "/www", false),
            ("/", "/etc", true),
            ("/", "/", true),
        ];
        for (outer, inner, expected) in cases {
            assert_eq!(path(outer).contains(&path(inner)), expected, "{outer} contains {inner}");
        }
    }

    #[test]
    fn an_fs_server_asks_the_scope() {
        let mut scope = fs("/www", "read");
        scope.merge(&fs("/tmp", "read write create delete")).expect("same kind");
        scope.merge(&fs("/home/user", "read write")).expect("same kind");
        let ask = |text: &str, op| FsPath::normalize(text).is_ok_and(|path| scope.allows(&path, op));
        let cases = [
            ("/www", FsOp::Read, true),
            ("/www/index.html", FsOp::Read, true),
            ("/www/index.html", FsOp::Write, false),
            ("/www/new", FsOp::Create, false),
            ("/wwwx", FsOp::Read, false),
            ("/wwwx/index.html", FsOp::Read, false),
            ("/www/../etc/passwd", FsOp::Read, false),
            ("/www/a/../index.html", FsOp::Read, true),
            ("/www/../../etc", FsOp::Read, false),
            ("/tmp/../www/x", FsOp::Read, true),
            ("/tmp/../www/x", FsOp::Delete, false),
            ("/tmp/scratch", FsOp::Delete, true),
            ("/tmp/a/b/c", FsOp::Create, true),
            ("/home/user/notes", FsOp::Write, true),
            ("/home/user/notes", FsOp::Delete, false),
            ("/home/other", FsOp::Read, false),
            ("/home", FsOp::Read, false),
            ("/", FsOp::Read, false),
            ("/etc", FsOp::Read, false),
        ];
        for (text, op, expected) in cases {
            assert_eq!(ask(text, op), expected, "{op:?} at {text}");
        }
        assert_eq!(scope.fs_rights_at(&path("/tmp/x")), rights("read write create delete"));
        assert_eq!(scope.fs_rights_at(&path("/etc")), Rights::NONE);
    }

    #[test]
    fn rights_from_several_subtrees_add_up() {
        let mut scope = fs("/", "read");
        scope.merge(&fs("/www", "write")).expect("same kind");
        assert!(scope.allows(&path("/www/a"), FsOp::Read));
        assert!(scope.allows(&path("/www/a"), FsOp::Write));
        assert!(!scope.allows(&path("/etc"), FsOp::Write));
        assert_eq!(scope.fs_rights_at(&path("/www/a")), rights("read write"));
    }

    #[test]
    fn other_kinds_allow_no_fs_operation() {
        let console = Scope::plain(ServiceKind::Console, Rights::READ.union(Rights::WRITE)).expect("valid");
        for op in [FsOp::Read, FsOp::Write, FsOp::Create, FsOp::Delete] {
            assert!(!console.allows(&FsPath::root(), op));
        }
        assert!(console.subtrees().is_empty());
    }

    #[test]
    fn ops_name_their_rights() {
        let all = [FsOp::Read, FsOp::Write, FsOp::Create, FsOp::Delete]
            .iter()
            .fold(Rights::NONE, |acc, op| acc.union(op.right()));
        assert_eq!(all, ServiceKind::Fs.rights());
        assert_eq!(FsOp::Create.right().to_string(), "create");
    }

    #[test]
    fn serde_refuses_abnormal_paths() {
        for bad in ["/a/../b", "/a/", "a", "/a//b"] {
            let bytes = postcard::to_allocvec(&String::from(bad)).expect("serializes");
            assert!(postcard::from_bytes::<FsPath>(&bytes).is_err(), "{bad:?} should not decode");
        }
        let good = postcard::to_allocvec(&String::from("/www")).expect("serializes");
        assert_eq!(postcard::from_bytes::<FsPath>(&good), Ok(path("/www")));
    }
}
