//! System tests of the network: the network server (smoltcp over virtio-net) and `echod`
//! started at the shell, reached from the host through QEMU's forwarded ports on
//! 127.0.0.1 with a real client (a `TcpStream`). UDP is forwarded too, but its echo from
//! the host is not checked yet (CAVEATS.md).

use std::time::Duration;

use super::{Context, PROMPT, STEP, SystemTest, system_disk_attach};
use crate::net::{self, End};
use crate::qemu::{Network, Protocol};

/// The network tests, in the order they run.
pub const TESTS: &[SystemTest] = &[SystemTest {
    name: "net.echo",
    about: "echod started at the shell echoes a TCP connection from the host through 127.0.0.1's forwarded port, and a second connection after the first closed",
    system: "virt",
    run: echo,
}];

/// How long one exchange may take (the guest's first ARP and the slirp path included).
const EXCHANGE: Duration = Duration::from_secs(20);

fn echo(cx: &Context) -> Result<(), String> {
    let disk = cx.system_disk("system.img")?;
    let network = Network::user().forward(Protocol::Tcp, 7)?.forward(Protocol::Udp, 7)?;
    let mut machine = cx.boot(|boot| boot.disk_as(&disk, system_disk_attach()).network(network))?;
    cx.step("net_up", "the network server finds the device and takes 10.0.2.15", || {
        machine.expect("at 10.0.2.15/24 via 10.0.2.2", STEP).map(|_| ())
    })?;
    machine.expect(PROMPT, STEP)?;
    cx.step("echod_started", "echod & at the prompt listens on tcp and udp 7", || {
        machine.type_line("echod &")?;
        machine.expect("echod: echoing on tcp 7 and udp 7", STEP).map(|_| ())
    })?;
    let tcp = machine.host_port(Protocol::Tcp, 7)?;
    for round in ["first", "second"] {
        cx.step(&format!("tcp_echo_{round}"), "a TCP connection from the host gets its bytes back", || {
            let line = format!("hello from the host, {round} connection\n");
            let received = net::tcp_exchange(tcp, line.as_bytes(), Some(line.as_bytes()), EXCHANGE)?;
            if received.end == End::Needle {
                Ok(())
            } else {
                Err(format!("got {:?} ({:?})", received.text(), received.end))
            }
        })?;
    }
    Ok(())
}
