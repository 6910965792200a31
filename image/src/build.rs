//! Building Lattice: user programs for rv64gc, the boot archive, the kernel for rv64imac
//! with the archive inside, and the flat kernel image QEMU and U-Boot load.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Target triple of user programs (they may use the FPU).
pub const USER_TARGET: &str = "riscv64gc-unknown-none-elf";
/// Target triple of the kernel (no FPU instructions, so it never touches user FP state).
pub const KERNEL_TARGET: &str = "riscv64imac-unknown-none-elf";
/// Packages that build user programs.
pub const USER_PACKAGES: &[&str] = &[
    "root",
    "hello",
    "test-isolation",
    "test-kernel",
    "test-fuzz",
    "test-irq",
    "test-runtime",
    "bench",
    "shell",
    "proc",
    "test-proc",
    "console",
    "test-console",
    "security-server",
    "donor",
    "sessions",
    "test-virtio",
    "test-blk",
    "test-fs",
    "coreutils",
    "fs",
    "net",
    "echod",
];
/// Every user program the image builder builds. A system's boot archive holds the root task,
/// the manifest's servers and what its `[system] archive` names
/// ([`crate::manifest::Manifest::archive_programs`]); the system disk's `/bin` holds all
/// of them but `root`. The kernel starts `root` unless the kernel command line says
/// `lattice.boot=...`.
pub const PROGRAMS: &[&str] = &[
    "root",
    "hello",
    "crash",
    "crash-kernel-read",
    "crash-illegal",
    "spin",
    "survivor",
    "test-kernel",
    "test-fuzz",
    "test-irq",
    "test-runtime",
    "bench",
    "proc",
    "test-proc",
    "console",
    "test-console",
    "shell",
    "bench-proc",
    "started",
    "security",
    "donor",
    "hold",
    "readline",
    "greedy",
    "forbidden",
    "fsbuffer",
    "heapcheck",
    "test-virtio",
    "sleep",
    "test-blk",
    "test-fs",
    "fs",
    "net",
    "echod",
    // The file tools (`coreutils::TOOLS`; a host test keeps the two lists together).
    "ls",
    "cat",
    "cp",
    "mv",
    "rm",
    "mkdir",
    "rmdir",
    "touch",
    "stat",
    "df",
    "sync",
];

/// A program file that looks like a program and is not: `hello` cut after 96 bytes, its
/// ELF header promising program headers that are not there. The process manager must
/// refuse it with a clear error (system test `shell.session` puts it in a disk's `/bin`).
pub fn broken_program() -> Result<Vec<u8>, String> {
    let path = workspace_root().join("target").join(USER_TARGET).join("release").join("hello");
    let hello = std::fs::read(&path).map_err(|error| format!("read {}: {error}", path.display()))?;
    Ok(hello[..hello.len().min(96)].to_vec())
}

/// What a build produced.
pub struct BuildOutput {
    /// The flat kernel image (Linux image header first), for QEMU `-kernel` and U-Boot `booti`.
    pub kernel_image: PathBuf,
    /// The boot archive packed into the kernel.
    pub archive: PathBuf,
    /// Names of the programs in the archive.
    pub programs: Vec<String>,
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("image/ lives in the workspace root").to_path_buf()
}

/// `cargo`, as the one running us (so the pinned toolchain is used).
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

/// Runs `command`, turning failure into an error that names `what`.
pub fn run_checked(command: &mut Command, what: &str) -> Result<(), String> {
    let status = command.status().map_err(|error| format!("{what}: cannot start: {error}"))?;
    if status.success() { Ok(()) } else { Err(format!("{what} failed ({status})")) }
}

/// Builds everything and returns where the results are.
pub fn build_all() -> Result<BuildOutput, String> {
    build_system(DEFAULT_SYSTEM)
}

/// The manifest `cargo xtask run` and most system tests boot.
pub const DEFAULT_SYSTEM: &str = "virt";

