//! System manifests (`image/systems/*.toml`): which servers the root task starts, in which
//! order, with which priority, memory budget, devices and arguments. The image builder
//! checks a manifest and packs it into the boot archive as the entry `manifest`, in a line
//! format the root task reads without a parser library:
//!
//! ```text
//! lattice-manifest 3
//! server <name> <priority> <memory bytes> <provides|-> <uses,...|-> <device@address:irq,...|-> <flags,...|-> <args...>
//! ```
//!
//! Calls between servers are checked as the seL4 Core Platform's tooling checks protected
//! procedure calls ([`check_calls`]): a server calls the servers of the services it
//! `uses` (endpoints the manifest gives) and of those it `connects` to (sessions the
//! security server opens when the policy allows: the process manager's read session with
//! the filesystem, the shell's); those calls form no cycle, and every server runs at a
//! higher priority than each server that calls it, so a call never waits behind its own
//! caller. A call that must go against that flow, once, while the system starts (the
//! donor registering with the security server, which calls the donor), is named in
//! `boot_only` and left out.
//!
//! The boot archive of a system holds the root task, its servers and the programs
//! `[system] archive` names ([`Manifest::archive_programs`]): what must run before a
//! filesystem exists, and in test systems what the process manager starts without one.
//! Every other program is on the system disk's `/bin`.
//!
//! The root task gives each server the capabilities of `servers/loader`'s `server_slots`:
//! its own CNode, address space and thread, an Untyped of its budget, the endpoint of the
//! service it provides, the registers and interrupt of each device it drives, and an
//! endpoint to each service it uses.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;

/// The root task's priority; servers must be below it.
pub const ROOT_PRIORITY: u32 = 255;
/// What the root task and the kernel keep for themselves, in bytes.
pub const RESERVED_MEMORY: u64 = 16 << 20;

/// A whole manifest.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The machine.
    pub system: System,
    /// The machine's devices that servers may drive.
    #[serde(default, rename = "device")]
    pub devices: Vec<Device>,
    /// The servers, in start order.
    #[serde(default, rename = "server")]
    pub servers: Vec<Server>,
}

/// A device of the board: its registers and interrupt.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// Name servers refer to it by.
    pub name: String,
    /// Physical address of its register page.
    pub address: u64,
    /// Its PLIC interrupt.
    pub irq: u32,
}

/// The machine the image is for.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct System {
    /// Short name.
    pub name: String,
    /// Memory size, like `"256M"`.
    pub memory: String,
    /// The policy the security server enforces from boot: a rhai script (path from the
    /// workspace root), compiled by the image builder and packed as the boot archive's
    /// entry `policy`. A bad script stops the build with its error.
    #[serde(default)]
    pub policy: Option<String>,
    /// Programs packed into the boot archive besides the root task and the servers (which
    /// always are): in test systems, what the process manager starts without a filesystem;
    /// in `bare`, the programs tests boot as the root task (`lattice.boot=`). The default
    /// system names none: every other program comes from the system disk's `/bin`.
    #[serde(default)]
    pub archive: Vec<String>,
}

/// One server.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// The program (a boot archive entry).
    pub name: String,
    /// Thread priority, below the root task's.
    pub priority: u32,
    /// Memory budget, like `"2M"`.
    pub memory: String,
    /// The service it provides (others reach it by this name), if any.
    #[serde(default)]
    pub provides: Option<String>,
    /// The services it uses.
    #[serde(default)]
    pub uses: Vec<String>,
    /// Services of `uses` it calls only while it starts (to register), against the flow
    /// of calls: the call-graph check leaves these calls out. It must not call them once
    /// it serves.
    #[serde(default)]
    pub boot_only: Vec<String>,
    /// Services it opens connections to through the security server (the policy decides;
    /// the manifest gives no capability for them). Only the call-graph check reads this:
    /// a session's calls flow as a manifest endpoint's do.
    #[serde(default)]
    pub connects: Vec<String>,
    /// Devices it drives.
    #[serde(default)]
    pub devices: Vec<String>,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Whether it gets a read-only copy of the boot archive (the process manager loads
    /// programs from it).
    #[serde(default)]
    pub boot_archive: bool,
    /// Instead of the whole boot archive, an archive of only these entries (`manifest`,
    /// `policy`, program names): the security server needs two small entries, not the
    /// programs.
    #[serde(default)]
    pub boot_entries: Vec<String>,
    /// Its heap, like `"4M"` (256K if not given); it comes out of the memory the root task
    /// builds the server from, not out of its budget.
    #[serde(default)]
    pub heap: Option<String>,
    /// Whether it gets the scheduling control capability (to give CPU budgets: the
    /// resource donor).
    #[serde(default)]
    pub sched_control: bool,
}

