//! `echod`: TCP and UDP echo (RFC 862) on port 7, through its session with the network
//! server. One thread: it waits on the listener, the UDP socket and every connection at
//! once (`Wait`), and sends back whatever comes. Each connection ends when its peer
//! closes; the server keeps going.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
userlib::entry!(program::main);

/// On the host this binary only says where it runs.
#[cfg(not(target_os = "none"))]
fn main() {
    println!("echod: runs on Lattice");
}

#[cfg(target_os = "none")]
mod program {
    extern crate alloc;

    use alloc::vec::Vec;

    use grant::Rights;
    use net_api::{MAX_INLINE_BYTES, MAX_WAIT_SOCKETS, NetClient, NetError};
    use security_api::SecurityClient;
    use userlib::println;
    use userlib::rpc::CapabilitySlot;

    /// The echo port.
    const PORT: u16 = 7;
    /// Connections waiting to be accepted.
    const BACKLOG: u16 = 4;
    /// Where the net session goes: a free slot of the program's CNode (CNode 0 is the
    /// thread's own CSpace root; a spawned program's slots from 32 are free).
    const SESSION: CapabilitySlot = CapabilitySlot { cnode: 0, index: 32 };

    pub(crate) fn main() -> i32 {
        let Some(security) = SecurityClient::from_start_info() else {
            println!("echod: no session with the security server");
            return 1;
        };
        if let Err(error) = security.connect("net", Rights::LISTEN.union(Rights::UDP), SESSION) {
            println!("echod: cannot reach the network: {error}");
            return 1;
        }
        let net = NetClient::new(SESSION.index);
        match serve(&net) {
            Ok(()) => 0,
            Err(error) => {
                println!("echod: {error}");
                1
            }
        }
    }

    fn serve(net: &NetClient) -> Result<(), NetError> {
        let listener = net.tcp_listen(PORT, BACKLOG)?;
        let (udp, _) = net.udp_bind(PORT)?;
        println!("echod: echoing on tcp {PORT} and udp {PORT}");
        let mut connections: Vec<u32> = Vec::new();
        loop {
            let mut sockets = alloc::vec![listener, udp];
            sockets.extend(connections.iter().copied());
            let ready = net.wait(&sockets, None)?;
            for readiness in ready {
                let socket = readiness.socket;
                if socket == listener {
                    match net.accept(listener) {
                        // Room for the wait's list: the oldest connection goes first.
                        Ok((connection, _)) if connections.len() + 2 < MAX_WAIT_SOCKETS => {
                            connections.push(connection)
                        }
                        Ok((connection, _)) => {
                            let _ = net.close(connection);
                        }
                        Err(error) => println!("echod: accept: {error}"),
                    }
                } else if socket == udp {
                    let (from, data) = net.receive_from(udp, MAX_INLINE_BYTES)?;
                    if let Err(error) = net.send_to(udp, from, &data) {
                        println!("echod: udp to {from}: {error}");
                    }
                } else {
                    let data = net.receive(socket, MAX_INLINE_BYTES).unwrap_or_default();
                    if data.is_empty() || net.send(socket, &data).is_err() {
                        let _ = net.close(socket);
                        connections.retain(|connection| *connection != socket);
                    }
                }
            }
        }
    }
}
