//! A `tracing` subscriber that writes each event as one console line:
//!
//! ```text
//! [program] LEVEL target: message key=value key="two words" ...
//! ```
//!
//! The program name is set once, by [`init`]. Events are formatted into a fixed buffer of
//! [`LINE_BYTES`] (longer lines end in `...`), never on the heap, so an event about running
//! out of memory still prints, and each line leaves in one write, whole. Where it goes is a
//! [`Sink`]: the kernel debug console for now ([`DebugConsole`]); the console server's
//! client will be another sink, chosen at [`init_with_sink`].
//!
//! Spans are minimal: each gets a fresh id and nothing is stored, so lines do not show the
//! spans they happened in. Security audit events are ordinary events with target `audit`.
//!
//! `tracing` itself needs a heap (`Dispatch` holds the subscriber in an `Arc`), so programs
//! call [`crate::heap::init`] before [`init`].

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, Ordering};

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata};

/// Longest line written, newline included.
pub const LINE_BYTES: usize = 512;
/// What ends a line that did not fit.
const ELLIPSIS: &str = "...";

/// Where formatted lines go.
pub trait Sink: Send + Sync {
    /// Writes one line (ending in a newline).
    fn write_line(&self, line: &str);
}

/// The kernel debug console (`debug_write`).
#[cfg(target_arch = "riscv64")]
#[derive(Debug)]
pub struct DebugConsole;

#[cfg(target_arch = "riscv64")]
impl Sink for DebugConsole {
    fn write_line(&self, line: &str) {
        let _ = crate::syscall::debug_write(line.as_bytes());
    }
}

/// Why [`init`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceError {
    /// A subscriber was installed already (by an earlier `init`).
    AlreadyInitialised,
}

/// Installs the subscriber for this program: events at `level` and more severe go to the
/// debug console, prefixed with `[program]`, or `[program label]` when the process manager
/// put the program's security label in its environment (`LATTICE_LABEL`). Needs the heap.
#[cfg(target_arch = "riscv64")]
pub fn init(program: &'static str, level: impl Into<LevelFilter>) -> Result<(), TraceError> {
    let label = crate::start::info()
        .and_then(|info| info.environment().find(|(key, _)| *key == LABEL_VARIABLE).map(|(_, label)| label));
    let name: &'static str = match label {
        Some(label) => alloc::boxed::Box::leak(alloc::format!("{program} {label}").into_boxed_str()),
        None => program,
    };
    init_with_sink(name, level, &DebugConsole)
}

/// The environment variable the process manager sets to a program's security label.
pub const LABEL_VARIABLE: &str = "LATTICE_LABEL";

/// [`init`] with another sink.
pub fn init_with_sink(
    program: &'static str,
    level: impl Into<LevelFilter>,
    sink: &'static dyn Sink,
) -> Result<(), TraceError> {
    let subscriber = Subscriber::new(program, level.into(), sink);
    tracing::dispatcher::set_global_default(tracing::Dispatch::new(subscriber))
        .map_err(|_| TraceError::AlreadyInitialised)
}

/// The subscriber: a program name, the most verbose level written, and a sink.
pub struct Subscriber {
    program: &'static str,
    max_level: LevelFilter,
    sink: &'static dyn Sink,
    next_span: AtomicU64,
}

impl Subscriber {
    /// A subscriber writing events at `max_level` and more severe to `sink`.
    pub const fn new(program: &'static str, max_level: LevelFilter, sink: &'static dyn Sink) -> Self {
        Self { program, max_level, sink, next_span: AtomicU64::new(1) }
    }
}

impl fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber")
            .field("program", &self.program)
            .field("max_level", &self.max_level)
            .finish()
    }
}

impl tracing::Subscriber for Subscriber {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.max_level >= *metadata.level()
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.max_level)
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        // Ids only need to be distinct and non-zero; nothing is stored under them.
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed).max(1))
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut line = Line::new();
        format_event(self.program, event, &mut line);
        self.sink.write_line(line.finish());
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}

/// Writes `event` as `[program] LEVEL target: message key=value ...` (no newline).
pub fn format_event(program: &str, event: &Event<'_>, out: &mut impl Write) {
    let metadata = event.metadata();
    let _ = write!(out, "[{program}] {} {}:", metadata.level().as_str(), metadata.target());
    event.record(&mut Fields { out, message: true });
    event.record(&mut Fields { out, message: false });
}

/// Writes either the message or the other fields of an event.
struct Fields<'a, W: Write> {
    out: &'a mut W,
    message: bool,
}

