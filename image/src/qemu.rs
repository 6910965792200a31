//! Finding (or installing) QEMU and building its command line.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::setup;

use kernel_abi::exit_status;

/// Returns the path of `qemu-system-riscv64`, installing it first when it is missing and
/// we can (see [`crate::setup`]).
pub fn ensure_installed() -> Result<PathBuf, String> {
    setup::ensure_host_tools(setup::RUN_TOOLS)?;
    setup::path_of(setup::QEMU)
}

/// How the serial console is connected.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Console {
    /// A person at the terminal (`-nographic`: serial and monitor on stdio).
    Interactive,
    /// The test harness, through pipes (serial only; no monitor to trip over).
    Piped,
}

/// A transport protocol, for forwarded ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    /// The name QEMU's `hostfwd=` uses.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// A host port on 127.0.0.1 that QEMU forwards to a port of the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forward {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The port on the host's 127.0.0.1.
    pub host_port: u16,
    /// The port on the guest (at slirp's guest address, 10.0.2.15).
    pub guest_port: u16,
}

/// QEMU user networking (slirp) with `restrict=on`: the guest reaches nothing outside the
/// virtual network, and the host reaches it only through the forwarded ports, which are
/// bound to 127.0.0.1 and nowhere else.
///
/// Host ports are picked free when a forward is added ([`crate::net::free_port`]); if
/// another program takes one before QEMU binds it, the harness picks new ones and boots
/// again ([`Network::pick_new_ports`], [`crate::systest::boot`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Network {
    forwards: Vec<Forward>,
}

impl Network {
    /// User networking with no forwarded port yet.
    pub fn user() -> Self {
        Self::default()
    }

    /// Forwards a free host port on 127.0.0.1 to `guest_port`.
    pub fn forward(self, protocol: Protocol, guest_port: u16) -> Result<Self, String> {
        let host_port = crate::net::free_port(protocol)?;
        Ok(self.forward_from(protocol, host_port, guest_port))
    }

    /// Forwards the given host port on 127.0.0.1 to `guest_port` (a fixed port, as a person
    /// running the system would choose; tests use [`Network::forward`]).
    pub fn forward_from(mut self, protocol: Protocol, host_port: u16, guest_port: u16) -> Self {
        self.forwards.push(Forward { protocol, host_port, guest_port });
        self
    }

    /// The forwarded ports.
    pub fn forwards(&self) -> &[Forward] {
        &self.forwards
    }

    /// Picks a new free host port for every forward (after QEMU found one taken).
    pub fn pick_new_ports(&mut self) -> Result<(), String> {
        for forward in &mut self.forwards {
            forward.host_port = crate::net::free_port(forward.protocol)?;
        }
        Ok(())
    }

    /// The `-netdev` value: restricted, every forward on 127.0.0.1.
    fn netdev(&self) -> String {
        let mut netdev = String::from("user,id=net0,restrict=on");
        for forward in &self.forwards {
            netdev.push_str(&format!(
                ",hostfwd={}:{}:{}-:{}",
                forward.protocol.name(),
                crate::net::LOOPBACK,
                forward.host_port,
                forward.guest_port
            ));
        }
        netdev
    }
}

/// What a line of QEMU's output says when a forwarded host port was already taken.
pub const PORT_TAKEN: &str = "Could not set up host forwarding rule";

/// A raw disk image attached as a virtio-blk device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disk {
    /// The image file.
    pub path: PathBuf,
    /// Whether it holds a FAT file system, which the harness checks with `fsck.fat -n`
    /// after the machine stops.
    pub fat: bool,
    /// How it is attached.
    pub attach: Attach,
}

/// How a disk is attached: the serial the guest reads (virtio-blk get-id, at most 20
/// bytes) and whether QEMU opens it read-only (the device then offers `VIRTIO_BLK_F_RO`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attach {
    /// The device's serial, if any.
    pub serial: Option<String>,
    /// Read-only.
    pub read_only: bool,
}

impl Attach {
    /// Attached read-write with `serial`.
    pub fn serial(serial: &str) -> Self {
        Self { serial: Some(serial.to_string()), read_only: false }
    }

    /// The same, read-only.
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }
}

/// One boot of QEMU `virt`.
pub struct Boot {
    kernel: PathBuf,
    memory: String,
    harts: u32,
    bootargs: Option<String>,
    disks: Vec<Disk>,
    network: Option<Network>,
}

impl Boot {
    /// Boots `kernel` with 256 MiB and one hart, no disk and no network.
    pub fn new(kernel: &Path) -> Self {
        Self {
            kernel: kernel.to_path_buf(),
            memory: "256M".into(),
            harts: 1,
            bootargs: None,
            disks: Vec::new(),
            network: None,
        }
    }

