//! `cargo xtask`: the one entry point for building, running, testing and measuring Lattice.
//!
//! ```text
//! cargo xtask build [--fresh-disk]  build the kernel, the boot archive, every program and the
//!                                   system disk (target/lattice/disk.img)
//! cargo xtask run [--boot a,b] [--fresh-disk]
//!                                   build, then boot QEMU virt with the system disk and
//!                                   user networking (127.0.0.1:8080 to the guest's port 80,
//!                                   127.0.0.1:8007 to its tcp and udp port 7)
//! cargo xtask test [FILTER]         lints, host tests, then system tests in QEMU
//! cargo xtask clippy                lints only
//! cargo xtask bench                 benchmarks (instruction counts), target/bench/results.json
//! cargo xtask policy check FILE     check a policy script
//! cargo xtask policy diff OLD NEW [CONNECTIONS]
//! cargo xtask policy sample OLD
//! ```

mod bench;
mod build;
mod check_lines;
mod disk;
mod flat;
mod host;
mod manifest;
mod net;
mod policy_cmd;
mod qemu;
mod setup;
mod system_disk;
mod systest;
mod tests;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  build [--system NAME] [--fresh-disk]
                                 build the kernel, the boot archive and every program for the
                                 system image/systems/NAME.toml (default: virt), and make or
                                 refresh the system disk target/lattice/disk.img (/bin and
                                 /etc written again, a person's files kept; --fresh-disk
                                 starts from a new one)
  run [--system NAME] [--boot a,b,...] [--fresh-disk] [-- QEMU ARGS]
                                 build, then boot QEMU virt into the root task with the
                                 system disk (virtio-blk) and user networking (restrict=on,
                                 127.0.0.1:8080 forwarded to the guest's port 80, 8007 to
                                 its tcp and udp port 7)
                                 (--boot picks the boot programs, from the system's
                                 archive; the first is the root task: `--system bare
                                 --boot test-kernel` for the programs tests boot so)
  test [FILTER]                  lints, host tests, then system tests in QEMU; FILTER keeps
                                 only system tests whose name contains it
  clippy                         lints only (clippy with the workspace lints, -D warnings)
  bench                          kernel benchmarks under QEMU -icount (exact instruction
                                 counts); writes target/bench/results.json
  policy check FILE              check a policy script and summarise it
  policy diff OLD NEW [CONNS]    what replacing policy OLD with NEW does to live connections
  policy sample OLD              the connection list `diff` assumes when CONNS is omitted";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Targets and components first: without them nothing builds (`can't find crate for core`).
    let needs_toolchain =
        matches!(args.first().map(String::as_str), Some("build" | "run" | "test" | "clippy" | "bench"));
    if needs_toolchain && let Err(message) = setup::ensure_toolchain(&build::workspace_root()) {
        eprintln!("error: {message}");
        return ExitCode::FAILURE;
    }
    let result = match args.first().map(String::as_str) {
        Some("build") => build_options(&args[1..]).and_then(|(system, fresh)| {
            let output = build::build_system(&system)?;
            println!("kernel image: {}", output.kernel_image.display());
            println!("boot archive: {} ({} programs)", output.archive.display(), output.programs.len());
            prepare_disk(fresh).map(|_| ())
        }),
        Some("run") => run(&args[1..]),
        Some("test") => tests::run_all(args.get(1).map(String::as_str)),
        Some("clippy") => tests::lint().map(|_| ()),
        Some("bench") => bench::run(),
        Some("policy") => policy_cmd::run(&args[1..]),
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{USAGE}")),
        None => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `build`'s options: `--system NAME` (a manifest in image/systems; the default system
/// without it) and `--fresh-disk`.
fn build_options(args: &[String]) -> Result<(String, bool), String> {
    let mut system = build::DEFAULT_SYSTEM.to_string();
    let mut fresh = false;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--system" => {
                system =
                    rest.next().ok_or("--system needs a manifest name (image/systems/NAME.toml)")?.clone()
            }
            "--fresh-disk" => fresh = true,
            _ => return Err(format!("usage: cargo xtask build [--system NAME] [--fresh-disk]\n\n{USAGE}")),
        }
    }
    Ok((system, fresh))
}

/// Makes or refreshes the system disk, saying which.
fn prepare_disk(fresh: bool) -> Result<std::path::PathBuf, String> {
    let (path, prepared) = build::system_disk(fresh)?;
    match prepared {
        system_disk::Prepared::Fresh => println!("system disk: {} (new)", path.display()),
        system_disk::Prepared::Refreshed { dirty } => {
            println!("system disk: {} (/bin and /etc refreshed, the rest kept)", path.display());
            if dirty {
                println!(
                    "system disk: the volume is marked dirty (the machine stopped without unmounting it); \
                     the filesystem server checks it when it mounts"
                );
            }
        }
    }
    Ok(path)
}

