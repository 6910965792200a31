//! The host's side of a guest network: free ports on 127.0.0.1, TCP and UDP clients under
//! deadlines, `curl` and `nc` against a forwarded port, and the sockets QEMU holds.
//!
//! Invariant: nothing here addresses anything but [`LOOPBACK`]. Every client takes a port,
//! never an address, and QEMU's forwards are bound there too ([`crate::qemu::Network`]), so
//! a test cannot send a packet off this machine. Every wait has a deadline; nothing sleeps.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::host::{self, ToolOutput};
use crate::qemu::Protocol;

/// The only address tests talk to.
pub const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// A port on 127.0.0.1 that was free a moment ago: bound with port 0, read, closed. Another
/// program may take it before QEMU binds it; the harness then retries with new ports
/// ([`crate::systest::boot`]).
pub fn free_port(protocol: Protocol) -> Result<u16, String> {
    let address = SocketAddrV4::new(LOOPBACK, 0);
    let port = match protocol {
        Protocol::Tcp => TcpListener::bind(address).and_then(|socket| socket.local_addr()),
        Protocol::Udp => UdpSocket::bind(address).and_then(|socket| socket.local_addr()),
    }
    .map_err(|error| format!("no free {} port on {LOOPBACK}: {error}", protocol.name()))?
    .port();
    Ok(port)
}

/// How a read ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The needle arrived.
    Needle,
    /// The peer closed the connection (end of file).
    Closed,
    /// The peer reset the connection.
    Reset,
    /// The deadline passed first.
    Deadline,
}

/// What a read brought.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The bytes, in order.
    pub bytes: Vec<u8>,
    /// Why the read stopped.
    pub end: End,
}

impl Received {
    /// The bytes as text (lossily).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// A TCP connection to a port on 127.0.0.1.
pub struct TcpClient {
    stream: TcpStream,
    port: u16,
}

impl TcpClient {
    /// Connects to `port`, waiting at most `timeout`.
    pub fn connect(port: u16, timeout: Duration) -> Result<Self, String> {
        let address = SocketAddr::V4(SocketAddrV4::new(LOOPBACK, port));
        let stream = TcpStream::connect_timeout(&address, timeout)
            .map_err(|error| format!("connect to {address}: {error}"))?;
        Ok(Self { stream, port })
    }

    /// Sends all of `bytes`.
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.stream.write_all(bytes).map_err(|error| format!("send to {LOOPBACK}:{}: {error}", self.port))
    }

    /// Reads until `needle` arrives (if given), the peer closes or resets, or `timeout`
    /// passes, whichever is first.
    pub fn read(&mut self, needle: Option<&[u8]>, timeout: Duration) -> Result<Received, String> {
        let deadline = Instant::now() + timeout;
        let mut bytes = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            if let Some(needle) = needle
                && !needle.is_empty()
                && bytes.windows(needle.len()).any(|window| window == needle)
            {
                return Ok(Received { bytes, end: End::Needle });
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Ok(Received { bytes, end: End::Deadline });
            }
            self.stream
                .set_read_timeout(Some(remaining))
                .map_err(|error| format!("set a read timeout: {error}"))?;
            match self.stream.read(&mut buffer) {
                Ok(0) => return Ok(Received { bytes, end: End::Closed }),
                Ok(count) => bytes.extend_from_slice(&buffer[..count]),
                Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Ok(Received { bytes, end: End::Deadline });
                }
                Err(error) if error.kind() == ErrorKind::ConnectionReset => {
                    return Ok(Received { bytes, end: End::Reset });
                }
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => return Err(format!("read from {LOOPBACK}:{}: {error}", self.port)),
            }
        }
    }
}

/// Connects to `port`, sends `request`, and reads until `needle` (or the end, without one)
/// within `timeout` overall.
pub fn tcp_exchange(
    port: u16,
    request: &[u8],
    needle: Option<&[u8]>,
    timeout: Duration,
) -> Result<Received, String> {
    let deadline = Instant::now() + timeout;
    let mut client = TcpClient::connect(port, timeout)?;
    client.send(request)?;
    client.read(needle, deadline.saturating_duration_since(Instant::now()))
}

/// What came back from a UDP port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UdpReply {
    /// A datagram.
    Datagram(Vec<u8>),
    /// Nothing within the deadline (something took the datagram and did not answer).
    Silence,
    /// The host refused it (ICMP port unreachable: nothing is bound to the port).
    Refused,
}

