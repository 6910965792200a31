//! The event loop: one receive on the server's endpoint delivers everything a server
//! reacts to, and the kit sorts it (Hubris's `NotificationHandler` is the model):
//!
//! | what arrives | how the kit tells | what the server sees |
//! | --- | --- | --- |
//! | a request of the server's protocol | the protocol's label | [`Server::request`], decoded, with its [`Caller`]; a request that does not decode is answered with the protocol's typed error and never reaches the server |
//! | a signal of the notification bound to the thread | label 0, no words, the notification word as badge | session notices are taken by the kit ([`SESSION_BIT`]); the other bits go to [`Server::notified`] (interrupts, timers) |
//! | a fault or exit message of a process the server built | the kernel's fault label and a [`crate::FAULT_BADGE`] badge | [`Server::fault`] |
//!
//! A signal's badge is the notification word, made only of the bits the kit minted (below
//! `security_api::FIRST_CONNECTION`), so a message with label 0 and no words whose badge is
//! a session's is a client's request like any other (answered `WrongProtocol`). A manifest
//! client (a trusted boot server) that sends one looks like a signal and can at most cause
//! a spurious `notified` call, which handlers tolerate (an interrupt handler drains a
//! device that has nothing to give).
//!
//! Sessions: a server that registers a service ([`Config::service`]) subscribes to its
//! session notices with the bound notification. The security server signals it when a
//! session closes; an opened session's notice waits until the connection's first request,
//! so opening a connection costs its client none of the server's work. The kit takes the
//! notices when signalled or at such a first request: an
//! opened session's donated Untyped is taken from the donor into a [`Slot`] kept with the
//! session, [`Server::opened`] runs; a closed one's entry goes, with its donation, after
//! [`Server::closed`]. A request through a connection the kit has not heard of yet makes it
//! take the waiting notices first, so a server never has to ask for them.

use alloc::vec::Vec;

use donor_api::DonorClient;
use kernel_abi::syscall::FAULT_LABEL;
use kernel_abi::{ObjectType, Rights};
use loader::server_slots as at;
use security_api::{SecurityClient, SecurityError, SessionNotice};
use userlib::ipc::{Cptr, Message};
use userlib::rpc::{self, CapabilitySlot, Incoming, Outcome, Protocol, Reply, RpcError};

use crate::sessions::{Session, SessionInfo, SessionTable};
use crate::slots::{self, Slot};
use crate::wait::BitWaiter;
use crate::{Caller, KitError};

/// The notification bit the security server signals when a session closed (opened ones wait
/// for the connection's first request).
pub const SESSION_BIT: usize = 1 << 0;

/// Whether `bits` may be a server's own notification bits: non-zero, below
/// `security_api::FIRST_CONNECTION` (so a signal's badge is never a session's), without
/// [`SESSION_BIT`].
fn server_bits(bits: usize) -> bool {
    bits != 0 && bits & SESSION_BIT == 0 && matches!(Caller::from_badge(bits as u64), Caller::Manifest(_))
}

/// What a server asks of the kit at start.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// The program's name, for messages.
    pub name: &'static str,
    /// The service it registers with the security server (its endpoint is
    /// `server_slots::SERVICE`), and subscribes to the session notices of; `None` serves
    /// only manifest clients (or is the security server itself).
    pub service: Option<&'static str>,
    /// What a session costs its client (its state here), donated at connect.
    pub session_bytes: u64,
    /// Whether it takes session notices (`false` for a server the security server calls,
    /// the donor: it must not call back).
    pub notices: bool,
    /// Whether requests may carry a capability (it arrives in a receive slot).
    pub receive_capabilities: bool,
    /// Reply objects beyond the one it serves with: how many answers may wait at once.
    pub deferred_answers: usize,
    /// log2 slots of its CNode (the root task makes servers' with 12).
    pub cnode_radix: usize,
}

impl Config {
    /// A server called `name` with the defaults: no service, no capabilities, no
    /// deferred answers.
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            service: None,
            session_bytes: 0,
            notices: true,
            receive_capabilities: false,
            deferred_answers: 0,
            cnode_radix: 12,
        }
    }

    /// Registers `service`, each session costing its client `session_bytes`.
    pub const fn service(mut self, service: &'static str, session_bytes: u64) -> Self {
        self.service = Some(service);
        self.session_bytes = session_bytes;
        self
    }

    /// Registers without taking session notices.
    pub const fn without_notices(mut self) -> Self {
        self.notices = false;
        self
    }

    /// Accepts a capability with each request.
    pub const fn receiving_capabilities(mut self) -> Self {
        self.receive_capabilities = true;
        self
    }

    /// Lets `count` answers wait at once.
    pub const fn deferred_answers(mut self, count: usize) -> Self {
        self.deferred_answers = count;
        self
    }
}

