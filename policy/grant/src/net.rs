//! Network scopes: TCP ports to listen on, TCP and UDP destinations, and the questions a
//! network server asks of a session's scope ([`Scope::allows_listen`],
//! [`Scope::allows_connect`], [`Scope::allows_udp`]).
//!
//! Invariants: a [`PortRange`] is non-empty and never holds port 0; an [`Ipv4Net`] has no
//! host bits set; a net scope's listen ranges are sorted, disjoint and not adjacent (merged),
//! and its destination lists are sorted with no entry another entry covers.

use alloc::vec::Vec;
use core::fmt;
use core::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::scope::{Part, drop_covered, is_without_covered};
use crate::{Rights, Scope, ScopeError, ScopeItem};

/// An inclusive range of ports, never containing port 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "(u16, u16)", into = "(u16, u16)")]
pub struct PortRange {
    first: u16,
    last: u16,
}

impl PortRange {
    /// Every port.
    pub const ANY: PortRange = PortRange { first: 1, last: u16::MAX };

    /// The ports `first..=last`; `None` if the range is empty or holds port 0.
    pub const fn new(first: u16, last: u16) -> Option<PortRange> {
        if first == 0 || first > last { None } else { Some(PortRange { first, last }) }
    }

    /// Parses `80`, `8000-8080` or `*`.
    pub fn parse(text: &str) -> Result<PortRange, ScopeError> {
        let bad = || ScopeError::BadPorts(text.into());
        let text = text.trim();
        if text == "*" {
            return Ok(PortRange::ANY);
        }
        let port = |part: &str| part.trim().parse::<u16>().map_err(|_| bad());
        let (first, last) = match text.split_once('-') {
            Some((first, last)) => (port(first)?, port(last)?),
            None => {
                let one = port(text)?;
                (one, one)
            }
        };
        PortRange::new(first, last).ok_or_else(bad)
    }

    /// The first port.
    pub const fn first(self) -> u16 {
        self.first
    }

    /// The last port.
    pub const fn last(self) -> u16 {
        self.last
    }

    /// Whether `port` is in the range.
    pub const fn contains(self, port: u16) -> bool {
        self.first <= port && port <= self.last
    }

    /// Whether every port of `other` is in `self`.
    pub const fn covers(self, other: PortRange) -> bool {
        self.first <= other.first && other.last <= self.last
    }
}

impl TryFrom<(u16, u16)> for PortRange {
    type Error = ScopeError;
    fn try_from((first, last): (u16, u16)) -> Result<Self, ScopeError> {
        PortRange::new(first, last).ok_or_else(|| ScopeError::BadPorts(alloc::format!("{first}-{last}")))
    }
}

