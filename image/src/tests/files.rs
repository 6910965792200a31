//! System tests of files: at the shell (the filesystem server on the system disk over
//! virtio-blk, the file tools and the shell's working directory, typed at the prompt as a
//! person would, and the same disk booted again), and a program holding exactly httpd's
//! grant (`apps/test-fs` in the `test-fs` system) against the same server and disk. After
//! each test the harness runs `fsck.fat -n` on the disk.

use kernel_abi::exit_status;

use super::{Context, PROMPT, STEP, SystemTest, expect_status, system_disk_attach};
use crate::systest::Machine;

/// The files tests, in the order they run.
pub const TESTS: &[SystemTest] = &[
    SystemTest {
        name: "files.at_the_shell",
        about: "on the system disk a person lists /www, reads a page, makes a directory, copies, renames and removes files with long names in the shell's working directory, is refused a write outside the grant naming it, syncs, and finds the kept file after booting the same disk again",
        system: "virt",
        run: |cx| {
            let disk = cx.system_disk("system.img")?;
            let mut machine = cx.boot(|boot| boot.disk_as(&disk, system_disk_attach()))?;
            machine.expect("Lattice shell. Type `help` for the list of builtins.", STEP)?;
            machine.expect(PROMPT, STEP)?;
            cx.step("list_www", "ls -l /www lists the disk's pages with their sizes", || {
                let listing = say(&mut machine, "ls -l /www")?;
                has(&listing, "408  index.html")?;
                has(&listing, "what this disk holds.txt")
            })?;
            cx.step("read_page", "cat /www/index.html writes the page from the disk", || {
                let page = say(&mut machine, "cat /www/index.html")?;
                has(&page, "<title>Lattice</title>")?;
                has(&page, "</html>")
            })?;
            cx.step(
                "make_and_enter",
                "mkdir -p makes a directory and its parent; cd enters it and pwd says so",
                || {
                    say(&mut machine, "mkdir -p /home/user/notes/today")?;
                    say(&mut machine, "cd /home/user/notes")?;
                    has(&say(&mut machine, "pwd")?, "/home/user/notes\n")
                },
            )?;
            cx.step(
                "copy_long_name",
                "cp to a long name in the working directory, and ls -l shows it with its size",
                || {
                    say(&mut machine, "cp /www/index.html \"a page I kept for later.html\"")?;
                    has(&say(&mut machine, "ls -l")?, "408  a page I kept for later.html")
                },
            )?;
            cx.step(
                "rename",
                "mv renames the file; the old name is gone and the new one reads back",
                || {
                    say(&mut machine, "mv \"a page I kept for later.html\" \"renamed page.html\"")?;
                    let listing = say(&mut machine, "ls")?;
                    has(&listing, "renamed page.html")?;
                    lacks(&listing, "a page I kept")?;
                    has(&say(&mut machine, "cat \"renamed page.html\"")?, "<h1>Lattice</h1>")
                },
            )?;
            cx.step(
                "remove",
                "rm removes the file and rm -r the directory; ls no longer lists them",
                || {
                    say(&mut machine, "rm \"renamed page.html\"")?;
                    say(&mut machine, "rm -r today")?;
                    let listing = say(&mut machine, "ls")?;
                    lacks(&listing, "renamed page.html")?;
                    lacks(&listing, "today")
                },
            )?;
            cx.step(
                "denied_outside_grant",
                "a copy into /etc is refused, naming the grant, with status 1",
                || {
                    has(
                        &say(&mut machine, "cp /www/index.html /etc/x")?,
                        "cp: /etc/x: denied: the grant `fs / read",
                    )?;
                    has(&say(&mut machine, "echo status $?")?, "status 1")
                },
            )?;
            cx.step(
                "copy_large",
                "cp of a 2.9 MB program (through the session's shared buffer) gives a file of its size",
                || {
                    say(&mut machine, "cp /bin/security /home/user/security.copy")?;
                    has(&say(&mut machine, "echo status $?")?, "status 0")?;
                    let original = say(&mut machine, "stat /bin/security")?;
                    let copy = say(&mut machine, "stat /home/user/security.copy")?;
                    let size =
                        |text: &str| text.lines().find(|line| line.contains("size")).map(str::to_string);
                    match (size(&original), size(&copy)) {
                        (Some(a), Some(b)) if a == b => Ok(()),
                        _ => Err(format!("sizes differ: {original:?} against {copy:?}")),
                    }
                },
            )?;
            cx.step("keep_and_sync", "a file copied to /home/user and synced is kept", || {
                say(&mut machine, "cp /www/about.html /home/user/kept.html")?;
                say(&mut machine, "sync")?;
                has(&say(&mut machine, "echo status $?")?, "status 0")
            })?;
            machine.type_line("exit")?;
            machine.expect("root: shell exited with status 0", STEP)?;
            expect_status(&mut machine, exit_status::SUCCESS)?;
            drop(machine);
            cx.step(
                "large_copy_exact",
                "the large copy is byte for byte the program, read from the disk on the host",
                || {
                    let original = disk.read("bin/security")?;
                    let copy = disk.read("home/user/security.copy")?;
                    if original == copy {
                        Ok(())
                    } else {
                        Err(format!("the copy differs ({} against {} bytes)", copy.len(), original.len()))
                    }
                },
            )?;
            // The same disk again: what the first boot synced is there.
            let mut again = cx.boot(|boot| boot.disk_as(&disk, system_disk_attach()))?;
            again.expect("Lattice shell. Type `help` for the list of builtins.", STEP)?;
            again.expect(PROMPT, STEP)?;
            cx.step(
            "found_after_boot",
            "after booting the same disk again the kept file reads back and the removed directory is gone",
            || {
                has(&say(&mut again, "cat /home/user/kept.html")?, "</html>")?;
                lacks(&say(&mut again, "ls /home/user/notes")?, "today")
            },
        )?;
            again.type_line("exit")?;
            again.expect("root: shell exited with status 0", STEP)?;
            expect_status(&mut again, exit_status::SUCCESS)
        },
    },
    SystemTest {
        name: "files.power_cut",
        about: "QEMU killed while a large copy is being written, after an earlier sync was acknowledged: on the next boot the synced file is intact, the volume is usable, and fsck.fat finds it clean",
        system: "virt",
        run: |cx| {
            let disk = cx.system_disk("system.img")?;
            let mut machine = cx.boot(|boot| boot.disk_as(&disk, system_disk_attach()))?;
            machine.expect("Lattice shell. Type `help` for the list of builtins.", STEP)?;
            machine.expect(PROMPT, STEP)?;
            cx.step("synced", "a file copied and synced is acknowledged with status 0", || {
                say(&mut machine, "cp /www/about.html /home/user/synced.html")?;
                say(&mut machine, "sync")?;
                has(&say(&mut machine, "echo status $?")?, "status 0")
            })?;
            cx.step(
                "writing",
                "a copy of four programs (about 7 MB) is still running in the background when the power goes",
                || {
                    say(&mut machine, "mkdir /home/user/big")?;
                    let copy = "cp /bin/security /bin/proc /bin/fs /bin/shell /home/user/big";
                    has(&say(&mut machine, &format!("{copy} &"))?, "[1] ")?;
                    // `jobs` lists a job still running as `[1] PID COMMAND &` (a finished one
                    // is reported as done first and not listed).
                    has(&say(&mut machine, "jobs")?, &format!(" {copy} &"))
                },
            )?;
            // The power cut: QEMU is killed, nothing is flushed or unmounted.
            drop(machine);
            let mut again = cx.boot(|boot| boot.disk_as(&disk, system_disk_attach()))?;
            again.expect("Lattice shell. Type `help` for the list of builtins.", STEP)?;
            again.expect(PROMPT, STEP)?;
            cx.step("synced_intact", "after the next boot the synced file reads back whole", || {
                let page = say(&mut again, "cat /home/user/synced.html")?;
                has(&page, "<html")?;
                has(&page, "</html>")
            })?;
            cx.step("usable", "the volume takes new files and lists them", || {
                say(&mut again, "cp /www/index.html /home/user/after.html")?;
                say(&mut again, "sync")?;
                has(&say(&mut again, "ls /home/user")?, "after.html")
            })?;
            again.type_line("exit")?;
            again.expect("root: shell exited with status 0", STEP)?;
            expect_status(&mut again, exit_status::SUCCESS)
        },
    },
    SystemTest {
        name: "files.shared_buffer",
        about: "a program attaches its fs session's shared buffer, writes and reads back 100 000 bytes through it, revokes the session and faults at its next touch of the buffer: the revoke unmapped it",
        system: "virt",
        run: |cx| {
            let disk = cx.system_disk("system.img")?;
            let mut machine = cx.boot(|boot| boot.disk_as(&disk, system_disk_attach()))?;
            machine.expect("Lattice shell. Type `help` for the list of builtins.", STEP)?;
            machine.expect(PROMPT, STEP)?;
            machine.type_line("fsbuffer")?;
            cx.check(
                "attached",
                "the buffer is attached: 64 KiB from the session's donation",
                machine.expect("fsbuffer: attached a shared buffer of 65536 bytes", STEP),
            )?;
            cx.check(
                "round_trip",
                "100 000 bytes written and read back through the buffer are equal",
                machine.expect(
                    "fsbuffer: 100000 bytes written and read back through the buffer are equal",
                    STEP,
                ),
            )?;
            cx.check(
                "revoked_unmaps",
                "after its session is revoked, the program's next touch of the buffer is a page fault at the window",
                machine.expect("(fsbuffer) faulted: load page fault at 0x3fffc00000", STEP),
            )?;
            machine.expect(PROMPT, STEP)?;
            cx.check("status", "$? says it was killed by the fault (139)", {
                say(&mut machine, "echo status $?").and_then(|text| has(&text, "status 139"))
            })?;
            cx.check(
                "fs_serves_on",
                "the fs server goes on serving: ls /tmp answers, the file is gone",
                say(&mut machine, "ls /tmp").and_then(|text| lacks(&text, "fsbuffer.bin")),
            )?;
            machine.type_line("exit")?;
            machine.expect("root: shell exited with status 0", STEP)?;
            expect_status(&mut machine, exit_status::SUCCESS)
        },
    },
    SystemTest {
        name: "files.httpd_grant",
        about: "a program holding exactly httpd's grant (fs /www read) reads /www/index.html as the disk holds it and is refused /etc, /www/.., /WWW and every change in /www with Denied naming the grant, and a wider connection by the security server",
        system: "test-fs",
        run: httpd_grant,
    },
];

