//! The line editor: turns terminal input bytes into edited lines and the echo that shows them.
//!
//! [`LineEditor::feed`] takes one byte at a time, appends to an output buffer the bytes the
//! terminal must be sent to show the edit (simple VT100: `\x08`, `ESC [ K`, `ESC [ n D`,
//! `ESC [ n C`), and returns an [`Event`] when a line is complete or a control key asks the
//! shell to act. The editor knows nothing about the prompt; whoever prints the prompt
//! prints it before the first byte of a line, and [`LineEditor::redraw`] repaints the line
//! after it (after a screen clear, or after output that interrupted the line).
//!
//! Invariants, whatever bytes arrive (the fuzz test checks them after every byte):
//! - the line holds only printable ASCII and never more than [`MAX_LINE_LENGTH`] bytes;
//! - the cursor is between 0 and the line length;
//! - a terminal that interprets the echoed bytes shows exactly the line, with its cursor at
//!   the editor's cursor (the echo starts at the column after the prompt);
//! - history holds at most [`HISTORY_CAPACITY`] lines, none empty, no two neighbours equal.
//!
//! Only printable ASCII is edited: a byte of 0x80 or more is dropped, so cursor arithmetic
//! is one column per byte. Lines longer than the terminal is wide are edited correctly but
//! redrawn badly, because VT100 cursor movement stops at the screen edge.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

/// The longest line the editor accepts, in bytes. Input past it is refused with a bell.
pub const MAX_LINE_LENGTH: usize = 1024;

/// How many lines history keeps; the oldest is forgotten first.
pub const HISTORY_CAPACITY: usize = 100;

/// Longest parameter string of an escape sequence the editor interprets; longer sequences
/// are read to their end and ignored.
const MAX_ESCAPE_PARAMETERS: usize = 8;

const BELL: u8 = 0x07;
const ESCAPE: u8 = 0x1b;
const DELETE: u8 = 0x7f;

/// The ASCII control code of `letter` (Ctrl-`letter`).
const fn control(letter: u8) -> u8 {
    letter & 0x1f
}

/// What the editor reports after a byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Enter was pressed: the finished line (already added to history if not blank).
    Line(String),
    /// Ctrl-C: the line was abandoned (and cleared).
    Interrupt,
    /// Ctrl-D on an empty line.
    EndOfInput,
    /// Ctrl-L: the shell should clear the screen, print the prompt and [`LineEditor::redraw`].
    ClearScreen,
}

/// Where the editor is inside an escape sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Escape {
    /// Not in a sequence.
    None,
    /// After `ESC`.
    Start,
    /// After `ESC [` (a control sequence), with the parameter bytes seen so far.
    ControlSequence { parameters: [u8; MAX_ESCAPE_PARAMETERS], length: usize, overflowed: bool },
    /// After `ESC O` (keys in the terminal's application mode send these).
    SingleShift,
}

/// A key decoded from an escape sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    Up,
    Down,
    Left,
    Right,
    Home,
    End,
    Delete,
}

/// Bounded command history with browsing.
#[derive(Clone, Debug, Default)]
pub struct History {
    lines: VecDeque<String>,
}

impl History {
    /// Adds `line` unless it is blank or the same as the newest entry; forgets the oldest
    /// entry when full.
    pub fn push(&mut self, line: &str) {
        if line.trim().is_empty() || self.lines.back().is_some_and(|last| last == line) {
            return;
        }
        if self.lines.len() == HISTORY_CAPACITY {
            self.lines.pop_front();
        }
        self.lines.push_back(String::from(line));
    }

    /// The entries, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().map(String::as_str)
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    fn get(&self, index: usize) -> Option<&str> {
        self.lines.get(index).map(String::as_str)
    }
}