/// Parses `"256M"`, `"64K"`, `"1G"` or a plain byte count.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((index, _)) => text.split_at(index),
        None => (text, ""),
    };
    let value: u64 = number.parse().map_err(|_| format!("`{text}` is not a size (like 256M)"))?;
    let multiplier = match unit {
        "" => 1,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        other => return Err(format!("unknown size unit `{other}` in `{text}` (use K, M or G)")),
    };
    value.checked_mul(multiplier).ok_or_else(|| format!("`{text}` is too large"))
}

/// Reads and checks the manifest at `path` against the programs the image holds.
pub fn load(path: &Path, programs: &[&str]) -> Result<Manifest, String> {
    let text = std::fs::read_to_string(path).map_err(|error| format!("{}: {error}", path.display()))?;
    parse(&text, programs).map_err(|error| format!("{}: {error}", path.display()))
}

impl Manifest {
    /// The programs of this system's boot archive, in archive order: the root task, the
    /// servers in start order, then `[system] archive`, each once.
    pub fn archive_programs(&self) -> Vec<&str> {
        let mut names = vec!["root"];
        let servers = self.servers.iter().map(|server| server.name.as_str());
        for name in servers.chain(self.system.archive.iter().map(String::as_str)) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }
}

/// Parses and checks manifest `text`.
pub fn parse(text: &str, programs: &[&str]) -> Result<Manifest, String> {
    let manifest: Manifest = toml::from_str(text).map_err(|error| error.to_string())?;
    for name in &manifest.system.archive {
        if !programs.contains(&name.as_str()) {
            return Err(format!("[system] archive: `{name}` is not a program the image builder builds"));
        }
    }
    let archived = manifest.archive_programs();
    let machine = parse_size(&manifest.system.memory)?;
    let mut names = HashSet::new();
    let mut total = RESERVED_MEMORY;
    let provided: Vec<&str> =
        manifest.servers.iter().filter_map(|server| server.provides.as_deref()).collect();
    let mut device_names = HashSet::new();
    for device in &manifest.devices {
        if !device_names.insert(device.name.as_str()) {
            return Err(format!("device `{}` is listed twice", device.name));
        }
        if device.address % 4096 != 0 {
            return Err(format!(
                "device `{}`: address {:#x} is not page aligned",
                device.name, device.address
            ));
        }
    }
    let mut providers = HashSet::new();
    for service in &provided {
        if !providers.insert(*service) {
            return Err(format!("service `{service}` is provided twice"));
        }
    }
    for server in &manifest.servers {
        if !programs.contains(&server.name.as_str()) {
            return Err(format!(
                "server `{}` is not a program in the image (programs: {})",
                server.name,
                programs.join(", ")
            ));
        }
        if !names.insert(server.name.as_str()) {
            return Err(format!("server `{}` is listed twice", server.name));
        }
        if server.priority >= ROOT_PRIORITY {
            return Err(format!(
                "server `{}`: priority {} is not below the root task's {ROOT_PRIORITY}",
                server.name, server.priority
            ));
        }
        for device in &server.devices {
            if !device_names.contains(device.as_str()) {
                let known: Vec<&str> = manifest.devices.iter().map(|d| d.name.as_str()).collect();
                return Err(format!(
                    "server `{}`: unknown device `{device}` (known: {})",
                    server.name,
                    known.join(", ")
                ));
            }
        }
        for service in &server.uses {
            if !provided.contains(&service.as_str()) {
                return Err(format!("server `{}` uses `{service}`, which no server provides", server.name));
            }
        }
        for service in &server.connects {
            if !provided.contains(&service.as_str()) {
                return Err(format!(
                    "server `{}` connects to `{service}`, which no server provides",
                    server.name
                ));
            }
        }
        for service in &server.boot_only {
            if !server.uses.contains(service) {
                return Err(format!(
                    "server `{}`: boot_only `{service}` is not one of its uses",
                    server.name
                ));
            }
        }
        if server.boot_archive && !server.boot_entries.is_empty() {
            return Err(format!(
                "server `{}`: boot_archive and boot_entries exclude each other",
                server.name
            ));
        }
        for entry in &server.boot_entries {
            let known = archived.contains(&entry.as_str())
                || entry == "manifest"
                || (entry == "policy" && manifest.system.policy.is_some());
            if !known || server.boot_entries.len() > 4 {
                return Err(format!(
                    "server `{}`: boot entry `{entry}` is not in the boot archive (at most 4 of: manifest, policy if [system] names one, names of the archive's programs)",
                    server.name
                ));
            }
        }
        if server.devices.len() > 4 || server.uses.len() > 16 {
            return Err(format!("server `{}`: at most 4 devices and 16 services", server.name));
        }
        if server.args.iter().any(|arg| arg.is_empty() || arg.contains(char::is_whitespace)) {
            return Err(format!(
                "server `{}`: arguments must be non-empty words without spaces",
                server.name
            ));
        }
        let budget =
            parse_size(&server.memory).map_err(|error| format!("server `{}`: {error}", server.name))?;
        if budget < 64 << 10 {
            return Err(format!(
                "server `{}`: memory {} is below the 64K minimum",
                server.name, server.memory
            ));
        }
        total = total.saturating_add(budget);
        if let Some(heap) = &server.heap {
            let bytes =
                parse_size(heap).map_err(|error| format!("server `{}`: heap: {error}", server.name))?;
            if !(64 << 10..=64 << 20).contains(&bytes) {
                return Err(format!("server `{}`: heap {heap} must be between 64K and 64M", server.name));
            }
            total = total.saturating_add(bytes);
        }
    }
    check_calls(&manifest)?;
    if total > machine {
        return Err(format!(
            "the servers' memory ({} MiB, plus {} MiB for the kernel and root task) exceeds the machine's {}",
            (total - RESERVED_MEMORY) >> 20,
            RESERVED_MEMORY >> 20,
            manifest.system.memory
        ));
    }
    Ok(manifest)
}

