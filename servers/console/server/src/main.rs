//! `console`: the console server. It drives the UART (an NS16550A: QEMU virt's at
//! 0x1000_0000, PLIC source 10) with interrupts and serves the console protocol
//! (`console-api`) on its service endpoint.
//!
//! At start it finds the capabilities of `loader::server_slots` (its CNode, address space,
//! thread, memory budget, service endpoint, the UART's device Untyped and IRQ handler). It
//! makes a notification, binds it to its own thread and to the UART's interrupt, so an
//! interrupt wakes it out of its endpoint receive (a message with label 0), and a pool of
//! reply objects for reads that wait for input.
//!
//! - `Write`: the bytes go out by polling the transmitter (a `\n` not after `\r` becomes
//!   `\r\n`, see [`console::translate`]); the kernel prints to the same UART, so lines of
//!   both may interleave.
//! - `Read`: buffered input at once, or the read waits (its reply object is kept and the
//!   loop receives with a spare one) until input or Ctrl-C arrives.
//! - An interrupt: every byte the UART holds is read, the terminal logic
//!   ([`console::Terminal`]) decides who gets it, and the IRQ is acknowledged.
//!
//! Arguments: `--trace LEVEL` (`info` by default; `debug` also reports each read that
//! waits, which the system test uses to know when to type Ctrl-C).
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
userlib::entry!(driver::main);

/// On the host this binary only says where it runs: the library is what the tests use.
#[cfg(not(target_os = "none"))]
fn main() {
    println!("console: the console server runs on Lattice; `cargo test -p console` tests its logic");
}

#[cfg(target_os = "none")]
mod driver {
    extern crate alloc;

    use alloc::collections::BTreeMap;
    use alloc::vec::Vec;

    use console::{Action, ReadNow, Terminal};
    use console_api::{Console, ConsoleError, Request, Response};
    use donor_api::DonorClient;
    use kernel_abi::{Error, ObjectType, Rights};
    use loader::server_slots as at;
    use security_api::{SecurityClient, SecurityError, SessionNotice};
    use tracing::level_filters::LevelFilter;
    use userlib::ipc::{self, Cptr};
    use userlib::mmio::Registers;
    use userlib::rpc::{self, CapabilitySlot, Incoming, Outcome, Reply, RpcError, Server};
    use userlib::{object, println};

    /// Where the UART's registers are mapped in this server.
    const UART_ADDRESS: usize = 0x20_0000_0000;
    /// NS16550A registers (byte offsets) and bits.
    const RECEIVE_BUFFER: usize = 0;
    const TRANSMIT_HOLDING: usize = 0;
    const INTERRUPT_ENABLE: usize = 1;
    const LINE_STATUS: usize = 5;
    const DATA_READY: u8 = 1 << 0;
    const TRANSMIT_EMPTY: u8 = 1 << 5;
    const RECEIVE_INTERRUPT: u8 = 1 << 0;
    /// Polls of the line status before a byte is given up (the UART never stays busy this
    /// long unless it is broken).
    const TRANSMIT_POLLS: usize = 100_000;
    /// Reads that may wait at once (one reply object each, plus one to receive with).
    const REPLY_OBJECTS: usize = 8;
    /// The badge of the notification capability the interrupt signals.
    const INTERRUPT_BADGE: usize = 1;
    /// The badge of the one the security server signals when session notices wait.
    const SESSION_BADGE: usize = 2;
    /// What a session costs its client (its waiting read and share of the input buffer).
    const SESSION_BYTES: u64 = 16 << 10;

    /// Slots of this server's CNode (above `server_slots::FIRST_FREE`).
    const NOTIFICATION: usize = at::FIRST_FREE;
    const INTERRUPT_NOTIFICATION: usize = at::FIRST_FREE + 1;
    const UART_FRAME: usize = at::FIRST_FREE + 2;
    const RECEIVED: usize = at::FIRST_FREE + 3;
    const FOREGROUND_NOTIFICATION: usize = at::FIRST_FREE + 4;
    const FIRST_PAGE_TABLE: usize = at::FIRST_FREE + 5;
    const FIRST_REPLY: usize = at::FIRST_FREE + 8;
    const SESSION_NOTIFICATION: usize = FIRST_REPLY + REPLY_OBJECTS;
    /// Slots for the memory sessions' clients donate (from here to the CNode's end).
    const FIRST_SESSION_MEMORY: usize = SESSION_NOTIFICATION + 1;
    const SLOTS: usize = 1 << 12;
    /// The resource donor (from the manifest: `uses = ["security", "donor"]`).
    const DONOR: usize = at::FIRST_CLIENT + 1;