/// The page `test-fs` reads, as the system disk holds it (from the repo's tree).
const PAGE: &str = "image/disk/www/index.html";

fn httpd_grant(cx: &Context) -> Result<(), String> {
    let disk = cx.system_disk("system.img")?;
    let mut machine = cx.boot(|boot| boot.disk_as(&disk, system_disk_attach()))?;
    machine.expect("root: started test-fs", STEP)?;
    // FS0001 the session, FS0002-3 the page and /www, FS0004-6 reads outside the grant,
    // FS0007-10 changes in /www, FS0011 nothing changed, FS0012 the wider connection.
    cx.expect_checks(&machine, "test-fs", &[("FS", 13)])?;
    machine.expect("root: test-fs exited with status 0", STEP)?;
    expect_status(&mut machine, exit_status::SUCCESS)?;
    cx.check("no_panic", "nothing in the machine's output panicked", machine.refute("panic"))?;
    let transcript = machine.transcript();
    drop(machine);
    let page = std::fs::read(crate::build::workspace_root().join(PAGE))
        .map_err(|error| format!("{PAGE}: {error}"))?;
    let expected = format!("{} bytes, fnv1a64 {:#018x}", page.len(), fnv1a64(&page));
    cx.check(
        "page_as_on_disk",
        "the size and hash test-fs gives for /www/index.html are those of the repo's page the disk was made from",
        match page_line(&transcript) {
            Some(line) if line == expected => Ok(()),
            Some(line) => Err(format!("test-fs read {line:?}, the page is {expected:?}")),
            None => Err("test-fs printed no page line".into()),
        },
    )
    // The runner then checks the disk with fsck.fat -n: nothing wrote to it.
}