impl From<PortRange> for (u16, u16) {
    fn from(range: PortRange) -> (u16, u16) {
        (range.first, range.last)
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == PortRange::ANY {
            f.write_str("*")
        } else if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// An IPv4 network: an address and a prefix length, with no host bits set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "([u8; 4], u8)", into = "([u8; 4], u8)")]
pub struct Ipv4Net {
    address: [u8; 4],
    prefix: u8,
}

impl Ipv4Net {
    /// Every address.
    pub const ANY: Ipv4Net = Ipv4Net { address: [0; 4], prefix: 0 };

    fn mask(prefix: u8) -> u32 {
        u32::MAX.checked_shl(32u32.saturating_sub(u32::from(prefix))).unwrap_or(0)
    }

    /// The network `address/prefix`; `None` if the prefix is over 32 or host bits are set.
    pub fn new(address: Ipv4Addr, prefix: u8) -> Option<Ipv4Net> {
        (prefix <= 32 && address.to_bits() & !Self::mask(prefix) == 0)
            .then_some(Ipv4Net { address: address.octets(), prefix })
    }

    /// Parses `10.0.2.2`, `10.0.0.0/8` or `*`.
    pub fn parse(text: &str) -> Result<Ipv4Net, ScopeError> {
        let bad = || ScopeError::BadAddress(text.into());
        let text = text.trim();
        if text == "*" {
            return Ok(Ipv4Net::ANY);
        }
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, prefix.parse::<u8>().map_err(|_| bad())?),
            None => (text, 32),
        };
        let mut octets = [0u8; 4];
        let mut parts = address.split('.');
        for octet in &mut octets {
            let part = parts.next().ok_or_else(bad)?;
            if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            *octet = part.parse::<u8>().map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ipv4Net::new(Ipv4Addr::from(octets), prefix).ok_or_else(bad)
    }

    /// Whether `address` is in the network.
    pub fn contains(self, address: Ipv4Addr) -> bool {
        let mask = Self::mask(self.prefix);
        address.to_bits() & mask == u32::from_be_bytes(self.address)
    }

    /// Whether every address of `other` is in `self`.
    pub fn covers(self, other: Ipv4Net) -> bool {
        self.prefix <= other.prefix && self.contains(Ipv4Addr::from(other.address))
    }
}

impl TryFrom<([u8; 4], u8)> for Ipv4Net {
    type Error = ScopeError;
    fn try_from((address, prefix): ([u8; 4], u8)) -> Result<Self, ScopeError> {
        Ipv4Net::new(Ipv4Addr::from(address), prefix)
            .ok_or_else(|| ScopeError::BadAddress(alloc::format!("{}/{prefix}", Ipv4Addr::from(address))))
    }
}

impl From<Ipv4Net> for ([u8; 4], u8) {
    fn from(net: Ipv4Net) -> ([u8; 4], u8) {
        (net.address, net.prefix)
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let address = Ipv4Addr::from(self.address);
        match self.prefix {
            0 => f.write_str("*"),
            32 => write!(f, "{address}"),
            prefix => write!(f, "{address}/{prefix}"),
        }
    }
}

/// Where a client may send: a network and a port range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Destination {
    /// The addresses.
    pub network: Ipv4Net,
    /// The ports.
    pub ports: PortRange,
}

impl Destination {
    /// Parses `ADDRESS:PORTS`: `10.0.2.2:80`, `10.0.0.0/8:1-1024`, `*:443`, `*:*`.
    pub fn parse(text: &str) -> Result<Destination, ScopeError> {
        let (address, ports) =
            text.rsplit_once(':').ok_or_else(|| ScopeError::BadDestination(text.into()))?;
        Ok(Destination { network: Ipv4Net::parse(address)?, ports: PortRange::parse(ports)? })
    }

    /// Whether `address:port` is a destination here.
    pub fn contains(self, address: Ipv4Addr, port: u16) -> bool {
        self.network.contains(address) && self.ports.contains(port)
    }

    /// Whether every destination of `other` is in `self`.
    pub fn covers(self, other: Destination) -> bool {
        self.network.covers(other.network) && self.ports.covers(other.ports)
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.network, self.ports)
    }
}

/// The net part of a scope (see the module invariants).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NetScope {
    listen: Vec<PortRange>,
    connect: Vec<Destination>,
    udp: Vec<Destination>,
}

impl NetScope {
    /// A part with these lists as they are, normal or not (tests of the normal form).
    #[cfg(test)]
    pub(crate) fn from_lists(
        listen: Vec<PortRange>,
        connect: Vec<Destination>,
        udp: Vec<Destination>,
    ) -> Self {
        NetScope { listen, connect, udp }
    }

    /// The rights the entries give: listen, connect, udp for each list that is not empty.
    pub(crate) fn rights(&self) -> Rights {
        [
            (!self.listen.is_empty(), Rights::LISTEN),
            (!self.connect.is_empty(), Rights::CONNECT),
            (!self.udp.is_empty(), Rights::UDP),
        ]
        .into_iter()
        .filter(|(present, _)| *present)
        .fold(Rights::NONE, |acc, (_, right)| acc.union(right))
    }

    pub(crate) fn merge(&mut self, other: &NetScope) {
        self.listen.extend_from_slice(&other.listen);
        self.connect.extend_from_slice(&other.connect);
        self.udp.extend_from_slice(&other.udp);
        self.normalize();
    }

    pub(crate) fn restricted_to(&self, rights: Rights) -> NetScope {
        fn kept<T: Clone>(list: &[T], wanted: bool) -> Vec<T> {
            if wanted { list.to_vec() } else { Vec::new() }
        }
        NetScope {
            listen: kept(&self.listen, rights.contains(Rights::LISTEN)),
            connect: kept(&self.connect, rights.contains(Rights::CONNECT)),
            udp: kept(&self.udp, rights.contains(Rights::UDP)),
        }
    }