/// Sends `payload` to `port` from a fresh socket and waits at most `timeout` for one
/// datagram back.
pub fn udp_exchange(port: u16, payload: &[u8], timeout: Duration) -> Result<UdpReply, String> {
    let socket =
        UdpSocket::bind(SocketAddrV4::new(LOOPBACK, 0)).map_err(|error| format!("bind UDP: {error}"))?;
    // Connected, so an ICMP refusal comes back as an error on this socket.
    socket.connect(SocketAddrV4::new(LOOPBACK, port)).map_err(|error| format!("connect UDP: {error}"))?;
    socket.set_read_timeout(Some(timeout)).map_err(|error| format!("set a read timeout: {error}"))?;
    match socket.send(payload) {
        Ok(_) => {}
        Err(error) if error.kind() == ErrorKind::ConnectionRefused => return Ok(UdpReply::Refused),
        Err(error) => return Err(format!("send to {LOOPBACK}:{port}: {error}")),
    }
    let mut buffer = vec![0u8; 65536];
    match socket.recv(&mut buffer) {
        Ok(count) => {
            buffer.truncate(count);
            Ok(UdpReply::Datagram(buffer))
        }
        Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            Ok(UdpReply::Silence)
        }
        Err(error) if error.kind() == ErrorKind::ConnectionRefused => Ok(UdpReply::Refused),
        Err(error) => Err(format!("receive from {LOOPBACK}:{port}: {error}")),
    }
}

/// Whole seconds for a tool's own timeout option, at least one.
fn whole_seconds(timeout: Duration) -> String {
    timeout.as_secs().max(1).to_string()
}

/// `curl` for `http://127.0.0.1:PORT{path}` with `--max-time`, never through a proxy.
pub fn curl_command(port: u16, path: &str, max_time: Duration) -> Command {
    let mut command = Command::new("curl");
    command
        .args(["--silent", "--show-error", "--noproxy", "*", "--max-time"])
        .arg(format!("{:.1}", max_time.as_secs_f32()))
        .arg(format!("http://{LOOPBACK}:{port}{path}"));
    // A proxy from the environment would send the request elsewhere.
    for variable in ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"] {
        command.env_remove(variable);
    }
    command
}

/// Runs `curl` against `path` on `port` (exit status 28 means it hit `--max-time`).
pub fn curl(port: u16, path: &str, max_time: Duration) -> Result<ToolOutput, String> {
    // Our deadline is a little later than curl's own, so curl reports its timeout itself.
    host::run_with_deadline(&mut curl_command(port, path, max_time), b"", max_time + Duration::from_secs(5))
}

/// `nc` (OpenBSD) to `port`: TCP, or UDP with `-u`; `-w` bounds the connect and idle time,
/// `-N` closes the connection when `input` is sent.
pub fn nc_command(protocol: Protocol, port: u16, max_time: Duration) -> Command {
    let mut command = Command::new("nc");
    if protocol == Protocol::Udp {
        command.arg("-u");
    } else {
        command.arg("-N");
    }
    command.args(["-w", &whole_seconds(max_time), &LOOPBACK.to_string(), &port.to_string()]);
    command
}

/// Runs `nc` against `port` with `input` on its standard input.
pub fn nc(protocol: Protocol, port: u16, input: &[u8], max_time: Duration) -> Result<ToolOutput, String> {
    host::run_with_deadline(
        &mut nc_command(protocol, port, max_time),
        input,
        max_time + Duration::from_secs(5),
    )
}

/// `nc -z`: whether something accepts TCP connections on `port`.
pub fn nc_probe(port: u16, max_time: Duration) -> Result<ToolOutput, String> {
    let mut command = Command::new("nc");
    command.args(["-z", "-w", &whole_seconds(max_time), &LOOPBACK.to_string(), &port.to_string()]);
    host::run_with_deadline(&mut command, b"", max_time + Duration::from_secs(5))
}

/// A socket in the kernel's tables (`/proc/net/{tcp,udp,tcp6,udp6}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Socket {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The local address it is bound to.
    pub local: SocketAddr,
    /// Whether it listens (TCP state 0A; UDP sockets have no such state).
    pub listening: bool,
    /// Its inode, which `/proc/PID/fd` names as `socket:[INODE]`.
    pub inode: u64,
}

