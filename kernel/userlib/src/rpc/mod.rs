//! Remote procedure calls: serde requests and responses, encoded with postcard, each in one
//! IPC message.
//!
//! An interface (an `*-api` crate) declares its request, response and error types once and
//! ties them together with a [`Protocol`]. Clients call through [`Client`] (or [`call`]);
//! servers answer through [`Server`], which decodes, calls the handler, and replies. A
//! message that breaks the wire format never reaches the handler: the loop answers it with
//! the interface's error made from [`RpcError`], so no client can crash a server by what it
//! sends.
//!
//! # Wire format
//!
//! One request or reply is one IPC message (at most [`MAX_MESSAGE_WORDS`] = 120 words):
//!
//! | part | content |
//! | --- | --- |
//! | label | a request: the protocol's [`Protocol::LABEL`]; a reply: [`REPLY_LABEL`] |
//! | word 0 | `n`, the payload length in bytes, `n <= MAX_PAYLOAD_BYTES` (952) |
//! | words 1 ..= ⌈n/8⌉ | the payload, 8 bytes per word, little-endian: byte `i` is bits `8*(i%8) ..` of word `1 + i/8`; the unused high bytes of the last word are zero |
//! | length | exactly `1 + ⌈n/8⌉` words |
//! | capabilities | at most one (`send_caps[0]`, tag `caps = 1`), next to the payload |
//!
//! The payload is the postcard encoding of the request (`P::Request`), or in a reply of
//! `Result<P::Response, P::Error>`, and must be consumed entirely. postcard writes enum
//! variants as their index (a varint), so variants are only ever added at the end of an
//! enum, never reordered or removed.
//!
//! A message that breaks a rule (length word past the message, a non-zero padding byte,
//! extra words, bytes that do not decode, bytes left over) is [`RpcError::Malformed`]; a
//! length word above 952, or a value whose encoding does not fit, is [`RpcError::TooLarge`];
//! a request with another protocol's label is [`RpcError::WrongProtocol`]. Kernel errors of
//! the call itself (a deleted endpoint: `Cancelled`; a capability without the right to
//! send) are [`RpcError::Ipc`].
//!
//! # Memory
//!
//! Decoding allocates the strings and vectors of the value (`alloc`, so the program needs a
//! heap, see [`crate::heap`]). postcard hints a sequence's length to serde only when the
//! bytes left could hold it, so a lying length prefix cannot make the decoder reserve more
//! than 952 elements' worth; a server should keep that much heap headroom for its largest
//! element type.

pub mod bytes;
#[cfg(target_arch = "riscv64")]
mod client;
#[cfg(target_arch = "riscv64")]
mod server;

#[cfg(target_arch = "riscv64")]
pub use client::{Client, Transfer, call, call_with};
#[cfg(target_arch = "riscv64")]
pub use server::{CapabilitySlot, Incoming, Outcome, Reply, Server, answer};

use core::fmt;

use kernel_abi::syscall::MAX_MESSAGE_WORDS;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::ipc::Message;

/// Payload words of one message: all but the length word.
pub const MAX_PAYLOAD_WORDS: usize = MAX_MESSAGE_WORDS - 1;
/// Most payload bytes one message carries (952).
pub const MAX_PAYLOAD_BYTES: usize = MAX_PAYLOAD_WORDS * WORD_BYTES;
/// The label of every RPC reply ("RPLY").
pub const REPLY_LABEL: usize = label(*b"RPLY");

const WORD_BYTES: usize = core::mem::size_of::<usize>();

/// A protocol label from four ASCII letters (readable in a hex dump: `b"PROC"` is
/// `0x50524f43`). Labels are 52 bits wide in the message tag; these use 32.
pub const fn label(tag: [u8; 4]) -> usize {
    u32::from_be_bytes(tag) as usize
}

/// An interface: its label and its request, response and error types.
///
/// `Error` must have a variant for transport failures (`From<RpcError>`): the server loop
/// answers undecodable requests with it, and the client reports failed calls with it.
pub trait Protocol {
    /// A short name, for messages.
    const NAME: &'static str;
    /// The label of every request of this protocol (see [`label`]). Distinct for every
    /// protocol in the system, and never [`REPLY_LABEL`] or the kernel's fault label.
    const LABEL: usize;
    /// What a client asks.
    type Request: Serialize + DeserializeOwned;
    /// What the server answers when the request succeeds.
    type Response: Serialize + DeserializeOwned;
    /// What the server answers when it fails.
    type Error: Serialize + DeserializeOwned + From<RpcError>;
}

