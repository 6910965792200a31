//! The console server's terminal logic, apart from the hardware so the host tests can run
//! it: the input buffer, who may read (the foreground), reads waiting for input, Ctrl-C,
//! and the newline rule of output. `src/main.rs` is the driver that feeds it UART bytes and
//! requests and carries out what it answers.
//!
//! A *session* here is a process, named by a number the driver chooses: its security client
//! id (every connection of one process is one terminal session), or the badge of a manifest
//! client the security server did not connect.
//!
//! Invariants:
//! - the input buffer holds at most [`INPUT_CAPACITY`] bytes; bytes typed when it is full
//!   are dropped and counted ([`Terminal::dropped`]);
//! - a waiting read exists only while the buffer is empty, and at most one per session;
//! - Ctrl-C (byte 0x03) never enters the buffer.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use console_api::{ConsoleError, MAX_CHUNK_BYTES, Response};

/// Bytes of typed input kept until someone reads them.
pub const INPUT_CAPACITY: usize = 4096;
/// The byte Ctrl-C sends.
pub const CONTROL_C: u8 = 0x03;

/// Who may read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Foreground {
    /// Nobody set a foreground yet: every session may read (the first reader gets the input).
    Open,
    /// Only this session (process).
    Session(usize),
}

/// A read waiting for input: the session, how much it wants, and the handle its answer
/// goes through (a reply object in the server).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct WaitingRead<R> {
    session: usize,
    max: usize,
    reply: R,
}

/// Something the driver must do after input arrived or the foreground changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action<R> {
    /// Answer the waiting read behind `reply` with `result` (the reply handle is then free).
    Answer {
        /// The waiting caller's reply handle.
        reply: R,
        /// Its answer.
        result: Result<Response, ConsoleError>,
    },
    /// Signal the foreground's interrupt notification (Ctrl-C was typed).
    SignalForeground,
}

/// What a `Read` gets at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadNow {
    /// The answer.
    Answer(Result<Response, ConsoleError>),
    /// No input yet: the read must wait ([`Terminal::wait`]).
    Wait,
}

/// The terminal: input, foreground, waiting reads. `R` is the reply handle of a waiting read.
#[derive(Debug)]
pub struct Terminal<R> {
    input: VecDeque<u8>,
    dropped: u64,
    interrupts: u64,
    foreground: Foreground,
    /// The session allowed to change the foreground: the first one that did.
    controller: Option<usize>,
    waiting: Vec<WaitingRead<R>>,
}

impl<R> Default for Terminal<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R> Terminal<R> {
    /// An empty terminal with no foreground set.
    pub fn new() -> Self {
        Self {
            input: VecDeque::new(),
            dropped: 0,
            interrupts: 0,
            foreground: Foreground::Open,
            controller: None,
            waiting: Vec::new(),
        }
    }

    /// Typed bytes dropped because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Ctrl-Cs typed.
    pub fn interrupts(&self) -> u64 {
        self.interrupts
    }

    /// Bytes waiting to be read.
    pub fn buffered(&self) -> usize {
        self.input.len()
    }

    /// Reads waiting for input.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Who may read.
    pub fn foreground(&self) -> Foreground {
        self.foreground
    }

    fn may_read(&self, session: usize) -> bool {
        match self.foreground {
            Foreground::Open => true,
            Foreground::Session(badge) => badge == session,
        }
    }

    fn take(&mut self, max: usize) -> Vec<u8> {
        let count = max.min(MAX_CHUNK_BYTES).min(self.input.len());
        self.input.drain(..count).collect()
    }

    /// A `Read` of at most `max` bytes by `session`: the answer now, or `Wait`.
    pub fn read(&mut self, session: usize, max: usize) -> ReadNow {
        if !self.may_read(session) {
            return ReadNow::Answer(Err(ConsoleError::NotForeground));
        }
        if self.waiting.iter().any(|read| read.session == session) {
            return ReadNow::Answer(Err(ConsoleError::Busy));
        }
        if max == 0 || !self.input.is_empty() {
            return ReadNow::Answer(Ok(Response::Data(self.take(max))));
        }
        ReadNow::Wait
    }