/// Parses a `/proc/net/{tcp,udp,tcp6,udp6}` table.
pub fn parse_socket_table(text: &str, protocol: Protocol) -> Vec<Socket> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = parse_socket_address(fields.get(1)?)?;
            let state = fields.get(3)?;
            let inode = fields.get(9)?.parse().ok()?;
            Some(Socket { protocol, local, listening: protocol == Protocol::Tcp && *state == "0A", inode })
        })
        .collect()
}

/// `0100007F:1F90` (IPv4, the address a little-endian word) or 32 hex digits for IPv6 (four
/// little-endian words), then the port in big-endian hex.
fn parse_socket_address(text: &str) -> Option<SocketAddr> {
    let (address, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |index: usize| -> Option<[u8; 4]> {
        let hex = address.get(index * 8..index * 8 + 8)?;
        Some(u32::from_str_radix(hex, 16).ok()?.to_le_bytes())
    };
    match address.len() {
        8 => Some(SocketAddr::new(Ipv4Addr::from(word(0)?).into(), port)),
        32 => {
            let mut octets = [0u8; 16];
            for index in 0..4 {
                octets[index * 4..index * 4 + 4].copy_from_slice(&word(index)?);
            }
            Some(SocketAddr::new(Ipv6Addr::from(octets).into(), port))
        }
        _ => None,
    }
}

/// The sockets process `pid` holds, IPv4 and IPv6, TCP and UDP.
pub fn sockets_of(pid: u32) -> Result<Vec<Socket>, String> {
    let inodes: Vec<u64> = host::open_files(pid)?.iter().filter_map(|file| file.socket_inode()).collect();
    let mut sockets = Vec::new();
    for (table, protocol) in
        [("tcp", Protocol::Tcp), ("tcp6", Protocol::Tcp), ("udp", Protocol::Udp), ("udp6", Protocol::Udp)]
    {
        let path = format!("/proc/net/{table}");
        // A kernel without IPv6 has no tcp6 table, and so no IPv6 sockets.
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        sockets.extend(
            parse_socket_table(&text, protocol).into_iter().filter(|socket| inodes.contains(&socket.inode)),
        );
    }
    Ok(sockets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_on_loopback_and_bindable() {
        for protocol in [Protocol::Tcp, Protocol::Udp] {
            let port = free_port(protocol).unwrap();
            assert_ne!(port, 0);
            let address = SocketAddrV4::new(LOOPBACK, port);
            match protocol {
                Protocol::Tcp => drop(TcpListener::bind(address).unwrap()),
                Protocol::Udp => drop(UdpSocket::bind(address).unwrap()),
            }
        }
        // Two ports asked for at once (both bound until read) differ; one after the other
        // usually do too, and a clash is retried at boot.
        let first = TcpListener::bind(SocketAddrV4::new(LOOPBACK, 0)).unwrap();
        let second = free_port(Protocol::Tcp).unwrap();
        assert_ne!(first.local_addr().unwrap().port(), second);
    }

    #[test]
    fn the_tcp_client_reads_to_a_needle_to_the_end_and_to_a_deadline() {
        let listener = TcpListener::bind(SocketAddrV4::new(LOOPBACK, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            // First connection: echo a line with a prefix and close.
            let (mut stream, _) = listener.accept().unwrap();
            let mut line = [0u8; 5];
            stream.read_exact(&mut line).unwrap();
            stream.write_all(b"echo ").unwrap();
            stream.write_all(&line).unwrap();
            drop(stream);
            // Second: say hello, then stay silent until the client closes.
            let (mut stream, _) = listener.accept().unwrap();
            stream.write_all(b"hello\nmore").unwrap();
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest);
        });
        let received = tcp_exchange(port, b"ping\n", None, Duration::from_secs(10)).unwrap();
        assert_eq!(received, Received { bytes: b"echo ping\n".to_vec(), end: End::Closed });
        let mut client = TcpClient::connect(port, Duration::from_secs(10)).unwrap();
        let greeting = client.read(Some(b"hello\n"), Duration::from_secs(10)).unwrap();
        assert_eq!(greeting.end, End::Needle);
        assert!(greeting.text().starts_with("hello\n"));
        let began = Instant::now();
        let silence = client.read(Some(b"never"), Duration::from_millis(200)).unwrap();
        assert_eq!(silence.end, End::Deadline);
        assert!(began.elapsed() < Duration::from_secs(5));
        drop(client);
        server.join().unwrap();
    }

    #[test]
    fn a_closed_tcp_port_is_refused() {
        let port = free_port(Protocol::Tcp).unwrap();
        let error = TcpClient::connect(port, Duration::from_secs(5)).err().unwrap();
        assert!(error.contains("refused"), "{error}");
    }

    #[test]
    fn udp_tells_a_reply_from_silence_from_a_refusal() {
        let server = UdpSocket::bind(SocketAddrV4::new(LOOPBACK, 0)).unwrap();
        let port = server.local_addr().unwrap().port();
        let echo = std::thread::spawn(move || {
            let mut buffer = [0u8; 64];
            let (count, from) = server.recv_from(&mut buffer).unwrap();
            server.send_to(&buffer[..count], from).unwrap();
            // The second datagram is taken and not answered.
            server.recv_from(&mut buffer).unwrap();
        });
        let reply = udp_exchange(port, b"marco", Duration::from_secs(10)).unwrap();
        assert_eq!(reply, UdpReply::Datagram(b"marco".to_vec()));
        assert_eq!(udp_exchange(port, b"again", Duration::from_millis(200)).unwrap(), UdpReply::Silence);
        echo.join().unwrap();
        let closed = free_port(Protocol::Udp).unwrap();
        assert_eq!(udp_exchange(closed, b"anyone?", Duration::from_secs(5)).unwrap(), UdpReply::Refused);
    }

    #[test]
    fn curl_and_nc_address_only_loopback_with_their_own_timeouts() {
        let curl = curl_command(8080, "/index.html", Duration::from_secs(3));
        let args: Vec<String> = curl.get_args().map(|arg| arg.to_string_lossy().into_owned()).collect();
        assert_eq!(args.last().map(String::as_str), Some("http://127.0.0.1:8080/index.html"));
        assert!(args.windows(2).any(|pair| pair == ["--max-time", "3.0"]), "{args:?}");
        assert!(args.windows(2).any(|pair| pair == ["--noproxy", "*"]), "{args:?}");
        for (protocol, first) in [(Protocol::Tcp, "-N"), (Protocol::Udp, "-u")] {
            let nc = nc_command(protocol, 7, Duration::from_millis(1500));
            let args: Vec<String> = nc.get_args().map(|arg| arg.to_string_lossy().into_owned()).collect();
            assert_eq!(args, [first, "-w", "1", "127.0.0.1", "7"]);
        }
    }

    #[test]
    fn nc_talks_to_a_local_server() {
        let listener = TcpListener::bind(SocketAddrV4::new(LOOPBACK, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            stream.read_to_end(&mut request).unwrap();
            stream.write_all(&request.to_ascii_uppercase()).unwrap();
        });
        let output = nc(Protocol::Tcp, port, b"shout\n", Duration::from_secs(5)).unwrap();
        assert_eq!((output.status, output.stdout.as_str()), (Some(0), "SHOUT\n"), "{output:?}");
        server.join().unwrap();
        let closed = free_port(Protocol::Tcp).unwrap();
        assert_ne!(nc_probe(closed, Duration::from_secs(2)).unwrap().status, Some(0));
    }

    #[test]
    fn socket_tables_parse_addresses_states_and_inodes() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1339 1 0000 100 0 0 10 0\n   1: 0100007F:ACDD 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 76535 1 0000 100 0 0 10 0\n   2: 0100007F:ACDD 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 76540 1 0000 100 0 0 10 0\n";
        let sockets = parse_socket_table(tcp, Protocol::Tcp);
        assert_eq!(sockets.len(), 3);
        assert_eq!(sockets[0].local, "0.0.0.0:2024".parse().unwrap());
        assert_eq!(
            sockets[1],
            Socket {
                protocol: Protocol::Tcp,
                local: "127.0.0.1:44253".parse().unwrap(),
                listening: true,
                inode: 76535
            }
        );
        assert!(!sockets[2].listening, "an established connection");
        let udp6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n  5: 00000000000000000000000001000000:0035 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 999 2 0000 0\n";
        let sockets = parse_socket_table(udp6, Protocol::Udp);
        assert_eq!(sockets.len(), 1);
        assert_eq!(sockets[0].local, "[::1]:53".parse().unwrap());
        assert!(!sockets[0].listening);
        assert_eq!(sockets[0].inode, 999);
    }

    #[test]
    fn this_process_sees_its_own_loopback_listener() {
        let listener = TcpListener::bind(SocketAddrV4::new(LOOPBACK, 0)).unwrap();
        let local = listener.local_addr().unwrap();
        let sockets = sockets_of(std::process::id()).unwrap();
        assert!(sockets.iter().any(|socket| socket.local == local && socket.listening), "{sockets:?}");
    }
}