    pub(crate) fn main() -> i32 {
        let level = arguments_level();
        let _ = userlib::trace::init("console", level);
        match setup() {
            Ok(mut console) => {
                tracing::info!("serving the console on the UART");
                let error = console.serve();
                tracing::error!(error = %error, "the service endpoint failed; stopping");
                2
            }
            Err((what, error)) => {
                println!("console: cannot start: {what}: {error}");
                1
            }
        }
    }

    fn arguments_level() -> LevelFilter {
        let Some(info) = userlib::start::info() else { return LevelFilter::INFO };
        let mut arguments = info.arguments();
        while let Some(argument) = arguments.next() {
            if argument == "--trace" {
                return match arguments.next() {
                    Some("debug") => LevelFilter::DEBUG,
                    Some("trace") => LevelFilter::TRACE,
                    Some("warn") => LevelFilter::WARN,
                    _ => LevelFilter::INFO,
                };
            }
        }
        LevelFilter::INFO
    }

    /// The server's state.
    struct ConsoleServer {
        uart: Registers,
        terminal: Terminal<Cptr>,
        /// Reply objects no read waits on.
        spare_replies: Vec<Cptr>,
        /// The last byte written (for the newline rule).
        last_written: u8,
        /// Bytes the transmitter never took.
        lost_output: u64,
        /// Whether `FOREGROUND_NOTIFICATION` holds the foreground's notification.
        foreground_notification: bool,
        first_reply: Cptr,
        /// The security server, if the manifest gives the console one (`uses =
        /// ["security"]`); without it the console serves the manifest's clients alone.
        security: Option<SecurityClient>,
        /// Each open connection's process (security client id), from session notices.
        clients: BTreeMap<usize, usize>,
        /// The memory each connection's client donated for it (an Untyped the donor
        /// moved here; the donor revokes it when the session closes).
        session_memory: BTreeMap<usize, Cptr>,
        free_slots: Vec<usize>,
    }

