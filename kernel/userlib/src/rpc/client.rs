//! The client side: one call is one IPC `call` on the server's endpoint capability.

use core::marker::PhantomData;

use serde::Serialize;

use super::{Protocol, RequestForm, RpcError, decode_reply, encode_into};
use crate::ipc::{self, Cptr, Message};
use crate::rpc::CapabilitySlot;

/// A capability to send with a call, and where a capability in the reply may arrive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transfer {
    /// Sent with the request (the endpoint capability needs the GRANT right, or the
    /// capability is dropped and the request arrives without it).
    pub send: Option<Cptr>,
    /// An empty slot for a capability the reply carries.
    pub receive: Option<CapabilitySlot>,
}

/// Calls the server at `endpoint` with `request` of protocol `P`; blocks until it answers.
pub fn call<P: Protocol>(endpoint: Cptr, request: &P::Request) -> Result<P::Response, P::Error> {
    call_with::<P>(endpoint, request, Transfer::default()).map(|(response, _)| response)
}

/// [`call`], sending and receiving a capability as `transfer` says. Returns the response
/// and whether a capability arrived in `transfer.receive`.
pub fn call_with<P: Protocol>(
    endpoint: Cptr,
    request: &P::Request,
    transfer: Transfer,
) -> Result<(P::Response, bool), P::Error> {
    call_encoding::<P, P::Request>(endpoint, request, transfer)
}

/// [`call_with`] of any value encoding as a request of `P` (the request itself, or a
/// [`RequestForm`] of it).
fn call_encoding<P: Protocol, R: Serialize + ?Sized>(
    endpoint: Cptr,
    request: &R,
    transfer: Transfer,
) -> Result<(P::Response, bool), P::Error> {
    // One message for the request and, in place, the reply.
    let mut message = Message::new(0, &[]);
    encode_into(&mut message, P::LABEL, request).map_err(P::Error::from)?;
    if ipc::ipc_buffer().is_none() {
        // Without one the kernel would cut the message to four words.
        return Err(P::Error::from(RpcError::NoIpcBuffer));
    }
    if transfer.send.is_some() || transfer.receive.is_some() {
        let buffer = ipc::ipc_buffer().ok_or(P::Error::from(RpcError::NoIpcBuffer))?;
        if let Some(capability) = transfer.send {
            buffer.set_send_cap(0, capability);
            message.caps = 1;
        }
        if let Some(slot) = transfer.receive {
            buffer.set_receive_slot(slot.cnode, slot.index);
        }
    }
    let called = ipc::call_in_place(endpoint, &mut message);
    if transfer.receive.is_some()
        && let Some(buffer) = ipc::ipc_buffer()
    {
        // No later message may drop a capability into the caller's slot unasked.
        buffer.set_receive_slot(0, 0);
    }
    called.map_err(|error| P::Error::from(RpcError::from_kernel(error)))?;
    let received = message.caps > 0;
    decode_reply::<P>(&message).map(|response| (response, received))
}

/// A client of protocol `P`: the endpoint capability of a session (usually a badged copy
/// the security server handed out). Interface crates wrap it with one method per request.
pub struct Client<P> {
    endpoint: Cptr,
    protocol: PhantomData<fn() -> P>,
}

impl<P: Protocol> Client<P> {
    /// A client calling through `endpoint`.
    pub const fn new(endpoint: Cptr) -> Self {
        Self { endpoint, protocol: PhantomData }
    }

    /// The endpoint capability.
    pub const fn endpoint(&self) -> Cptr {
        self.endpoint
    }

    /// Sends `request` and waits for the answer.
    pub fn call(&self, request: &P::Request) -> Result<P::Response, P::Error> {
        call::<P>(self.endpoint, request)
    }

    /// [`Client::call`] with the request in a borrowed form (see [`RequestForm`]): the
    /// same message, without building the owned request.
    pub fn call_as<R: RequestForm<P>>(&self, request: &R) -> Result<P::Response, P::Error> {
        call_encoding::<P, R>(self.endpoint, request, Transfer::default()).map(|(response, _)| response)
    }

    /// [`Client::call`] with a capability transfer; returns whether a capability arrived.
    pub fn call_with(
        &self,
        request: &P::Request,
        transfer: Transfer,
    ) -> Result<(P::Response, bool), P::Error> {
        call_with::<P>(self.endpoint, request, transfer)
    }
}

impl<P> Clone for Client<P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P> Copy for Client<P> {}

impl<P> core::fmt::Debug for Client<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Client").field("endpoint", &self.endpoint).finish()
    }
}
