//! `console`: the console server. It drives the UART (an NS16550A: QEMU virt's at
//! 0x1000_0000, PLIC source 10) with interrupts and serves the console protocol
//! (`console-api`) on its service endpoint.
//!
//! It runs on the server kit (`kit`): the kit registers `console` with the security
//! server, takes session notices (each connection is mapped to its process, the terminal
//! session, from them) and the memory clients donate, and delivers requests and the UART's
//! interrupt (a bit of the kit's notification, routed from the IRQ handler) to
//! [`driver::Console`]. Reads that wait keep their caller with the kit's deferred answers.
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

    use alloc::vec::Vec;

    use console::{Action, ReadNow, Terminal};
    use console_api::{Console as Protocol, ConsoleError, Request, Response};
    use grant::ConsoleOp;
    use kernel_abi::{Error, ObjectType};
    use kit::{Answer, Call, Caller, Config, Deferred, Kit, Session, Slot};
    use loader::server_slots as at;
    use tracing::level_filters::LevelFilter;
    use userlib::ipc;
    use userlib::mmio::Registers;
    use userlib::println;

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
    /// Reads that may wait at once.
    const WAITING_READS: usize = 8;
    /// The notification bit the UART's interrupt signals.
    const INTERRUPT_BIT: usize = 1 << 1;
    /// What a session costs its client (its waiting read and share of the input buffer).
    const SESSION_BYTES: u64 = 16 << 10;
    /// Page tables the UART's mapping may need.
    const PAGE_TABLES: usize = 3;

    pub(crate) fn main() -> i32 {
        let _ = userlib::trace::init("console", arguments_level());
        let config = Config::new("console")
            .service("console", SESSION_BYTES)
            .receiving_capabilities()
            .deferred_answers(WAITING_READS);
        let started = Kit::start(config).map_err(|error| ("start", kit_error(error))).and_then(|kit| {
            let console = Console::new(&kit)?;
            Ok((kit, console))
        });
        match started {
            Ok((mut kit, mut console)) => {
                // Input typed before now raised no interrupt we saw; take it, and unmask.
                let actions = console.drain_input();
                console.carry_out(&mut kit, actions);
                tracing::info!("serving the console on the UART");
                let error = kit.run(&mut console);
                tracing::error!(?error, "the service endpoint failed; stopping");
                2
            }
            Err((what, error)) => {
                println!("console: cannot start: {what}: {error:?}");
                1
            }
        }
    }

    fn kit_error(error: kit::KitError) -> Error {
        match error {
            kit::KitError::Kernel(error) => error,
            _ => Error::InvalidArgument,
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

    /// The console's state beyond the kit's.
    pub(crate) struct Console {
        uart: Registers,
        terminal: Terminal<Deferred>,
        /// The last byte written (for the newline rule).
        last_written: u8,
        /// Bytes the transmitter never took.
        lost_output: u64,
        /// The foreground's interrupt notification (sent with `SetForeground`).
        foreground_notification: Option<Slot>,
        /// The capabilities behind the UART's mapping and interrupt, kept for its life.
        _device: Vec<Slot>,
    }

    type SetupError = (&'static str, Error);

    impl Console {
        fn new(kit: &Kit<()>) -> Result<Console, SetupError> {
            let mut device = Vec::new();
            let uart = map_uart(&mut device)?;
            let interrupt = kit
                .notification(INTERRUPT_BIT)
                .map_err(|error| ("badge the notification", kit_error(error)))?;
            userlib::object::irq_set_notification(at::DEVICE_IRQ, interrupt.index())
                .map_err(|error| ("route the interrupt", error))?;
            device.push(interrupt);
            uart.write8(INTERRUPT_ENABLE, RECEIVE_INTERRUPT);
            Ok(Console {
                uart,
                terminal: Terminal::new(),
                last_written: 0,
                lost_output: 0,
                foreground_notification: None,
                _device: device,
            })
        }
    }

    /// Maps the UART's registers, making the page tables on the way.
    fn map_uart(device: &mut Vec<Slot>) -> Result<Registers, SetupError> {
        let frame = Slot::new().map_err(|error| ("make the UART frame", kit_error(error)))?;
        userlib::object::retype(at::DEVICE_MEMORY, ObjectType::Frame, 0, at::CNODE, frame.index(), 1)
            .map_err(|error| ("make the UART frame", error))?;
        let index = frame.index();
        device.push(frame);
        for _ in 0..=PAGE_TABLES {
            match Registers::map(index, at::ADDRESS_SPACE, UART_ADDRESS) {
                Err(Error::MissingPageTable) => {
                    let table = Slot::make(ObjectType::PageTable, 0)
                        .map_err(|error| ("make a page table", kit_error(error)))?;
                    userlib::object::map_page_table(table.index(), at::ADDRESS_SPACE, UART_ADDRESS)
                        .map_err(|error| ("map a page table", error))?;
                    device.push(table);
                }
                other => return other.map_err(|error| ("map the UART", error)),
            }
        }
        Err(("map the UART", Error::MissingPageTable))
    }

    impl kit::Server for Console {
        type Protocol = Protocol;
        type Session = ();

        fn request(&mut self, kit: &mut Kit<()>, call: &Call<'_>, request: Request) -> Answer<Protocol> {
            // A session may do what its scope grants (a `write` session only writes);
            // manifest clients are the system's own.
            let op = match request {
                Request::Write { .. } => ConsoleOp::Write,
                Request::Read { .. } | Request::SetForeground { .. } => ConsoleOp::Read,
            };
            if let Caller::Session(connection) = call.caller()
                && !kit.sessions.get(connection).is_some_and(|session| session.info.scope.allows_console(op))
            {
                return Answer::Now(Err(ConsoleError::NotPermitted));
            }
            let session = terminal_session(kit, call.caller());
            let result = match request {
                Request::Write { bytes } => Ok(Response::Written { count: self.write(&bytes) }),
                Request::Read { max } => {
                    let max = usize::try_from(max).unwrap_or(usize::MAX);
                    match self.terminal.read(session, max) {
                        ReadNow::Answer(result) => result,
                        ReadNow::Wait => match kit.defer() {
                            Some(deferred) => {
                                self.terminal.wait(session, max, deferred);
                                tracing::debug!(session, "read waits for input");
                                return Answer::Later;
                            }
                            None => Err(ConsoleError::Busy),
                        },
                    }
                }
                Request::SetForeground { client } => {
                    let client = usize::try_from(client).unwrap_or(usize::MAX);
                    self.terminal.set_foreground(session, client).map(|actions| {
                        // The notification sent with it replaces the old one (or none).
                        self.foreground_notification =
                            call.capability().and_then(|slot| Slot::take_from(slot).ok());
                        tracing::debug!(session, client, "foreground set");
                        self.carry_out(kit, actions);
                        Response::ForegroundSet
                    })
                }
            };
            Answer::Now(result)
        }

        fn notified(&mut self, kit: &mut Kit<()>, bits: usize) {
            if bits & INTERRUPT_BIT != 0 {
                let actions = self.drain_input();
                self.carry_out(kit, actions);
            }
        }

        fn closed(&mut self, kit: &mut Kit<()>, session: Session<(), Slot>) {
            let client = session.info.client_id;
            // The process's other connections keep its terminal session.
            if !kit.sessions.client_has_sessions(client)
                && let Ok(terminal_session) = usize::try_from(client)
            {
                let actions = self.terminal.close(terminal_session);
                self.carry_out(kit, actions);
            }
        }
    }

    /// The terminal session (process) of a caller: a session's client, or for a manifest
    /// client, its badge.
    fn terminal_session(kit: &Kit<()>, caller: Caller) -> usize {
        let id = match caller {
            Caller::Session(connection) => kit.sessions.client_of(connection).unwrap_or(connection),
            other => other.badge(),
        };
        usize::try_from(id).unwrap_or(usize::MAX)
    }

    impl Console {
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

        /// Reads every byte the UART holds and hands it to the terminal, and acknowledges
        /// the interrupt; returns what the terminal says to do.
        fn drain_input(&mut self) -> Vec<Action<Deferred>> {
            let mut bytes = Vec::new();
            while self.uart.read8(LINE_STATUS) & DATA_READY != 0 {
                bytes.push(self.uart.read8(RECEIVE_BUFFER));
            }
            let dropped = self.terminal.dropped();
            let actions = self.terminal.input(&bytes);
            if self.terminal.dropped() > dropped {
                tracing::warn!(dropped = self.terminal.dropped(), "input buffer full; typed bytes dropped");
            }
            // Only fails if the handler is gone, and then there is nothing to acknowledge.
            let _ = userlib::object::irq_acknowledge(at::DEVICE_IRQ);
            actions
        }

        fn carry_out(&mut self, kit: &mut Kit<()>, actions: Vec<Action<Deferred>>) {
            for action in actions {
                match action {
                    Action::Answer { reply, result } => {
                        if let Err(ConsoleError::Interrupted) = result {
                            tracing::debug!("Ctrl-C ends a read");
                        }
                        kit.answer::<Protocol>(reply, &result, None);
                    }
                    Action::SignalForeground => {
                        if let Some(notification) = &self.foreground_notification {
                            let _ = ipc::signal(notification.index());
                        }
                    }
                }
            }
        }
    }
}