/// A server on the kit: its protocol, its per-session state, and what it does with each
/// kind of event. Only [`Server::request`] is required.
pub trait Server {
    /// The protocol it serves.
    type Protocol: Protocol;
    /// Its state for one session (made with `Default` when the session opens).
    type Session: Default;

    /// A decoded request.
    fn request(
        &mut self,
        kit: &mut Kit<Self::Session>,
        call: &Call<'_>,
        request: <Self::Protocol as Protocol>::Request,
    ) -> Answer<Self::Protocol>;

    /// Bits of the bound notification other than the kit's (interrupts, timers): the
    /// badges of the capabilities [`Kit::notification`] made.
    fn notified(&mut self, kit: &mut Kit<Self::Session>, bits: usize) {
        let _ = (kit, bits);
    }

    /// A fault or exit message from the fault endpoint minted with `FAULT_BADGE + number`.
    fn fault(&mut self, kit: &mut Kit<Self::Session>, number: u64, message: &Message) {
        let _ = (kit, number, message);
    }

    /// Session `connection` opened (its entry, with its donation, is in `kit.sessions`).
    fn opened(&mut self, kit: &mut Kit<Self::Session>, connection: u64) {
        let _ = (kit, connection);
    }

    /// A session closed; its entry is passed in, and its donation goes when it is dropped.
    fn closed(&mut self, kit: &mut Kit<Self::Session>, session: Session<Self::Session, Slot>) {
        let _ = (kit, session);
    }
}

/// A request's envelope: who sent it and what came with it.
pub struct Call<'a> {
    incoming: &'a Incoming<'a>,
    caller: Caller,
}

impl Call<'_> {
    /// Who sent it.
    pub fn caller(&self) -> Caller {
        self.caller
    }

    /// Its badge.
    pub fn badge(&self) -> u64 {
        self.caller.badge()
    }

    /// The capability that came with it: move it out (e.g. [`Slot::take_from`]) to keep
    /// it; the kit deletes what is left when the handler returns.
    pub fn capability(&self) -> Option<CapabilitySlot> {
        self.incoming.capability()
    }
}

/// A handler's answer.
pub enum Answer<P: Protocol> {
    /// Answer now.
    Now(Result<P::Response, P::Error>),
    /// Answer now, transferring a capability (it moves if it may not be copied).
    WithCapability(Result<P::Response, P::Error>, Cptr),
    /// The handler kept the caller waiting with [`Kit::defer`]; it answers later with
    /// [`Kit::answer`].
    Later,
}

impl<P: Protocol> From<Result<P::Response, P::Error>> for Answer<P> {
    fn from(result: Result<P::Response, P::Error>) -> Self {
        Self::Now(result)
    }
}

/// A caller kept waiting: its reply object, until [`Kit::answer`] answers it.
#[derive(Debug)]
#[must_use = "a deferred caller waits until it is answered"]
pub struct Deferred {
    reply: Slot,
}

impl Deferred {
    /// The reply object, to tell deferred callers apart.
    pub fn id(&self) -> Cptr {
        self.reply.index()
    }
}

/// The kit's state for one server: its sessions, its clients of the security server and
/// the donor, its notification and reply objects.
pub struct Kit<S> {
    /// The live sessions, by connection id.
    pub sessions: SessionTable<S, Slot>,
    name: &'static str,
    security: Option<SecurityClient>,
    donor: Option<DonorClient>,
    notification: Slot,
    subscribed: bool,
    /// The reply object the loop receives with.
    reply: Slot,
    spare_replies: Vec<Slot>,
    received: Option<Slot>,
    /// Set by [`Kit::defer`] while a handler runs: the loop receives with the new reply.
    deferred: bool,
}