    /// Pushes onto `lost` what `self` allows that `by` does not. `by` is normal, so its
    /// port ranges are merged and one range covers any range it covers.
    pub(crate) fn uncovered(&self, by: &NetScope, lost: &mut Vec<ScopeItem>) {
        for range in &self.listen {
            if !by.listen.iter().any(|theirs| theirs.covers(*range)) {
                lost.push(ScopeItem::Listen(*range));
            }
        }
        for destination in &self.connect {
            if !by.connect.iter().any(|theirs| theirs.covers(*destination)) {
                lost.push(ScopeItem::Connect(*destination));
            }
        }
        for destination in &self.udp {
            if !by.udp.iter().any(|theirs| theirs.covers(*destination)) {
                lost.push(ScopeItem::Udp(*destination));
            }
        }
    }

    pub(crate) fn items(&self, items: &mut Vec<ScopeItem>) {
        items.extend(self.listen.iter().copied().map(ScopeItem::Listen));
        items.extend(self.connect.iter().copied().map(ScopeItem::Connect));
        items.extend(self.udp.iter().copied().map(ScopeItem::Udp));
    }

    /// Whether the part is normal (see the module invariants), checked without copying.
    pub(crate) fn is_normal(&self) -> bool {
        let listen = &self.listen;
        listen.iter().zip(listen.iter().skip(1)).all(|(a, b)| u32::from(b.first) > u32::from(a.last) + 1)
            && is_without_covered(&self.connect, |a, b| a.covers(*b))
            && is_without_covered(&self.udp, |a, b| a.covers(*b))
    }

    /// Ports sorted, overlapping and adjacent ranges merged; covered destinations dropped.
    pub(crate) fn normalize(&mut self) {
        self.listen.sort();
        let mut ranges: Vec<PortRange> = Vec::with_capacity(self.listen.len());
        for range in self.listen.drain(..) {
            match ranges.last_mut() {
                Some(last) if u32::from(range.first) <= u32::from(last.last) + 1 => {
                    last.last = last.last.max(range.last);
                }
                _ => ranges.push(range),
            }
        }
        self.listen = ranges;
        drop_covered(&mut self.connect, |a, b| a.covers(*b));
        drop_covered(&mut self.udp, |a, b| a.covers(*b));
    }
}

/// Network scopes and the network server's questions.
impl Scope {
    fn net(part: NetScope) -> Scope {
        let mut part = part;
        part.normalize();
        Scope::from_part(Part::Net(part))
    }

    /// net: listen for TCP connections on `ports`.
    pub fn tcp_listen(ports: PortRange) -> Scope {
        Scope::net(NetScope { listen: alloc::vec![ports], ..NetScope::default() })
    }

    /// net: open TCP connections to `destination`.
    pub fn tcp_connect(destination: Destination) -> Scope {
        Scope::net(NetScope { connect: alloc::vec![destination], ..NetScope::default() })
    }

    /// net: exchange UDP datagrams with `destination`.
    pub fn udp(destination: Destination) -> Scope {
        Scope::net(NetScope { udp: alloc::vec![destination], ..NetScope::default() })
    }

    fn net_part(&self) -> Option<&NetScope> {
        match self.part() {
            Part::Net(net) => Some(net),
            _ => None,
        }
    }

    /// net: whether listening on TCP `port` is allowed (never port 0).
    pub fn allows_listen(&self, port: u16) -> bool {
        self.listen_ports().iter().any(|range| range.contains(port))
    }

    /// net: whether a TCP connection to `address:port` is allowed.
    pub fn allows_connect(&self, address: Ipv4Addr, port: u16) -> bool {
        self.connect_destinations().iter().any(|destination| destination.contains(address, port))
    }

    /// net: whether UDP datagrams to and from `address:port` are allowed.
    pub fn allows_udp(&self, address: Ipv4Addr, port: u16) -> bool {
        self.udp_destinations().iter().any(|destination| destination.contains(address, port))
    }

    /// net: the TCP ports that may be listened on, as sorted disjoint ranges.
    pub fn listen_ports(&self) -> &[PortRange] {
        self.net_part().map_or(&[], |net| &net.listen)
    }

