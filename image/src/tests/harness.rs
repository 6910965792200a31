//! System tests of the harness itself: a disk image and user networking attached to a real
//! boot, seen from both sides. There is no filesystem or network server yet, so the guest's
//! side is `apps/test-virtio` as the root task, which reads the identification registers of
//! every virtio-mmio transport and waits for a key; the host's side is what QEMU holds
//! (`/proc`) and what a host client observes on the forwarded ports.

use std::net::{SocketAddr, SocketAddrV4};
use std::time::Duration;

use kernel_abi::exit_status;

use super::{Context, STEP, SystemTest, boot_list, expect_status};
use crate::disk::Image;
use crate::net::{self, End, LOOPBACK, TcpClient, UdpReply};
use crate::qemu::{Network, Protocol};
use crate::systest::Machine;

/// Files the disk test puts on its image (and reads back after the boot).
const DISK_FILES: &[(&str, &[u8])] = &[
    ("etc/motd", b"made on the host by the test harness\n"),
    ("www/index.html", b"<h1>Lattice</h1>\n"),
    ("home/a file with a long name.txt", b"long names survive\n"),
];

/// How long a host client waits for a guest that cannot answer (nothing in the guest drives
/// the network device): long enough for QEMU to have answered if it were going to.
const SILENCE: Duration = Duration::from_millis(700);

/// A virtio device the guest found: its transport's address and device id.
#[derive(Debug, PartialEq, Eq)]
struct VirtioDevice {
    address: String,
    id: u32,
}

/// Boots `test-virtio` and reads its transport lines up to its prompt; returns the devices
/// (transports whose device id is not 0).
fn probe(
    context: &Context,
    configure: impl FnOnce(crate::qemu::Boot) -> crate::qemu::Boot,
) -> Result<(Machine, Vec<VirtioDevice>), String> {
    let mut machine = context.boot(|boot| configure(boot_list("test-virtio")(boot)))?;
    let report = machine.expect("test-virtio: type a key to stop", STEP)?;
    let devices = parse_probe(&report)?;
    Ok((machine, devices))
}

/// `test-virtio: 0x10008000 virtio-mmio v1 device 2 (block)` lines, eight of them.
fn parse_probe(report: &str) -> Result<Vec<VirtioDevice>, String> {
    let mut transports = 0;
    let mut devices = Vec::new();
    for line in report.lines() {
        let Some(rest) = line.strip_prefix("test-virtio: 0x") else { continue };
        let words: Vec<&str> = rest.split_whitespace().collect();
        let [address, "virtio-mmio", _version, "device", id, _name] = words.as_slice() else {
            return Err(format!("test-virtio printed {line:?}"));
        };
        transports += 1;
        let id: u32 = id.parse().map_err(|_| format!("test-virtio printed {line:?}"))?;
        if id != 0 {
            devices.push(VirtioDevice { address: format!("0x{address}"), id });
        }
    }
    if transports != 8 {
        return Err(format!("test-virtio reported {transports} transports, not QEMU virt's 8:\n{report}"));
    }
    Ok(devices)
}

/// Exactly one device, with virtio device id `id`.
fn only_device(devices: &[VirtioDevice], id: u32, what: &str) -> Result<(), String> {
    match devices {
        [device] if device.id == id => Ok(()),
        _ => Err(format!("the guest found {devices:?}, not one {what} device (virtio id {id})")),
    }
}

/// Types the key test-virtio waits for and checks it ends well: its checks (VIRTIO0001 the
/// transports found, VIRTIO0002 the key) and its exit status.
fn stop(context: &Context, machine: &mut Machine) -> Result<(), String> {
    machine.type_text("q")?;
    machine.expect("test-virtio: done", STEP)?;
    context.expect_checks(machine, "test-virtio", &[("VIRTIO", 2)])?;
    expect_status(machine, exit_status::SUCCESS)
}

/// The sockets QEMU holds, as (protocol, local address, listening).
fn qemu_sockets(machine: &Machine) -> Result<Vec<(Protocol, SocketAddr, bool)>, String> {
    let mut sockets: Vec<_> = net::sockets_of(machine.pid())?
        .into_iter()
        .map(|socket| (socket.protocol, socket.local, socket.listening))
        .collect();
    sockets.sort_by_key(|(protocol, address, _)| (protocol.name(), *address));
    Ok(sockets)
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(LOOPBACK, port))
}

