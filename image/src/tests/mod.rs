//! `cargo xtask test`: lints, host tests, then system tests that boot QEMU.
//!
//! Every check counts in the final `N passed, N failed` line: each lint run, each host test
//! (as `cargo test` reports them), and each system test.
//!
//! A system test ([`SystemTest`]) has an id (`area.what`), a sentence saying what must hold,
//! and the system it boots (a manifest in `image/systems/`). The runner checks the table
//! (ids well formed and unique, every system real), builds each system the selected tests
//! need once, and hands each test a [`Context`]: the kernel image of its system, a fresh
//! scratch directory, `boot` (which remembers the FAT disks it attached), `check` (a
//! named check inside the test) and `program_checks` (the check lines an in-guest test
//! program prints, each recorded as a named check under its id). After the test returns
//! (its machine stopped), the runner runs `fsck.fat -n` on every FAT disk the test
//! attached. The tests live in one file per area beside this one.

mod blk;
mod boot;
mod console;
mod disks;
mod fault;
mod files;
mod harness;
mod kernel;
mod network;
mod proc;
mod runtime;
mod shell;
mod time;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kernel_abi::exit_status;

use crate::build::{self, KERNEL_TARGET, USER_TARGET, cargo};
use crate::check_lines::{Expected, Reading};
use crate::qemu::{self, Boot, Disk};
use crate::systest::{self, Machine, NextLine, take_last_transcript};

/// Host crates: tested with `cargo test`, linted for the host.
const HOST_PACKAGES: &[&str] = &[
    "kernel-abi",
    "kernel-core",
    "userlib",
    "checks",
    "security-api",
    "security-server",
    "proc-api",
    "console-api",
    "console",
    "donor-api",
    "donor",
    "fs-api",
    "fs",
    "net-api",
    "net",
    "fsutil",
    "coreutils",
    "kit",
    "virtio",
    "proc",
    "grant",
    "policy",
    "shell",
    "image",
];
/// User-level library crates, linted for the RISC-V user target along with the program
/// packages the build compiles ([`build::USER_PACKAGES`]).
const USER_LIBRARIES: &[&str] = &[
    "userlib",
    "checks",
    "kit",
    "virtio",
    "grant",
    "security-api",
    "security-server",
    "proc-api",
    "console-api",
    "donor-api",
    "fs-api",
    "fs",
    "net-api",
    "fsutil",
];

/// How long a boot may take to reach a line (QEMU under TCG on a loaded 2-core machine).
pub const STEP: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
    failures: Vec<String>,
}

impl Tally {
    fn record(&mut self, name: &str, result: Result<(), String>) {
        match result {
            Ok(()) => self.passed += 1,
            Err(message) => {
                self.failed += 1;
                self.failures.push(format!("{name}: {message}"));
            }
        }
    }
}

/// The outcome of one named check.
type CheckResult = (String, Result<(), String>);

/// Runs clippy with the workspace lints on host and target crates (warnings are errors).
/// Returns one result per run.
pub fn lint() -> Result<Vec<CheckResult>, String> {
    let mut results = Vec::new();
    let mut host = cargo();
    host.args(["clippy", "--quiet", "--all-targets"]);
    for package in HOST_PACKAGES {
        host.args(["-p", package]);
    }
    host.args(["--", "-D", "warnings"]);
    results.push(("lint.host".to_string(), build::run_checked(&mut host, "clippy (host crates)")));

    let mut user = cargo();
    user.args(["clippy", "--quiet", "--release", "--target", USER_TARGET]);
    for package in USER_LIBRARIES.iter().chain(build::USER_PACKAGES) {
        user.args(["-p", package]);
    }
    user.args(["--", "-D", "warnings"]);
    results.push(("lint.user".to_string(), build::run_checked(&mut user, "clippy (user programs)")));

    let mut kernel = cargo();
    kernel.args([
        "clippy",
        "--quiet",
        "--release",
        "--target",
        KERNEL_TARGET,
        "-p",
        "kernel",
        "--",
        "-D",
        "warnings",
    ]);
    results.push(("lint.kernel".to_string(), build::run_checked(&mut kernel, "clippy (kernel)")));

    let failed: Vec<_> =
        results.iter().filter(|(_, result)| result.is_err()).map(|(name, _)| name.clone()).collect();
    if failed.is_empty() {
        println!("lints: clean");
    } else {
        println!("lints: {} failed", failed.join(", "));
    }
    Ok(results)
}