/// Builds everything for the system manifest `image/systems/<system>.toml`. The default
/// system's image is `target/lattice/kernel.bin`; another's is
/// `target/lattice/<system>/kernel.bin` (tests boot those).
pub fn build_system(system: &str) -> Result<BuildOutput, String> {
    let root = workspace_root();
    let mut out_dir = root.join("target").join("lattice");
    if system != DEFAULT_SYSTEM {
        out_dir = out_dir.join(system);
    }
    std::fs::create_dir_all(&out_dir).map_err(|error| format!("create {}: {error}", out_dir.display()))?;

    println!("[1/3] building user programs ({USER_TARGET})");
    let mut command = cargo();
    command.args(["build", "--release", "--target", USER_TARGET]);
    for package in USER_PACKAGES {
        command.args(["-p", package]);
    }
    run_checked(&mut command, "building user programs")?;

    let user_dir = root.join("target").join(USER_TARGET).join("release");
    let manifest_path = root.join("image").join("systems").join(format!("{system}.toml"));
    let manifest = crate::manifest::load(&manifest_path, PROGRAMS)?;
    println!(
        "      manifest `{}` ({}): {} servers",
        manifest.system.name,
        manifest_path.display(),
        manifest.servers.len()
    );
    let programs: Vec<String> = manifest.archive_programs().into_iter().map(String::from).collect();
    let mut files = Vec::new();
    for name in &programs {
        let path = user_dir.join(name);
        let bytes = std::fs::read(&path).map_err(|error| format!("read {}: {error}", path.display()))?;
        files.push((name.as_str(), bytes));
    }
    files.push(("manifest", crate::manifest::encode(&manifest)));
    if let Some(policy) = &manifest.system.policy {
        let path = root.join(policy);
        let source =
            std::fs::read_to_string(&path).map_err(|error| format!("read {}: {error}", path.display()))?;
        let compiled = policy::compile(&source)
            .map_err(|errors| format!("the system policy {}: {errors}", path.display()))?;
        println!("      policy {policy}: {}", compiled.policy.content_hash_hex());
        files.push(("policy", compiled.policy.to_bytes()));
    }
    let entries: Vec<(&str, &[u8])> = files.iter().map(|(name, bytes)| (*name, bytes.as_slice())).collect();
    let archive_bytes = kernel_abi::bootarchive::writer::build(&entries)
        .map_err(|error| format!("packing the boot archive: {error:?}"))?;
    let archive = out_dir.join("boot-archive.bin");
    write_if_changed(&archive, &archive_bytes)?;
    println!("      boot archive: {} programs, {} KiB", entries.len(), archive_bytes.len() / 1024);

    println!("[2/3] building the kernel ({KERNEL_TARGET})");
    let mut command = cargo();
    command
        .args(["build", "--release", "--target", KERNEL_TARGET, "-p", "kernel"])
        .env("LATTICE_BOOT_ARCHIVE", &archive);
    run_checked(&mut command, "building the kernel")?;

    println!("[3/3] writing the flat kernel image");
    let elf_path = root.join("target").join(KERNEL_TARGET).join("release").join("kernel");
    let elf = std::fs::read(&elf_path).map_err(|error| format!("read {}: {error}", elf_path.display()))?;
    let image = crate::flat::flatten(&elf)?;
    let kernel_image = out_dir.join("kernel.bin");
    write_if_changed(&kernel_image, &image.bytes)?;
    println!(
        "      {} ({} KiB, loads at {:#x})",
        kernel_image.display(),
        image.bytes.len() / 1024,
        image.load_address
    );

    Ok(BuildOutput { kernel_image, archive, programs })
}

/// Where the system disk lives: `target/lattice/disk.img`.
pub fn system_disk_path() -> PathBuf {
    workspace_root().join("target").join("lattice").join("disk.img")
}

/// Makes the system disk (`fresh`, or when there is none) or refreshes its `/bin` and
/// `/etc` from the programs a build made and the shipped policies (see
/// [`crate::system_disk`]); returns its path and what was done. Call after a build.
pub fn system_disk(fresh: bool) -> Result<(PathBuf, crate::system_disk::Prepared), String> {
    let contents = system_disk_contents()?;
    let path = system_disk_path();
    let prepared = crate::system_disk::prepare(&path, crate::system_disk::SIZE, &contents, fresh)?;
    Ok((path, prepared))
}

/// What the system disk holds: the repository's tree (`image/disk/`), every program but the
/// root task (which only the kernel starts) for `/bin`, and the shipped policies for
/// `/etc/policy`. Call after a build.
pub fn system_disk_contents() -> Result<crate::system_disk::Contents, String> {
    let root = workspace_root();
    let user_dir = root.join("target").join(USER_TARGET).join("release");
    let mut programs = Vec::new();
    for name in PROGRAMS.iter().filter(|name| **name != "root") {
        let path = user_dir.join(name);
        let bytes = std::fs::read(&path).map_err(|error| format!("read {}: {error}", path.display()))?;
        programs.push((name.to_string(), bytes));
    }
    Ok(crate::system_disk::Contents {
        tree: crate::system_disk::read_tree(&root.join("image").join("disk"))?,
        programs,
        policies: crate::system_disk::read_policies(&root.join("policy"))?,
    })
}

/// Writes `bytes` unless the file already holds them (keeps timestamps, so cargo does not
/// rebuild the kernel for an identical archive).
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    std::fs::write(path, bytes).map_err(|error| format!("write {}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(file: &str) -> policy::Policy {
        let path = workspace_root().join("policy").join(file);
        let source = std::fs::read_to_string(&path).expect("a shipped policy");
        policy::compile(&source).unwrap_or_else(|errors| panic!("{file}: {errors}")).policy
    }

    /// Every file tool is built and put in the system disk's `/bin`, and in every shipped
    /// policy that declares it the shell may start it and fs gives it the rights it asks
    /// for; default and lockdown declare them all.
    #[test]
    fn every_file_tool_is_on_the_disk_and_granted() {
        assert!(USER_PACKAGES.contains(&"coreutils"));
        for tool in coreutils::TOOLS {
            assert!(PROGRAMS.contains(&tool.name), "{} is not in PROGRAMS", tool.name);
        }
        for (file, all) in [("default.rhai", true), ("lockdown.rhai", true), ("strict.rhai", false)] {
            let policy = shipped(file);
            let shell = policy.program_id("/bin/shell").expect("the shell is declared");
            let user = policy.program(shell).and_then(|program| program.label).expect("the shell's label");
            let spawn = match policy.decide_named("/bin/shell", user, "proc", policy::Rights::SPAWN) {
                policy::Decision::Allow(allowed) => allowed.scope(),
                policy::Decision::Deny(reason) => {
                    panic!("{file}: the shell spawns nothing: {}", policy.explain(&reason))
                }
            };
            for tool in coreutils::TOOLS {
                let path = format!("/bin/{}", tool.name);
                if policy.program_id(&path).is_none() {
                    assert!(!all, "{file} does not declare {path}");
                    continue;
                }
                assert!(spawn.allows_spawn(&path), "{file}: the shell may not start {path}");
                // A tool inherits the shell's label.
                let decision = policy.decide_named(&path, user, "fs", tool.rights);
                if let policy::Decision::Deny(reason) = decision {
                    panic!("{file}: {path} asks fs for {}: {}", tool.rights, policy.explain(&reason));
                }
            }
        }
    }
}