/// Checks the calls between servers: every server calls the provider of each service it
/// uses (but its `boot_only` ones) or connects to; the callee must run at a higher
/// priority than the caller, and the calls must form no cycle. The error names the servers.
pub fn check_calls(manifest: &Manifest) -> Result<(), String> {
    let provider = |service: &str| {
        manifest.servers.iter().position(|server| server.provides.as_deref() == Some(service))
    };
    // calls[i]: the servers server i calls.
    let calls: Vec<Vec<usize>> = manifest
        .servers
        .iter()
        .map(|server| {
            server
                .uses
                .iter()
                .filter(|service| !server.boot_only.contains(service))
                .chain(&server.connects)
                .filter_map(|service| provider(service))
                .collect()
        })
        .collect();
    for (caller, callees) in calls.iter().enumerate() {
        let from = &manifest.servers[caller];
        for &callee in callees {
            let to = &manifest.servers[callee];
            if to.priority <= from.priority {
                return Err(format!(
                    "server `{}` (priority {}) calls `{}` (priority {}): a server must run at a higher priority than every server that calls it (or name the call in boot_only if it is made only while starting)",
                    from.name, from.priority, to.name, to.priority
                ));
            }
        }
    }
    // Depth-first search for a cycle; `path` is the chain being followed.
    fn visit(
        node: usize,
        calls: &[Vec<usize>],
        state: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        state[node] = 1;
        path.push(node);
        for &next in &calls[node] {
            if state[next] == 1 {
                let start = path.iter().position(|&n| n == next).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(next);
                return Some(cycle);
            }
            if state[next] == 0
                && let Some(cycle) = visit(next, calls, state, path)
            {
                return Some(cycle);
            }
        }
        path.pop();
        state[node] = 2;
        None
    }
    let mut state = vec![0u8; calls.len()];
    for start in 0..calls.len() {
        if state[start] == 0
            && let Some(cycle) = visit(start, &calls, &mut state, &mut Vec::new())
        {
            let names: Vec<&str> = cycle.iter().map(|&n| manifest.servers[n].name.as_str()).collect();
            return Err(format!(
                "calls between servers form a cycle: {} (name a call made only while starting in boot_only)",
                names.join(" -> ")
            ));
        }
    }
    Ok(())
}