/// A borrowed form of protocol `P`'s requests: a type whose postcard encoding is that of
/// the `P::Request` it stands for (a `&str` where the request holds a `String`), so a
/// client sends it without building the owned request ([`Client::call_as`]). Only an
/// interface crate implements it, for its own borrowed form, and its tests show the
/// encodings equal.
pub trait RequestForm<P: Protocol>: Serialize {}

/// Why a message could not be carried or understood.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RpcError {
    /// The message does not follow the wire format, or its bytes are not a value of the
    /// expected type.
    Malformed,
    /// The value does not fit in one message (more than [`MAX_PAYLOAD_BYTES`] encoded).
    TooLarge,
    /// The request's label is not the server's protocol: the capability names another
    /// service.
    WrongProtocol,
    /// The call failed in the kernel, with this `kernel_abi::Error` code (`Cancelled`: the
    /// server or its endpoint is gone; `InsufficientRights`; `InvalidCapability`; ...).
    Ipc(u16),
    /// This thread has no IPC buffer registered, so it cannot carry more than four words
    /// or a capability (`ipc::set_ipc_buffer`).
    NoIpcBuffer,
}

impl RpcError {
    /// The error of a failed IPC call.
    pub fn from_kernel(error: kernel_abi::Error) -> Self {
        Self::Ipc(u16::try_from(error as usize).unwrap_or(u16::MAX))
    }

    /// The kernel error, for [`RpcError::Ipc`].
    pub fn kernel_error(self) -> Option<kernel_abi::Error> {
        match self {
            Self::Ipc(code) => kernel_abi::Error::try_from(usize::from(code)).ok(),
            _ => None,
        }
    }
}

impl From<kernel_abi::Error> for RpcError {
    fn from(error: kernel_abi::Error) -> Self {
        Self::from_kernel(error)
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed => f.write_str("malformed message"),
            Self::TooLarge => f.write_str("message too large"),
            Self::WrongProtocol => f.write_str("wrong protocol"),
            Self::NoIpcBuffer => f.write_str("no IPC buffer"),
            Self::Ipc(code) => match self.kernel_error() {
                Some(error) => write!(f, "IPC failed: {error}"),
                None => write!(f, "IPC failed: error {code}"),
            },
        }
    }
}

/// Packs `bytes` into `words` as the wire format says (length word, then the bytes).
/// Returns the number of words used.
pub fn pack(bytes: &[u8], words: &mut [usize; MAX_MESSAGE_WORDS]) -> Result<usize, RpcError> {
    if bytes.len() > MAX_PAYLOAD_BYTES {
        return Err(RpcError::TooLarge);
    }
    words[0] = bytes.len();
    let mut used = 1;
    for chunk in bytes.chunks(WORD_BYTES) {
        let mut word = [0u8; WORD_BYTES];
        word[..chunk.len()].copy_from_slice(chunk);
        words[used] = usize::from_le_bytes(word);
        used += 1;
    }
    Ok(used)
}

/// Unpacks the payload of message `words` (as sent: the length word first) into `buffer`;
/// returns the payload bytes. Checks every rule of the wire format.
pub fn unpack<'a>(words: &[usize], buffer: &'a mut [u8; MAX_PAYLOAD_BYTES]) -> Result<&'a [u8], RpcError> {
    let bytes = payload(words)?;
    buffer[..bytes.len()].copy_from_slice(bytes);
    Ok(&buffer[..bytes.len()])
}

/// The payload of message `words` (as sent: the length word first), read in place, after
/// checking every rule of the wire format (length within the words and at most
/// [`MAX_PAYLOAD_BYTES`], no extra words, zero padding).
pub fn payload(words: &[usize]) -> Result<&[u8], RpcError> {
    let (&length, rest) = words.split_first().ok_or(RpcError::Malformed)?;
    if length > MAX_PAYLOAD_BYTES {
        return Err(RpcError::TooLarge);
    }
    if rest.len() != length.div_ceil(WORD_BYTES) {
        return Err(RpcError::Malformed);
    }
    let (bytes, padding) = as_bytes(rest).split_at(length);
    if padding.iter().any(|&byte| byte != 0) {
        return Err(RpcError::Malformed);
    }
    Ok(bytes)
}

// The wire format numbers a payload's bytes as little-endian words do in memory, so the
// payload is read and written in place through a byte view of the words.
const _: () = assert!(cfg!(target_endian = "little"));

/// The bytes of `words` in memory order: byte `i` is bits `8 * (i % 8)` of word `i / 8`.
fn as_bytes(words: &[usize]) -> &[u8] {
    // SAFETY: the pointer and length cover exactly the memory of `words`, which is
    // initialised; u8 has alignment 1 and every byte of a usize is a valid u8; the slice
    // borrows `words`, so it lives no longer and nothing writes it meanwhile.
    unsafe { core::slice::from_raw_parts(words.as_ptr().cast::<u8>(), core::mem::size_of_val(words)) }
}

