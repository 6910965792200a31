//! Host tests of the wire format: packing, encoding, and decoders that refuse (never panic
//! on) random, truncated and corrupted messages.
#![allow(clippy::cast_possible_truncation, reason = "random test values are cut to width on purpose")]

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use super::*;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Request {
    Ping,
    Echo { text: String },
    Spawn { program: String, args: Vec<String>, env: Vec<(String, String)>, foreground: bool },
    Write { bytes: Vec<u8> },
    Numbers(u8, u16, u32, u64, i64, Option<u32>),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Response {
    Pong,
    Text(String),
    Pid(u32),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum TestError {
    Refused { reason: String },
    Rpc(RpcError),
}

impl From<RpcError> for TestError {
    fn from(error: RpcError) -> Self {
        Self::Rpc(error)
    }
}

struct Test;

impl Protocol for Test {
    const NAME: &'static str = "test";
    const LABEL: usize = label(*b"TEST");
    type Request = Request;
    type Response = Response;
    type Error = TestError;
}

struct Other;

impl Protocol for Other {
    const NAME: &'static str = "other";
    const LABEL: usize = label(*b"OTHR");
    type Request = Request;
    type Response = Response;
    type Error = TestError;
}

/// xorshift64: deterministic, so a failure repeats.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn string(&mut self, max: usize) -> String {
        let length = self.below(max + 1);
        (0..length).map(|_| char::from(b'a' + (self.below(26) as u8))).collect()
    }

    fn request(&mut self) -> Request {
        match self.below(5) {
            0 => Request::Ping,
            1 => Request::Echo { text: self.string(40) },
            2 => Request::Spawn {
                program: self.string(12),
                args: (0..self.below(5)).map(|_| self.string(8)).collect(),
                env: (0..self.below(3)).map(|_| (self.string(5), self.string(9))).collect(),
                foreground: self.below(2) == 0,
            },
            3 => Request::Write { bytes: (0..self.below(200)).map(|_| self.next() as u8).collect() },
            _ => Request::Numbers(
                self.next() as u8,
                self.next() as u16,
                self.next() as u32,
                self.next(),
                self.next() as i64,
                (self.below(2) == 0).then(|| self.next() as u32),
            ),
        }
    }
}

fn all_requests() -> Vec<Request> {
    vec![
        Request::Ping,
        Request::Echo { text: "hello".to_string() },
        Request::Spawn {
            program: "/bin/ls".to_string(),
            args: vec!["-l".to_string(), "/www".to_string()],
            env: vec![("PATH".to_string(), "/bin".to_string())],
            foreground: true,
        },
        Request::Write { bytes: vec![0, 1, 2, 255] },
        Request::Numbers(u8::MAX, u16::MAX, u32::MAX, u64::MAX, i64::MIN, Some(7)),
    ]
}

#[test]
fn packing_is_little_endian_with_a_length_word() {
    let mut words = [0usize; MAX_MESSAGE_WORDS];
    let used = pack(&[1, 2, 3, 4, 5, 6, 7, 8, 9], &mut words).unwrap();
    assert_eq!(used, 3);
    assert_eq!(&words[..3], &[9, 0x0807_0605_0403_0201, 0x09]);
    let mut buffer = [0u8; MAX_PAYLOAD_BYTES];
    assert_eq!(unpack(&words[..used], &mut buffer).unwrap(), &[1, 2, 3, 4, 5, 6, 7, 8, 9]);
}

#[test]
fn packing_round_trips_every_length() {
    let bytes: Vec<u8> = (0..MAX_PAYLOAD_BYTES).map(|index| (index * 7 + 1) as u8).collect();
    let mut buffer = [0u8; MAX_PAYLOAD_BYTES];
    for length in 0..=MAX_PAYLOAD_BYTES {
        let mut words = [0usize; MAX_MESSAGE_WORDS];
        let used = pack(&bytes[..length], &mut words).unwrap();
        assert_eq!(used, 1 + length.div_ceil(8));
        assert_eq!(unpack(&words[..used], &mut buffer).unwrap(), &bytes[..length]);
    }
    let mut words = [0usize; MAX_MESSAGE_WORDS];
    let too_long = vec![0u8; MAX_PAYLOAD_BYTES + 1];
    assert_eq!(pack(&too_long, &mut words), Err(RpcError::TooLarge));
}