fn disk_attached(context: &Context) -> Result<(), String> {
    let image = Image::fat(&context.scratch("disk.img"), 16 << 20, DISK_FILES)?;
    let blank = Image::raw(&context.scratch("blank.img"), 1 << 20)?;
    let (mut machine, devices) = probe(context, |boot| boot.disk(&image).disk(&blank))?;
    context.check(
        "guest_sees_block",
        "the guest finds two virtio devices behind the eight transports, both block devices",
        match devices.as_slice() {
            [first, second] if first.id == 2 && second.id == 2 => Ok(()),
            _ => Err(format!("the guest found {devices:?}, not two block devices (virtio id 2)")),
        },
    )?;
    let open = crate::host::open_files(machine.pid())?;
    let mut opened = Ok(());
    for disk in [&image, &blank] {
        let path =
            disk.path().canonicalize().map_err(|error| format!("{}: {error}", disk.path().display()))?;
        match open.iter().find(|file| file.target == path) {
            Some(file) if file.read_write() => {}
            Some(file) => {
                opened = Err(format!("QEMU has {} open with flags {:#o}", path.display(), file.flags))
            }
            None => opened = Err(format!("QEMU does not hold {} open", path.display())),
        }
    }
    context.check(
        "qemu_opened",
        "QEMU holds both image files open read-write while the machine runs",
        opened,
    )?;
    stop(context, &mut machine)?;
    drop(machine);
    let mut unchanged = Ok(());
    for (name, contents) in DISK_FILES {
        if image.read(name)? != *contents {
            unchanged = Err(format!("{name} changed"));
        }
    }
    context.check(
        "files_read_back",
        "after the machine stopped the host reads back every file it put on the image",
        unchanged,
    )
    // The runner then checks the image with fsck.fat -n.
}

fn net_forward(context: &Context) -> Result<(), String> {
    let network = Network::user().forward(Protocol::Tcp, 80)?.forward(Protocol::Udp, 7)?;
    let (mut machine, devices) = probe(context, |boot| boot.network(network))?;
    let tcp = machine.host_port(Protocol::Tcp, 80)?;
    let udp = machine.host_port(Protocol::Udp, 7)?;
    context.check(
        "guest_sees_network",
        "the guest finds one virtio device behind the eight transports, a network device",
        only_device(&devices, 1, "network"),
    )?;
    let sockets = qemu_sockets(&machine)?;
    let expected = vec![(Protocol::Tcp, loopback(tcp), true), (Protocol::Udp, loopback(udp), false)];
    context.check(
        "loopback_only",
        "QEMU's only sockets are the forwards, a TCP listener and a UDP socket, both bound to 127.0.0.1",
        if sockets == expected { Ok(()) } else { Err(format!("QEMU holds {sockets:?}, not {expected:?}")) },
    )?;
    // The guest runs no network stack, so slirp's SYN to guest port 80 is never answered;
    // QEMU has accepted the host's connection already and holds it open, silent.
    let held =
        net::tcp_exchange(tcp, b"GET / HTTP/1.0\r\n\r\n", None, SILENCE).and_then(|received| match received
            .end
        {
            End::Deadline if received.bytes.is_empty() => Ok(()),
            end => Err(format!("the forwarded connection ended {end:?} after {:?}", received.text())),
        });
    let closed = net::free_port(Protocol::Tcp)?;
    let refused = match TcpClient::connect(closed, STEP) {
        Err(error) if error.contains("refused") => Ok(()),
        Err(error) => Err(format!("a port nobody forwards: {error}")),
        Ok(_) => Err(format!("{LOOPBACK}:{closed}, forwarded by nobody, accepted a connection")),
    };
    context.check(
        "tcp_accepted_silent",
        "a TCP connection to the forwarded port is accepted by QEMU and stays open and silent (no guest stack answers), where a port nobody forwards is refused",
        held.and(refused),
    )?;
    let taken = net::udp_exchange(udp, b"ping", SILENCE)?;
    let unforwarded = net::udp_exchange(net::free_port(Protocol::Udp)?, b"ping", SILENCE)?;
    let nc = net::nc(Protocol::Udp, udp, b"ping\n", Duration::from_secs(1))?;
    context.check(
        "udp_taken_silent",
        "a datagram to the forwarded UDP port (ours, then nc -u's) is taken without an answer, where one to a port nobody forwards is refused",
        match (&taken, &unforwarded) {
            (UdpReply::Silence, UdpReply::Refused) if nc.stdout.is_empty() && !nc.timed_out => Ok(()),
            _ => Err(format!("forwarded: {taken:?}, not forwarded: {unforwarded:?}, nc -u: {nc:?}")),
        },
    )?;
    let probe = net::nc_probe(tcp, Duration::from_secs(2))?;
    let curl = net::curl(tcp, "/", Duration::from_secs(1))?;
    context.check(
        "host_tools",
        "nc -z connects to the forwarded port, and curl --max-time 1 connects and times out with nothing received",
        if probe.status != Some(0) {
            Err(format!("nc -z: {probe:?}"))
        } else if curl.status != Some(28) || !curl.stderr.contains("0 bytes received") {
            Err(format!("curl: {curl:?}"))
        } else {
            Ok(())
        },
    )?;
    stop(context, &mut machine)?;
    drop(machine);
    context.check(
        "ports_released",
        "once the machine stopped, the forwarded TCP port refuses connections",
        match TcpClient::connect(tcp, STEP) {
            Err(error) if error.contains("refused") => Ok(()),
            Err(error) => Err(error),
            Ok(_) => Err(format!("{LOOPBACK}:{tcp} still accepts connections")),
        },
    )
}

