//! System tests of the process manager: `image/systems/test-proc.toml` runs `apps/test-proc`
//! against it (programs from the boot archive, no filesystem), and the default system loads
//! programs from the system disk, typed at the prompt as a person would.

use kernel_abi::exit_status;

use super::{Context, PROMPT, STEP, SystemTest, expect_status, system_disk_attach};
use crate::systest::Machine;

/// The proc tests, in the order they run.
pub const TESTS: &[SystemTest] = &[
    SystemTest {
        name: "proc.spawn_wait_kill",
        about: "the process manager spawns programs from the boot archive, reports faults and kills, and reclaims memory",
        system: "test-proc",
        run: |cx| {
            let mut machine = cx.boot(|boot| boot)?;
            machine.expect("root: started proc", STEP)?;
            // PROC0001..7: hello with arguments, a fault status, NoSuchProgram, a listed
            // program, Killed, a collected status gone, 40 programs in a row.
            cx.expect_checks(&machine, "test-proc", &[("PROC", 7)])?;
            machine.refute("kernel panic")?;
            Ok(())
        },
    },
    SystemTest {
        name: "proc.from_disk",
        about: "with the system disk the process manager loads hello and a file tool from /bin (the boot archive holds neither), a copy of hello in /home/user by its path and relative to the working directory; a text file is refused as not an executable and the shell goes on; a path the spawn grant does not name is refused; without a disk the shell still comes up and says why programs cannot be loaded",
        system: "virt",
        run: from_disk,
    },
    SystemTest {
        name: "proc.pages_on_touch",
        about: "a program's heap pages are made when it first touches them: it fills 200 KiB of its heap and reads it back whole, and a read just past the heap is a page fault, not a new page",
        system: "virt",
        run: |cx| {
            let disk = cx.system_disk("system.img")?;
            let machine = &mut cx.boot(|boot| boot.disk_as(&disk, system_disk_attach()))?;
            machine.expect("Lattice shell. Type `help` for the list of builtins.", STEP)?;
            machine.expect(PROMPT, STEP)?;
            cx.step("heap_whole", "200 KiB written over the heap's pages read back whole, status 0", || {
                has(
                    &say(machine, "heapcheck")?,
                    "heapcheck: 200 KiB of heap written and read back, sum 25598120",
                )?;
                has(&say(machine, "echo status $?")?, "status 0")
            })?;
            cx.step("past_the_heap", "a read past the heap faults there (status 139)", || {
                has(
                    &say(machine, "heapcheck past")?,
                    "(heapcheck) faulted: load page fault at 0x1000040000",
                )?;
                has(&say(machine, "echo status $?")?, "status 139")
            })?;
            machine.type_line("exit")?;
            machine.expect("root: shell exited with status 0", STEP)?;
            expect_status(machine, exit_status::SUCCESS)
        },
    },
];

/// A text file in the person's home, to be run by mistake.
const NOTES: &[u8] = b"Things to do: read the process manager's code.\n";

fn from_disk(cx: &Context) -> Result<(), String> {
    let disk = cx.system_disk_with("system.img", &[], &[("home/user/notes.txt", NOTES)])?;
    let machine = &mut cx.boot(|boot| boot.disk_as(&disk, system_disk_attach()))?;
    machine.expect("Lattice shell. Type `help` for the list of builtins.", STEP)?;
    machine.expect(PROMPT, STEP)?;
    cx.step("hello_from_bin", "hello runs from the disk's /bin with its arguments, status 0", || {
        has(&say(machine, "hello from the disk")?, "hello from the disk")?;
        has(&say(machine, "echo status $?")?, "status 0")
    })?;
    cx.step("tool_from_bin", "the file tools run from /bin: ls lists /bin, cat reads a file", || {
        let listing = say(machine, "ls /bin")?;
        has(&listing, "hello")?;
        has(&listing, "ls")?;
        has(&say(machine, "cat /home/user/notes.txt")?, "Things to do")
    })?;
    cx.step("copy_to_home", "cp copies /bin/hello to /home/user/tool", || {
        say(machine, "cp /bin/hello /home/user/tool")?;
        has(&say(machine, "echo status $?")?, "status 0")
    })?;
    cx.step("run_by_path", "the copy runs by its absolute path", || {
        has(&say(machine, "/home/user/tool by its path")?, "hello by its path")?;
        has(&say(machine, "echo status $?")?, "status 0")
    })?;
    cx.step("run_relative", "the copy runs by a path relative to the working directory", || {
        say(machine, "cd /home/user")?;
        has(&say(machine, "./tool relative")?, "hello relative")?;
        has(&say(machine, "../user/tool again")?, "hello again")
    })?;
    cx.step(
        "text_not_executable",
        "a text file run by path is refused as not an executable, with status 126",
        || {
            has(
                &say(machine, "./notes.txt")?,
                "lattice: cannot run ./notes.txt: not a valid executable: not an ELF file",
            )?;
            has(&say(machine, "echo status $?")?, "status 126")
        },
    )?;
    cx.step("goes_on", "the shell goes on: the next program runs", || {
        has(&say(machine, "hello after the refusal")?, "hello after the refusal")
    })?;
    cx.step("no_such_path", "a path with no file is no such program, with status 127", || {
        has(&say(machine, "/home/user/nothing")?, "lattice: no such program: /home/user/nothing")?;
        has(&say(machine, "echo status $?")?, "status 127")
    })?;
    cx.step(
        "outside_spawn_grant",
        "a file outside the shell's spawn grant is refused: permission denied",
        || {
            has(
                &say(machine, "/etc/policy/default.rhai")?,
                "lattice: cannot run /etc/policy/default.rhai: permission denied",
            )
        },
    )?;
    machine.type_line("exit 0")?;
    machine.expect("root: shell exited with status 0", STEP)?;
    expect_status(machine, exit_status::SUCCESS)?;
    // No disk: the boot archive holds the servers and the shell, so the prompt comes, and
    // what only the disk holds cannot be loaded, with the fs server's reason.
    let bare = &mut cx.boot(|boot| boot)?;
    cx.step("no_disk_prompt", "without a disk the shell still comes up", || {
        bare.expect("Lattice shell. Type `help` for the list of builtins.", STEP)?;
        bare.expect(PROMPT, STEP).map(|_| ())
    })?;
    cx.step(
        "no_disk_no_volume",
        "without a disk hello and ls cannot be read (no volume: no disk), and the shell goes on",
        || {
            has(
                &say(bare, "hello")?,
                "lattice: cannot run hello: cannot read the program: no volume: no disk",
            )?;
            has(&say(bare, "ls")?, "lattice: cannot run ls: cannot read the program: no volume: no disk")?;
            has(&say(bare, "echo still here")?, "still here")
        },
    )?;
    bare.type_line("exit 0")?;
    bare.expect("root: shell exited with status 0", STEP)?;
    expect_status(bare, exit_status::SUCCESS)
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
