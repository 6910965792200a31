//! Paths and names as clients send them: normalised once ([`client_path`]), every name
//! checked against what FAT's long names may hold ([`check_name`]) before anything on the
//! volume changes, so lamfat never sees a name it would reject halfway through an
//! operation (its `rename` deletes the source before it checks the new name).
//!
//! A name is valid when lamfat's own check accepts it (1 to 255 bytes; letters, digits,
//! anything from U+0080 to U+FFFF, and `$%'-_@~`!(){}. +,;=[]^#&`) and it does not end in
//! a dot or a space (Windows drops those, so such a name would not be the same file
//! there), and it is not `.` or `..` (normalising has already removed those).

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use fs_api::{FsError, MAX_NAME_BYTES};
use grant::FsPath;

/// The ASCII characters a name may hold: letters, digits and `$%'-_@~`!(){}. +,;=[]^#&`.
const ASCII_ALLOWED: [bool; 128] = {
    let mut table = [false; 128];
    let mut byte: u8 = 0;
    while byte < 128 {
        table[byte as usize] = byte.is_ascii_alphanumeric();
        byte += 1;
    }
    let others = b"$%'-_@~`!(){}. +,;=[]^#&";
    let mut index = 0;
    while index < others.len() {
        table[others[index] as usize] = true;
        index += 1;
    }
    table
};

/// Checks one name (a component of a path).
pub fn check_name(name: &str) -> Result<(), FsError> {
    if name.len() > MAX_NAME_BYTES {
        return Err(FsError::NameTooLong);
    }
    let invalid = || FsError::InvalidName { name: name.to_string() };
    if name.is_empty() || name == "." || name == ".." || name.ends_with('.') || name.ends_with(' ') {
        return Err(invalid());
    }
    // ASCII names (most) byte by byte, from a table.
    let allowed = if name.is_ascii() {
        name.bytes().all(|byte| ASCII_ALLOWED[usize::from(byte)])
    } else {
        name.chars()
            .all(|c| (c.is_ascii() && ASCII_ALLOWED[c as usize]) || ('\u{80}'..='\u{FFFF}').contains(&c))
    };
    if allowed { Ok(()) } else { Err(invalid()) }
}

/// Checks a name lamfat is about to create (a new file or directory, a rename's
/// target): a valid name ([`check_name`]) that starts with an ASCII character, since
/// lamfat's short-name generator slices the name at byte 1 and panics when the first
/// character is longer.
pub fn check_new_name(name: &str) -> Result<(), FsError> {
    check_name(name)?;
    if name.starts_with(|c: char| c.is_ascii()) {
        Ok(())
    } else {
        Err(FsError::InvalidName { name: name.to_string() })
    }
}

/// A client's path, normalised (see `grant::FsPath::normalize`), with every name
/// checked. Returns the path and its names.
pub fn client_path(text: &str) -> Result<(FsPath, Vec<String>), FsError> {
    let path = checked_path(text)?;
    let names = components(&path);
    Ok((path, names))
}

/// [`client_path`] without the names (for a path looked up whole; they are
/// [`components`]).
pub fn checked_path(text: &str) -> Result<FsPath, FsError> {
    let path = FsPath::normalize(text).map_err(|_| FsError::InvalidName { name: text.to_string() })?;
    check_names(path)
}

/// [`checked_path`] of a path the caller owns: a path already normal is kept as it is,
/// not copied (`FsPath::normalize_owned`).
pub fn checked_owned_path(text: String) -> Result<FsPath, FsError> {
    let path = FsPath::normalize_owned(text).map_err(|error| match error {
        grant::ScopeError::BadPath { text, .. } => FsError::InvalidName { name: text },
        _ => FsError::InvalidName { name: String::new() },
    })?;
    check_names(path)
}

/// `path` if each of its names is valid ([`check_name`]).
fn check_names(path: FsPath) -> Result<FsPath, FsError> {
    for name in path.as_str().split('/').filter(|name| !name.is_empty()) {
        check_name(name)?;
    }
    Ok(path)
}

/// The names of a normal path (none for the root).
pub fn components(path: &FsPath) -> Vec<String> {
    path.as_str().split('/').filter(|name| !name.is_empty()).map(String::from).collect()
}

/// The key under which an open file is known: its path as the volume stores it, in
/// upper case, which is how FAT compares names.
pub fn file_key(stored: &str) -> String {
    // ASCII's upper case is Unicode's for ASCII characters, for much less.
    if stored.is_ascii() {
        return stored.to_ascii_uppercase();
    }
    stored.chars().flat_map(char::to_uppercase).collect()
}

/// Longest text [`with_file_key`] upper-cases on the stack.
const KEY_BUFFER_BYTES: usize = 256;

/// Runs `then` with [`file_key`] of `text`, without allocating when the text is ASCII and
/// short (upper-cased into a buffer on the stack: the key of a lookup only looked at).
pub fn with_file_key<R>(text: &str, then: impl FnOnce(&str) -> R) -> R {
    let mut buffer = [0_u8; KEY_BUFFER_BYTES];
    if text.is_ascii()
        && let Some(upper) = buffer.get_mut(..text.len())
    {
        upper.copy_from_slice(text.as_bytes());
        upper.make_ascii_uppercase();
        if let Ok(key) = core::str::from_utf8(upper) {
            return then(key);
        }
    }
    then(&file_key(text))
}

/// Whether `name` names an entry with long name `long` (UTF-16, if it has one) or short
/// name `short`, compared as lamfat compares them (upper case, character by character).
pub fn same_name(long: Option<&[u16]>, short: &str, name: &str) -> bool {
    let upper = |text: &str| -> Vec<char> { text.chars().flat_map(char::to_uppercase).collect() };
    let wanted = upper(name);
    if let Some(units) = long {
        let decoded: Result<String, _> = char::decode_utf16(units.iter().copied()).collect();
        if decoded.is_ok_and(|long| upper(&long) == wanted) {
            return true;
        }
    }
    upper(short) == wanted
}
