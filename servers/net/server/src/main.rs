//! `net`: the network server. It runs on the server kit, in one thread woken by one
//! notification: the NIC's interrupt (a kit bit), its timer (armed from smoltcp's
//! `poll_delay` and the earliest waiting `Wait` timeout, so retransmissions and timeouts
//! happen with no traffic), and client requests. The logic is the library ([`net::Stack`]:
//! smoltcp and the socket table), host-tested over a loopback device; this file is the
//! plumbing:
//!
//! - the device is the first virtio-net among the manifest's transports (`servers/virtio`:
//!   packet buffers in this server's DMA pool, interrupt on [`NIC_BIT`]); without one every
//!   request is answered `NoNetwork` with the reason;
//! - the address is QEMU user networking's, 10.0.2.15/24 via 10.0.2.2;
//! - a request that must wait (accept, connect, receive, a send without room, a wait) is
//!   deferred and tried again after every poll, in arrival order, until it answers; a
//!   session that closes has its sockets aborted and its waiting callers answered;
//! - after every event the stack is polled until it has nothing more to do (received
//!   frames are all taken before the clock moves on: DESIGN.md's smoltcp trap).
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
userlib::entry!(program::main);

/// On the host this binary only says where it runs: the library is what the tests use.
#[cfg(not(target_os = "none"))]
fn main() {
    println!("net: the network server runs on Lattice; `cargo test -p net` tests its logic");
}

#[cfg(target_os = "none")]
mod program {
    extern crate alloc;

    use alloc::format;
    use alloc::string::String;
    use alloc::vec::Vec;
    use core::time::Duration;

    use kernel_abi::ObjectType;
    use kit::{Answer, Call, Caller, Config, Deferred, Kit, Session, Slot};
    use net::smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
    use net::smoltcp::time::Instant;
    use net::smoltcp::wire::{EthernetAddress, HardwareAddress};
    use net::{Address, Stack, Step, Waiting};
    use net_api::{Net, NetError, Response};
    use userlib::println;
    use userlib::time::Timer;
    use virtio::{MAX_FRAME_BYTES, VirtioNet};

    /// What a session costs its client: its sockets (`net_api::TCP_SOCKET_BYTES` each).
    const SESSION_BYTES: u64 = 128 << 10;
    /// The kit notification bit of the poll timer.
    const TIMER_BIT: usize = 1 << 1;
    /// The NIC's interrupt bit.
    const NIC_BIT: usize = 1 << 4;
    /// Callers that may wait at once (deferred answers).
    const WAITING: usize = 32;

    /// The virtio device as smoltcp's `Device`, with a frame's worth of room for what it
    /// receives (the receive token lends it while the transmit token lends the device).
    struct Nic {
        device: VirtioNet,
        frame: [u8; MAX_FRAME_BYTES],
    }