    /// Sets the memory size (QEMU `-m`).
    pub fn memory(mut self, memory: &str) -> Self {
        self.memory = memory.into();
        self
    }

    /// Sets the number of harts (QEMU `-smp`).
    pub fn harts(mut self, harts: u32) -> Self {
        self.harts = harts;
        self
    }

    /// Sets the kernel command line (`/chosen/bootargs`).
    pub fn bootargs(mut self, bootargs: Option<String>) -> Self {
        self.bootargs = bootargs;
        self
    }

    /// Attaches a disk image as the next virtio-blk device (`disk0`, `disk1`, ...),
    /// read-write, with no serial.
    pub fn disk(self, image: &crate::disk::Image) -> Self {
        self.disk_as(image, Attach::default())
    }

    /// Attaches a disk image as the next virtio-blk device, as `attach` says.
    pub fn disk_as(mut self, image: &crate::disk::Image, attach: Attach) -> Self {
        self.disks.push(Disk { path: image.path().to_path_buf(), fat: image.is_fat(), attach });
        self
    }

    /// Attaches user networking as a virtio-net device.
    pub fn network(mut self, network: Network) -> Self {
        self.network = Some(network);
        self
    }

    /// The attached disks.
    pub fn disks(&self) -> &[Disk] {
        &self.disks
    }

    /// The network, if attached.
    pub fn network_mut(&mut self) -> Option<&mut Network> {
        self.network.as_mut()
    }

    /// The forwarded ports (none without a network).
    pub fn forwards(&self) -> &[Forward] {
        self.network.as_ref().map_or(&[], |network| network.forwards())
    }

    /// The QEMU command.
    pub fn command(&self, qemu: &Path, console: Console) -> Command {
        let mut command = Command::new(qemu);
        command.args(self.arguments(console));
        if console == Console::Piped {
            command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        command
    }

    /// QEMU's arguments.
    pub fn arguments(&self, console: Console) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        let harts = self.harts.to_string();
        let machine = ["-M", "virt", "-m", &self.memory, "-smp", &harts, "-bios", "default", "-kernel"];
        args.extend(machine.iter().map(OsString::from));
        args.push(self.kernel.clone().into_os_string());
        match console {
            Console::Interactive => args.push("-nographic".into()),
            Console::Piped => {
                let piped = ["-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot"];
                args.extend(piped.iter().map(OsString::from));
            }
        }
        if let Some(bootargs) = &self.bootargs {
            args.extend(["-append".into(), bootargs.into()]);
        }
        for (index, disk) in self.disks.iter().enumerate() {
            // QEMU's option syntax takes a doubled comma for a comma inside a value.
            let path = disk.path.to_string_lossy().replace(',', ",,");
            let read_only = if disk.attach.read_only { ",readonly=on" } else { "" };
            args.push("-drive".into());
            args.push(format!("file={path},format=raw,if=none,id=disk{index}{read_only}").into());
            let serial = disk
                .attach
                .serial
                .as_ref()
                .map_or(String::new(), |serial| format!(",serial={}", serial.replace(',', ",,")));
            args.push("-device".into());
            args.push(format!("virtio-blk-device,drive=disk{index}{serial}").into());
        }
        if let Some(network) = &self.network {
            args.extend(["-netdev".into(), network.netdev().into()]);
            args.extend(["-device".into(), "virtio-net-device,netdev=net0".into()]);
        }
        args
    }
}

/// The command as a shell line, for the log.
pub fn describe(command: &Command) -> String {
    let mut line = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        let arg = arg.to_string_lossy();
        if arg.contains(' ') {
            line.push_str(&format!(" '{arg}'"));
        } else {
            line.push(' ');
            line.push_str(&arg);
        }
    }
    line
}