    /// net: the TCP connect destinations.
    pub fn connect_destinations(&self) -> &[Destination] {
        self.net_part().map_or(&[], |net| &net.connect)
    }

    /// net: the UDP destinations.
    pub fn udp_destinations(&self) -> &[Destination] {
        self.net_part().map_or(&[], |net| &net.udp)
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::{String, ToString};

    use super::*;

    fn ports(text: &str) -> PortRange {
        PortRange::parse(text).expect("test ports are valid")
    }

    fn destination(text: &str) -> Destination {
        Destination::parse(text).expect("test destinations are valid")
    }

    fn merged(parts: &[Scope]) -> Scope {
        let mut scope = Scope::empty(crate::ServiceKind::Net);
        for part in parts {
            scope.merge(part).expect("net scopes merge");
        }
        scope
    }

    #[test]
    fn ports_parse_with_their_bounds() {
        let cases: [(&str, Option<(u16, u16)>); 12] = [
            ("80", Some((80, 80))),
            ("1", Some((1, 1))),
            ("65535", Some((65535, 65535))),
            ("8000-8080", Some((8000, 8080))),
            (" 7 - 9 ", Some((7, 9))),
            ("*", Some((1, 65535))),
            ("0", None),
            ("0-10", None),
            ("81-80", None),
            ("65536", None),
            ("x", None),
            ("-1", None),
        ];
        for (text, expected) in cases {
            let got = PortRange::parse(text).ok().map(|range| (range.first(), range.last()));
            assert_eq!(got, expected, "ports {text:?}");
        }
    }

    #[test]
    fn addresses_parse_and_contain() {
        assert!(Ipv4Net::parse("10.0.0.0/8").is_ok_and(|net| net.contains(Ipv4Addr::new(10, 9, 8, 7))));
        for bad in ["10.0.0.1/8", "10.0.0", "10.0.0.0.0", "300.0.0.1", "1.2.3.4/33", "+1.2.3.4", ""] {
            assert!(Ipv4Net::parse(bad).is_err(), "{bad:?} should not parse");
        }
        let net = Ipv4Net::parse("192.168.1.0/24").expect("valid");
        let cases = [
            ([192, 168, 1, 0], true),
            ([192, 168, 1, 255], true),
            ([192, 168, 0, 255], false),
            ([192, 168, 2, 0], false),
        ];
        for (address, expected) in cases {
            assert_eq!(net.contains(Ipv4Addr::from(address)), expected, "{net} contains {address:?}");
        }
        assert!(Ipv4Net::ANY.contains(Ipv4Addr::new(255, 255, 255, 255)));
        assert_eq!(Ipv4Net::parse("10.0.2.2").map(|net| net.to_string()), Ok("10.0.2.2".into()));
        assert!(
            Ipv4Net::parse("10.0.0.0/8").is_ok_and(|net| net.covers(Ipv4Net::parse("10.1.0.0/16").unwrap()))
        );
    }

    #[test]
    fn destinations_parse() {
        let one = destination("10.0.2.2:80");
        assert!(one.contains(Ipv4Addr::new(10, 0, 2, 2), 80));
        assert!(!one.contains(Ipv4Addr::new(10, 0, 2, 2), 81));
        assert!(!one.contains(Ipv4Addr::new(10, 0, 2, 3), 80));
        assert_eq!(Destination::parse("*:*").map(|d| d.to_string()), Ok("*:*".into()));
        assert!(Destination::parse("10.0.2.2").is_err());
        assert!(Destination::parse("10.0.2.2:0").is_err());
    }

    #[test]
    fn a_net_server_asks_the_scope() {
        let scope = merged(&[
            Scope::tcp_listen(ports("80")),
            Scope::tcp_listen(ports("8000-8080")),
            Scope::tcp_connect(destination("10.0.0.0/8:443")),
            Scope::udp(destination("10.0.2.3:53")),
        ]);
        let listen = [
            (0, false),
            (79, false),
            (80, true),
            (81, false),
            (7999, false),
            (8000, true),
            (8040, true),
            (8080, true),
            (8081, false),
            (65535, false),
        ];
        for (port, expected) in listen {
            assert_eq!(scope.allows_listen(port), expected, "listen {port}");
        }
        let connect = [
            ([10, 0, 0, 1], 443, true),
            ([10, 255, 255, 255], 443, true),
            ([10, 0, 0, 1], 442, false),
            ([10, 0, 0, 1], 444, false),
            ([11, 0, 0, 1], 443, false),
            ([9, 255, 255, 255], 443, false),
        ];
        for (address, port, expected) in connect {
            assert_eq!(
                scope.allows_connect(Ipv4Addr::from(address), port),
                expected,
                "connect {address:?}:{port}"
            );
            // A TCP destination is no UDP destination.
            assert!(!scope.allows_udp(Ipv4Addr::from(address), port));
        }
        assert!(scope.allows_udp(Ipv4Addr::new(10, 0, 2, 3), 53));
        assert!(!scope.allows_udp(Ipv4Addr::new(10, 0, 2, 3), 54));
        assert!(!scope.allows_connect(Ipv4Addr::new(10, 0, 2, 3), 53));
    }

    #[test]
    fn the_whole_port_range_has_both_ends() {
        let scope = Scope::tcp_listen(PortRange::ANY);
        assert!(!scope.allows_listen(0));
        assert!(scope.allows_listen(1));
        assert!(scope.allows_listen(u16::MAX));
        let everywhere = Scope::udp(destination("*:*"));
        assert!(everywhere.allows_udp(Ipv4Addr::new(0, 0, 0, 0), 1));
        assert!(everywhere.allows_udp(Ipv4Addr::new(255, 255, 255, 255), 65535));
        assert!(!everywhere.allows_udp(Ipv4Addr::new(1, 2, 3, 4), 0));
    }

    #[test]
    fn net_scopes_merge_ranges_and_covered_destinations() {
        let scope = merged(&[
            Scope::tcp_listen(ports("80")),
            Scope::tcp_listen(ports("81-90")),
            Scope::tcp_listen(ports("100-200")),
            Scope::tcp_listen(ports("150-160")),
            Scope::tcp_connect(destination("10.0.0.0/8:443")),
            Scope::tcp_connect(destination("10.0.2.2:443")),
            Scope::udp(destination("*:53")),
        ]);
        assert_eq!(scope.to_string(), "tcp listen 80-90, 100-200; tcp connect 10.0.0.0/8:443; udp *:53");
        assert_eq!(scope.rights(), Rights::LISTEN.union(Rights::CONNECT).union(Rights::UDP));
        let listen_only = scope.restricted_to(Rights::LISTEN);
        assert_eq!(listen_only.rights(), Rights::LISTEN);
        assert!(!listen_only.allows_connect(Ipv4Addr::new(10, 0, 0, 1), 443));
        let narrower = Scope::tcp_listen(ports("80"));
        assert_eq!(
            listen_only.uncovered(&narrower).iter().map(ToString::to_string).collect::<Vec<String>>(),
            ["tcp listen 80-90", "tcp listen 100-200"]
        );
    }

    #[test]
    fn other_kinds_allow_no_network() {
        let fs = Scope::fs(crate::FsPath::root(), Rights::READ).expect("valid");
        assert!(!fs.allows_listen(80));
        assert!(!fs.allows_connect(Ipv4Addr::new(10, 0, 2, 2), 80));
        assert!(!fs.allows_udp(Ipv4Addr::new(10, 0, 2, 2), 53));
        assert!(fs.listen_ports().is_empty());
    }

    #[test]
    fn serde_refuses_bad_ports_and_networks() {
        for bad in [(0u16, 5u16), (9, 8)] {
            let bytes = postcard::to_allocvec(&bad).expect("serializes");
            assert!(postcard::from_bytes::<PortRange>(&bytes).is_err(), "{bad:?} should not decode");
        }
        let host_bits = postcard::to_allocvec(&([10u8, 0, 0, 1], 8u8)).expect("serializes");
        assert!(postcard::from_bytes::<Ipv4Net>(&host_bits).is_err());
        let long_prefix = postcard::to_allocvec(&([10u8, 0, 0, 1], 33u8)).expect("serializes");
        assert!(postcard::from_bytes::<Ipv4Net>(&long_prefix).is_err());
    }
}