/// [`as_bytes`], to write.
fn as_bytes_mut(words: &mut [usize]) -> &mut [u8] {
    // SAFETY: as in `as_bytes`, and every byte pattern is a valid usize, so whatever is
    // written through the view leaves valid words; the view borrows `words` exclusively.
    unsafe { core::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), core::mem::size_of_val(words)) }
}

/// Encodes `value` as a message with `label`.
#[inline]
pub fn encode<T: Serialize + ?Sized>(label: usize, value: &T) -> Result<Message, RpcError> {
    let mut message = Message::new(label, &[]);
    encode_into(&mut message, label, value)?;
    Ok(message)
}

/// Encodes `value` as a message with `label` into `message`, in place: the payload is
/// written straight into its words (no intermediate buffer: a message is about 1 KiB, and
/// every copy of it costs), whatever they held before. On failure `message` is not a
/// valid message.
#[inline]
pub fn encode_into<T: Serialize + ?Sized>(
    message: &mut Message,
    label: usize,
    value: &T,
) -> Result<(), RpcError> {
    let length = postcard::to_slice(value, &mut as_bytes_mut(&mut message.words[1..])[..MAX_PAYLOAD_BYTES])
        .map_err(|error| match error {
            postcard::Error::SerializeBufferFull => RpcError::TooLarge,
            // Only a type postcard cannot represent (a sequence of unknown length) gets here.
            _ => RpcError::Malformed,
        })?
        .len();
    let words = length.div_ceil(WORD_BYTES);
    // The padding after the payload, up to its last word's end, must be zero.
    as_bytes_mut(&mut message.words[1..=words])[length..].fill(0);
    message.label = label;
    message.caps = 0;
    message.words[0] = length;
    message.length = 1 + words;
    Ok(())
}

/// Decodes the payload of `message` (whatever its label) as a `T`, read in place.
#[inline]
pub fn decode<T: DeserializeOwned>(message: &Message) -> Result<T, RpcError> {
    decode_bytes(payload(message.words())?)
}

/// Decodes postcard `bytes` as a `T`, requiring every byte to be used.
pub fn decode_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, RpcError> {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Ok(value),
        _ => Err(RpcError::Malformed),
    }
}

/// Whether `value` fits in one message as a payload.
pub fn fits<T: Serialize + ?Sized>(value: &T) -> bool {
    postcard::to_slice(value, &mut [0u8; MAX_PAYLOAD_BYTES]).is_ok()
}

/// Whether `response` fits in a successful reply of protocol `P` (servers trim lists with
/// it, answering the rest on the next request).
pub fn reply_fits<P: Protocol>(response: &P::Response) -> bool {
    // `Ok(&response)` encodes exactly as the `Ok(response)` of the reply.
    fits(&Ok::<&P::Response, ()>(response))
}

/// Encodes a request of protocol `P`.
pub fn encode_request<P: Protocol>(request: &P::Request) -> Result<Message, RpcError> {
    encode(P::LABEL, request)
}

/// Decodes a request of protocol `P`, checking its label.
pub fn decode_request<P: Protocol>(message: &Message) -> Result<P::Request, RpcError> {
    if message.label != P::LABEL {
        return Err(RpcError::WrongProtocol);
    }
    decode(message)
}

/// Encodes the reply `result` of protocol `P`. A response too large for a message becomes
/// `Err(TooLarge)`, so the caller always gets an answer it can decode.
pub fn encode_reply<P: Protocol>(result: &Result<P::Response, P::Error>) -> Message {
    let mut message = Message::new(REPLY_LABEL, &[]);
    encode_reply_into::<P>(&mut message, result);
    message
}

/// [`encode_reply`] into `message`, in place.
#[inline]
pub fn encode_reply_into<P: Protocol>(message: &mut Message, result: &Result<P::Response, P::Error>) {
    if let Err(error) = encode_into(message, REPLY_LABEL, result) {
        let fallback: Result<P::Response, P::Error> = Err(P::Error::from(error));
        // A transport error variant always fits; if an interface made it not, the caller
        // gets an empty reply, which it decodes as Malformed.
        if encode_into(message, REPLY_LABEL, &fallback).is_err() {
            *message = Message::new(REPLY_LABEL, &[0]);
        }
    }
}

/// Decodes a reply of protocol `P`: the server's answer, or the transport error.
pub fn decode_reply<P: Protocol>(message: &Message) -> Result<P::Response, P::Error> {
    if message.label != REPLY_LABEL {
        return Err(P::Error::from(RpcError::Malformed));
    }
    decode::<Result<P::Response, P::Error>>(message).unwrap_or_else(|error| Err(P::Error::from(error)))
}

#[cfg(test)]
mod tests;