/// What a machine exit status means (see `kernel_abi::exit_status`).
pub fn explain_status(code: i32) -> &'static str {
    match u16::try_from(code) {
        Ok(exit_status::SUCCESS) => "the root task exited successfully",
        Ok(exit_status::BOOT_FAILURE) => "boot failed",
        Ok(exit_status::ROOT_TASK_FAULTED) => "the root task faulted",
        Ok(exit_status::KERNEL_PANIC) => "kernel panic",
        _ => "the root task's exit status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arguments(boot: &Boot) -> Vec<String> {
        boot.arguments(Console::Piped).iter().map(|arg| arg.to_string_lossy().into_owned()).collect()
    }

    /// The value after each `flag` in `args`.
    fn values<'a>(args: &'a [String], flag: &str) -> Vec<&'a str> {
        args.windows(2).filter(|pair| pair[0] == flag).map(|pair| pair[1].as_str()).collect()
    }

    #[test]
    fn a_plain_boot_has_no_disk_and_no_network() {
        let args = arguments(&Boot::new(Path::new("/k/kernel.bin")));
        assert_eq!(values(&args, "-kernel"), ["/k/kernel.bin"]);
        assert!(values(&args, "-drive").is_empty());
        assert!(values(&args, "-netdev").is_empty());
        assert!(values(&args, "-device").is_empty());
        // The piped console: serial on stdio, no monitor to trip over, no reboot.
        assert_eq!(values(&args, "-serial"), ["stdio"]);
        assert_eq!(values(&args, "-monitor"), ["none"]);
    }

    #[test]
    fn disks_are_raw_virtio_block_devices_in_order() {
        let first = crate::disk::Image::existing(Path::new("/t/a.img"), true);
        let second = crate::disk::Image::existing(Path::new("/t/odd,name.img"), false);
        let boot = Boot::new(Path::new("k")).disk(&first).disk(&second);
        let args = arguments(&boot);
        assert_eq!(
            values(&args, "-drive"),
            [
                "file=/t/a.img,format=raw,if=none,id=disk0",
                "file=/t/odd,,name.img,format=raw,if=none,id=disk1"
            ]
        );
        assert_eq!(
            values(&args, "-device"),
            ["virtio-blk-device,drive=disk0", "virtio-blk-device,drive=disk1"]
        );
        assert_eq!(boot.disks().iter().map(|disk| disk.fat).collect::<Vec<_>>(), [true, false]);
    }

    #[test]
    fn a_disk_may_have_a_serial_and_be_read_only() {
        let image = crate::disk::Image::existing(Path::new("/t/a.img"), true);
        let boot = Boot::new(Path::new("k"))
            .disk_as(&image, Attach::serial("fat").read_only())
            .disk_as(&image, Attach::serial("odd,serial"));
        let args = arguments(&boot);
        assert_eq!(
            values(&args, "-drive"),
            [
                "file=/t/a.img,format=raw,if=none,id=disk0,readonly=on",
                "file=/t/a.img,format=raw,if=none,id=disk1"
            ]
        );
        assert_eq!(
            values(&args, "-device"),
            ["virtio-blk-device,drive=disk0,serial=fat", "virtio-blk-device,drive=disk1,serial=odd,,serial"]
        );
    }

    #[test]
    fn the_network_is_restricted_and_forwards_only_loopback_ports() {
        let network = Network::user()
            .forward(Protocol::Tcp, 80)
            .and_then(|network| network.forward(Protocol::Udp, 7))
            .expect("free ports");
        let [tcp, udp] = network.forwards() else { panic!("two forwards") };
        let boot = Boot::new(Path::new("k")).network(network.clone());
        let args = arguments(&boot);
        let netdev = values(&args, "-netdev");
        assert_eq!(
            netdev,
            [format!(
                "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:{}-:80,hostfwd=udp:127.0.0.1:{}-:7",
                tcp.host_port, udp.host_port
            )]
        );
        assert_eq!(values(&args, "-device"), ["virtio-net-device,netdev=net0"]);
        // Every option of the netdev: restrict=on, and each forward names 127.0.0.1 as its
        // host address (and no guest address: slirp's own guest).
        let options: Vec<&str> = netdev[0].split(',').collect();
        assert!(options.contains(&"restrict=on"));
        for option in &options[3..] {
            let rule = option.strip_prefix("hostfwd=").expect("only forwards follow");
            let (host, guest) = rule.split_once('-').expect("host-guest");
            let address = host.split(':').nth(1).expect("protocol:address:port");
            assert_eq!(address, "127.0.0.1", "{rule}");
            assert!(guest.starts_with(':'), "{rule}");
        }
        assert_eq!(boot.forwards(), network.forwards());
    }

    #[test]
    fn new_ports_keep_the_protocols_and_guest_ports() {
        let mut network =
            Network::user().forward_from(Protocol::Tcp, 1, 80).forward_from(Protocol::Udp, 2, 53);
        network.pick_new_ports().expect("free ports");
        let forwards = network.forwards();
        assert_eq!(
            forwards.iter().map(|f| (f.protocol, f.guest_port)).collect::<Vec<_>>(),
            [(Protocol::Tcp, 80), (Protocol::Udp, 53)]
        );
        assert!(forwards.iter().all(|forward| forward.host_port > 2));
    }
}