impl<S: Default> Kit<S> {
    /// Starts the server's plumbing: the slot pool, reply objects, the notification bound
    /// to the thread, and, for a server with a service, its registration and subscription.
    /// A system without a security server (a test system) serves manifest clients only.
    pub fn start(config: Config) -> Result<Kit<S>, KitError> {
        slots::init(config.cnode_radix);
        let reply = Slot::make(ObjectType::Reply, 0)?;
        let spare_replies = (0..config.deferred_answers)
            .map(|_| Slot::make(ObjectType::Reply, 0))
            .collect::<Result<_, _>>()?;
        let received = if config.receive_capabilities { Some(Slot::new()?) } else { None };
        let notification = Slot::make(ObjectType::Notification, 0)?;
        userlib::object::bind_notification(at::THREAD, notification.index())?;
        let security = crate::service("security").ok().map(SecurityClient::new);
        let donor = crate::service("donor").ok().map(DonorClient::new);
        let mut kit = Kit {
            sessions: SessionTable::new(),
            name: config.name,
            security,
            donor,
            notification,
            subscribed: false,
            reply,
            spare_replies,
            received,
            deferred: false,
        };
        if let Some(service) = config.service {
            kit.register(service, config.session_bytes, config.notices)?;
        }
        Ok(kit)
    }

    fn register(&mut self, service: &'static str, session_bytes: u64, notices: bool) -> Result<(), KitError> {
        let Some(security) = self.security else {
            tracing::info!(service, "no security server: serving the manifest's clients only");
            return Ok(());
        };
        match security.register(service, at::SERVICE, session_bytes) {
            Ok(()) => {}
            Err(SecurityError::Rpc(RpcError::Ipc(_))) => {
                tracing::info!(service, "no security server: serving the manifest's clients only");
                return Ok(());
            }
            Err(error) => {
                tracing::warn!(service, %error, "the security server refused the registration");
                return Err(KitError::Refused);
            }
        }
        if notices {
            let badged = Slot::mint(self.notification.index(), Rights::WRITE, SESSION_BIT)?;
            security.subscribe(badged.index()).map_err(|_| KitError::Refused)?;
            self.subscribed = true;
        }
        Ok(())
    }

    /// The security server, if this program was given one.
    pub fn security(&self) -> Option<SecurityClient> {
        self.security
    }

    /// The resource donor, if this program was given one.
    pub fn donor(&self) -> Option<DonorClient> {
        self.donor
    }

    /// A capability that signals this server's notification with `bits` (for an
    /// interrupt handler or a timer): the bits come to [`Server::notified`]. `bits` must
    /// be non-zero, below `security_api::FIRST_CONNECTION` (so a signal's badge is never
    /// a session's), and leave out [`SESSION_BIT`].
    pub fn notification(&self, bits: usize) -> Result<Slot, KitError> {
        if !server_bits(bits) {
            return Err(KitError::Kernel(kernel_abi::Error::InvalidArgument));
        }
        Slot::mint(self.notification.index(), Rights::WRITE, bits)
    }

    /// A waiter for `bits` of this server's notification (bits it made capabilities for
    /// with [`Kit::notification`]): a driver blocks on it inside a handler until its device
    /// signals, and the other bits still reach the loop ([`crate::BitWaiter`]). `bits`
    /// follow [`Kit::notification`]'s rules.
    pub fn waiter(&self, bits: usize) -> Result<BitWaiter, KitError> {
        if !server_bits(bits) {
            return Err(KitError::Kernel(kernel_abi::Error::InvalidArgument));
        }
        BitWaiter::new(self.notification.index(), bits)
    }

    /// Keeps the caller of the request being handled waiting (its handler then returns
    /// [`Answer::Later`]). `None` when every reply object is taken: answer now instead
    /// (with a busy error).
    pub fn defer(&mut self) -> Option<Deferred> {
        let next = self.spare_replies.pop()?;
        let reply = core::mem::replace(&mut self.reply, next);
        self.deferred = true;
        Some(Deferred { reply })
    }

    /// Answers a deferred caller with `result` (and a capability). A caller that no
    /// longer waits (its thread is gone) is fine; its reply object is reused either way.
    pub fn answer<P: Protocol>(
        &mut self,
        deferred: Deferred,
        result: &Result<P::Response, P::Error>,
        capability: Option<Cptr>,
    ) {
        let _ = rpc::answer::<P>(deferred.reply.index(), result, capability);
        self.spare_replies.push(deferred.reply);
    }

