//! `mv SOURCE TARGET`, `mv SOURCE... DIRECTORY`: renames files and directories, or moves
//! them into a directory under their own names. A change of case only (`a` to `A`) is
//! the filesystem's to do (FAT keeps one entry for both). A file that already has the
//! target's name is replaced, without ever losing it on a refusal: it is first renamed
//! aside (`.NAME.mv-old` beside it), then the source takes its name, then the old one is
//! removed; if the source cannot move, the old file gets its name back.
//!
//! Rights: read (to see what the source and the target are), create and delete (a rename
//! deletes at the source and creates at the target; a replaced file is deleted).

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use fsutil::path::{self, is_within, same_file};
use fsutil::{FileKind, FsError};
use grant::Rights;

use crate::tool::{Command, Session, Tool, Usage, each_to_target, sources_and_target};

/// `mv`.
pub const MV: Tool = Tool {
    name: "mv",
    usage: "usage: mv SOURCE TARGET | mv SOURCE... DIRECTORY",
    about: "rename files and directories, or move them into a directory",
    rights: Rights::READ.union(Rights::CREATE).union(Rights::DELETE),
    parse,
};

struct Move {
    sources: Vec<String>,
    target: String,
}

fn parse(arguments: &[&str]) -> Result<Box<dyn Command>, Usage> {
    let (_, sources, target) = sources_and_target(arguments, "")?;
    Ok(Box::new(Move { sources, target }))
}

impl Command for Move {
    fn run(&self, session: &mut Session<'_>) -> i32 {
        each_to_target(session, &self.sources, &self.target, move_one)
    }
}

/// Moves `source` to `destination`; reports a failure and returns `false`.
fn move_one(session: &mut Session<'_>, source: &str, destination: &str) -> bool {
    if source == "/" {
        session.complain("/: the root cannot move");
        return false;
    }
    if source == destination {
        session.complain(&format!("{source} and {destination} are the same file"));
        return false;
    }
    if same_file(source, destination) {
        // A change of case: one entry on FAT, the filesystem renames it (or not).
        return rename(session, source, destination);
    }
    if is_within(source, destination) {
        session.complain(&format!("{source} cannot move into itself ({destination})"));
        return false;
    }
    let kind = match session.fs.stat(source) {
        Ok(metadata) => metadata.kind,
        Err(error) => {
            session.fail(source, &error);
            return false;
        }
    };
    match session.fs.stat(destination) {
        Err(FsError::NotFound) => rename(session, source, destination),
        Ok(existing) if existing.kind == FileKind::Directory => {
            session.fail(destination, &FsError::Exists);
            false
        }
        Ok(_) if kind == FileKind::Directory => {
            session.complain(&format!("{destination}: a file cannot be replaced by the directory {source}"));
            false
        }
        Ok(_) => replace(session, source, destination),
        Err(error) => {
            session.fail(destination, &error);
            false
        }
    }
}

fn rename(session: &mut Session<'_>, source: &str, destination: &str) -> bool {
    match session.fs.rename(source, destination) {
        Ok(()) => true,
        Err(error) => {
            session.complain(&format!("{source} -> {destination}: {error}"));
            false
        }
    }
}

/// The name a replaced file waits under: `.NAME.mv-old` in its directory (the name cut to
/// fit FAT's 255 bytes).
pub(crate) fn aside(destination: &str) -> Option<String> {
    const SUFFIX: &str = ".mv-old";
    let name = path::file_name(destination)?;
    let room = fs_api::MAX_NAME_BYTES - SUFFIX.len() - 1;
    let mut cut = name.len().min(room);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    path::join(path::parent(destination), &format!(".{}{SUFFIX}", name.get(..cut)?)).ok()
}

