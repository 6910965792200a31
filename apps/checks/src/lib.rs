//! In-system checks: every check an in-guest test program makes has an id and a sentence,
//! and is printed as one line in one form, which the harness reads (`image/src/check_lines.rs`).
//!
//! ```text
//! PROGRAM: ok   ID sentence
//! PROGRAM: FAIL ID sentence -- detail
//! PROGRAM: known ID sentence -- detail
//! PROGRAM: N checks, M failed
//! ```
//!
//! - An id is upper-case letters and four digits (`PROC0003`; the kernel suite's `CNODE0001`
//!   as sel4test's `CNODEOP0001`), unique in its program.
//! - A sentence says what holds: one line, trimmed, without ` -- ` (which starts the detail,
//!   so the detail may contain anything but a line break; line breaks in it are printed as
//!   spaces).
//! - `known` is a known bug (the kernel suite's `KNOWN_BUGS`): reported, not a failure.
//! - The summary is the last line: how many check lines came before it and how many of
//!   them failed.
//!
//! A program keeps its checks in a table ([`Check`] constants, in the order they run) and
//! records each through a [`Report`]. The report refuses a check made twice or one missing
//! from the table (as a failed line), and [`Report::finish`] prints every check of the table
//! that never ran as failed before the summary, so a check that silently stops running
//! shows in the guest as well as in the harness (which also knows which ids to expect).
//! Nothing here allocates: the report prints through the program's own `print`.
#![no_std]
#![forbid(unsafe_code)]

use core::fmt::{self, Write as _};

/// What `ok` lines say.
pub const PASSED: &str = "ok";
/// What failed lines say.
pub const FAILED: &str = "FAIL";
/// What known-bug lines say.
pub const KNOWN_BUG: &str = "known";
/// Between a line's sentence and its detail.
pub const DETAIL: &str = " -- ";

/// The verdict of one check line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The check holds.
    Passed,
    /// The check does not hold.
    Failed,
    /// A known bug, reproduced: reported, not counted as a failure.
    KnownBug,
}

impl Verdict {
    /// The word the line carries.
    pub const fn word(self) -> &'static str {
        match self {
            Self::Passed => PASSED,
            Self::Failed => FAILED,
            Self::KnownBug => KNOWN_BUG,
        }
    }

    /// The verdict a line's word names.
    pub fn from_word(word: &str) -> Option<Self> {
        [Self::Passed, Self::Failed, Self::KnownBug].into_iter().find(|verdict| verdict.word() == word)
    }
}

/// Whether `id` is a check id: upper-case ASCII letters, then four digits.
pub fn is_id(id: &str) -> bool {
    let Some(split) = id.len().checked_sub(4) else { return false };
    let (area, number) = id.split_at(split);
    !area.is_empty()
        && area.bytes().all(|byte| byte.is_ascii_uppercase())
        && number.bytes().all(|byte| byte.is_ascii_digit())
}

/// Whether `sentence` can be a check's sentence: not empty, trimmed, one line, no ` -- `.
pub fn is_sentence(sentence: &str) -> bool {
    !sentence.is_empty()
        && sentence.trim() == sentence
        && !sentence.contains(['\n', '\r'])
        && !sentence.contains(DETAIL)
}

/// One check of a program's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Check {
    /// A stable id, like `PROC0003`.
    pub id: &'static str,
    /// One sentence saying what must hold.
    pub about: &'static str,
}

impl Check {
    /// A check `id` saying `about`.
    pub const fn new(id: &'static str, about: &'static str) -> Self {
        Self { id, about }
    }
}

/// What is wrong with a table of checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableProblem<'a> {
    /// This is not an id ([`is_id`]).
    NotAnId(&'a str),
    /// Two checks have this id.
    Twice(&'a str),
    /// The check with this id has no usable sentence ([`is_sentence`]).
    NoSentence(&'a str),
}

impl fmt::Display for TableProblem<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAnId(id) => {
                write!(formatter, "`{id}` is not a check id (letters A-Z, then four digits)")
            }
            Self::Twice(id) => write!(formatter, "`{id}` names two checks"),
            Self::NoSentence(id) => {
                write!(formatter, "`{id}` needs one sentence: one line, trimmed, without `{}`", DETAIL.trim())
            }
        }
    }
}

/// Checks a table given as (id, sentence) pairs: ids well formed and unique, a sentence
/// each. The kernel suite checks its tests with it; a [`Report`] its table.
pub fn check_table<'a, I>(entries: I) -> Result<(), TableProblem<'a>>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
    I::IntoIter: Clone,
{
    let entries = entries.into_iter();
    for (index, (id, about)) in entries.clone().enumerate() {
        if !is_id(id) {
            return Err(TableProblem::NotAnId(id));
        }
        if !is_sentence(about) {
            return Err(TableProblem::NoSentence(id));
        }
        if entries.clone().take(index).any(|(earlier, _)| earlier == id) {
            return Err(TableProblem::Twice(id));
        }
    }
    Ok(())
}