/// Runs `cargo test` on the host crates; returns (passed, failed, failure names).
fn host_tests() -> Result<(usize, usize, Vec<String>), String> {
    let mut command = cargo();
    command.args(["test", "--no-fail-fast"]);
    for package in HOST_PACKAGES {
        command.args(["-p", package]);
    }
    let output = command.output().map_err(|error| format!("cannot run cargo test: {error}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let (mut passed, mut failed, mut names) = (0, 0, Vec::new());
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("test result: ") {
            // "ok. 12 passed; 0 failed; 0 ignored; ..."
            for part in rest.split(';') {
                let mut words = part.split_whitespace().rev();
                let (Some(kind), Some(count)) = (words.next(), words.next()) else { continue };
                let count: usize = count.parse().unwrap_or(0);
                match kind {
                    "passed" => passed += count,
                    "failed" => failed += count,
                    _ => {}
                }
            }
        } else if line.starts_with("test ") && line.ends_with(" FAILED") {
            names.push(line.trim_start_matches("test ").trim_end_matches(" ... FAILED").to_string());
        }
    }
    if !output.status.success() && failed == 0 {
        // Did not even build: show why, and count it as one failure.
        eprintln!("{stderr}");
        return Ok((passed, 1, vec!["host tests did not build".into()]));
    }
    if failed > 0 {
        println!("{stdout}");
    }
    Ok((passed, failed, names))
}

/// One system test: a boot of QEMU and what must be seen.
pub struct SystemTest {
    /// A stable id, `area.what` (lower case, digits and `_`).
    pub name: &'static str,
    /// One sentence saying what must hold.
    pub about: &'static str,
    /// The system it boots: a manifest in `image/systems/` (`virt`, `test-console`, ...).
    pub system: &'static str,
    /// Boots and checks.
    pub run: fn(&Context) -> Result<(), String>,
}

/// Every system test, in the order they run.
pub fn all_tests() -> Vec<&'static SystemTest> {
    [
        boot::TESTS,
        shell::TESTS,
        time::TESTS,
        files::TESTS,
        network::TESTS,
        disks::TESTS,
        fault::TESTS,
        kernel::TESTS,
        runtime::TESTS,
        proc::TESTS,
        console::TESTS,
        blk::TESTS,
        harness::TESTS,
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Whether `id` is lower case letters, digits and `_`, and not empty.
fn is_word(id: &str) -> bool {
    !id.is_empty()
        && id.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
}

/// The manifest of `system`.
fn manifest_path(system: &str) -> PathBuf {
    build::workspace_root().join("image").join("systems").join(format!("{system}.toml"))
}

/// Checks the table: ids `area.what` and unique, a sentence each, every system a manifest
/// that loads.
pub fn check_table(tests: &[&SystemTest]) -> Result<(), String> {
    let mut problems = Vec::new();
    for (index, test) in tests.iter().enumerate() {
        match test.name.split_once('.') {
            Some((area, what)) if is_word(area) && is_word(what) => {}
            _ => problems.push(format!("`{}` is not an id of the form area.what", test.name)),
        }
        if tests[..index].iter().any(|earlier| earlier.name == test.name) {
            problems.push(format!("`{}` names two tests", test.name));
        }
        let about = test.about.trim();
        if about.is_empty() || about.ends_with('.') || about != test.about {
            problems.push(format!("`{}` needs one sentence, trimmed, with no closing full stop", test.name));
        }
        if !is_word(&test.system.replace('-', "_")) {
            problems.push(format!("`{}` boots `{}`, which is not a system name", test.name, test.system));
        } else if let Err(error) = crate::manifest::load(&manifest_path(test.system), build::PROGRAMS) {
            problems.push(format!("`{}` boots system `{}`: {error}", test.name, test.system));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(format!("the system test table: {}", problems.join("; "))) }
}

/// The outcome of one named check inside a system test.
struct Check {
    id: String,
    sentence: String,
    result: Result<(), String>,
}

/// What a running system test has: its system's kernel image, a fresh scratch directory,
/// and the record of its named checks and attached disks.
pub struct Context {
    qemu: PathBuf,
    kernel: PathBuf,
    scratch: PathBuf,
    disks: RefCell<Vec<Disk>>,
    checks: RefCell<Vec<Check>>,
}

impl Context {
    /// A context for a test of `kernel`; `scratch` is emptied and made.
    fn new(qemu: &Path, kernel: &Path, scratch: PathBuf) -> Result<Self, String> {
        if scratch.exists() {
            std::fs::remove_dir_all(&scratch)
                .map_err(|error| format!("empty {}: {error}", scratch.display()))?;
        }
        std::fs::create_dir_all(&scratch)
            .map_err(|error| format!("create {}: {error}", scratch.display()))?;
        Ok(Self {
            qemu: qemu.to_path_buf(),
            kernel: kernel.to_path_buf(),
            scratch,
            disks: RefCell::new(Vec::new()),
            checks: RefCell::new(Vec::new()),
        })
    }

    /// A path in the test's own scratch directory (`target/systest/NAME/`, emptied before
    /// the test): disk images and other files made for this run.
    pub fn scratch(&self, file: &str) -> PathBuf {
        self.scratch.join(file)
    }

    /// A fresh system disk in the test's scratch directory, as `cargo xtask run` makes it
    /// (`/bin`, `/etc/policy`, `/www`, `/home/user`, `/tmp`, `/var`); attach it with
    /// [`system_disk_attach`] so the filesystem server finds it by its serial.
    pub fn system_disk(&self, file: &str) -> Result<crate::disk::Image, String> {
        self.system_disk_with(file, &[], &[])
    }

    /// [`Context::system_disk`] with the test's own files besides: `programs` in `/bin`
    /// (name, bytes) and `files` elsewhere (path without the leading `/`, bytes).
    pub fn system_disk_with(
        &self,
        file: &str,
        programs: &[(&str, &[u8])],
        files: &[(&str, &[u8])],
    ) -> Result<crate::disk::Image, String> {
        let mut contents = build::system_disk_contents()?;
        contents.programs.extend(programs.iter().map(|(name, bytes)| (name.to_string(), bytes.to_vec())));
        contents.tree.extend(files.iter().map(|(path, bytes)| (path.to_string(), bytes.to_vec())));
        let bytes = crate::system_disk::fresh(crate::system_disk::SIZE, &contents)?;
        let path = self.scratch(file);
        std::fs::write(&path, bytes).map_err(|error| format!("write {}: {error}", path.display()))?;
        Ok(crate::disk::Image::existing(&path, true))
    }

    /// Boots the test's system, with `configure` adjusting the boot (memory, harts, kernel
    /// command line, disks, network). FAT disks it attaches are checked after the test.
    pub fn boot(&self, configure: impl FnOnce(Boot) -> Boot) -> Result<Machine, String> {
        let boot = configure(Boot::new(&self.kernel));
        self.disks.borrow_mut().extend(boot.disks().iter().filter(|disk| disk.fat).cloned());
        systest::boot(&self.qemu, boot, STEP)
    }

    /// Records a named check inside the test: `id` (lower case, digits, `_` for the
    /// harness's own checks; `AREA0001` for a program's, see [`Context::program_checks`];
    /// unique in the test), a sentence saying what holds, and the result. Returns the result
    /// (and its value) with the check named, so `?` ends the test at the first failed check.
    pub fn check<T>(&self, id: &str, sentence: &str, result: Result<T, String>) -> Result<T, String> {
        let mut checks = self.checks.borrow_mut();
        let result = if !is_word(id) && !checks::is_id(id) {
            Err(format!("`{id}` is not a check id (lower case, digits and _; or AREA0001)"))
        } else if checks.iter().any(|check| check.id == id) {
            Err(format!("check `{id}` is made twice"))
        } else {
            result
        };
        let verdict = result.as_ref().map(|_| ()).map_err(Clone::clone);
        checks.push(Check { id: id.to_string(), sentence: sentence.to_string(), result: verdict });
        result.map_err(|error| format!("check {id} ({sentence}): {error}"))
    }

    /// Runs one step of a test as the named check `id` (see [`Context::check`]): what `run`
    /// returns is recorded, and handed back with the check named.
    pub fn step<T>(
        &self,
        id: &str,
        sentence: &str,
        run: impl FnOnce() -> Result<T, String>,
    ) -> Result<T, String> {
        self.check(id, sentence, run())
    }

    /// A reader of the check lines `program` prints (`PROGRAM: ok   ID sentence`, see the
    /// `checks` crate), expecting the ids of `expected` (`&[("PROC", 7)]`: `PROC0001` to
    /// `PROC0007`). It reads the machine's whole transcript from the start, apart from what
    /// `expect` matches, and records each line as a named check under its id.
    pub fn program_checks(&self, program: &str, expected: Expected<'_>) -> Result<ProgramChecks<'_>, String> {
        Ok(ProgramChecks {
            context: self,
            reading: Reading::new(program, expected)?,
            offset: 0,
            deadline: None,
        })
    }

    /// Reads `program`'s check lines on `machine` to its summary (see
    /// [`ProgramChecks::finish`]).
    pub fn expect_checks(
        &self,
        machine: &Machine,
        program: &str,
        expected: Expected<'_>,
    ) -> Result<(), String> {
        self.program_checks(program, expected)?.finish(machine)
    }
}

/// One program's check lines, read from a machine's console and recorded as named checks.
/// Each wait for the next check line has a deadline of [`STEP`], so a program that stops
/// reporting fails the test in bounded time.
#[must_use = "a program's checks are verified by `until` and `finish`"]
pub struct ProgramChecks<'c> {
    context: &'c Context,
    reading: Reading,
    /// Where the next line starts in the transcript.
    offset: usize,
    /// When the next check line must have come: [`STEP`] after the first read and after
    /// each check line (other lines do not move it).
    deadline: Option<Instant>,
}

impl ProgramChecks<'_> {
    /// Reads check lines until the program has reported `id`, recording each; fails at the
    /// first failed one, at a malformed line, or if the summary comes first.
    pub fn until(&mut self, machine: &Machine, id: &str) -> Result<(), String> {
        let program = self.reading.program().to_string();
        if !self.reading.expects(id) {
            return Err(format!("the test waits for {id}, which it does not expect of {program}"));
        }
        while !self.reading.has_reported(id) {
            if self.reading.summarised() {
                return Err(format!("{program} printed its summary without reporting {id}"));
            }
            if let Some(error) = self.next(machine)? {
                return Err(error);
            }
        }
        Ok(())
    }

    /// Reads check lines to the program's summary, recording each, then records every
    /// expected id it never reported as a failed check. Fails on any failed check, an
    /// unexpected id, a malformed line, an id twice, a summary that does not count the lines
    /// before it, or no summary before the machine stops or the deadline.
    pub fn finish(mut self, machine: &Machine) -> Result<(), String> {
        let mut failure = None;
        while !self.reading.summarised() {
            match self.next(machine) {
                Ok(None) => {}
                Ok(Some(error)) => {
                    failure.get_or_insert(error);
                }
                Err(error) => {
                    return Err(failure.map_or(error.clone(), |failed| format!("{failed}; then {error}")));
                }
            }
        }
        let program = self.reading.program().to_string();
        for id in self.reading.missing() {
            let missing = self.context.check(
                &id,
                &format!("reported by {program}"),
                Err::<(), _>(format!("{program} printed its summary without it")),
            );
            if let Err(error) = missing {
                failure.get_or_insert(error);
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// Reads the next line; records it if it is a check line. `Ok(Some(error))` for a failed
    /// check (recorded), `Err` when reading cannot go on.
    fn next(&mut self, machine: &Machine) -> Result<Option<String>, String> {
        let program = self.reading.program().to_string();
        let deadline = *self.deadline.get_or_insert_with(|| Instant::now() + STEP);
        match machine.line_at(self.offset, deadline) {
            NextLine::Line(line, next) => {
                self.offset = next;
                let Some(taken) = self.reading.take(&line)? else { return Ok(None) };
                self.deadline = Some(Instant::now() + STEP);
                Ok(self.context.check(&taken.id, &taken.sentence, taken.result).err())
            }
            NextLine::Stopped => Err(format!(
                "the machine stopped before {program} printed its summary (`N checks, M failed`)"
            )),
            NextLine::Deadline => Err(format!("{program} printed no check line and no summary for {STEP:?}")),
        }
    }
}

/// Waits for the machine to power off and checks its exit status.
pub fn expect_status(machine: &mut Machine, expected: u16) -> Result<(), String> {
    let status = machine.expect_exit(STEP)?;
    if status == i32::from(expected) {
        Ok(())
    } else {
        Err(format!("machine exit status {status} ({}), expected {expected}", qemu::explain_status(status)))
    }
}

/// How a test attaches a system disk: as `cargo xtask run` does, with the serial the
/// filesystem server looks for.
pub fn system_disk_attach() -> crate::qemu::Attach {
    crate::qemu::Attach::serial("lattice-system")
}

/// The shell's prompt.
pub const PROMPT: &str = "lattice$ ";

/// Leaves the default system's shell, which powers the machine off with status 0.
fn exit_shell(machine: &mut Machine) -> Result<(), String> {
    machine.expect(PROMPT, STEP)?;
    machine.type_line("exit")?;
    expect_status(machine, exit_status::SUCCESS)
}

/// Sets `lattice.boot=programs` on the kernel command line.
pub fn boot_list(programs: &str) -> impl FnOnce(Boot) -> Boot {
    let bootargs = format!("lattice.boot={programs}");
    move |boot| boot.bootargs(Some(bootargs))
}

/// The runner's check, after the machine stopped, of a FAT disk the test attached.
fn check_disk(context: &Context, index: usize, disk: &Disk) -> Result<(), String> {
    let sentence =
        format!("fsck.fat -n finds no problem in {} after the machine stopped", disk.path.display());
    context.check(&format!("fsck_disk{index}"), &sentence, crate::disk::check_fat(&disk.path).map(|_| ()))
}

fn system_tests(filter: Option<&str>, tally: &mut Tally) -> Result<(), String> {
    let all = all_tests();
    check_table(&all)?;
    let qemu = qemu::ensure_installed()?;
    let selected: Vec<_> =
        all.into_iter().filter(|test| filter.is_none_or(|f| test.name.contains(f))).collect();
    // Each system once, in the order the tests first need it.
    let mut kernels: Vec<(&str, PathBuf)> = Vec::new();
    for test in &selected {
        if !kernels.iter().any(|(system, _)| *system == test.system) {
            println!("building system `{}`", test.system);
            kernels.push((test.system, build::build_system(test.system)?.kernel_image));
        }
    }
    println!("system tests: {} in QEMU ({})", selected.len(), qemu.display());
    let scratch_root = build::workspace_root().join("target").join("systest");
    for test in selected {
        let kernel = kernels.iter().find(|(system, _)| *system == test.system).map(|(_, kernel)| kernel);
        let kernel = kernel.ok_or_else(|| format!("no kernel image built for {}", test.system))?;
        let started = Instant::now();
        let context = Context::new(&qemu, kernel, scratch_root.join(test.name))?;
        let mut result = (test.run)(&context);
        // The test's machines have stopped (a `Machine` kills and waits for QEMU when it is
        // dropped): check the disks they wrote.
        let disks = context.disks.borrow().clone();
        for (index, disk) in disks.iter().enumerate() {
            let checked = check_disk(&context, index, disk);
            if result.is_ok() {
                result = checked;
            }
        }
        let seconds = started.elapsed().as_secs_f32();
        let transcript = take_last_transcript();
        let verdict = if result.is_ok() { "ok  " } else { "FAIL" };
        println!("  {verdict}  {:<32} {:>5.1} s  {}", test.name, seconds, test.about);
        for check in context.checks.borrow().iter() {
            let verdict = if check.result.is_ok() { "ok  " } else { "FAIL" };
            println!("          {verdict}  {:<22} {}", check.id, check.sentence);
        }
        if let Err(message) = &result {
            println!("        {message}");
            println!("        last console output:");
            let lines: Vec<&str> = transcript.lines().collect();
            for line in &lines[lines.len().saturating_sub(40)..] {
                println!("        | {line}");
            }
        }
        tally.record(test.name, result);
    }
    Ok(())
}

/// Runs everything; `filter` keeps only the system tests whose name contains it (lints and
/// host tests then are skipped).
pub fn run_all(filter: Option<&str>) -> Result<(), String> {
    // Every host program the tests use, installed (or asked for) before the first build.
    crate::setup::ensure_host_tools(crate::setup::TEST_TOOLS)?;
    let mut tally = Tally::default();
    if filter.is_none() {
        println!("== lints");
        for (name, result) in lint()? {
            tally.record(&name, result);
        }
        println!("== host tests");
        let (passed, failed, names) = host_tests()?;
        println!("host tests: {passed} passed, {failed} failed");
        tally.passed += passed;
        tally.failed += failed;
        tally.failures.extend(names.into_iter().map(|name| format!("host test {name}")));
    }
    println!("== system tests");
    if let Err(message) = system_tests(filter, &mut tally) {
        tally.record("system tests", Err(message));
    }
    if !tally.failures.is_empty() {
        println!("failures:");
        for failure in &tally.failures {
            println!("  {failure}");
        }
    }
    println!("{} passed, {} failed", tally.passed, tally.failed);
    if tally.failed == 0 { Ok(()) } else { Err(format!("{} checks failed", tally.failed)) }
}

#[cfg(test)]
mod table {
    //! The runner's own pieces: the test table and named checks.
    use super::*;

    fn never(_: &Context) -> Result<(), String> {
        Err("not run".into())
    }

    #[test]
    fn the_table_has_unique_ids_sentences_and_real_systems() {
        let all = all_tests();
        check_table(&all).unwrap();
        assert!(all.len() >= 19, "{} tests", all.len());
        for system in ["virt", "test-proc", "test-console"] {
            assert!(all.iter().any(|test| test.system == system), "no test boots {system}");
        }
        // Disks and networks are demonstrated by a test each.
        assert!(all.iter().any(|test| test.name == "harness.disk_attached"));
        assert!(all.iter().any(|test| test.name == "harness.net_forward"));
    }

    #[test]
    fn a_bad_table_is_refused_naming_the_test() {
        let good = SystemTest { name: "boot.fine", about: "a sentence", system: "virt", run: never };
        let twice = SystemTest { name: "boot.fine", about: "again", system: "virt", run: never };
        let shapeless = SystemTest { name: "Boot-Fine", about: "a sentence", system: "virt", run: never };
        let unsaid = SystemTest { name: "boot.unsaid", about: "", system: "virt", run: never };
        let stopped = SystemTest { name: "boot.stopped", about: "a sentence.", system: "virt", run: never };
        let nowhere =
            SystemTest { name: "boot.nowhere", about: "a sentence", system: "no-such-system", run: never };
        let escape = SystemTest { name: "boot.escape", about: "a sentence", system: "../virt", run: never };
        check_table(&[&good]).unwrap();
        for (tests, needle) in [
            (vec![&good, &twice], "`boot.fine` names two tests"),
            (vec![&shapeless], "`Boot-Fine` is not an id"),
            (vec![&unsaid], "`boot.unsaid` needs one sentence"),
            (vec![&stopped], "`boot.stopped` needs one sentence"),
            (vec![&nowhere], "`boot.nowhere` boots system `no-such-system`"),
            (vec![&escape], "`boot.escape` boots `../virt`, which is not a system name"),
        ] {
            let error = check_table(&tests).unwrap_err();
            assert!(error.contains(needle), "{error}");
        }
    }

    #[test]
    fn checks_are_named_recorded_and_unique() {
        let scratch = std::env::temp_dir().join(format!("lattice-context-{}", std::process::id()));
        std::fs::create_dir_all(scratch.join("old")).unwrap();
        let context = Context::new(Path::new("qemu"), Path::new("kernel.bin"), scratch.clone()).unwrap();
        assert!(!scratch.join("old").exists(), "the scratch directory starts empty");
        assert_eq!(context.scratch("disk.img"), scratch.join("disk.img"));
        assert_eq!(context.check("first", "the first holds", Ok(())), Ok(()));
        let failed =
            context.check("second", "the second holds", Err::<(), _>("it does not".into())).unwrap_err();
        assert_eq!(failed, "check second (the second holds): it does not");
        assert!(context.check("first", "again", Ok(())).unwrap_err().contains("made twice"));
        assert!(context.check("Not An Id", "no", Ok(())).unwrap_err().contains("is not a check id"));
        // A program's id, and a check that hands its value on.
        assert_eq!(context.check("PROC0001", "a program's check", Ok(7)), Ok(7));
        let checks = context.checks.borrow();
        let recorded: Vec<(&str, bool)> =
            checks.iter().map(|check| (check.id.as_str(), check.result.is_ok())).collect();
        assert_eq!(
            recorded,
            [("first", true), ("second", false), ("first", false), ("Not An Id", false), ("PROC0001", true)]
        );
        std::fs::remove_dir_all(&scratch).unwrap();
    }

    /// A context in a scratch directory of its own, and a shell script standing in for a
    /// machine that prints `lines`.
    fn program(name: &str, script: &str) -> (Context, Machine, PathBuf) {
        use std::process::{Command, Stdio};
        let scratch = std::env::temp_dir().join(format!("lattice-{name}-{}", std::process::id()));
        let context = Context::new(Path::new("qemu"), Path::new("kernel.bin"), scratch.clone()).unwrap();
        let mut command = Command::new("sh");
        command.args(["-c", script]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        (context, Machine::start(command).unwrap(), scratch)
    }

    fn recorded(context: &Context) -> Vec<(String, bool)> {
        context.checks.borrow().iter().map(|check| (check.id.clone(), check.result.is_ok())).collect()
    }

    #[test]
    fn a_programs_check_lines_become_named_checks() {
        let (context, mut machine, scratch) = program(
            "checks-pass",
            "echo 'p: starting'; echo 'p: ok   P0001 one'; echo 'p: waiting'; head -c 2 >/dev/null; \
             echo 'noise'; echo 'p: ok   P0002 two'; echo 'p: 2 checks, 0 failed'",
        );
        let mut checks = context.program_checks("p", &[("P", 2)]).unwrap();
        checks.until(&machine, "P0001").unwrap();
        // The test's own waits go on beside the reader.
        machine.expect("p: starting", STEP).unwrap();
        machine.expect("p: waiting", STEP).unwrap();
        machine.type_line("k").unwrap();
        checks.finish(&machine).unwrap();
        assert_eq!(recorded(&context), [("P0001".into(), true), ("P0002".into(), true)]);
        assert_eq!(context.checks.borrow()[1].sentence, "two");
        std::fs::remove_dir_all(&scratch).unwrap();
    }

    #[test]
    fn failed_missing_and_unsummarised_checks_fail_the_test() {
        let (context, machine, scratch) =
            program("checks-fail", "echo 'p: FAIL P0001 one -- got 3'; echo 'p: ok   P0002 two'; exit 1");
        let error = context.expect_checks(&machine, "p", &[("P", 2)]).unwrap_err();
        assert!(error.contains("check P0001 (one): p says: got 3"), "{error}");
        assert!(error.contains("the machine stopped before p printed its summary"), "{error}");
        assert_eq!(recorded(&context), [("P0001".into(), false), ("P0002".into(), true)]);
        std::fs::remove_dir_all(&scratch).unwrap();

        let (context, machine, scratch) =
            program("checks-missing", "echo 'p: ok   P0001 one'; echo 'p: 1 checks, 0 failed'");
        let error = context.expect_checks(&machine, "p", &[("P", 2)]).unwrap_err();
        assert!(error.contains("check P0002 (reported by p): p printed its summary without it"), "{error}");
        assert_eq!(recorded(&context), [("P0001".into(), true), ("P0002".into(), false)]);
        std::fs::remove_dir_all(&scratch).unwrap();

        let (context, machine, scratch) =
            program("checks-until", "echo 'p: ok   P0001 one'; echo 'p: 1 checks, 0 failed'; read never");
        let mut checks = context.program_checks("p", &[("P", 2)]).unwrap();
        let error = checks.until(&machine, "P0002").unwrap_err();
        assert!(error.contains("p printed its summary without reporting P0002"), "{error}");
        assert!(checks.until(&machine, "Q0001").unwrap_err().contains("does not expect"));
        std::fs::remove_dir_all(&scratch).unwrap();

        let (context, machine, scratch) =
            program("checks-twice", "echo 'p: ok   P0001 one'; echo 'p: ok   P0001 one'");
        let error = context.expect_checks(&machine, "p", &[("P", 1)]).unwrap_err();
        assert!(error.contains("p reported P0001 twice"), "{error}");
        std::fs::remove_dir_all(&scratch).unwrap();
    }
}
