//! The server side: a receive loop on an endpoint with a reply object, answering each call
//! with `reply_recv`.
//!
//! The loop decodes before the handler runs, and answers a message that does not decode
//! itself, with the interface's error made from [`RpcError`]; the handler only ever sees
//! well-formed requests. A capability that arrives with a request lies in the server's
//! receive slot while the handler runs; the handler moves it elsewhere to keep it, and the
//! loop deletes whatever is left there afterwards, so the slot is empty for the next one.

use kernel_abi::Error;

use super::{Protocol, RpcError, decode, decode_request, encode_reply, encode_reply_into};
use crate::ipc::{self, Cptr, Message};
use crate::object;

/// A slot for a received capability: a CNode capability and an index in that CNode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapabilitySlot {
    /// The CNode (for the thread's own CSpace root, the capability to its root CNode).
    pub cnode: Cptr,
    /// The slot index in it (never 0).
    pub index: usize,
}

/// A message the server received.
#[derive(Debug)]
pub struct Incoming<'a> {
    message: &'a Message,
    badge: usize,
    reply_object: Cptr,
    capability: Option<CapabilitySlot>,
}

impl Incoming<'_> {
    /// The sender's badge (for a session capability, the connection id).
    pub fn badge(&self) -> usize {
        self.badge
    }

    /// The message's label (the protocol, for a request).
    pub fn label(&self) -> usize {
        self.message.label
    }

    /// The raw message.
    pub fn message(&self) -> &Message {
        self.message
    }

    /// Where the capability sent with this message lies, if one arrived. It is deleted
    /// when the handler returns: move it (`object::move_capability`) to keep it.
    pub fn capability(&self) -> Option<CapabilitySlot> {
        self.capability
    }

    /// The reply object the caller waits on. A handler that answers later keeps it (see
    /// [`Outcome::Later`]) and answers with [`answer`].
    pub fn reply_object(&self) -> Cptr {
        self.reply_object
    }

    /// The payload decoded as a `T`, whatever the label.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, RpcError> {
        decode(self.message)
    }

    /// The payload as a request of protocol `P` (checking the label).
    pub fn request<P: Protocol>(&self) -> Result<P::Request, RpcError> {
        decode_request::<P>(self.message)
    }
}

/// What the loop does after a handler returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Answer the caller now with the message the handler wrote into the loop's answer
    /// (the `&mut Message` it was given), and this capability if `Some`.
    Answer(Option<Cptr>),
    /// Do not answer now: the handler kept the message's reply object to answer later
    /// (through [`answer`]); the loop receives from now on with `next_reply`, an unused
    /// reply object.
    Later {
        /// The reply object to receive with from now on.
        next_reply: Cptr,
    },
}

/// A handler's answer to a request of protocol `P`.
pub enum Reply<P: Protocol> {
    /// Answer now.
    Now(Result<P::Response, P::Error>),
    /// Answer now, transferring a capability with the answer.
    WithCapability(Result<P::Response, P::Error>, Cptr),
    /// Answer later (see [`Outcome::Later`]).
    Later {
        /// The reply object to receive with from now on.
        next_reply: Cptr,
    },
}

impl<P: Protocol> From<Result<P::Response, P::Error>> for Reply<P> {
    fn from(result: Result<P::Response, P::Error>) -> Self {
        Self::Now(result)
    }
}

impl<P: Protocol> Reply<P> {
    /// The loop's outcome, with the answer encoded into `answer` (in place).
    #[inline]
    pub fn write(self, answer: &mut Message) -> Outcome {
        match self {
            Self::Now(result) => {
                encode_reply_into::<P>(answer, &result);
                Outcome::Answer(None)
            }
            Self::WithCapability(result, capability) => {
                encode_reply_into::<P>(answer, &result);
                Outcome::Answer(Some(capability))
            }
            Self::Later { next_reply } => Outcome::Later { next_reply },
        }
    }
}

/// Answers a caller whose request was deferred ([`Outcome::Later`]) through the reply
/// object it waits on, with `result` and optionally a capability. `NoCaller` if it no
/// longer waits.
pub fn answer<P: Protocol>(
    reply_object: Cptr,
    result: &Result<P::Response, P::Error>,
    capability: Option<Cptr>,
) -> Result<(), Error> {
    let mut message = encode_reply::<P>(result);
    attach(&mut message, capability)?;
    ipc::send(reply_object, &message)
}