/// The host port `run` forwards to the guest's port 80 (DESIGN.md §7).
const RUN_HTTP_PORT: u16 = 8080;
/// The host port `run` forwards to the guest's port 7 (echo), TCP and UDP.
const RUN_ECHO_PORT: u16 = 8007;

/// What `run` boots: `kernel`, the system disk `disk` (virtio-blk, serial
/// [`system_disk::SERIAL`]) and user networking with `restrict=on`, 127.0.0.1:8080
/// forwarded to the guest's port 80 and 127.0.0.1:8007 to its port 7 (TCP and UDP, for
/// `echod`); `boot` programs on the kernel command line.
fn run_boot(kernel: &std::path::Path, disk: &disk::Image, boot: Option<String>) -> qemu::Boot {
    let network = qemu::Network::user()
        .forward_from(qemu::Protocol::Tcp, RUN_HTTP_PORT, 80)
        .forward_from(qemu::Protocol::Tcp, RUN_ECHO_PORT, 7)
        .forward_from(qemu::Protocol::Udp, RUN_ECHO_PORT, 7);
    qemu::Boot::new(kernel)
        .bootargs(boot.map(|list| format!("lattice.boot={list}")))
        .disk_as(disk, qemu::Attach::serial(system_disk::SERIAL))
        .network(network)
}

fn run(args: &[String]) -> Result<(), String> {
    let mut boot = None;
    let mut system = build::DEFAULT_SYSTEM.to_string();
    let mut fresh = false;
    let mut extra = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--boot" => {
                boot = Some(rest.next().ok_or("--boot needs a comma-separated program list")?.clone())
            }
            "--system" => {
                system =
                    rest.next().ok_or("--system needs a manifest name (image/systems/NAME.toml)")?.clone()
            }
            "--fresh-disk" => fresh = true,
            "--" => extra.extend(rest.by_ref().cloned()),
            other => return Err(format!("unknown option `{other}` for run\n\n{USAGE}")),
        }
    }
    let qemu = qemu::ensure_installed()?;
    let output = build::build_system(&system)?;
    let disk = disk::Image::existing(&prepare_disk(fresh)?, true);
    let mut command = run_boot(&output.kernel_image, &disk, boot).command(&qemu, qemu::Console::Interactive);
    command.args(&extra);
    println!("booting: {}", qemu::describe(&command));
    println!(
        "(forwarded: 127.0.0.1:{RUN_HTTP_PORT} -> the guest's tcp 80, 127.0.0.1:{RUN_ECHO_PORT} -> \
         its tcp and udp 7 (start `echod &` at the prompt); quit QEMU with Ctrl-A then X; \
         your files stay on {} for the next run)",
        disk.path().display()
    );
    let status = command.status().map_err(|error| format!("cannot start QEMU: {error}"))?;
    match status.code() {
        Some(0) => Ok(()),
        Some(code) => {
            Err(format!("the machine powered off with status {code} ({})", qemu::explain_status(code)))
        }
        None => Err("QEMU was killed".into()),
    }
}

#[cfg(test)]
mod run_tests {
    //! What `run` boots and what `build` takes.
    use super::*;

    #[test]
    fn run_attaches_the_system_disk_and_restricted_networking_on_8080_and_8007() {
        let disk = disk::Image::existing(std::path::Path::new("/t/disk.img"), true);
        let boot = run_boot(std::path::Path::new("/k/kernel.bin"), &disk, None);
        let args: Vec<String> = boot
            .arguments(qemu::Console::Interactive)
            .iter()
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect();
        let after = |flag: &str| -> Vec<&str> {
            args.windows(2).filter(|pair| pair[0] == flag).map(|pair| pair[1].as_str()).collect()
        };
        assert_eq!(after("-drive"), ["file=/t/disk.img,format=raw,if=none,id=disk0"]);
        assert_eq!(
            after("-device"),
            ["virtio-blk-device,drive=disk0,serial=lattice-system", "virtio-net-device,netdev=net0"]
        );
        assert_eq!(
            after("-netdev"),
            ["user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=tcp:127.0.0.1:8007-:7,\
              hostfwd=udp:127.0.0.1:8007-:7"]
        );
        assert!(after("-append").is_empty());
        let boot = run_boot(std::path::Path::new("k"), &disk, Some("hello".into()));
        let args = boot.arguments(qemu::Console::Interactive);
        assert!(args.iter().any(|arg| arg == "lattice.boot=hello"));
    }

    #[test]
    fn build_takes_a_system_and_fresh_disk() {
        assert_eq!(build_options(&[]).unwrap(), ("virt".to_string(), false));
        let args = ["--fresh-disk", "--system", "test-blk"].map(String::from);
        assert_eq!(build_options(&args).unwrap(), ("test-blk".to_string(), true));
        assert!(build_options(&["--system".to_string()]).is_err());
        assert!(build_options(&["--fresh".to_string()]).is_err());
    }
}