/// The line editor. See the module documentation for its invariants.
#[derive(Clone, Debug)]
pub struct LineEditor {
    /// The line being edited: printable ASCII only.
    line: Vec<u8>,
    /// Cursor position in `line` (0 = before the first byte).
    cursor: usize,
    history: History,
    /// While browsing history with up/down: the entry shown.
    browsing: Option<usize>,
    /// The line that was being typed when browsing started, restored by going down past
    /// the newest entry.
    draft: Vec<u8>,
    escape: Escape,
    /// The previous byte was `\r`, so a `\n` right after it is the same Enter.
    after_carriage_return: bool,
}

impl Default for LineEditor {
    fn default() -> Self {
        Self::new()
    }
}

impl LineEditor {
    /// An editor with an empty line and empty history.
    pub fn new() -> Self {
        Self {
            line: Vec::new(),
            cursor: 0,
            history: History::default(),
            browsing: None,
            draft: Vec::new(),
            escape: Escape::None,
            after_carriage_return: false,
        }
    }

    /// The line as edited so far.
    pub fn line(&self) -> &str {
        // Only printable ASCII is ever inserted, so this never fails.
        core::str::from_utf8(&self.line).unwrap_or_default()
    }

    /// The cursor position: how many bytes of the line are before it.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// The history, oldest first.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Writes what shows the current line after a freshly printed prompt, with the cursor
    /// where the editor has it.
    pub fn redraw(&self, output: &mut Vec<u8>) {
        output.extend_from_slice(&self.line);
        move_left(output, self.line.len() - self.cursor);
    }

    /// Takes one input byte; appends the echo to `output`; returns what happened, if anything
    /// the caller must act on.
    pub fn feed(&mut self, byte: u8, output: &mut Vec<u8>) -> Option<Event> {
        let after_carriage_return = core::mem::replace(&mut self.after_carriage_return, false);
        match self.escape {
            Escape::None => {}
            Escape::Start => {
                self.escape = match byte {
                    b'[' => Escape::ControlSequence {
                        parameters: [0; MAX_ESCAPE_PARAMETERS],
                        length: 0,
                        overflowed: false,
                    },
                    b'O' => Escape::SingleShift,
                    ESCAPE => Escape::Start,
                    // A control byte ends the sequence and is handled as itself, so Ctrl-C
                    // and Enter always work.
                    byte if byte < 0x20 => {
                        self.escape = Escape::None;
                        return self.feed_plain(byte, after_carriage_return, output);
                    }
                    // ESC and another key (Alt-key): ignored.
                    _ => Escape::None,
                };
                return None;
            }
            Escape::SingleShift => {
                self.escape = Escape::None;
                return match byte {
                    b'A' => self.key(Key::Up, output),
                    b'B' => self.key(Key::Down, output),
                    b'C' => self.key(Key::Right, output),
                    b'D' => self.key(Key::Left, output),
                    b'H' => self.key(Key::Home, output),
                    b'F' => self.key(Key::End, output),
                    byte if byte < 0x20 => self.feed_plain(byte, after_carriage_return, output),
                    _ => None,
                };
            }
            Escape::ControlSequence { mut parameters, mut length, mut overflowed } => {
                match byte {
                    // Parameter and intermediate bytes.
                    0x20..=0x3f => {
                        match parameters.get_mut(length) {
                            Some(slot) => {
                                *slot = byte;
                                length += 1;
                            }
                            None => overflowed = true,
                        }
                        self.escape = Escape::ControlSequence { parameters, length, overflowed };
                        return None;
                    }
                    // The final byte.
                    0x40..=0x7e => {
                        self.escape = Escape::None;
                        if overflowed {
                            return None;
                        }
                        let parameters = parameters.get(..length).unwrap_or_default();
                        return match decode_control_sequence(parameters, byte) {
                            Some(key) => self.key(key, output),
                            None => None,
                        };
                    }
                    _ => {
                        self.escape = Escape::None;
                        if byte < 0x20 {
                            return self.feed_plain(byte, after_carriage_return, output);
                        }
                        return None;
                    }
                }
            }
        }
        self.feed_plain(byte, after_carriage_return, output)
    }