    struct Receiving<'a>(&'a [u8]);
    struct Sending<'a>(&'a mut VirtioNet);

    impl phy::RxToken for Receiving<'_> {
        fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
            f(self.0)
        }
    }

    impl phy::TxToken for Sending<'_> {
        fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, length: usize, f: F) -> R {
            let mut f = Some(f);
            match self.0.transmit(length, |buffer| (f.take().expect("called once"))(buffer)) {
                Ok(result) => result,
                // No room after all (an answer to a received frame): smoltcp still wants
                // its result; the frame is dropped, as a busy wire would.
                Err(_) => {
                    let mut scratch = [0u8; MAX_FRAME_BYTES];
                    let length = length.min(MAX_FRAME_BYTES);
                    (f.take().expect("not called yet"))(&mut scratch[..length])
                }
            }
        }
    }

    impl Device for Nic {
        type RxToken<'a> = Receiving<'a>;
        type TxToken<'a> = Sending<'a>;

        fn receive(&mut self, _now: Instant) -> Option<(Receiving<'_>, Sending<'_>)> {
            let Nic { device, frame } = self;
            let length = device.receive(frame)?;
            Some((Receiving(&frame[..length]), Sending(device)))
        }

        fn transmit(&mut self, _now: Instant) -> Option<Sending<'_>> {
            self.device.can_transmit().then_some(Sending(&mut self.device))
        }

        fn capabilities(&self) -> DeviceCapabilities {
            let mut capabilities = DeviceCapabilities::default();
            capabilities.medium = Medium::Ethernet;
            capabilities.max_transmission_unit = MAX_FRAME_BYTES;
            capabilities.max_burst_size = Some(4);
            capabilities
        }
    }

    /// The server's state beyond the kit's.
    struct NetServer {
        network: Result<(Stack, Nic), String>,
        /// Callers waiting, in arrival order: their session, what they wait for, their reply.
        waiting: Vec<(u64, Waiting, Deferred)>,
        timer: Option<(Timer, Slot)>,
    }

    fn milliseconds() -> i64 {
        userlib::time::since_boot().map_or(0, |since| i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
    }

    pub(crate) fn main() -> i32 {
        let _ = userlib::trace::init("net", tracing::Level::INFO);
        let config = Config::new("net").service("net", SESSION_BYTES).deferred_answers(WAITING);
        let kit = match Kit::<()>::start(config) {
            Ok(kit) => kit,
            Err(error) => {
                println!("net: cannot start: {error}");
                return 1;
            }
        };
        let network = match virtio::open_net_device(&kit, &virtio::Config::new(NIC_BIT)) {
            Ok(device) => {
                let mac = device.mac();
                let mut nic = Nic { device, frame: [0; MAX_FRAME_BYTES] };
                let hardware = HardwareAddress::Ethernet(EthernetAddress(mac));
                let stack = Stack::new(&mut nic, hardware, Address::QEMU_USER, milliseconds());
                let [a, b, c, d, e, f] = mac;
                println!(
                    "net: {a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x} at {}/{} via 10.0.2.2",
                    Address::QEMU_USER.address,
                    Address::QEMU_USER.prefix
                );
                Ok((stack, nic))
            }
            Err(error) => {
                tracing::warn!(%error, "no network; every request is answered NoNetwork");
                Err(format!("{error}"))
            }
        };
        let timer = make_timer(&kit).map_err(|error| tracing::warn!(%error, "no poll timer")).ok();
        let mut server = NetServer { network, waiting: Vec::new(), timer };
        server.run_stack(&mut None);
        let error = kit.run(&mut server);
        println!("net: stopped serving: {error:?}");
        1
    }

    fn make_timer(kit: &Kit<()>) -> Result<(Timer, Slot), kit::KitError> {
        let timer = Slot::make(ObjectType::Timer, 0)?;
        let signal = kit.notification(TIMER_BIT)?;
        let bound = Timer::bind(timer.index(), signal.index())?;
        let _ = signal.leak();
        Ok((bound, timer))
    }

    impl NetServer {
        /// Polls until the stack has nothing more to do, answers the callers it can, and
        /// arms the timer for the next thing the stack or a wait needs.
        fn run_stack(&mut self, kit: &mut Option<&mut Kit<()>>) {
            let Ok((stack, nic)) = &mut self.network else { return };
            for _ in 0..64 {
                // Frames still in the device's ring would raise no new interrupt: take them
                // all before the clock moves on.
                if !stack.poll(nic, milliseconds()) && !nic.device.has_received() {
                    break;
                }
            }
            if let Some(kit) = kit {
                let mut index = 0;
                while index < self.waiting.len() {
                    let (connection, waiting, _) = &self.waiting[index];
                    if let Some(result) = stack.resume(*connection, waiting) {
                        let (_, _, deferred) = self.waiting.remove(index);
                        kit.answer::<Net>(deferred, &result, None);
                        // An answer may have queued data (a send): poll once more.
                        let _ = stack.poll(nic, milliseconds());
                    } else {
                        index += 1;
                    }
                }
            }
            let now = milliseconds();
            let delay = stack.poll_delay(now);
            let wait = self.waiting.iter().filter_map(|(_, waiting, _)| waiting.deadline()).min();
            let next = match (delay, wait) {
                (Some(delay), Some(wait)) => Some(delay.min(wait.saturating_sub(now).max(0) as u64)),
                (Some(delay), None) => Some(delay),
                (None, Some(wait)) => Some(wait.saturating_sub(now).max(0) as u64),
                (None, None) => None,
            };
            if let (Some((timer, _)), Some(next)) = (&self.timer, next)
                && let Some(deadline) = userlib::time::deadline_after(Duration::from_millis(next.max(1)))
            {
                let _ = timer.arm_at(deadline);
            }
        }
    }

    impl kit::Server for NetServer {
        type Protocol = Net;
        type Session = ();

        fn request(&mut self, kit: &mut Kit<()>, call: &Call<'_>, request: net_api::Request) -> Answer<Net> {
            let Caller::Session(connection) = call.caller() else {
                return Answer::Now(Err(NetError::Denied {
                    grant: "no grant: only sessions the security server opened reach the network".into(),
                }));
            };
            let stack = match &mut self.network {
                Ok((stack, _)) => stack,
                Err(why) => return Answer::Now(Err(NetError::NoNetwork { why: why.clone() })),
            };
            let step = stack.serve(connection, request);
            let answer = match step {
                Step::Done(result) => Answer::Now(result),
                Step::Wait(waiting) => match kit.defer() {
                    Some(deferred) => {
                        self.waiting.push((connection, waiting, deferred));
                        Answer::Later
                    }
                    None => Answer::Now(Err(NetError::Busy)),
                },
            };
            // What the request changed (a send, a listen, a connect's SYN) goes out now.
            self.run_stack(&mut Some(kit));
            answer
        }

        fn notified(&mut self, kit: &mut Kit<()>, bits: usize) {
            if bits & NIC_BIT != 0
                && let Ok((_, nic)) = &mut self.network
            {
                nic.device.interrupted();
            }
            self.run_stack(&mut Some(kit));
        }

        fn opened(&mut self, kit: &mut Kit<()>, connection: u64) {
            let (Ok((stack, _)), Some(session)) = (&mut self.network, kit.sessions.get(connection)) else {
                return;
            };
            stack.open_session(connection, session.info.scope.clone(), session.info.donation_bytes);
        }

        fn closed(&mut self, kit: &mut Kit<()>, session: Session<(), Slot>) {
            let connection = session.info.connection;
            if let Ok((stack, _)) = &mut self.network {
                stack.close_session(connection);
            }
            let mut index = 0;
            while index < self.waiting.len() {
                if self.waiting[index].0 == connection {
                    let (_, _, deferred) = self.waiting.remove(index);
                    let closed: Result<Response, NetError> = Err(NetError::BadSocket);
                    kit.answer::<Net>(deferred, &closed, None);
                } else {
                    index += 1;
                }
            }
            self.run_stack(&mut Some(kit));
        }
    }
}
