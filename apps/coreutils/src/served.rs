//! The tools against the fs server itself: `fs::Volume` (the server's logic) on an
//! in-memory FAT volume that lamfat formats, every request and answer carried in a real
//! message (`userlib::rpc`, as `FsClient` sends them: a request too large for one message
//! fails here as it would on Lattice), the session scoped as the policy scopes it. After
//! each scenario the volume is unmounted and `fsck.fat -n` must find it clean.

use std::path::PathBuf;
use std::process::Command;
use std::string::String;
use std::vec::Vec;

use fs::{MemoryDevice, Volume};
use fs_api::{Fs, MAX_INLINE_BYTES, Place, Request, Response, Source};
use fsutil::{DirectoryEntry, FileSystem, FsError, FsStatus, Metadata, OpenFlags};
use grant::{FsPath, Rights, Scope};
use userlib::rpc::{self, RpcError};

use crate::testing::Ran;
use crate::{Tool, run};

/// The session's id (a connection id, as the security server numbers them).
const SESSION: u64 = 1 << 16;

/// A session with the fs server, as a program has one.
pub struct Served {
    volume: Volume<MemoryDevice>,
}

fn malformed() -> FsError {
    FsError::Rpc(RpcError::Malformed)
}

impl Served {
    /// A fresh 16 MiB FAT16 volume holding `files`, and a session whose scope is `grants`
    /// (`(path, rights)` in the policy's words: `("/", "read")`, `("/home", "read write")`).
    pub fn new(files: &[(&str, &[u8])], grants: &[(&str, &str)]) -> Served {
        let mut image = std::io::Cursor::new(vec![0_u8; 16 << 20]);
        let options = lamfat::FormatVolumeOptions::new().volume_id(0x1a77_1ce0);
        lamfat::format_volume(&mut lamfat::StdIoWrapper::new(&mut image), options).expect("lamfat formats");
        let mut volume =
            Volume::mount(MemoryDevice::from_image(image.into_inner()), 4096).expect("it mounts");
        let everything =
            Scope::fs(FsPath::root(), Rights::parse("read write create delete").unwrap()).unwrap();
        volume.open_session(SESSION, everything, 256 << 10).expect("a session");
        let mut served = Served { volume };
        for (path, bytes) in files {
            let mut directory = String::new();
            let components: Vec<&str> = path.split('/').skip(1).collect();
            for component in &components[..components.len() - 1] {
                directory.push('/');
                directory.push_str(component);
                match served.make_directory(&directory) {
                    Ok(()) | Err(FsError::Exists) => {}
                    Err(error) => panic!("{directory}: {error}"),
                }
            }
            let flags = OpenFlags::WRITE.union(OpenFlags::CREATE);
            let (handle, _) = served.open(path, flags).expect("a file to set up");
            served.write(handle, bytes).expect("written");
            served.close(handle).expect("closed");
        }
        let mut scope: Option<Scope> = None;
        for (path, rights) in grants {
            let part = Scope::fs(FsPath::parse(path).unwrap(), Rights::parse(rights).unwrap()).unwrap();
            match &mut scope {
                None => scope = Some(part),
                Some(scope) => scope.merge(&part).expect("fs scopes merge"),
            }
        }
        served.volume.open_session(SESSION, scope.expect("a grant"), 256 << 10).expect("the scoped session");
        served
    }

    /// One request, through real messages both ways.
    fn call(&mut self, request: &Request) -> Result<Response, FsError> {
        let message = rpc::encode_request::<Fs>(request)?;
        let decoded = rpc::decode_request::<Fs>(&message)?;
        let answer = self.volume.serve(SESSION, decoded, &mut [][..]);
        rpc::decode_reply::<Fs>(&rpc::encode_reply::<Fs>(&answer))
    }

    fn done(&mut self, request: &Request) -> Result<(), FsError> {
        match self.call(request)? {
            Response::Done => Ok(()),
            _ => Err(malformed()),
        }
    }

