//! Setting up the machine: everything `cargo xtask` needs that a fresh Debian machine with
//! rustup may lack, found or installed before it is used, saying what it does.
//!
//! - The RISC-V targets and components that `rust-toolchain.toml` names. rustup adds them
//!   when it installs the pinned toolchain, but not when that toolchain is already installed
//!   without them (a machine that had 1.95.0 before it met Lattice), so this adds what is
//!   missing with `rustup target add` / `rustup component add`.
//! - Host programs from Debian's packages (QEMU, `fsck.fat`, `curl`, `nc`): installed with
//!   apt-get when we run as root (or through `sudo` when it asks no password), otherwise the
//!   error gives the exact command to run.
//!
//! `.ci/run` relies on this: it runs the README's test command and nothing else, so CI fails
//! when a fresh machine would.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A host program and the Debian package that provides it.
#[derive(Clone, Copy, Debug)]
pub struct HostTool {
    /// The command looked up in `PATH`.
    pub command: &'static str,
    /// The Debian package that installs it.
    pub package: &'static str,
    /// What Lattice uses it for, for the message.
    pub used_for: &'static str,
}

/// QEMU, for every boot.
pub const QEMU: HostTool =
    HostTool { command: "qemu-system-riscv64", package: "qemu-system-misc", used_for: "booting Lattice" };
/// `fsck.fat`, to check disk images after a machine stops.
pub const FSCK_FAT: HostTool =
    HostTool { command: "fsck.fat", package: "dosfstools", used_for: "checking disk images" };
/// `curl`, the host's HTTP client in system tests.
pub const CURL: HostTool =
    HostTool { command: "curl", package: "curl", used_for: "HTTP clients in system tests" };
/// `nc`, the host's TCP/UDP client in system tests.
pub const NETCAT: HostTool =
    HostTool { command: "nc", package: "netcat-openbsd", used_for: "TCP and UDP clients in system tests" };

/// What `cargo xtask run` and `bench` need.
pub const RUN_TOOLS: &[HostTool] = &[QEMU];
/// What `cargo xtask test` needs.
pub const TEST_TOOLS: &[HostTool] = &[QEMU, FSCK_FAT, CURL, NETCAT];

/// Looks `program` up in `PATH`.
pub fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|candidate| candidate.is_file())
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// Makes sure every tool in `tools` is on `PATH`, installing the missing ones' Debian
/// packages in one apt-get run when we can (root with apt-get); otherwise says exactly
/// what to run. Returns nothing new: callers look tools up with [`path_of`].
pub fn ensure_host_tools(tools: &[HostTool]) -> Result<(), String> {
    let missing: Vec<HostTool> =
        tools.iter().copied().filter(|tool| find_in_path(tool.command).is_none()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<&str> = missing.iter().map(|tool| tool.package).collect();
    let what = missing
        .iter()
        .map(|tool| format!("{} ({}, for {})", tool.command, tool.package, tool.used_for))
        .collect::<Vec<_>>()
        .join(", ");
    let how = format!("install it with:\n    sudo apt-get install {}", packages.join(" "));
    // As root, apt-get itself; otherwise through sudo when it needs no password (a CI
    // runner's user); otherwise the exact command for the person to run.
    let sudo = if running_as_root() {
        false
    } else if find_in_path("sudo").is_some()
        && Command::new("sudo").args(["-n", "true"]).status().is_ok_and(|status| status.success())
    {
        true
    } else {
        return Err(format!("missing on this machine: {what}; {how}"));
    };
    if find_in_path("apt-get").is_none() {
        return Err(format!("missing on this machine: {what}; {how}"));
    }
    println!("setup: missing {what}: installing with {}apt-get...", if sudo { "sudo " } else { "" });
    let apt = || {
        let mut command = if sudo { Command::new("sudo") } else { Command::new("apt-get") };
        if sudo {
            command.args(["DEBIAN_FRONTEND=noninteractive", "apt-get"]);
        }
        command.env("DEBIAN_FRONTEND", "noninteractive");
        command
    };
    let install = || {
        apt()
            .args(["install", "-y", "--no-install-recommends"])
            .args(&packages)
            .status()
            .is_ok_and(|status| status.success())
    };
    if !install() {
        println!("setup: apt-get install failed; refreshing the package lists and trying again...");
        let _ = apt().arg("update").status();
        if !install() {
            return Err(format!("installing {} failed; {how}", packages.join(" ")));
        }
    }
    match missing.iter().find(|tool| find_in_path(tool.command).is_none()) {
        Some(tool) => Err(format!("{} installed but {} is still missing; {how}", tool.package, tool.command)),
        None => Ok(()),
    }
}

/// The path of a tool [`ensure_host_tools`] has made sure of.
pub fn path_of(tool: HostTool) -> Result<PathBuf, String> {
    find_in_path(tool.command).ok_or_else(|| {
        format!(
            "{} is not installed; install it with:\n    sudo apt-get install {}",
            tool.command, tool.package
        )
    })
}

/// What `rust-toolchain.toml` asks for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ToolchainFile {
    /// The pinned channel (for messages).
    pub channel: String,
    /// Targets the build needs beyond the host's.
    pub targets: Vec<String>,
    /// Components (clippy, rustfmt).
    pub components: Vec<String>,
}