    type SetupError = (&'static str, Error);

    fn make(object_type: ObjectType, index: usize, count: usize) -> Result<(), Error> {
        object::retype(at::MEMORY, object_type, 0, at::CNODE, index, count)
    }

    /// Maps the UART's registers, making the page tables on the way.
    fn map_uart() -> Result<Registers, SetupError> {
        object::retype(at::DEVICE_MEMORY, ObjectType::Frame, 0, at::CNODE, UART_FRAME, 1)
            .map_err(|error| ("make the UART frame", error))?;
        let mut table = FIRST_PAGE_TABLE;
        loop {
            match Registers::map(UART_FRAME, at::ADDRESS_SPACE, UART_ADDRESS) {
                Err(Error::MissingPageTable) if table < FIRST_REPLY => {
                    make(ObjectType::PageTable, table, 1).map_err(|error| ("make a page table", error))?;
                    object::map_page_table(table, at::ADDRESS_SPACE, UART_ADDRESS)
                        .map_err(|error| ("map a page table", error))?;
                    table += 1;
                }
                other => return other.map_err(|error| ("map the UART", error)),
            }
        }
    }

    fn setup() -> Result<ConsoleServer, SetupError> {
        make(ObjectType::Notification, NOTIFICATION, 1).map_err(|error| ("make the notification", error))?;
        object::mint(
            at::CNODE,
            INTERRUPT_NOTIFICATION,
            at::CNODE,
            NOTIFICATION,
            Rights::WRITE,
            INTERRUPT_BADGE,
        )
        .map_err(|error| ("badge the notification", error))?;
        make(ObjectType::Reply, FIRST_REPLY, REPLY_OBJECTS).map_err(|error| ("make reply objects", error))?;
        let uart = map_uart()?;
        object::bind_notification(at::THREAD, NOTIFICATION)
            .map_err(|error| ("bind the notification", error))?;
        object::irq_set_notification(at::DEVICE_IRQ, INTERRUPT_NOTIFICATION)
            .map_err(|error| ("route the interrupt", error))?;
        uart.write8(INTERRUPT_ENABLE, RECEIVE_INTERRUPT);
        let security = register();
        let mut console = ConsoleServer {
            uart,
            terminal: Terminal::new(),
            spare_replies: (FIRST_REPLY + 1..FIRST_REPLY + REPLY_OBJECTS).collect(),
            last_written: 0,
            lost_output: 0,
            foreground_notification: false,
            first_reply: FIRST_REPLY,
            security,
            clients: BTreeMap::new(),
            session_memory: BTreeMap::new(),
            free_slots: (FIRST_SESSION_MEMORY..SLOTS).rev().collect(),
        };
        // Input typed before now raised no interrupt we saw; take it, and unmask.
        console.drain_uart();
        Ok(console)
    }

    /// Registers `console` with the security server and subscribes to session notices
    /// through the notification bound to this thread (badge [`SESSION_BADGE`]).
    fn register() -> Option<SecurityClient> {
        let security = SecurityClient::new(at::FIRST_CLIENT);
        match security.register("console", at::SERVICE, SESSION_BYTES) {
            Ok(()) => {}
            Err(SecurityError::Rpc(_)) => {
                tracing::info!("no security server: serving the manifest's clients only");
                return None;
            }
            Err(error) => {
                tracing::warn!(%error, "the security server refused the registration");
                return None;
            }
        }
        let subscribed = object::mint(
            at::CNODE,
            SESSION_NOTIFICATION,
            at::CNODE,
            NOTIFICATION,
            Rights::WRITE,
            SESSION_BADGE,
        )
        .ok()
        .and_then(|()| security.subscribe(SESSION_NOTIFICATION).ok());
        if subscribed.is_none() {
            tracing::warn!("no session notices: closed sessions keep their state");
        }
        Some(security)
    }

    impl ConsoleServer {
        fn serve(&mut self) -> Error {
            let mut server = Server::new(at::SERVICE, self.first_reply)
                .receiving(CapabilitySlot { cnode: at::CNODE, index: RECEIVED });
            server.run(|incoming| self.handle(incoming))
        }

        /// One message: an interrupt (label 0, from the bound notification), or a request.
        fn handle(&mut self, incoming: &Incoming<'_>) -> Outcome {
            if incoming.label() == 0 && incoming.message().words().is_empty() {
                if incoming.badge() & SESSION_BADGE != 0 {
                    self.take_notices();
                }
                if incoming.badge() & INTERRUPT_BADGE != 0 {
                    self.drain_uart();
                }
                // A client that sent label 0 itself gets a typed error; after a notification
                // nobody waits on the reply object and the answer goes nowhere.
                return Reply::<Console>::Now(Err(ConsoleError::Rpc(RpcError::WrongProtocol))).outcome();
            }
            match incoming.request::<Console>() {
                Ok(request) => self.request(incoming, request),
                Err(error) => {
                    tracing::warn!(session = incoming.badge(), error = %error, "bad request");
                    Reply::<Console>::Now(Err(ConsoleError::Rpc(error))).outcome()
                }
            }
        }

        /// The terminal session (process) of a connection: its client, or for a manifest
        /// client with no notice, its badge.
        fn session(&self, badge: usize) -> usize {
            self.clients.get(&badge).copied().unwrap_or(badge)
        }

        fn request(&mut self, incoming: &Incoming<'_>, request: Request) -> Outcome {
            let session = self.session(incoming.badge());
            let result = match request {
                Request::Write { bytes } => Ok(Response::Written { count: self.write(&bytes) }),
                Request::Read { max } => {
                    let max = usize::try_from(max).unwrap_or(usize::MAX);
                    match self.terminal.read(session, max) {
                        ReadNow::Answer(result) => result,
                        ReadNow::Wait => match self.spare_replies.pop() {
                            Some(next_reply) => {
                                self.terminal.wait(session, max, incoming.reply_object());
                                tracing::debug!(session, "read waits for input");
                                return Outcome::Later { next_reply };
                            }
                            None => Err(ConsoleError::Busy),
                        },
                    }
                }
                Request::SetForeground { client } => {
                    let client = usize::try_from(client).unwrap_or(usize::MAX);
                    self.terminal.set_foreground(session, client).map(|actions| {
                        self.take_notification(incoming);
                        tracing::debug!(session, client, "foreground set");
                        self.carry_out(actions);
                        Response::ForegroundSet
                    })
                }
            };
            Reply::<Console>::Now(result).outcome()
        }

        /// The security server's session notices: a closed session's read ends.
        fn take_notices(&mut self) {
            let Some(Ok(notices)) = self.security.map(|security| security.notices()) else { return };
            for notice in notices {
                match notice {
                    SessionNotice::Opened { connection, client_id, client, donation_bytes, .. } => {
                        let (Ok(connection), Ok(client_id)) =
                            (usize::try_from(connection), usize::try_from(client_id))
                        else {
                            continue;
                        };
                        self.clients.insert(connection, client_id);
                        if donation_bytes > 0 {
                            self.take_memory(connection);
                        }
                        tracing::debug!(
                            connection,
                            session = client_id,
                            client = client.as_str(),
                            "session opened"
                        );
                    }
                    SessionNotice::Closed { connection } => {
                        let Ok(connection) = usize::try_from(connection) else { continue };
                        // The donor took the memory back already (revoked); the slot goes.
                        if let Some(slot) = self.session_memory.remove(&connection) {
                            let _ = object::delete(at::CNODE, slot);
                            self.free_slots.push(slot);
                        }
                        let Some(session) = self.clients.remove(&connection) else { continue };
                        // The process's other connections keep its terminal session.
                        if !self.clients.values().any(|&other| other == session) {
                            let actions = self.terminal.close(session);
                            self.carry_out(actions);
                        }
                        tracing::debug!(connection, session, "session closed");
                    }
                }
            }
        }

        /// Takes the memory the client of `connection` donated for its session and keeps
        /// it for the session's life. (The console's per-session state is a map entry and
        /// at most one waiting read, so nothing is made from it yet.)
        fn take_memory(&mut self, connection: usize) {
            let Some(slot) = self.free_slots.pop() else { return };
            let into = CapabilitySlot { cnode: at::CNODE, index: slot };
            match DonorClient::new(DONOR).take(connection as u64, into) {
                Ok(bytes) => {
                    tracing::debug!(connection, bytes, "took the session's memory");
                    self.session_memory.insert(connection, slot);
                }
                Err(error) => {
                    tracing::debug!(connection, %error, "no memory for the session");
                    self.free_slots.push(slot);
                }
            }
        }

        /// Keeps the notification sent with `SetForeground` (or forgets the old one).
        fn take_notification(&mut self, incoming: &Incoming<'_>) {
            if self.foreground_notification {
                let _ = object::delete(at::CNODE, FOREGROUND_NOTIFICATION);
                self.foreground_notification = false;
            }
            if let Some(slot) = incoming.capability() {
                self.foreground_notification =
                    object::move_capability(at::CNODE, FOREGROUND_NOTIFICATION, slot.cnode, slot.index)
                        .is_ok();
            }
        }

        /// Writes `bytes` by polling the transmitter; returns how many were taken.
        fn write(&mut self, bytes: &[u8]) -> u32 {
            let uart = &self.uart;
            let mut lost = 0;
            console::translate(bytes, &mut self.last_written, |byte| {
                let mut polls = 0;
                while uart.read8(LINE_STATUS) & TRANSMIT_EMPTY == 0 && polls < TRANSMIT_POLLS {
                    polls += 1;
                }
                if polls == TRANSMIT_POLLS {
                    lost += 1;
                } else {
                    uart.write8(TRANSMIT_HOLDING, byte);
                }
            });
            if lost > 0 {
                self.lost_output += lost;
                tracing::warn!(lost, total = self.lost_output, "the UART did not take output");
            }
            u32::try_from(bytes.len()).unwrap_or(u32::MAX)
        }

        /// Reads every byte the UART holds, hands it to the terminal, answers whoever that
        /// satisfies, and acknowledges the interrupt.
        fn drain_uart(&mut self) {
            let mut bytes = Vec::new();
            while self.uart.read8(LINE_STATUS) & DATA_READY != 0 {
                bytes.push(self.uart.read8(RECEIVE_BUFFER));
            }
            let dropped = self.terminal.dropped();
            let actions = self.terminal.input(&bytes);
            if self.terminal.dropped() > dropped {
                tracing::warn!(dropped = self.terminal.dropped(), "input buffer full; typed bytes dropped");
            }
            self.carry_out(actions);
            // Only fails if the handler is gone, and then there is nothing to acknowledge.
            let _ = object::irq_acknowledge(at::DEVICE_IRQ);
        }

        fn carry_out(&mut self, actions: Vec<Action<Cptr>>) {
            for action in actions {
                match action {
                    Action::Answer { reply, result } => {
                        if let Err(ConsoleError::Interrupted) = result {
                            tracing::debug!("Ctrl-C ends a read");
                        }
                        // NoCaller: the reader is gone (its thread was destroyed); fine.
                        let _ = rpc::answer::<Console>(reply, &result, None);
                        self.spare_replies.push(reply);
                    }
                    Action::SignalForeground => {
                        if self.foreground_notification {
                            let _ = ipc::signal(FOREGROUND_NOTIFICATION);
                        }
                    }
                }
            }
        }
    }
}
