//! `test-fs`: the filesystem server's scope check in a running system, for a program that
//! holds exactly httpd's grant.
//!
//! A server of `image/systems/test-fs.toml`, whose policy (`image/systems/test-fs.rhai`)
//! gives `/bin/test-fs` what `policy/default.rhai` gives `/bin/httpd`: its label and
//! `fs("/www", "read")`, nothing else (a host test, `tests::files`, compares the two
//! policies' decisions so they cannot drift). The real httpd comes with the network. The
//! system test `files.httpd_grant` attaches a fresh system disk.
//!
//! It connects to `fs` through the security server asking for read, as httpd would, reads
//! `/www/index.html` and prints its size and hash for the harness to compare with the
//! repo's page ([`PAGE_LINE`]), then tries what the grant does not give: `/etc`, a `..`
//! out of `/www`, `/WWW` (FAT would find it; the scope compares paths as written), creating,
//! writing, making a directory and removing a file in `/www`. Each refusal must be
//! `FsError::Denied` naming the grant and the right it lacks, and leave `/www` unchanged.
//! Last, a connection asking for read and write is refused by the security server, naming
//! the grant.
//!
//! Each check has an id and a sentence (its table is [`CHECKS`]) and prints one line
//! (`test-fs: ok   FS0001 ...`, the `checks` crate's form); it exits with the number of
//! failed checks.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

use checks::Check;

/// The grant, as the fs server names it in a refusal (`grant::Scope`'s form).
pub const GRANT: &str = "fs /www read";

/// The start of the line that gives the page's size and hash:
/// `test-fs: page /www/index.html: 408 bytes, fnv1a64 0x...`.
pub const PAGE_LINE: &str = "test-fs: page /www/index.html: ";

/// The page read.
pub const PAGE: &str = "/www/index.html";

/// 64-bit FNV-1a of `bytes` (the harness computes the same of the repo's page).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3))
}

const CONNECT: Check =
    Check::new("FS0001", "with httpd's grant the security server opens an fs session asking for read");
const READ_PAGE: Check = Check::new(
    "FS0002",
    "/www/index.html opens for reading and reads whole: as many bytes as the open said, then the end",
);
const LIST_WWW: Check = Check::new("FS0003", "/www lists its pages, index.html among them");
const ETC: Check = Check::new(
    "FS0004",
    "reading /etc/policy/default.rhai is refused with Denied naming the grant `fs /www read` and the read it lacks",
);
const DOT_DOT: Check = Check::new(
    "FS0005",
    "reading /www/../etc/policy/default.rhai is refused the same, at the path normalised to /etc",
);
const CASE: Check = Check::new(
    "FS0006",
    "reading /WWW/index.html is refused naming the grant: scopes compare paths as written, whatever FAT finds",
);
const CREATE: Check = Check::new(
    "FS0007",
    "creating /www/x for writing is refused with Denied naming the grant and the write it lacks",
);
const WRITE: Check = Check::new(
    "FS0008",
    "opening /www/index.html for writing is refused with Denied naming the grant and the write",
);
const MAKE_DIRECTORY: Check = Check::new(
    "FS0009",
    "making the directory /www/d is refused with Denied naming the grant and the create",
);
const UNLINK: Check =
    Check::new("FS0010", "removing /www/index.html is refused with Denied naming the grant and the delete");
const UNCHANGED: Check = Check::new(
    "FS0011",
    "after the refusals /www/x and /www/d do not exist and /www/index.html reads back the same",
);
const WIDER: Check = Check::new(
    "FS0012",
    "asking the security server for fs read and write is refused with Denied naming the grant, which gives read only",
);
const MALFORMED: Check = Check::new(
    "FS0013",
    "a request whose bytes decode to no request is refused Malformed, and the session goes on serving",
);
/// Every check, in the order they run.
static CHECKS: [Check; 13] = [
    CONNECT,
    READ_PAGE,
    LIST_WWW,
    ETC,
    DOT_DOT,
    CASE,
    CREATE,
    WRITE,
    MAKE_DIRECTORY,
    UNLINK,
    UNCHANGED,
    WIDER,
    MALFORMED,
];

#[cfg(target_os = "none")]
userlib::entry!(guest::main);

/// On the host this binary only says where it runs.
#[cfg(not(target_os = "none"))]
fn main() {
    let _ = &CHECKS;
    println!("test-fs: runs on Lattice (cargo xtask test files.httpd_grant) with the grant `{GRANT}`");
}

#[cfg(target_os = "none")]
mod guest {
    extern crate alloc;

    use alloc::format;
    use alloc::string::String;
    use alloc::vec;
    use alloc::vec::Vec;

    use checks::Report;
    use fs_api::{FsClient, FsError, OpenFlags};
    use grant::Rights;
    use loader::server_slots;
    use security_api::{SecurityClient, SecurityError};
    use userlib::println;
    use userlib::rpc::CapabilitySlot;

    use super::*;