    /// Handles a byte outside any escape sequence.
    fn feed_plain(&mut self, byte: u8, after_carriage_return: bool, output: &mut Vec<u8>) -> Option<Event> {
        match byte {
            b'\r' => {
                self.after_carriage_return = true;
                Some(self.enter(output))
            }
            b'\n' if after_carriage_return => None,
            b'\n' => Some(self.enter(output)),
            0x20..=0x7e => {
                self.insert(byte, output);
                None
            }
            DELETE | 0x08 => {
                self.backspace(output);
                None
            }
            ESCAPE => {
                self.escape = Escape::Start;
                None
            }
            byte if byte == control(b'C') => {
                output.extend_from_slice(b"^C\r\n");
                self.line.clear();
                self.cursor = 0;
                self.browsing = None;
                self.draft.clear();
                Some(Event::Interrupt)
            }
            byte if byte == control(b'D') => {
                if self.line.is_empty() {
                    Some(Event::EndOfInput)
                } else {
                    self.key(Key::Delete, output)
                }
            }
            byte if byte == control(b'L') => Some(Event::ClearScreen),
            byte if byte == control(b'A') => self.key(Key::Home, output),
            byte if byte == control(b'E') => self.key(Key::End, output),
            byte if byte == control(b'B') => self.key(Key::Left, output),
            byte if byte == control(b'F') => self.key(Key::Right, output),
            byte if byte == control(b'P') => self.key(Key::Up, output),
            byte if byte == control(b'N') => self.key(Key::Down, output),
            byte if byte == control(b'K') => {
                self.line.truncate(self.cursor);
                output.extend_from_slice(b"\x1b[K");
                None
            }
            byte if byte == control(b'U') => {
                self.delete_before_cursor(self.cursor, output);
                None
            }
            byte if byte == control(b'W') => {
                let start = self.previous_word_start();
                self.delete_before_cursor(self.cursor - start, output);
                None
            }
            // Tab, other control bytes and non-ASCII bytes: ignored.
            _ => None,
        }
    }

    fn key(&mut self, key: Key, output: &mut Vec<u8>) -> Option<Event> {
        match key {
            Key::Left if self.cursor > 0 => {
                self.cursor -= 1;
                output.extend_from_slice(b"\x1b[D");
            }
            Key::Right if self.cursor < self.line.len() => {
                self.cursor += 1;
                output.extend_from_slice(b"\x1b[C");
            }
            Key::Home => {
                move_left(output, self.cursor);
                self.cursor = 0;
            }
            Key::End => {
                move_right(output, self.line.len() - self.cursor);
                self.cursor = self.line.len();
            }
            Key::Delete if self.cursor < self.line.len() => {
                self.line.remove(self.cursor);
                self.repaint_from_cursor(output);
            }
            Key::Up => self.browse_older(output),
            Key::Down => self.browse_newer(output),
            Key::Left | Key::Right | Key::Delete => {}
        }
        None
    }

    fn enter(&mut self, output: &mut Vec<u8>) -> Event {
        output.extend_from_slice(b"\r\n");
        let line = String::from(self.line());
        self.history.push(&line);
        self.line.clear();
        self.cursor = 0;
        self.browsing = None;
        self.draft.clear();
        Event::Line(line)
    }

    fn insert(&mut self, byte: u8, output: &mut Vec<u8>) {
        if self.line.len() >= MAX_LINE_LENGTH {
            output.push(BELL);
            return;
        }
        self.line.insert(self.cursor, byte);
        self.cursor += 1;
        output.push(byte);
        // In the middle of the line: rewrite the rest after the new byte, then come back.
        let rest = self.line.get(self.cursor..).unwrap_or_default();
        output.extend_from_slice(rest);
        move_left(output, rest.len());
    }

    fn backspace(&mut self, output: &mut Vec<u8>) {
        if self.cursor == 0 {
            return;
        }
        self.cursor -= 1;
        self.line.remove(self.cursor);
        output.push(0x08);
        self.repaint_from_cursor(output);
    }

    /// Deletes the `count` bytes before the cursor.
    fn delete_before_cursor(&mut self, count: usize, output: &mut Vec<u8>) {
        if count == 0 {
            return;
        }
        let start = self.cursor - count;
        self.line.drain(start..self.cursor);
        move_left(output, count);
        self.cursor = start;
        self.repaint_from_cursor(output);
    }