    /// Unmounts and runs `fsck.fat -n` on the image: `Err` with its findings unless clean.
    pub fn fsck(self) -> Result<(), String> {
        let image = self.volume.unmount().expect("it unmounts").into_image();
        let directory = std::env::temp_dir().join(format!("lattice-coreutils-{}", std::process::id()));
        std::fs::create_dir_all(&directory).expect("a temporary directory");
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let unique = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = directory.join(format!("volume-{unique}.img"));
        std::fs::write(&path, &image).expect("the image written");
        let output = Command::new(fsck_program()).arg("-n").arg(&path).output().expect("fsck.fat runs");
        let _ = std::fs::remove_file(&path);
        let text =
            format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        let findings: Vec<&str> = text
            .lines()
            .map(str::trim_end)
            .filter(|line| !line.is_empty())
            .filter(|line| !(line.starts_with("fsck.fat ") && line.ends_with(')')))
            .filter(|line| !(line.contains(" files, ") && line.ends_with(" clusters")))
            .collect();
        if output.status.code() == Some(0) && findings.is_empty() {
            Ok(())
        } else {
            Err(format!("fsck.fat (status {:?}):\n{}", output.status.code(), findings.join("\n")))
        }
    }
}

fn fsck_program() -> PathBuf {
    let path = std::env::var_os("PATH").map(|path| std::env::split_paths(&path).collect::<Vec<_>>());
    let candidates = path.unwrap_or_default().into_iter().chain(["/usr/sbin", "/sbin"].map(PathBuf::from));
    for directory in candidates {
        let program = directory.join("fsck.fat");
        if program.is_file() {
            return program;
        }
    }
    panic!("fsck.fat is not installed (dosfstools; `cargo xtask test` installs it)");
}

/// As `FsClient` does it: inline data in messages, directories page by page.
impl FileSystem for Served {
    fn open(&mut self, path: &str, flags: OpenFlags) -> Result<(u32, u64), FsError> {
        match self.call(&Request::Open { path: path.into(), flags })? {
            Response::Opened { handle, size } => Ok((handle, size)),
            _ => Err(malformed()),
        }
    }

    fn read(&mut self, handle: u32, buffer: &mut [u8]) -> Result<usize, FsError> {
        let mut done = 0;
        while done < buffer.len() {
            let want = (buffer.len() - done).min(MAX_INLINE_BYTES);
            let max = u32::try_from(want).unwrap();
            let Response::Data(bytes) = self.call(&Request::Read { handle, into: Place::Inline { max } })?
            else {
                return Err(malformed());
            };
            buffer[done..done + bytes.len()].copy_from_slice(&bytes);
            done += bytes.len();
            if bytes.len() < want {
                break;
            }
        }
        Ok(done)
    }

    fn write(&mut self, handle: u32, bytes: &[u8]) -> Result<(), FsError> {
        for chunk in bytes.chunks(MAX_INLINE_BYTES) {
            match self.call(&Request::Write { handle, from: Source::Inline(chunk.to_vec()) })? {
                Response::Written { .. } => {}
                _ => return Err(malformed()),
            }
        }
        Ok(())
    }

    fn close(&mut self, handle: u32) -> Result<(), FsError> {
        match self.call(&Request::Close { handle })? {
            Response::Closed => Ok(()),
            _ => Err(malformed()),
        }
    }

    fn stat(&mut self, path: &str) -> Result<Metadata, FsError> {
        match self.call(&Request::Stat { path: path.into() })? {
            Response::Status(metadata) => Ok(metadata),
            _ => Err(malformed()),
        }
    }

    fn read_directory(&mut self, path: &str) -> Result<Vec<DirectoryEntry>, FsError> {
        let mut all = Vec::new();
        loop {
            let start = u32::try_from(all.len()).unwrap();
            let Response::Directory { entries, more } =
                self.call(&Request::ReadDirectory { path: path.into(), start })?
            else {
                return Err(malformed());
            };
            let empty = entries.is_empty();
            all.extend(entries);
            if !more || empty {
                return Ok(all);
            }
        }
    }

    fn make_directory(&mut self, path: &str) -> Result<(), FsError> {
        self.done(&Request::MakeDirectory { path: path.into() })
    }

    fn remove_directory(&mut self, path: &str) -> Result<(), FsError> {
        self.done(&Request::RemoveDirectory { path: path.into() })
    }