fn port_clash(context: &Context) -> Result<(), String> {
    // Someone else holds the port first.
    let holder = std::net::TcpListener::bind(SocketAddrV4::new(LOOPBACK, 0))
        .map_err(|error| format!("bind a port to hold: {error}"))?;
    let held = holder.local_addr().map_err(|error| error.to_string())?.port();
    let network = Network::user().forward_from(Protocol::Tcp, held, 80);
    let (mut machine, _) = probe(context, |boot| boot.network(network))?;
    let port = machine.host_port(Protocol::Tcp, 80)?;
    context.check(
        "new_port",
        "QEMU refused the taken port, and the harness booted again with another",
        if port != held { Ok(()) } else { Err(format!("still on the held port {held}")) },
    )?;
    let sockets = qemu_sockets(&machine)?;
    context.check(
        "listening",
        "QEMU listens on the new port, on 127.0.0.1",
        if sockets == [(Protocol::Tcp, loopback(port), true)] {
            Ok(())
        } else {
            Err(format!("QEMU holds {sockets:?}"))
        },
    )?;
    stop(context, &mut machine)
}

/// The harness tests.
pub const TESTS: &[SystemTest] = &[
    SystemTest {
        name: "harness.disk_attached",
        about: "a fresh FAT image and a blank raw image attached as virtio-blk are opened read-write by QEMU and seen by the guest as its two block devices; the FAT image reads back and passes fsck.fat -n after the machine stops (the guest reads device registers only: nothing writes the disks yet)",
        system: "bare",
        run: disk_attached,
    },
    SystemTest {
        name: "harness.net_forward",
        about: "user networking with restrict=on is seen by the guest as its one network device; the forwards are QEMU's only sockets, on 127.0.0.1; with no guest stack, TCP is accepted and held silent, UDP taken silently, and both are gone when the machine stops (nothing crosses to the guest yet)",
        system: "bare",
        run: net_forward,
    },
    SystemTest {
        name: "harness.port_clash",
        about: "a forwarded host port another program holds makes QEMU refuse to start, and the harness boots again on a new free port",
        system: "bare",
        run: port_clash,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_report_gives_the_devices() {
        let mut report = String::from("[kernel] loaded test-virtio\n");
        for slot in 1..=8 {
            let (id, name) = if slot == 8 { (2, "block") } else { (0, "none") };
            report.push_str(&format!("test-virtio: 0x1000{slot}000 virtio-mmio v1 device {id} ({name})\n"));
        }
        report.push_str("test-virtio: 8 transports, 1 devices\n");
        let devices = parse_probe(&report).unwrap();
        assert_eq!(devices, [VirtioDevice { address: "0x10008000".into(), id: 2 }]);
        assert!(only_device(&devices, 2, "block").is_ok());
        assert!(only_device(&devices, 1, "network").is_err());
        assert!(only_device(&[], 2, "block").is_err());
        let short: String = report.lines().skip(2).map(|line| format!("{line}\n")).collect();
        assert!(parse_probe(&short).unwrap_err().contains("7 transports"));
        assert!(parse_probe("test-virtio: 0x10001000 garbled\n").is_err());
    }
}