    /// Where the word before the cursor starts (Ctrl-W deletes back to there): skip spaces
    /// backwards, then non-spaces.
    fn previous_word_start(&self) -> usize {
        let before = self.line.get(..self.cursor).unwrap_or_default();
        let end = before.iter().rposition(|&byte| byte != b' ').map_or(0, |index| index + 1);
        before
            .get(..end)
            .unwrap_or_default()
            .iter()
            .rposition(|&byte| byte == b' ')
            .map_or(0, |index| index + 1)
    }

    /// After the line changed from the cursor on (the terminal cursor is at the editor's):
    /// erase to the end of the screen line, rewrite the rest, and come back.
    fn repaint_from_cursor(&self, output: &mut Vec<u8>) {
        output.extend_from_slice(b"\x1b[K");
        let rest = self.line.get(self.cursor..).unwrap_or_default();
        output.extend_from_slice(rest);
        move_left(output, rest.len());
    }

    /// Shows `line` in place of the current one, cursor at its end.
    fn replace_line(&mut self, line: &[u8], output: &mut Vec<u8>) {
        move_left(output, self.cursor);
        output.extend_from_slice(b"\x1b[K");
        self.line.clear();
        self.line.extend_from_slice(line);
        self.cursor = self.line.len();
        output.extend_from_slice(&self.line);
    }

    fn browse_older(&mut self, output: &mut Vec<u8>) {
        let index = match self.browsing {
            None if self.history.is_empty() => return,
            None => {
                self.draft = self.line.clone();
                self.history.len() - 1
            }
            Some(0) => return,
            Some(index) => index - 1,
        };
        self.browsing = Some(index);
        let entry = self.history.get(index).unwrap_or_default().as_bytes().to_vec();
        self.replace_line(&entry, output);
    }

    fn browse_newer(&mut self, output: &mut Vec<u8>) {
        let Some(index) = self.browsing else { return };
        if index + 1 < self.history.len() {
            self.browsing = Some(index + 1);
            let entry = self.history.get(index + 1).unwrap_or_default().as_bytes().to_vec();
            self.replace_line(&entry, output);
        } else {
            self.browsing = None;
            let draft = core::mem::take(&mut self.draft);
            self.replace_line(&draft, output);
        }
    }
}

/// The key a control sequence `ESC [ parameters final` stands for. Modifiers (`1;5C`) are
/// ignored: Ctrl-Right moves like Right.
fn decode_control_sequence(parameters: &[u8], final_byte: u8) -> Option<Key> {
    let first = parameters.split(|&byte| byte == b';').next().unwrap_or_default();
    match final_byte {
        b'A' => Some(Key::Up),
        b'B' => Some(Key::Down),
        b'C' => Some(Key::Right),
        b'D' => Some(Key::Left),
        b'H' => Some(Key::Home),
        b'F' => Some(Key::End),
        b'~' => match first {
            b"1" | b"7" => Some(Key::Home),
            b"4" | b"8" => Some(Key::End),
            b"3" => Some(Key::Delete),
            _ => None,
        },
        _ => None,
    }
}

/// Moves the terminal cursor `count` columns left (nothing for 0).
fn move_left(output: &mut Vec<u8>, count: usize) {
    move_by(output, count, b'D');
}

/// Moves the terminal cursor `count` columns right (nothing for 0).
fn move_right(output: &mut Vec<u8>, count: usize) {
    move_by(output, count, b'C');
}

/// `ESC [ D` for one column, `ESC [ count D` for more (the same with `C`).
fn move_by(output: &mut Vec<u8>, count: usize, direction: u8) {
    match count {
        0 => {}
        1 => output.extend_from_slice(&[ESCAPE, b'[', direction]),
        count => {
            let mut text = String::new();
            let _ = write!(text, "\x1b[{count}{}", char::from(direction));
            output.extend_from_slice(text.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests;