/// Replaces the file `destination` with `source` (see the module documentation).
fn replace(session: &mut Session<'_>, source: &str, destination: &str) -> bool {
    let Some(aside) = aside(destination) else {
        session.complain(&format!("{destination}: no room for a name to keep it under while it is replaced"));
        return false;
    };
    if let Err(error) = session.fs.rename(destination, &aside) {
        session.complain(&format!("{destination}: cannot set it aside as {aside} to replace it: {error}"));
        return false;
    }
    if let Err(error) = session.fs.rename(source, destination) {
        session.complain(&format!("{source} -> {destination}: {error}"));
        if let Err(again) = session.fs.rename(&aside, destination) {
            session.complain(&format!("{destination} is left as {aside}: {again}"));
        }
        return false;
    }
    if let Err(error) = session.fs.unlink(&aside) {
        session.complain(&format!("moved, but the replaced file is left as {aside}: {error}"));
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run_tool;
    use fsutil::memory::{Denial, MemoryFs};

    fn home() -> MemoryFs {
        MemoryFs::new()
            .with_file("/home/user/draft of a letter to the editor.txt", b"dear editor")
            .with_file("/home/user/old", b"old")
            .with_file("/home/user/notes/today", b"today")
            .with_directory("/home/user/archive")
            .with_directory("/tmp")
    }

    #[test]
    fn renames_and_moves_into_directories() {
        let mut fs = home();
        let ran =
            run_tool(&MV, &["draft of a letter to the editor.txt", "letter.txt"], "/home/user", &mut fs);
        assert_eq!(ran.status, 0);
        assert_eq!(fs.file("/home/user/letter.txt"), Some(&b"dear editor"[..]));
        assert_eq!(fs.kind("/home/user/draft of a letter to the editor.txt"), None);
        let ran = run_tool(&MV, &["letter.txt", "notes", "archive"], "/home/user", &mut fs);
        assert_eq!(ran.status, 0);
        assert_eq!(
            fs.tree(),
            [
                "/home/",
                "/home/user/",
                "/home/user/archive/",
                "/home/user/archive/letter.txt",
                "/home/user/archive/notes/",
                "/home/user/archive/notes/today",
                "/home/user/old",
                "/tmp/",
            ]
        );
        // Across directories, to a new name.
        let ran = run_tool(&MV, &["/home/user/old", "/tmp/older"], "/", &mut fs);
        assert_eq!(ran.status, 0);
        assert_eq!(fs.file("/tmp/older"), Some(&b"old"[..]));
    }

    #[test]
    fn a_file_with_the_target_name_is_replaced() {
        let mut fs = home();
        let ran = run_tool(&MV, &["old", "draft of a letter to the editor.txt"], "/home/user", &mut fs);
        assert_eq!(ran.status, 0, "{:?}", ran.errors);
        assert_eq!(fs.file("/home/user/draft of a letter to the editor.txt"), Some(&b"old"[..]));
        assert_eq!(fs.names("/home/user"), ["notes", "archive", "draft of a letter to the editor.txt"]);
    }

    #[test]
    fn a_refused_move_keeps_the_file_it_would_replace() {
        let mut fs = home().with_file("/etc/motd", b"hello");
        fs.deny("/etc", Denial::Changes);
        // The source cannot be deleted at /etc: the target is set aside, then given back.
        let mut lenient = home().with_file("/srv/motd", b"hello");
        lenient.deny("/srv/motd", Denial::Changes);
        let ran = run_tool(&MV, &["/srv/motd", "old"], "/home/user", &mut lenient);
        assert_eq!(ran.status, 1);
        assert_eq!(
            ran.errors,
            ["mv: /srv/motd -> /home/user/old: denied: the fake's scope gives no changes at /srv/motd"]
        );
        assert_eq!(lenient.file("/home/user/old"), Some(&b"old"[..]));
        assert_eq!(lenient.file("/srv/motd"), Some(&b"hello"[..]));
        assert!(lenient.names("/home/user").iter().all(|name| !name.ends_with(".mv-old")));
        // A target that cannot be set aside is not touched.
        let ran = run_tool(&MV, &["/home/user/old", "/etc/motd"], "/", &mut fs);
        assert_eq!(ran.status, 1);
        assert!(
            ran.errors[0].starts_with("mv: /etc/motd: cannot set it aside as /etc/.motd.mv-old"),
            "{:?}",
            ran.errors
        );
        assert_eq!(fs.file("/etc/motd"), Some(&b"hello"[..]));
        assert_eq!(fs.file("/home/user/old"), Some(&b"old"[..]));
    }

    #[test]
    fn nothing_is_lost_to_a_missing_source_or_one_file_under_two_names() {
        let mut fs = home();
        let before = fs.tree();
        let cases: &[(&[&str], &str)] = &[
            (&["missing", "old"], "mv: /home/user/missing: no such file or directory"),
            (&["old", "old"], "mv: /home/user/old and /home/user/old are the same file"),
            (&["old", "."], "mv: /home/user/old and /home/user/old are the same file"),
            (
                &["notes", "notes/deeper"],
                "mv: /home/user/notes cannot move into itself (/home/user/notes/deeper)",
            ),
            (
                &["notes", "NOTES/today"],
                "mv: /home/user/notes cannot move into itself (/home/user/NOTES/today)",
            ),
            (
                &["notes", "old"],
                "mv: /home/user/old: a file cannot be replaced by the directory /home/user/notes",
            ),
            (&["old", "notes", "archive/x"], "mv: /home/user/archive/x: no such file or directory"),
            (&["/", "/tmp"], "mv: /: the root cannot go into a directory"),
            (&["/", "/tmp/x"], "mv: /: the root cannot move"),
        ];
        for (arguments, error) in cases {
            let ran = run_tool(&MV, arguments, "/home/user", &mut fs);
            assert_eq!(ran.errors, [*error], "mv {arguments:?}");
            assert_eq!(ran.status, 1);
            assert_eq!(fs.tree(), before, "mv {arguments:?} changed the tree");
        }
        // A directory where the moved name would go is not replaced.
        let mut fs = home().with_directory("/tmp/notes");
        let ran = run_tool(&MV, &["notes", "/tmp"], "/home/user", &mut fs);
        assert_eq!(ran.errors, ["mv: /tmp/notes: already exists"]);
    }

    #[test]
    fn a_change_of_case_goes_to_the_filesystem() {
        let mut fs = home();
        let ran = run_tool(&MV, &["old", "OLD"], "/home/user", &mut fs);
        assert_eq!(ran.status, 0);
        // The fake, as lamfat, keeps the entry as it was; nothing is deleted.
        assert_eq!(fs.file("/home/user/old"), Some(&b"old"[..]));
    }

    #[test]
    fn names_set_aside_fit_fat() {
        assert_eq!(aside("/a/b.txt").as_deref(), Some("/a/.b.txt.mv-old"));
        let long = "é".repeat(127);
        let set_aside = aside(&format!("/{long}")).expect("a name");
        let name = path::file_name(&set_aside).expect("a name");
        assert!(name.len() <= fs_api::MAX_NAME_BYTES && name.ends_with(".mv-old"), "{name}");
        assert_eq!(aside("/"), None);
    }
}