impl<W: Write> Visit for Fields<'_, W> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            if self.message {
                let _ = write!(self.out, " {value}");
            }
        } else if !self.message {
            if is_bare(value) {
                let _ = write!(self.out, " {}={value}", field.name());
            } else {
                let _ = write!(self.out, " {}={value:?}", field.name());
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if (field.name() == "message") == self.message {
            let _ = if self.message {
                write!(self.out, " {value:?}")
            } else {
                write!(self.out, " {}={value:?}", field.name())
            };
        }
    }
}

/// Whether a string value can be written without quotes and still be read back.
fn is_bare(value: &str) -> bool {
    !value.is_empty() && value.chars().all(|c| c.is_ascii_graphic() && c != '"' && c != '=')
}

/// One line being formatted, in a fixed buffer.
pub struct Line {
    bytes: [u8; LINE_BYTES],
    length: usize,
    truncated: bool,
}

impl Line {
    /// An empty line.
    pub const fn new() -> Self {
        Self { bytes: [0; LINE_BYTES], length: 0, truncated: false }
    }

    /// Room for text, keeping space for the ellipsis and the newline.
    const fn capacity() -> usize {
        LINE_BYTES - ELLIPSIS.len() - 1
    }

    /// Ends the line (ellipsis if cut, then a newline) and returns it.
    pub fn finish(&mut self) -> &str {
        if self.truncated {
            self.push(ELLIPSIS.as_bytes());
        }
        self.push(b"\n");
        // Only whole characters were copied in, so the bytes are UTF-8.
        core::str::from_utf8(&self.bytes[..self.length]).unwrap_or("[trace] unprintable line\n")
    }

    fn push(&mut self, bytes: &[u8]) {
        self.bytes[self.length..self.length + bytes.len()].copy_from_slice(bytes);
        self.length += bytes.len();
    }
}

impl Default for Line {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for Line {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if self.truncated {
            return Ok(());
        }
        let room = Self::capacity() - self.length;
        if text.len() <= room {
            self.push(text.as_bytes());
            return Ok(());
        }
        // Cut at a character boundary.
        let mut end = room;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        self.push(&text.as_bytes()[..end]);
        self.truncated = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::string::{String, ToString};
    use std::sync::Mutex;
    use std::vec::Vec;

    use super::*;

    struct Capture(Mutex<Vec<String>>);

    impl Sink for Capture {
        fn write_line(&self, line: &str) {
            self.0.lock().unwrap().push(line.to_string());
        }
    }

    static CAPTURED: Capture = Capture(Mutex::new(Vec::new()));

    fn last() -> String {
        CAPTURED.0.lock().unwrap().last().cloned().unwrap_or_default()
    }

    /// One test owns the global dispatcher (`tracing` without std has only a global one).
    #[test]
    fn events_become_one_line_each() {
        init_with_sink("tester", tracing::Level::INFO, &CAPTURED).unwrap();
        assert_eq!(
            init_with_sink("again", tracing::Level::INFO, &CAPTURED),
            Err(TraceError::AlreadyInitialised)
        );

        tracing::info!("heap ready");
        assert_eq!(last(), format!("[tester] INFO {}: heap ready\n", module_path!()));

        tracing::warn!(target: "audit", rule = "fs-www", client = "httpd", connection = 7u64, "denied");
        assert_eq!(last(), "[tester] WARN audit: denied rule=fs-www client=httpd connection=7\n");

        tracing::error!(target: "t", path = "two words", empty = "", quoted = "a\"b", "x");
        assert_eq!(last(), "[tester] ERROR t: x path=\"two words\" empty=\"\" quoted=\"a\\\"b\"\n");

        let count = CAPTURED.0.lock().unwrap().len();
        tracing::debug!("below the level");
        assert_eq!(CAPTURED.0.lock().unwrap().len(), count, "debug is filtered out at INFO");

        tracing::info!(target: "t", value = %"display", debug = ?Some(3), "formatted {}", 42);
        assert_eq!(last(), "[tester] INFO t: formatted 42 value=display debug=Some(3)\n");

        let span = tracing::info_span!("session", id = 3);
        span.in_scope(|| tracing::info!(target: "t", "inside"));
        assert_eq!(last(), "[tester] INFO t: inside\n");

        tracing::info!(target: "t", "{}", "é".repeat(400));
        let line = last();
        assert!(line.len() <= LINE_BYTES && line.ends_with("...\n"), "{line}");
    }

    #[test]
    fn lines_are_cut_at_character_boundaries() {
        let mut line = Line::new();
        let _ = line.write_str(&"ab".repeat(300));
        let text = line.finish().to_string();
        assert_eq!(text.len(), LINE_BYTES);
        assert!(text.ends_with("ab...\n") || text.ends_with("ba...\n"));
        let mut line = Line::new();
        let _ = write!(line, "{}", "€".repeat(200));
        let text = line.finish();
        assert!(text.ends_with("€...\n") && text.len() <= LINE_BYTES);
    }
}