    /// Takes the waiting session notices: opened sessions get their entry and donation,
    /// closed ones lose them.
    fn take_notices<V: Server<Session = S>>(&mut self, server: &mut V) {
        let Some(security) = self.security.filter(|_| self.subscribed) else { return };
        let notices = match security.notices() {
            Ok(notices) => notices,
            Err(error) => {
                tracing::warn!(%error, "cannot take session notices");
                return;
            }
        };
        for notice in notices {
            match notice {
                SessionNotice::Closed { connection } => {
                    if let Some(session) = self.sessions.close(connection) {
                        tracing::debug!(connection, client = session.info.client.as_str(), "session closed");
                        server.closed(self, session);
                    }
                }
                opened => {
                    let Some(info) = SessionInfo::from_notice(opened) else { continue };
                    let connection = info.connection;
                    let donation = self.take_donation(&info);
                    tracing::debug!(connection, client = info.client.as_str(), "session opened");
                    self.sessions.open(info, donation, S::default());
                    server.opened(self, connection);
                }
            }
        }
    }

    /// The memory the client of a new session donated, taken from the donor.
    fn take_donation(&self, info: &SessionInfo) -> Option<Slot> {
        if info.donation_bytes == 0 {
            return None;
        }
        let donor = self.donor?;
        let slot = Slot::new().ok()?;
        match donor.take(info.connection, slot.as_receive()) {
            Ok(_) => Some(slot),
            Err(error) => {
                // A session revoked before its first request has no donation left.
                tracing::debug!(connection = info.connection, %error, "no memory for the session");
                None
            }
        }
    }

    /// Serves forever with `server`. Returns only when receiving fails (the endpoint is
    /// gone), with that error.
    pub fn run<V: Server<Session = S>>(mut self, server: &mut V) -> kernel_abi::Error {
        tracing::debug!(name = self.name, "serving");
        let mut loop_server = rpc::Server::new(at::SERVICE, self.reply.index());
        if let Some(received) = &self.received {
            loop_server = loop_server.receiving(received.as_receive());
        }
        loop_server.run(|incoming, answer| self.dispatch(server, incoming, answer))
    }

    fn dispatch<V: Server<Session = S>>(
        &mut self,
        server: &mut V,
        incoming: &Incoming<'_>,
        answer: &mut Message,
    ) -> Outcome {
        let message = incoming.message();
        let caller = Caller::from_badge(incoming.badge() as u64);
        if message.label == 0 && message.length == 0 && matches!(caller, Caller::Manifest(_)) {
            let bits = incoming.badge();
            if bits & SESSION_BIT != 0 {
                self.take_notices(server);
            }
            if bits & !SESSION_BIT != 0 {
                server.notified(self, bits & !SESSION_BIT);
            }
            // After a signal nobody waits on the reply object and this goes nowhere; a
            // client that sent label 0 itself gets a typed error.
            return Reply::<V::Protocol>::Now(Err(RpcError::WrongProtocol.into())).write(answer);
        }
        if let Caller::Fault(number) = caller
            && message.label == FAULT_LABEL
        {
            server.fault(self, number, message);
            // Nobody waits for an answer to a fault message.
            (answer.label, answer.length, answer.caps) = (0, 0, 0);
            return Outcome::Answer(None);
        }
        let request = match incoming.request::<V::Protocol>() {
            Ok(request) => request,
            Err(error) => {
                tracing::warn!(
                    badge = incoming.badge(),
                    label = message.label,
                    words = message.length,
                    %error,
                    "refused a malformed request"
                );
                return Reply::<V::Protocol>::Now(Err(error.into())).write(answer);
            }
        };
        // A session the kit has not heard of: its notice is waiting (the security server
        // queues it before it answers the client), so take it now.
        if let Caller::Session(connection) = caller
            && self.subscribed
            && self.sessions.get(connection).is_none()
        {
            self.take_notices(server);
        }
        self.deferred = false;
        let current = self.reply.index();
        let answered = server.request(self, &Call { incoming, caller }, request);
        let (result, capability) = match answered {
            Answer::Now(result) => (result, None),
            Answer::WithCapability(result, capability) => (result, Some(capability)),
            Answer::Later if self.deferred => return Outcome::Later { next_reply: self.reply.index() },
            // A handler that said later without deferring would leave its caller waiting
            // forever: it is told the server cannot wait for it.
            Answer::Later => (Err(RpcError::Ipc(kernel_abi::Error::WouldBlock as u16).into()), None),
        };
        if self.deferred {
            // It deferred and answered anyway: the answer goes through the reply object it
            // kept (its later answer then finds nobody), and the loop goes on with the new one.
            let _ = rpc::answer::<V::Protocol>(current, &result, capability);
            return Outcome::Later { next_reply: self.reply.index() };
        }
        match capability {
            None => Reply::<V::Protocol>::Now(result).write(answer),
            Some(capability) => Reply::<V::Protocol>::WithCapability(result, capability).write(answer),
        }
    }
}