#[test]
fn unpacking_checks_every_rule() {
    let mut buffer = [0u8; MAX_PAYLOAD_BYTES];
    assert_eq!(unpack(&[], &mut buffer), Err(RpcError::Malformed), "no length word");
    assert_eq!(unpack(&[0], &mut buffer).unwrap(), &[] as &[u8]);
    assert_eq!(unpack(&[9, 0], &mut buffer), Err(RpcError::Malformed), "length past the words");
    assert_eq!(unpack(&[1, 5, 0], &mut buffer), Err(RpcError::Malformed), "extra words");
    assert_eq!(unpack(&[1, 0x105], &mut buffer), Err(RpcError::Malformed), "non-zero padding");
    assert_eq!(unpack(&[953], &mut buffer), Err(RpcError::TooLarge));
    assert_eq!(unpack(&[usize::MAX, 1], &mut buffer), Err(RpcError::TooLarge));
}

#[test]
fn every_request_round_trips() {
    for request in all_requests() {
        let message = encode_request::<Test>(&request).unwrap();
        assert_eq!(message.label, Test::LABEL);
        assert_eq!(decode_request::<Test>(&message).unwrap(), request);
    }
}

#[test]
fn replies_round_trip_both_ways() {
    for result in [
        Ok(Response::Pong),
        Ok(Response::Text("x".repeat(100))),
        Ok(Response::Pid(7)),
        Err(TestError::Refused { reason: "policy".to_string() }),
        Err(TestError::Rpc(RpcError::Ipc(14))),
    ] {
        let message = encode_reply::<Test>(&result);
        assert_eq!(message.label, REPLY_LABEL);
        assert_eq!(decode_reply::<Test>(&message), result);
    }
}

#[test]
fn random_values_round_trip() {
    let mut random = Random(0x1234_5678_9abc_def1);
    for _ in 0..2000 {
        let request = random.request();
        let message = encode_request::<Test>(&request).unwrap();
        assert_eq!(decode_request::<Test>(&message).unwrap(), request);
    }
}

#[test]
fn another_protocols_request_is_refused() {
    let message = encode_request::<Other>(&Request::Ping).unwrap();
    assert_eq!(decode_request::<Test>(&message), Err(RpcError::WrongProtocol));
}

#[test]
fn too_large_values_are_refused_and_replies_degrade_to_an_error() {
    let request = Request::Write { bytes: vec![7; MAX_PAYLOAD_BYTES] };
    assert_eq!(encode_request::<Test>(&request).unwrap_err(), RpcError::TooLarge);
    // The largest that fits: variant index, a two-byte length, and the bytes.
    let fits = Request::Write { bytes: vec![7; MAX_PAYLOAD_BYTES - 3] };
    assert_eq!(decode_request::<Test>(&encode_request::<Test>(&fits).unwrap()).unwrap(), fits);
    let reply = encode_reply::<Test>(&Ok(Response::Text("y".repeat(2000))));
    assert_eq!(decode_reply::<Test>(&reply), Err(TestError::Rpc(RpcError::TooLarge)));
}

#[test]
fn replies_with_another_label_or_bad_bytes_are_malformed() {
    let mut message = encode_reply::<Test>(&Ok(Response::Pong));
    message.label = Test::LABEL;
    assert_eq!(decode_reply::<Test>(&message), Err(TestError::Rpc(RpcError::Malformed)));
    let empty = Message::new(REPLY_LABEL, &[0]);
    assert_eq!(decode_reply::<Test>(&empty), Err(TestError::Rpc(RpcError::Malformed)));
    let no_words = Message::new(REPLY_LABEL, &[]);
    assert_eq!(decode_reply::<Test>(&no_words), Err(TestError::Rpc(RpcError::Malformed)));
}