    /// Keeps a read that [`Terminal::read`] said must wait, to answer through `reply`.
    pub fn wait(&mut self, session: usize, max: usize, reply: R) {
        self.waiting.push(WaitingRead { session, max, reply });
    }

    /// Typed bytes arrived. Returns the answers and signals to carry out, in order.
    pub fn input(&mut self, bytes: &[u8]) -> Vec<Action<R>> {
        let mut actions = Vec::new();
        for &byte in bytes {
            if byte == CONTROL_C {
                self.interrupt(&mut actions);
            } else if self.input.len() < INPUT_CAPACITY {
                self.input.push_back(byte);
            } else {
                self.dropped += 1;
            }
        }
        // Oldest waiting read first, while input lasts.
        while !self.input.is_empty() && !self.waiting.is_empty() {
            let read = self.waiting.remove(0);
            let data = self.take(read.max);
            actions.push(Action::Answer { reply: read.reply, result: Ok(Response::Data(data)) });
        }
        actions
    }

    /// Ctrl-C: like a terminal's interrupt character, it discards the input typed ahead,
    /// signals the foreground and ends the foreground's waiting read with `Interrupted`.
    fn interrupt(&mut self, actions: &mut Vec<Action<R>>) {
        self.interrupts += 1;
        self.input.clear();
        if matches!(self.foreground, Foreground::Session(_)) {
            actions.push(Action::SignalForeground);
        }
        // Only the foreground's reads can be waiting (others were refused or ended).
        for read in self.waiting.drain(..) {
            actions.push(Action::Answer { reply: read.reply, result: Err(ConsoleError::Interrupted) });
        }
    }

    /// `SetForeground { client }` from `session`: the foreground becomes `target` (0:
    /// `session` itself). The first session to set the foreground is the controller (the
    /// shell); others get `NotPermitted`. Waiting reads of sessions that lose the
    /// foreground end with `NotForeground`.
    pub fn set_foreground(&mut self, session: usize, target: usize) -> Result<Vec<Action<R>>, ConsoleError> {
        match self.controller {
            Some(controller) if controller != session => return Err(ConsoleError::NotPermitted),
            _ => self.controller = Some(session),
        }
        let target = if target == 0 { session } else { target };
        self.foreground = Foreground::Session(target);
        let (keep, end): (Vec<_>, Vec<_>) = self.waiting.drain(..).partition(|read| read.session == target);
        self.waiting = keep;
        Ok(end
            .into_iter()
            .map(|read| Action::Answer { reply: read.reply, result: Err(ConsoleError::NotForeground) })
            .collect())
    }

    /// Session `session` closed (revoked, or its client ended): its waiting read ends
    /// with `NotPermitted` (its client may still wait on it), and if it controlled the
    /// terminal, the terminal is open again for the next controller.
    pub fn close(&mut self, session: usize) -> Vec<Action<R>> {
        if self.controller == Some(session) {
            self.controller = None;
            self.foreground = Foreground::Open;
        }
        let (end, keep): (Vec<_>, Vec<_>) = self.waiting.drain(..).partition(|read| read.session == session);
        self.waiting = keep;
        end.into_iter()
            .map(|read| Action::Answer { reply: read.reply, result: Err(ConsoleError::NotPermitted) })
            .collect()
    }
}

/// The newline rule of output: a `\n` not directly after a `\r` is written as `\r\n` (as a
/// terminal with `ONLCR` does, and as the kernel's own console does), so text with plain
/// newlines lines up; terminal output that already says `\r\n` (the shell's line editor)
/// passes unchanged. `last` is the byte written before (kept across writes). Calls `put`
/// with each byte to send.
pub fn translate(bytes: &[u8], last: &mut u8, mut put: impl FnMut(u8)) {
    for &byte in bytes {
        if byte == b'\n' && *last != b'\r' {
            put(b'\r');
        }
        put(byte);
        *last = byte;
    }
}

#[cfg(test)]
mod tests;