    fn unlink(&mut self, path: &str) -> Result<(), FsError> {
        self.done(&Request::Unlink { path: path.into() })
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<(), FsError> {
        self.done(&Request::Rename { from: from.into(), to: to.into() })
    }

    fn sync(&mut self) -> Result<(), FsError> {
        match self.call(&Request::Sync)? {
            Response::Synced => Ok(()),
            _ => Err(malformed()),
        }
    }

    fn stat_fs(&mut self) -> Result<FsStatus, FsError> {
        match self.call(&Request::StatFs)? {
            Response::FsStatus(status) => Ok(status),
            _ => Err(malformed()),
        }
    }
}

/// Runs `tool` in `pwd` against the server; the status must say what the complaints say.
fn tool(served: &mut Served, tool: &Tool, arguments: &[&str], pwd: &str) -> Ran {
    let mut ran = Ran::default();
    ran.status = run(tool, arguments, Some(pwd), |_| Ok(&mut *served), &mut ran);
    assert_eq!(ran.status == 0, ran.errors.is_empty(), "{} {arguments:?}: {ran:?}", tool.name);
    ran
}

/// The default policy's grant to the session's tools.
const SESSION_GRANTS: &[(&str, &str)] =
    &[("/", "read"), ("/home", "read write create delete"), ("/tmp", "read write create delete")];

fn index_page() -> Vec<u8> {
    b"<h1>Lattice</h1>\n".repeat(24)
}

#[test]
fn a_session_at_the_prompt() {
    use crate::{CAT, CP, DF, LS, MKDIR, MV, RM, RMDIR, STAT, SYNC, TOUCH};
    let page = index_page();
    let mut served =
        Served::new(&[("/www/index.html", &page), ("/home/user/.profile", b"x")], SESSION_GRANTS);
    let home = "/home/user";
    let ok = |ran: Ran| {
        assert_eq!((ran.status, ran.errors.as_slice()), (0, &[] as &[String]));
        ran.output
    };
    ok(tool(&mut served, &MKDIR, &["-p", "/home/user/notes/2025"], home));
    ok(tool(&mut served, &CP, &["/www/index.html", "notes/a page I kept, with a long name.html"], home));
    ok(tool(&mut served, &TOUCH, &["notes/Empty Note.TXT"], home));
    let notes = "/home/user/notes";
    assert_eq!(
        ok(tool(&mut served, &LS, &["-l"], notes)),
        format!(
            "d    -  2025\n-  {}  a page I kept, with a long name.html\n-    0  Empty Note.TXT\n",
            page.len()
        )
    );
    assert_eq!(ok(tool(&mut served, &LS, &[], home)), "notes\n");
    assert_eq!(ok(tool(&mut served, &LS, &["-a"], home)), ".\n..\n.profile\nnotes\n");
    let cat = tool(&mut served, &CAT, &["a page I kept, with a long name.html"], notes);
    assert!(cat.bytes == page, "cat gives back what cp wrote");
    ok(tool(&mut served, &MV, &["a page I kept, with a long name.html", "2025/kept.html"], notes));
    // Replaced: the old file goes; the moved one has the name as typed.
    ok(tool(&mut served, &MV, &["2025/kept.html", "empty note.txt"], notes));
    let stat = ok(tool(&mut served, &STAT, &["EMPTY NOTE.TXT"], notes));
    assert!(stat.contains("  name      empty note.txt\n"), "{stat}");
    assert!(stat.contains(&format!("  size      {} bytes\n", page.len())), "{stat}");
    assert_eq!(ok(tool(&mut served, &LS, &["-a"], notes)), ".\n..\n2025\nempty note.txt\n");
    let rmdir = tool(&mut served, &RMDIR, &["/home/user/notes"], "/");
    assert_eq!(rmdir.errors, ["rmdir: /home/user/notes: directory not empty"]);
    ok(tool(&mut served, &RM, &["-r", "notes"], home));
    assert_eq!(ok(tool(&mut served, &LS, &[], home)), "");
    let df = ok(tool(&mut served, &DF, &[], "/"));
    assert!(df.starts_with("TYPE") && df.contains("FAT16"), "{df}");
    ok(tool(&mut served, &SYNC, &[], "/"));
    served.fsck().expect("the volume is clean");
}

#[test]
fn refusals_are_the_servers_words() {
    use crate::{CAT, CP, LS, MKDIR, MV, RM, TOUCH};
    let page = index_page();
    let mut served = Served::new(&[("/www/index.html", &page), ("/home/user/a", b"a")], SESSION_GRANTS);
    let home = "/home/user";
    let denied = |right: &str, path: &str| {
        format!(
            "denied: the grant `fs / read; fs /home write,create,delete; fs /tmp write,create,delete` gives no {right} at {path}"
        )
    };
    let touch_www = format!("touch: /www/new.html: {}", denied("write", "/www/new.html"));
    let rm_www = format!("rm: /www/index.html: {}", denied("delete", "/www/index.html"));
    let mv_www = format!("mv: /home/user/a -> /www/a: {}", denied("create", "/www/a"));
    let cases: &[(&Tool, &[&str], &str)] = &[
        (&LS, &["/etc/x"], "ls: /etc/x: no such file or directory"),
        (&CAT, &["/www"], "cat: /www: is a directory"),
        (&CP, &["a", "A"], "cp: /home/user/a and /home/user/A are the same file"),
        (&MKDIR, &["/home/user/a"], "mkdir: /home/user/a: already exists"),
        (&TOUCH, &["/www/new.html"], &touch_www),
        (&RM, &["/www/index.html"], &rm_www),
        (&MV, &["a", "/www/a"], &mv_www),
        (&TOUCH, &["bad:name"], "touch: /home/user/bad:name: invalid name: \"bad:name\""),
    ];
    for (which, arguments, error) in cases {
        let ran = tool(&mut served, which, arguments, home);
        assert_eq!(ran.errors, [*error], "{} {arguments:?}", which.name);
        assert_eq!(ran.status, 1);
    }
    assert_eq!(tool(&mut served, &CAT, &["a"], home).bytes, b"a");
    served.fsck().expect("the volume is clean");
}

#[test]
fn large_files_cross_in_many_messages() {
    use crate::{CAT, CP};
    // Neither a multiple of the chunk nor of a message.
    let contents: Vec<u8> =
        (0..200_003_u32).map(|index| (index.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let mut served = Served::new(&[("/home/user/big.bin", &contents), ("/tmp/readme", b"")], SESSION_GRANTS);
    let ran = tool(&mut served, &CP, &["big.bin", "/tmp/copy of big.bin"], "/home/user");
    assert_eq!(ran.status, 0, "{:?}", ran.errors);
    let ran = tool(&mut served, &CAT, &["/tmp/copy of big.bin"], "/");
    assert!(ran.bytes == contents, "the copy differs");
    served.fsck().expect("the volume is clean");
}

#[test]
fn a_directory_of_many_long_names_over_several_pages() {
    use crate::{LS, MKDIR, RM, TOUCH};
    let mut served = Served::new(&[("/home/user/.keep", b"")], SESSION_GRANTS);
    let home = "/home/user";
    tool(&mut served, &MKDIR, &["many"], home);
    let names: Vec<String> = (0..60)
        .map(|index| format!("note number {index:03} with a name long enough to need several entries"))
        .collect();
    let arguments: Vec<String> = names.iter().map(|name| format!("many/{name}")).collect();
    let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
    assert_eq!(tool(&mut served, &TOUCH, &arguments, home).status, 0);
    let listed = tool(&mut served, &LS, &["many"], home).output;
    assert_eq!(listed, names.iter().map(|name| format!("{name}\n")).collect::<String>());
    assert_eq!(tool(&mut served, &RM, &["-r", "many"], home).status, 0);
    assert_eq!(tool(&mut served, &LS, &["-a"], home).output, ".\n..\n.keep\n");
    served.fsck().expect("the volume is clean");
}

#[test]
fn moves_of_case_and_of_directories() {
    use crate::{CAT, LS, MV};
    let mut served = Served::new(
        &[("/home/user/readme", b"read me"), ("/home/user/project/src/main.rs", b"fn main() {}")],
        SESSION_GRANTS,
    );
    let home = "/home/user";
    // A change of case only: one entry on FAT; the file is never lost.
    assert_eq!(tool(&mut served, &MV, &["readme", "README"], home).status, 0);
    assert_eq!(tool(&mut served, &CAT, &["README"], home).bytes, b"read me");
    // Into itself: refused before the server is asked.
    let ran = tool(&mut served, &MV, &["project", "project/src/inner"], home);
    assert_eq!(ran.errors, ["mv: /home/user/project cannot move into itself (/home/user/project/src/inner)"]);
    assert_eq!(
        tool(&mut served, &MV, &["project", "/tmp/moved project"], home).errors,
        ["mv: /home/user/project -> /tmp/moved project: no such file or directory"]
    );
    assert_eq!(tool(&mut served, &MV, &["project", "renamed project"], home).status, 0);
    assert_eq!(tool(&mut served, &CAT, &["renamed project/src/main.rs"], home).bytes, b"fn main() {}");
    assert_eq!(tool(&mut served, &LS, &["/home/user/renamed project/src/.."], "/").output, "src\n");
    served.fsck().expect("the volume is clean");
}