/// Parses `rust-toolchain.toml`.
pub fn parse_toolchain_file(text: &str) -> Result<ToolchainFile, String> {
    #[derive(serde::Deserialize)]
    struct File {
        toolchain: Toolchain,
    }
    #[derive(serde::Deserialize)]
    struct Toolchain {
        channel: String,
        #[serde(default)]
        targets: Vec<String>,
        #[serde(default)]
        components: Vec<String>,
    }
    let file: File = toml::from_str(text).map_err(|error| format!("rust-toolchain.toml: {error}"))?;
    Ok(ToolchainFile {
        channel: file.toolchain.channel,
        targets: file.toolchain.targets,
        components: file.toolchain.components,
    })
}

/// The names `rustup` lists as installed, without the host suffix for components
/// (`clippy-x86_64-unknown-linux-gnu` is `clippy`).
fn rustup_installed(kind: &str) -> Result<Vec<String>, String> {
    let output = Command::new("rustup").args([kind, "list", "--installed"]).output().map_err(|error| {
        format!("cannot run rustup ({error}); Lattice's toolchain comes from rustup: https://rustup.rs")
    })?;
    if !output.status.success() {
        return Err(format!("rustup {kind} list failed: {}", String::from_utf8_lossy(&output.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&output.stdout).lines().map(|line| line.trim().to_string()).collect())
}

/// Whether `component` is among rustup's installed component lines (which carry the host
/// triple: `clippy-x86_64-unknown-linux-gnu`, `rust-src`).
fn component_installed(installed: &[String], component: &str) -> bool {
    installed.iter().any(|line| {
        line == component
            || line
                .strip_prefix(component)
                .is_some_and(|rest| rest.starts_with('-') && rest[1..].contains('-'))
    })
}

/// Adds the targets and components `rust-toolchain.toml` names that the active toolchain
/// lacks. Runs under cargo, so rustup's `RUSTUP_TOOLCHAIN` already names the pinned one.
pub fn ensure_toolchain(workspace: &Path) -> Result<(), String> {
    let path = workspace.join("rust-toolchain.toml");
    let text = std::fs::read_to_string(&path).map_err(|error| format!("{}: {error}", path.display()))?;
    let wanted = parse_toolchain_file(&text)?;
    if find_in_path("rustup").is_none() {
        // Without rustup nothing can be added; say what the build needs and let it try.
        println!(
            "setup: rustup not found; the build needs Rust {} with targets {}",
            wanted.channel,
            wanted.targets.join(", ")
        );
        return Ok(());
    }
    let targets = rustup_installed("target")?;
    let missing_targets: Vec<&String> =
        wanted.targets.iter().filter(|target| !targets.contains(target)).collect();
    if !missing_targets.is_empty() {
        let names: Vec<&str> = missing_targets.iter().map(|target| target.as_str()).collect();
        println!("setup: adding Rust targets {} (rustup target add)", names.join(" "));
        let status = Command::new("rustup")
            .args(["target", "add"])
            .args(&names)
            .status()
            .map_err(|error| format!("cannot run rustup: {error}"))?;
        if !status.success() {
            return Err(format!("`rustup target add {}` failed", names.join(" ")));
        }
    }
    let components = rustup_installed("component")?;
    let missing_components: Vec<&str> = wanted
        .components
        .iter()
        .map(String::as_str)
        .filter(|component| !component_installed(&components, component))
        .collect();
    if !missing_components.is_empty() {
        println!("setup: adding Rust components {} (rustup component add)", missing_components.join(" "));
        let status = Command::new("rustup")
            .args(["component", "add"])
            .args(&missing_components)
            .status()
            .map_err(|error| format!("cannot run rustup: {error}"))?;
        if !status.success() {
            return Err(format!("`rustup component add {}` failed", missing_components.join(" ")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_toolchain_file_gives_targets_and_components() {
        let file = parse_toolchain_file(
            "[toolchain]\nchannel = \"1.95.0\"\ntargets = [\"riscv64gc-unknown-none-elf\"]\ncomponents = [\"clippy\"]\nprofile = \"minimal\"\n",
        )
        .expect("parses");
        assert_eq!(file.channel, "1.95.0");
        assert_eq!(file.targets, ["riscv64gc-unknown-none-elf"]);
        assert_eq!(file.components, ["clippy"]);
    }

    #[test]
    fn the_shipped_toolchain_file_names_both_riscv_targets() {
        let text = include_str!("../../rust-toolchain.toml");
        let file = parse_toolchain_file(text).expect("parses");
        assert!(file.targets.iter().any(|target| target == crate::build::USER_TARGET));
        assert!(file.targets.iter().any(|target| target == crate::build::KERNEL_TARGET));
    }

    #[test]
    fn components_are_matched_without_their_host_triple() {
        let installed = ["clippy-x86_64-unknown-linux-gnu".to_string(), "rust-src".to_string()];
        assert!(component_installed(&installed, "clippy"));
        assert!(component_installed(&installed, "rust-src"));
        assert!(!component_installed(&installed, "rustfmt"));
        // `rust` is not `rust-src`: the rest after the name must be a whole triple.
        assert!(!component_installed(&installed, "rust"));
    }
}