/// Puts `capability` in the IPC buffer's send slot and counts it in the message.
fn attach(message: &mut Message, capability: Option<Cptr>) -> Result<(), Error> {
    if let Some(capability) = capability {
        let buffer = ipc::ipc_buffer().ok_or(Error::InvalidArgument)?;
        buffer.set_send_cap(0, capability);
        message.caps = 1;
    }
    Ok(())
}

/// A server: an endpoint to receive on, a reply object, and optionally a slot where
/// capabilities sent with requests arrive.
#[derive(Debug)]
pub struct Server {
    endpoint: Cptr,
    reply_object: Cptr,
    receive: Option<CapabilitySlot>,
}

impl Server {
    /// A server receiving on `endpoint` (READ right) with `reply_object`. It accepts no
    /// capabilities (they are dropped by the kernel) unless [`Server::receiving`] says
    /// where.
    pub const fn new(endpoint: Cptr, reply_object: Cptr) -> Self {
        Self { endpoint, reply_object, receive: None }
    }

    /// Accepts a capability with each request, into `slot` (which must be empty).
    pub const fn receiving(mut self, slot: CapabilitySlot) -> Self {
        self.receive = Some(slot);
        self
    }

    /// The reply object the loop receives with now.
    pub const fn reply_object(&self) -> Cptr {
        self.reply_object
    }

    /// Serves forever: receives, calls `handler` with each message, and answers as it says.
    /// Returns only when receiving fails (the endpoint was deleted: `Cancelled`; a bad
    /// capability), with that error; `InvalidArgument` at once if this thread has no IPC
    /// buffer (long messages could not arrive).
    pub fn run(&mut self, mut handler: impl FnMut(&Incoming<'_>, &mut Message) -> Outcome) -> Error {
        if ipc::ipc_buffer().is_none() {
            return Error::InvalidArgument;
        }
        // One message for what arrives and one for the answer, both reused in place: a
        // message is about 1 KiB, so nothing copies or zeroes one per request.
        let mut request = Message::new(0, &[]);
        let mut answer = Message::new(0, &[]);
        // Whether `answer` goes out with the next receive.
        let mut answering = false;
        loop {
            if let Some(buffer) = ipc::ipc_buffer() {
                // The handler may have called other servers, which changes these.
                let (cnode, index) = self.receive.map_or((0, 0), |slot| (slot.cnode, slot.index));
                buffer.set_receive_slot(cnode, index);
            }
            let received = if answering {
                ipc::reply_receive_into(self.endpoint, &answer, self.reply_object, &mut request)
            } else {
                ipc::receive_into(self.endpoint, self.reply_object, &mut request)
            };
            answering = false;
            let badge = match received {
                Ok(badge) => badge,
                Err(error) => return error,
            };
            let capability = if request.caps > 0 { self.receive } else { None };
            let incoming = Incoming { message: &request, badge, reply_object: self.reply_object, capability };
            let outcome = handler(&incoming, &mut answer);
            if let Some(slot) = capability {
                // Whatever the handler did not take; an empty slot is fine to delete.
                let _ = object::delete(slot.cnode, slot.index);
            }
            match outcome {
                Outcome::Answer(capability) => {
                    // Only fails without an IPC buffer, checked above; then no capability
                    // is counted and the answer goes alone.
                    let _ = attach(&mut answer, capability);
                    answering = true;
                }
                Outcome::Later { next_reply } => self.reply_object = next_reply,
            }
        }
    }

    /// Serves protocol `P` forever: requests that decode go to `handler` with the message
    /// (badge, capability, reply object); anything else is answered with
    /// `P::Error::from(RpcError)` (`Malformed`, `TooLarge`, `WrongProtocol`) without calling
    /// it. Returns as [`Server::run`].
    pub fn serve<P: Protocol>(
        &mut self,
        mut handler: impl FnMut(&Incoming<'_>, P::Request) -> Reply<P>,
    ) -> Error {
        self.run(|incoming, answer| match incoming.request::<P>() {
            Ok(request) => handler(incoming, request).write(answer),
            Err(error) => Reply::<P>::Now(Err(P::Error::from(error))).write(answer),
        })
    }
}