    type Checks = Report<13, fn(core::fmt::Arguments<'_>)>;

    /// Where the fs session goes; the wider request's would go to the next slot.
    const SESSION: CapabilitySlot =
        CapabilitySlot { cnode: server_slots::CNODE, index: server_slots::FIRST_FREE };
    const WIDER_SESSION: CapabilitySlot =
        CapabilitySlot { cnode: server_slots::CNODE, index: server_slots::FIRST_FREE + 1 };

    fn print(line: core::fmt::Arguments<'_>) {
        println!("{line}");
    }

    pub(crate) fn main() -> i32 {
        let mut report: Checks = Report::new("test-fs", &CHECKS, print);
        match SecurityClient::from_start_info() {
            Some(security) => run(&security, &mut report),
            None => report.check(&CONNECT, false, "started without a session with the security server"),
        }
        i32::try_from(report.finish()).unwrap_or(i32::MAX)
    }

    fn run(security: &SecurityClient, report: &mut Checks) {
        if let Err(error) = security.connect("fs", Rights::READ, SESSION) {
            return report.check(&CONNECT, false, error);
        }
        report.check(&CONNECT, true, ());
        let fs = FsClient::new(SESSION.index);

        let page = read_whole(&fs, PAGE);
        match &page {
            Ok(bytes) => {
                println!("{PAGE_LINE}{} bytes, fnv1a64 {:#018x}", bytes.len(), fnv1a64(bytes));
                report.check(&READ_PAGE, true, ());
            }
            Err(error) => report.check(&READ_PAGE, false, error),
        }
        match fs.read_directory("/www") {
            Ok(entries) => {
                let names: Vec<&str> = entries.iter().map(|entry| entry.name.as_str()).collect();
                report.check(&LIST_WWW, names.contains(&"index.html"), names);
            }
            Err(error) => report.check(&LIST_WWW, false, error),
        }

        let policy = "/etc/policy/default.rhai";
        denied(report, &ETC, fs.open(policy, OpenFlags::READ).map(|_| ()), "read", policy);
        let climbing = "/www/../etc/policy/default.rhai";
        denied(report, &DOT_DOT, fs.open(climbing, OpenFlags::READ).map(|_| ()), "read", policy);
        let upper = "/WWW/index.html";
        denied(report, &CASE, fs.open(upper, OpenFlags::READ).map(|_| ()), "read", upper);
        let new = OpenFlags::WRITE.union(OpenFlags::CREATE).union(OpenFlags::TRUNCATE);
        denied(report, &CREATE, fs.open("/www/x", new).map(|_| ()), "write", "/www/x");
        denied(report, &WRITE, fs.open(PAGE, OpenFlags::WRITE).map(|_| ()), "write", PAGE);
        denied(report, &MAKE_DIRECTORY, fs.make_directory("/www/d"), "create", "/www/d");
        denied(report, &UNLINK, fs.unlink(PAGE), "delete", PAGE);

        let gone = |path: &str| matches!(fs.stat(path), Err(FsError::NotFound));
        let again = read_whole(&fs, PAGE);
        let same = matches!((&page, &again), (Ok(first), Ok(second)) if first == second);
        report.check(
            &UNCHANGED,
            gone("/www/x") && gone("/www/d") && same,
            (fs.stat("/www/x"), fs.stat("/www/d"), again.map(|bytes| bytes.len())),
        );

        match security.connect("fs", Rights::READ.union(Rights::WRITE), WIDER_SESSION) {
            Err(SecurityError::Denied { rule }) => {
                let names = rule.contains("the grant of fs to /bin/test-fs")
                    && rule.ends_with(&format!("gives {GRANT}, not write"));
                report.check(&WIDER, names, rule);
            }
            other => report.check(&WIDER, false, other),
        }

        // Variant 200 of the fs protocol's requests: a well-framed message that is none.
        let mut garbage = userlib::ipc::Message::new(<fs_api::Fs as userlib::rpc::Protocol>::LABEL, &[]);
        let answer = userlib::rpc::pack(&[200, 1, 2, 3], &mut garbage.words)
            .map_err(|_| kernel_abi::Error::InvalidArgument)
            .and_then(|length| {
                garbage.length = length;
                userlib::ipc::call(SESSION.index, &garbage)
            })
            .map(|reply| userlib::rpc::decode_reply::<fs_api::Fs>(&reply));
        let refused = matches!(answer, Ok(Err(FsError::Rpc(userlib::rpc::RpcError::Malformed))));
        let serving = read_whole(&fs, PAGE).ok() == page.ok();
        report.check(&MALFORMED, refused && serving, answer);
    }

    /// The whole file at `path`: opened for reading, read to the end, closed.
    fn read_whole(fs: &FsClient, path: &str) -> Result<Vec<u8>, String> {
        let (handle, size) = fs.open(path, OpenFlags::READ).map_err(|error| format!("open: {error}"))?;
        // One byte more than the open said: the read must stop at the end.
        let mut bytes = vec![0_u8; usize::try_from(size).unwrap_or(0) + 1];
        let read = fs.read(handle, &mut bytes);
        fs.close(handle).map_err(|error| format!("close: {error}"))?;
        let read = read.map_err(|error| format!("read: {error}"))?;
        if u64::try_from(read).ok() != Some(size) {
            return Err(format!("read {read} bytes of a file the open said has {size}"));
        }
        bytes.truncate(read);
        Ok(bytes)
    }

    /// Checks that `result` is `Denied` with the fs server's text for the grant lacking
    /// `right` at `path`.
    fn denied(report: &mut Checks, check: &Check, result: Result<(), FsError>, right: &str, path: &str) {
        let expected: String = format!("the grant `{GRANT}` gives no {right} at {path}");
        match result {
            Err(FsError::Denied { grant }) => report.check(check, grant == expected, (grant, expected)),
            other => report.check(check, false, (other, expected)),
        }
    }
}
