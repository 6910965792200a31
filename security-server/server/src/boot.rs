//! The boot servers, from the manifest the image builder packs into the boot archive: the
//! root task badged server `i`'s capability to the security server with `i` (from 1, in
//! manifest order), so badge `i` is that server's client id. A server that provides a
//! service is `/sbin/NAME`; one that provides none (the shell) is a program, `/bin/NAME`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::ClientId;

/// A boot server: its client id and the path the policy knows it by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootServer {
    /// Its client id (its badge).
    pub client: ClientId,
    /// `/sbin/NAME` or `/bin/NAME`.
    pub path: String,
}

/// The boot servers of the manifest's text (the root task's format: a header line, then
/// `server NAME PRIORITY MEMORY PROVIDES|- ...` per server). Lines that are not servers
/// keep their number (the badge counts lines after the header) but give no server.
pub fn boot_servers(manifest: &str) -> Vec<BootServer> {
    manifest
        .lines()
        .skip(1)
        .enumerate()
        .filter_map(|(index, line)| {
            let mut words = line.split_ascii_whitespace();
            if words.next() != Some("server") {
                return None;
            }
            let name = words.next()?;
            let provides = words.nth(2)?;
            let path = if provides == "-" { format!("/bin/{name}") } else { format!("/sbin/{name}") };
            Some(BootServer { client: index as ClientId + 1, path })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_are_numbered_in_manifest_order_by_what_they_provide() {
        let manifest = "lattice-manifest 1\nserver console 180 1M console security,donor uart@0x10000000:10 - -\nserver donor 200 64M donor security - sched_control -\nserver shell 120 1M - security - - -\n";
        let servers = boot_servers(manifest);
        assert_eq!(
            servers,
            [
                BootServer { client: 1, path: "/sbin/console".into() },
                BootServer { client: 2, path: "/sbin/donor".into() },
                BootServer { client: 3, path: "/bin/shell".into() },
            ]
        );
    }

    #[test]
    fn a_short_or_foreign_line_gives_no_server() {
        let servers = boot_servers("header\nserver broken\nnote x y z\nserver proc 150 1M proc -\n");
        assert_eq!(servers, [BootServer { client: 3, path: "/sbin/proc".into() }]);
        assert!(boot_servers("").is_empty());
    }
}