/// What `test-fs` printed after `test-fs: page /www/index.html: `.
fn page_line(transcript: &str) -> Option<&str> {
    transcript
        .lines()
        .find_map(|line| line.strip_prefix("test-fs: page /www/index.html: "))
        .map(str::trim_end)
}

/// 64-bit FNV-1a, as `apps/test-fs` computes it.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3))
}

/// Types `line` at the prompt (the last one seen) and returns what came up to the next.
fn say(machine: &mut Machine, line: &str) -> Result<String, String> {
    machine.type_line(line)?;
    machine.expect(PROMPT, STEP)
}

/// `text` holds `needle`.
fn has(text: &str, needle: &str) -> Result<(), String> {
    if text.contains(needle) { Ok(()) } else { Err(format!("expected {needle:?} in {text:?}")) }
}

/// `text` does not hold `needle`.
fn lacks(text: &str, needle: &str) -> Result<(), String> {
    if text.contains(needle) { Err(format!("did not expect {needle:?} in {text:?}")) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy::{Decision, DenyReason, Policy, Rights, Scope};

    fn compiled(file: &str) -> Policy {
        let path = crate::build::workspace_root().join(file);
        let source = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{file}: {error}"));
        let compiled = policy::compile(&source).unwrap_or_else(|errors| panic!("{file}: {errors}"));
        assert!(compiled.warnings.is_empty(), "{file}: {:?}", compiled.warnings);
        compiled.policy
    }

    /// What `policy` decides for `program` (at its own label) asking `service` for
    /// `rights`: the typed scope it would get, or the kind of refusal.
    fn decision(policy: &Policy, program: &str, service: &str, rights: &str) -> Result<Scope, String> {
        let id = policy.program_id(program).unwrap_or_else(|| panic!("{program} is not declared"));
        let label = policy.program(id).and_then(|declared| declared.label).expect("a fixed label");
        match policy.decide_named(program, label, service, Rights::parse(rights).expect("rights")) {
            Decision::Allow(allowed) => Ok(allowed.scope()),
            Decision::Deny(DenyReason::RightsNotGranted { missing, .. }) => {
                Err(format!("not granted: {missing}"))
            }
            Decision::Deny(DenyReason::FlowDenied { .. }) => Err("labels do not flow".into()),
            Decision::Deny(DenyReason::NoGrant { .. }) => Err("no grant".into()),
            Decision::Deny(other) => Err(format!("{other:?}")),
        }
    }

    /// The test system's policy gives `/bin/test-fs` exactly what the shipped policy gives
    /// `/bin/httpd` at the filesystem: the same label and, for every request, the same
    /// typed scope or the same kind of refusal. A change to httpd's grant in
    /// `policy/default.rhai` fails here until `image/systems/test-fs.rhai` follows, so
    /// `files.httpd_grant` cannot drift from what httpd holds.
    #[test]
    fn test_fs_holds_httpds_grant() {
        let shipped = compiled("policy/default.rhai");
        let test = compiled("image/systems/test-fs.rhai");
        let label = |policy: &Policy, program: &str| {
            let id = policy.program_id(program).expect("declared");
            policy
                .label_text(policy.program(id).and_then(|declared| declared.label).expect("labelled"))
                .to_string()
        };
        assert_eq!(label(&test, "/bin/test-fs"), label(&shipped, "/bin/httpd"));
        for rights in ["read", "write", "create", "delete", "read write", "read write create delete"] {
            let httpd = decision(&shipped, "/bin/httpd", "fs", rights);
            let ours = decision(&test, "/bin/test-fs", "fs", rights);
            assert_eq!(ours, httpd, "fs {rights}");
        }
        // The grant httpd's refusals name, as the fs server writes it (`test-fs`'s GRANT).
        assert_eq!(
            decision(&test, "/bin/test-fs", "fs", "read").map(|scope| scope.to_string()),
            Ok("fs /www read".into())
        );
        // And nothing else: test-fs may reach no other service.
        for service in ["console", "donor", "proc", "net", "security"] {
            assert!(decision(&test, "/bin/test-fs", service, "read").is_err(), "{service}");
        }
    }

    #[test]
    fn the_page_line_and_its_hash_are_read() {
        let transcript =
            "noise\ntest-fs: page /www/index.html: 408 bytes, fnv1a64 0x0123456789abcdef\r\nmore\n";
        assert_eq!(page_line(transcript), Some("408 bytes, fnv1a64 0x0123456789abcdef"));
        assert_eq!(page_line("test-fs: ok   FS0001 x\n"), None);
        // FNV-1a's published values.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