/// The line format the root task reads.
pub fn encode(manifest: &Manifest) -> Vec<u8> {
    let mut out = String::from("lattice-manifest 3\n");
    let list = |items: Vec<String>| if items.is_empty() { "-".to_string() } else { items.join(",") };
    for server in &manifest.servers {
        let devices = list(
            server
                .devices
                .iter()
                .filter_map(|name| manifest.devices.iter().find(|device| &device.name == name))
                .map(|device| format!("{}@{:#x}:{}", device.name, device.address, device.irq))
                .collect(),
        );
        let memory = parse_size(&server.memory).unwrap_or(0);
        let provides = server.provides.clone().unwrap_or_else(|| "-".to_string());
        let uses = list(server.uses.clone());
        let mut flags = Vec::new();
        if server.boot_archive {
            flags.push("archive".to_string());
        }
        if !server.boot_entries.is_empty() {
            flags.push(format!("entries={}", server.boot_entries.join("+")));
        }
        if server.sched_control {
            flags.push("sched".to_string());
        }
        if let Some(heap) = server.heap.as_deref().and_then(|heap| parse_size(heap).ok()) {
            flags.push(format!("heap={heap}"));
        }
        let flags = list(flags);
        out.push_str(&format!(
            "server {} {} {memory} {provides} {uses} {devices} {flags}",
            server.name, server.priority
        ));
        for arg in &server.args {
            out.push(' ');
            out.push_str(arg);
        }
        out.push('\n');
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROGRAMS: &[&str] = &["console", "proc", "hello", "security", "donor"];
    const PROGRAMS_WITH_FS: &[&str] = &["console", "proc", "hello", "security", "donor", "fs"];

    fn server(name: &str, priority: u32, provides: &str, uses: &str, boot_only: &str) -> String {
        format!(
            "[[server]]\nname = \"{name}\"\npriority = {priority}\nmemory = \"1M\"\nprovides = \"{provides}\"\nuses = [{uses}]\nboot_only = [{boot_only}]\n"
        )
    }

    #[test]
    fn a_cycle_of_calls_is_refused_with_its_servers() {
        let text = manifest(
            &[
                server("donor", 200, "donor", "\"security\"", ""),
                server("security", 190, "security", "\"donor\"", ""),
            ]
            .concat(),
        );
        let error = parse(&text, PROGRAMS).expect_err("a cycle");
        // The donor calls the security server, below it: refused for priority first.
        assert!(error.contains("`donor` (priority 200) calls `security` (priority 190)"), "{error}");
        // With the priorities satisfied one way round, the cycle itself is named.
        let text = manifest(
            &[
                server("donor", 200, "donor", "\"security\"", ""),
                server("security", 190, "security", "\"donor\"", ""),
                server("proc", 150, "proc", "\"security\", \"donor\"", ""),
            ]
            .concat(),
        );
        assert!(parse(&text, PROGRAMS).is_err());
    }

    #[test]
    fn a_call_made_only_while_starting_may_go_against_the_flow() {
        let text = manifest(
            &[
                server("donor", 200, "donor", "\"security\"", "\"security\""),
                server("security", 190, "security", "\"donor\"", ""),
                server("proc", 150, "proc", "\"security\", \"donor\"", ""),
            ]
            .concat(),
        );
        parse(&text, PROGRAMS).expect("boot_only calls are left out");
        // boot_only must name one of its uses.
        let text = manifest(&server("proc", 150, "proc", "", "\"donor\""));
        let error = parse(&text, PROGRAMS).expect_err("not a use");
        assert!(error.contains("boot_only `donor` is not one of its uses"), "{error}");
    }

    #[test]
    fn a_callee_at_or_below_its_caller_is_refused() {
        let text = manifest(
            &[
                server("console", 180, "console", "\"security\"", ""),
                server("security", 180, "security", "", ""),
            ]
            .concat(),
        );
        let error = parse(&text, PROGRAMS).expect_err("equal priorities");
        assert!(error.contains("`console` (priority 180) calls `security` (priority 180)"), "{error}");
    }

    #[test]
    fn the_shipped_manifests_pass_the_call_check() {
        for system in ["virt", "bench", "bare", "test-proc", "test-console", "test-blk"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("systems/{system}.toml"));
            let text = std::fs::read_to_string(&path).expect("shipped");
            let manifest: Manifest = toml::from_str(&text).expect("parses");
            check_calls(&manifest).unwrap_or_else(|error| panic!("{system}: {error}"));
        }
    }

    fn manifest(servers: &str) -> String {
        format!(
            "[system]\nname = \"virt\"\nmemory = \"256M\"\n[[device]]\nname = \"uart\"\naddress = 0x10000000\nirq = 10\n{servers}"
        )
    }

    #[test]
    fn the_shipped_manifest_is_valid() {
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("systems/virt.toml")).unwrap();
        let parsed = parse(&text, crate::build::PROGRAMS).unwrap();
        assert!(!parsed.servers.is_empty());
    }

    #[test]
    fn the_default_archive_holds_the_boot_servers_alone() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("systems/virt.toml");
        let parsed = load(&path, crate::build::PROGRAMS).unwrap();
        assert_eq!(
            parsed.archive_programs(),
            ["root", "console", "donor", "security", "fs", "net", "proc", "shell"]
        );
        // The process manager reads programs through the filesystem, above it.
        let proc = parsed.servers.iter().find(|server| server.name == "proc").unwrap();
        assert_eq!(proc.connects, ["fs"]);
    }

    #[test]
    fn the_archive_takes_the_root_task_the_servers_and_what_it_names_once() {
        let text = format!(
            "[system]\nname = \"t\"\nmemory = \"256M\"\narchive = [\"hello\", \"proc\"]\n{}",
            server("proc", 150, "proc", "", "")
        );
        let parsed = parse(&text, PROGRAMS).unwrap();
        assert_eq!(parsed.archive_programs(), ["root", "proc", "hello"]);
        let text = "[system]\nname = \"t\"\nmemory = \"256M\"\narchive = [\"nosuch\"]\n";
        let error = parse(text, PROGRAMS).unwrap_err();
        assert!(error.contains("`nosuch` is not a program"), "{error}");
        // A boot entry must be one of the archive's programs.
        let text = "[system]\nname = \"t\"\nmemory = \"256M\"\n[[server]]\nname = \"proc\"\npriority = 1\nmemory = \"1M\"\nboot_entries = [\"hello\"]\n";
        let error = parse(text, PROGRAMS).unwrap_err();
        assert!(error.contains("boot entry `hello` is not in the boot archive"), "{error}");
    }

    #[test]
    fn connections_count_as_calls() {
        // proc connects to fs: fs must run above it.
        let connecting = |fs_priority: u32| {
            manifest(&format!(
                "{}{}connects = [\"fs\"]\n",
                server("fs", fs_priority, "fs", "", ""),
                server("proc", 150, "proc", "", ""),
            ))
        };
        parse(&connecting(170), PROGRAMS_WITH_FS).expect("fs above proc");
        let error = parse(&connecting(140), PROGRAMS_WITH_FS).unwrap_err();
        assert!(error.contains("`proc` (priority 150) calls `fs` (priority 140)"), "{error}");
        let text = manifest(&format!("{}connects = [\"fs\"]\n", server("proc", 150, "proc", "", "")));
        let error = parse(&text, PROGRAMS).unwrap_err();
        assert!(error.contains("connects to `fs`, which no server provides"), "{error}");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256M"), Ok(256 << 20));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("99999999999999G").is_err());
    }

    #[test]
    fn encodes_in_order() {
        let text = manifest(
            "[[server]]\nname = \"console\"\npriority = 200\nmemory = \"1M\"\nprovides = \"console\"\ndevices = [\"uart\"]\n\
             [[server]]\nname = \"hello\"\npriority = 100\nmemory = \"64K\"\nuses = [\"console\"]\nargs = [\"a\", \"b\"]\n",
        );
        let parsed = parse(&text, PROGRAMS).unwrap();
        assert_eq!(
            String::from_utf8(encode(&parsed)).unwrap(),
            "lattice-manifest 3\nserver console 200 1048576 console - uart@0x10000000:10 -\nserver hello 100 65536 - console - - a b\n"
        );
    }

    #[test]
    fn flags_encode_what_the_root_task_gives() {
        let text = manifest(
            "[[server]]\nname = \"proc\"\npriority = 150\nmemory = \"1M\"\nboot_archive = true\nheap = \"1M\"\nsched_control = true\n\
             [[server]]\nname = \"hello\"\npriority = 100\nmemory = \"64K\"\nboot_entries = [\"manifest\"]\n",
        );
        let parsed = parse(&text, PROGRAMS).unwrap();
        assert_eq!(
            String::from_utf8(encode(&parsed)).unwrap(),
            "lattice-manifest 3\nserver proc 150 1048576 - - - archive,sched,heap=1048576\nserver hello 100 65536 - - - entries=manifest\n"
        );
    }

    #[test]
    fn clear_errors() {
        let cases = [
            ("[[server]]\nname = \"nosuch\"\npriority = 1\nmemory = \"1M\"\n", "not a program in the image"),
            (
                "[[server]]\nname = \"proc\"\npriority = 1\nmemory = \"1M\"\n[[server]]\nname = \"proc\"\npriority = 1\nmemory = \"1M\"\n",
                "listed twice",
            ),
            ("[[server]]\nname = \"proc\"\npriority = 255\nmemory = \"1M\"\n", "not below the root task"),
            ("[[server]]\nname = \"proc\"\npriority = 1\nmemory = \"300M\"\n", "exceeds the machine"),
            (
                "[[server]]\nname = \"proc\"\npriority = 1\nmemory = \"1M\"\ndevices = [\"gpu\"]\n",
                "unknown device",
            ),
            ("[[server]]\nname = \"proc\"\npriority = 1\nmemory = \"1M\"\ncolour = 3\n", "unknown field"),
            ("[[server]]\nname = \"proc\"\npriority = 1\nmemory = \"1K\"\n", "below the 64K minimum"),
            (
                "[[server]]\nname = \"proc\"\npriority = 1\nmemory = \"1M\"\nuses = [\"nosuch\"]\n",
                "which no server provides",
            ),
            (
                "[[server]]\nname = \"proc\"\npriority = 1\nmemory = \"1M\"\nprovides = \"x\"\n[[server]]\nname = \"console\"\npriority = 1\nmemory = \"1M\"\nprovides = \"x\"\n",
                "provided twice",
            ),
            (
                "[[server]]\nname = \"proc\"\npriority = 1\nmemory = \"1M\"\nboot_entries = [\"policy\"]\n",
                "boot entry `policy` is not in the boot archive",
            ),
            (
                "[[server]]\nname = \"proc\"\npriority = 1\nmemory = \"1M\"\nboot_archive = true\nboot_entries = [\"manifest\"]\n",
                "exclude each other",
            ),
            (
                "[[server]]\nname = \"proc\"\npriority = 1\nmemory = \"1M\"\nheap = \"1G\"\n",
                "heap 1G must be between 64K and 64M",
            ),
        ];
        for (servers, expected) in cases {
            let error = parse(&manifest(servers), PROGRAMS).unwrap_err();
            assert!(error.contains(expected), "{error} should mention {expected}");
        }
    }
}