/// One check line, printed with `Display` (no line break at the end).
pub struct Line<'a> {
    /// The program's name, which starts the line.
    pub program: &'a str,
    /// Its verdict.
    pub verdict: Verdict,
    /// The check's id.
    pub id: &'a str,
    /// The check's sentence.
    pub about: &'a str,
    /// Why it failed (or what a known bug does), if anything.
    pub detail: Option<fmt::Arguments<'a>>,
}

impl fmt::Display for Line<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}: {:<4} {} {}", self.program, self.verdict.word(), self.id, self.about)?;
        if let Some(detail) = self.detail {
            formatter.write_str(DETAIL)?;
            OneLine(formatter).write_fmt(detail)?;
        }
        Ok(())
    }
}

/// Writes through to the formatter with line breaks as spaces, so a detail stays on its line.
struct OneLine<'f, 'g>(&'f mut fmt::Formatter<'g>);

impl fmt::Write for OneLine<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for piece in text.split_inclusive(['\n', '\r']) {
            match piece.strip_suffix(['\n', '\r']) {
                Some(line) => {
                    self.0.write_str(line)?;
                    self.0.write_char(' ')?;
                }
                None => self.0.write_str(piece)?,
            }
        }
        Ok(())
    }
}

/// The summary line, printed with `Display`: `PROGRAM: N checks, M failed`.
pub struct Summary<'a> {
    /// The program's name.
    pub program: &'a str,
    /// Check lines printed before it.
    pub checks: usize,
    /// How many of them failed.
    pub failed: usize,
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}: {} checks, {} failed", self.program, self.checks, self.failed)
    }
}

/// The checks of one program as they run: prints a line for each through `print` (one call
/// per line, without the line break), counts them, and prints the summary at the end.
///
/// Invariant: every check of the table is printed exactly once by the time of the summary
/// (as it ran, or failed as "not run"); anything else printed is a failed line.
pub struct Report<const N: usize, P: FnMut(fmt::Arguments<'_>)> {
    program: &'static str,
    table: &'static [Check; N],
    done: [bool; N],
    lines: usize,
    failed: usize,
    print: P,
}

impl<const N: usize, P: FnMut(fmt::Arguments<'_>)> Report<N, P> {
    /// A report of `program`'s checks, `table`, printed through `print`.
    ///
    /// # Panics
    ///
    /// If the table is not a table of checks ([`check_table`]): a bug in the program.
    pub fn new(program: &'static str, table: &'static [Check; N], print: P) -> Self {
        if let Err(problem) = check_table(table.iter().map(|check| (check.id, check.about))) {
            panic!("{program}: its table of checks: {problem}");
        }
        Self { program, table, done: [false; N], lines: 0, failed: 0, print }
    }

    /// Prints one line and counts it.
    fn line(&mut self, verdict: Verdict, check: &Check, detail: Option<fmt::Arguments<'_>>) {
        self.lines += 1;
        if verdict == Verdict::Failed {
            self.failed += 1;
        }
        let line = Line { program: self.program, verdict, id: check.id, about: check.about, detail };
        (self.print)(format_args!("{line}"));
    }

    /// Records `check`: passed if `holds`, else failed with `got` as the detail.
    pub fn check(&mut self, check: &Check, holds: bool, got: impl fmt::Debug) {
        if holds {
            self.record(check, None);
        } else {
            self.record(check, Some(format_args!("got {got:?}")));
        }
    }

    /// Records `check`: passed if `got == expected`, else failed showing both.
    pub fn check_eq<T: PartialEq + fmt::Debug>(&mut self, check: &Check, got: T, expected: T) {
        if got == expected {
            self.record(check, None);
        } else {
            self.record(check, Some(format_args!("got {got:?}, expected {expected:?}")));
        }
    }

    /// Records `check` as passed (`None`) or failed with its detail; a check made before or
    /// missing from the table is a failed line instead.
    pub fn record(&mut self, check: &Check, failure: Option<fmt::Arguments<'_>>) {
        match self.table.iter().position(|entry| entry == check) {
            Some(index) if self.done[index] => {
                self.line(Verdict::Failed, check, Some(format_args!("checked twice")))
            }
            Some(index) => {
                self.done[index] = true;
                let verdict = if failure.is_some() { Verdict::Failed } else { Verdict::Passed };
                self.line(verdict, check, failure);
            }
            None => {
                self.line(Verdict::Failed, check, Some(format_args!("not in the program's table of checks")))
            }
        }
    }

    /// Failed lines so far.
    pub fn failed(&self) -> usize {
        self.failed
    }

    /// Prints every check of the table that never ran as failed, then the summary; returns
    /// the number of failed lines (the program's exit status, by convention).
    pub fn finish(mut self) -> usize {
        for index in 0..N {
            if !self.done[index] {
                self.done[index] = true;
                let check = self.table[index];
                self.line(Verdict::Failed, &check, Some(format_args!("not run")));
            }
        }
        let summary = Summary { program: self.program, checks: self.lines, failed: self.failed };
        (self.print)(format_args!("{summary}"));
        self.failed
    }
}

#[cfg(test)]
mod tests {
    //! The line format and the report's bookkeeping, on the host.
    extern crate std;
    use super::*;
    use std::string::{String, ToString};
    use std::vec::Vec;