#[test]
fn trailing_bytes_are_malformed() {
    let mut bytes = postcard::to_allocvec(&Request::Ping).unwrap();
    bytes.push(0);
    let mut message = Message::new(Test::LABEL, &[]);
    message.length = pack(&bytes, &mut message.words).unwrap();
    assert_eq!(decode_request::<Test>(&message), Err(RpcError::Malformed));
}

#[test]
fn truncated_messages_never_panic() {
    for request in all_requests() {
        let message = encode_request::<Test>(&request).unwrap();
        let mut buffer = [0u8; MAX_PAYLOAD_BYTES];
        let bytes = unpack(message.words(), &mut buffer).unwrap().to_vec();
        // Every shorter byte string, correctly framed: a clean refusal each time.
        for length in 0..bytes.len() {
            let mut cut = Message::new(Test::LABEL, &[]);
            cut.length = pack(&bytes[..length], &mut cut.words).unwrap();
            assert!(decode_request::<Test>(&cut).is_err(), "{request:?} cut to {length} bytes decoded");
        }
        // Every shorter word count, with the original length word.
        for length in 0..message.length {
            let cut = Message::new(Test::LABEL, &message.words()[..length]);
            assert!(decode_request::<Test>(&cut).is_err());
        }
    }
}

#[test]
fn random_bytes_never_panic_the_decoder() {
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let mut decoded = 0;
    for _ in 0..20_000 {
        let length = random.below(64);
        let bytes: Vec<u8> = (0..length)
            .map(|_| match random.below(4) {
                // Small numbers make plausible variant indices and lengths.
                0 => random.below(6) as u8,
                1 => 0xff,
                _ => random.next() as u8,
            })
            .collect();
        let mut message = Message::new(Test::LABEL, &[]);
        message.length = pack(&bytes, &mut message.words).unwrap();
        if decode_request::<Test>(&message).is_ok() {
            decoded += 1;
        }
        let _ = decode_reply::<Test>(&Message { label: REPLY_LABEL, ..message });
    }
    assert!(decoded > 0, "some random inputs are valid requests");
}

#[test]
fn random_words_never_panic_the_decoder() {
    let mut random = Random(0x2545_f491_4f6c_dd1d);
    for _ in 0..20_000 {
        let length = random.below(MAX_MESSAGE_WORDS + 1);
        let mut words = [0usize; MAX_MESSAGE_WORDS];
        for word in words.iter_mut().take(length) {
            *word = random.next() as usize;
        }
        if length > 0 && random.below(2) == 0 {
            // A plausible length word, so unpacking gets past the first check.
            words[0] = random.below(8 * (length - 1) + 1);
        }
        let message = Message::new(Test::LABEL, &words[..length]);
        let _ = decode_request::<Test>(&message);
    }
}

#[test]
fn lying_sequence_lengths_are_refused() {
    // Spawn with an argument count of 2^32: must be refused, not reserved.
    let bytes = [2u8, 1, b'x', 0x80, 0x80, 0x80, 0x80, 0x10];
    let mut message = Message::new(Test::LABEL, &[]);
    message.length = pack(&bytes, &mut message.words).unwrap();
    assert_eq!(decode_request::<Test>(&message), Err(RpcError::Malformed));
}

#[test]
fn errors_name_kernel_codes() {
    let error = RpcError::from_kernel(kernel_abi::Error::Cancelled);
    assert_eq!(error.kernel_error(), Some(kernel_abi::Error::Cancelled));
    assert_eq!(error.to_string(), "IPC failed: cancelled");
    assert_eq!(RpcError::Malformed.kernel_error(), None);
    assert_eq!(REPLY_LABEL, 0x5250_4c59);
}

#[test]
fn fits_says_what_a_reply_can_carry() {
    let just = Response::Text("z".repeat(MAX_PAYLOAD_BYTES - 4));
    assert!(reply_fits::<Test>(&just));
    assert_eq!(decode_reply::<Test>(&encode_reply::<Test>(&Ok(just.clone()))), Ok(just));
    let over = Response::Text("z".repeat(MAX_PAYLOAD_BYTES - 3));
    assert!(!reply_fits::<Test>(&over));
    assert!(fits(&Request::Ping));
}