    const FIRST: Check = Check::new("DEMO0001", "the first holds");
    const SECOND: Check = Check::new("DEMO0002", "the second holds: with a colon");
    const THIRD: Check = Check::new("DEMO0003", "the third holds");
    static TABLE: [Check; 3] = [FIRST, SECOND, THIRD];

    /// Runs `run` on a report of the table and returns what it printed and its result.
    fn printed(
        run: impl FnOnce(Report<3, &mut dyn FnMut(fmt::Arguments<'_>)>) -> usize,
    ) -> (Vec<String>, usize) {
        let mut lines = Vec::new();
        let mut print = |line: fmt::Arguments<'_>| lines.push(line.to_string());
        let failed = run(Report::new("demo", &TABLE, &mut print));
        (lines, failed)
    }

    #[test]
    fn ids_are_letters_and_four_digits() {
        for id in ["CNODE0001", "PROC0003", "A0000"] {
            assert!(is_id(id), "{id}");
        }
        for id in ["", "0001", "PROC", "PROC001", "PROC00001", "proc0001", "PR-C0001", "PROC000a", "ÄB0001"]
        {
            assert!(!is_id(id), "{id}");
        }
    }

    #[test]
    fn a_bad_table_is_refused_naming_the_check() {
        let pairs = |checks: &[(&'static str, &'static str)]| check_table(checks.to_vec());
        assert_eq!(pairs(&[("A0001", "fine"), ("A0002", "fine too")]), Ok(()));
        assert_eq!(pairs(&[("A0001", "fine"), ("A0001", "again")]), Err(TableProblem::Twice("A0001")));
        assert_eq!(pairs(&[("a0001", "fine")]), Err(TableProblem::NotAnId("a0001")));
        for sentence in ["", " padded", "two\nlines", "with -- a detail"] {
            assert_eq!(pairs(&[("A0001", sentence)]), Err(TableProblem::NoSentence("A0001")), "{sentence:?}");
        }
        assert!(TableProblem::Twice("A0001").to_string().contains("names two checks"));
    }

    #[test]
    fn lines_have_the_documented_form() {
        let ok = Line {
            program: "demo",
            verdict: Verdict::Passed,
            id: "DEMO0001",
            about: "it holds",
            detail: None,
        };
        assert_eq!(ok.to_string(), "demo: ok   DEMO0001 it holds");
        let detail = format_args!("got {:?}\nand more", Some(3));
        let failed = Line {
            program: "demo",
            verdict: Verdict::Failed,
            id: "DEMO0001",
            about: "it holds",
            detail: Some(detail),
        };
        assert_eq!(failed.to_string(), "demo: FAIL DEMO0001 it holds -- got Some(3) and more");
        let known = Line {
            program: "demo",
            verdict: Verdict::KnownBug,
            id: "DEMO0001",
            about: "it holds",
            detail: None,
        };
        assert_eq!(known.to_string(), "demo: known DEMO0001 it holds");
        assert_eq!(Summary { program: "demo", checks: 3, failed: 1 }.to_string(), "demo: 3 checks, 1 failed");
        for verdict in [Verdict::Passed, Verdict::Failed, Verdict::KnownBug] {
            assert_eq!(Verdict::from_word(verdict.word()), Some(verdict));
        }
        assert_eq!(Verdict::from_word("okay"), None);
    }

    #[test]
    fn a_full_run_prints_every_check_and_the_summary() {
        let (lines, failed) = printed(|mut report| {
            report.check(&FIRST, true, "unused");
            report.check_eq(&SECOND, 2, 3);
            report.check(&THIRD, true, ());
            report.finish()
        });
        assert_eq!(failed, 1);
        assert_eq!(
            lines,
            [
                "demo: ok   DEMO0001 the first holds",
                "demo: FAIL DEMO0002 the second holds: with a colon -- got 2, expected 3",
                "demo: ok   DEMO0003 the third holds",
                "demo: 3 checks, 1 failed",
            ]
        );
    }

    #[test]
    fn checks_not_run_twice_or_unknown_fail() {
        let stranger = Check::new("DEMO0009", "not in the table");
        let (lines, failed) = printed(|mut report| {
            report.check(&FIRST, true, ());
            report.check(&FIRST, true, ());
            report.check(&stranger, true, ());
            assert_eq!(report.failed(), 2);
            report.finish()
        });
        assert_eq!(failed, 4);
        assert_eq!(
            lines,
            [
                "demo: ok   DEMO0001 the first holds",
                "demo: FAIL DEMO0001 the first holds -- checked twice",
                "demo: FAIL DEMO0009 not in the table -- not in the program's table of checks",
                "demo: FAIL DEMO0002 the second holds: with a colon -- not run",
                "demo: FAIL DEMO0003 the third holds -- not run",
                "demo: 5 checks, 4 failed",
            ]
        );
    }

    #[test]
    #[should_panic(expected = "names two checks")]
    fn a_report_refuses_a_bad_table() {
        static TWICE: [Check; 2] = [FIRST, FIRST];
        let _ = Report::new("demo", &TWICE, |_| {});
    }
}
