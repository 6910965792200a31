//! Reading the check lines in-guest test programs print: `PROGRAM: ok   ID sentence`,
//! `PROGRAM: FAIL ID sentence -- detail`, `PROGRAM: known ID sentence -- detail`, then
//! `PROGRAM: N checks, M failed` (the form is defined, and printed, by the `checks` crate).
//!
//! [`parse`] reads one console line; [`Reading`] follows one program's lines to its summary
//! and holds the rules: every line well formed, no id twice, the summary's counts those of
//! the lines before it, and every id the test expects reported. Lines of other programs, and
//! the program's other lines (`test-proc: round 3: ...`), are not check lines and pass by.
//! A check line is a whole console line: one split by other output is malformed or missing,
//! and either fails the test.

use checks::{DETAIL, Verdict, is_id, is_sentence};

/// One check line, read.
#[derive(Debug, PartialEq, Eq)]
pub struct Reported<'a> {
    /// Its verdict.
    pub verdict: Verdict,
    /// The check's id.
    pub id: &'a str,
    /// The check's sentence.
    pub sentence: &'a str,
    /// What followed ` -- `, if anything.
    pub detail: Option<&'a str>,
}

/// A line of a program's report.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A check line.
    Check(Reported<'a>),
    /// The summary: check lines before it, and how many of them failed.
    Summary {
        /// Check lines printed.
        checks: usize,
        /// Failed ones among them.
        failed: usize,
    },
}

/// Reads `line` as one of `program`'s report lines: `Ok(None)` if it is not one (another
/// program's, or a line of this one's that starts with no verdict and no count), `Err` if
/// it starts like one and breaks the form.
pub fn parse<'a>(program: &str, line: &'a str) -> Result<Option<Line<'a>>, String> {
    let Some(rest) = line.strip_prefix(program).and_then(|rest| rest.strip_prefix(": ")) else {
        return Ok(None);
    };
    let (word, after) = rest.split_once(' ').unwrap_or((rest, ""));
    if let Some(verdict) = Verdict::from_word(word) {
        return parse_check(verdict, after).map(|reported| Some(Line::Check(reported)));
    }
    if !word.is_empty() && word.bytes().all(|byte| byte.is_ascii_digit()) && after.starts_with("checks") {
        return parse_summary(word, after).map(Some);
    }
    Ok(None)
}

/// `ID sentence[ -- detail]`, after the verdict and its padding.
fn parse_check(verdict: Verdict, text: &str) -> Result<Reported<'_>, String> {
    let text = text.trim_start_matches(' ');
    let (id, rest) = text.split_once(' ').unwrap_or((text, ""));
    if !is_id(id) {
        return Err(format!("`{id}` is not a check id (letters A-Z, then four digits)"));
    }
    let (sentence, detail) = match rest.split_once(DETAIL) {
        Some((sentence, detail)) => (sentence, Some(detail)),
        None => (rest, None),
    };
    if !is_sentence(sentence) {
        return Err(format!("check {id} has no sentence"));
    }
    if verdict == Verdict::Passed && detail.is_some() {
        return Err(format!("check {id} passed with a detail"));
    }
    Ok(Reported { verdict, id, sentence, detail })
}

/// `N checks, M failed`, `N` already split off.
fn parse_summary<'a>(count: &str, rest: &str) -> Result<Line<'a>, String> {
    let malformed = || format!("`{count} {rest}` is not a summary (`N checks, M failed`)");
    let failed =
        rest.strip_prefix("checks, ").and_then(|rest| rest.strip_suffix(" failed")).ok_or_else(malformed)?;
    if failed.is_empty() || !failed.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(malformed());
    }
    let checks: usize = count.parse().map_err(|_| malformed())?;
    let failed: usize = failed.parse().map_err(|_| malformed())?;
    if failed > checks {
        return Err(format!("the summary counts {failed} failed of {checks} checks"));
    }
    Ok(Line::Summary { checks, failed })
}

/// What a test expects of a program: for each `(AREA, n)`, the ids `AREA0001` to `AREAn`.
pub type Expected<'a> = &'a [(&'a str, usize)];

/// The ids `expected` names, in order; `Err` if it names a bad or repeated id.
pub fn expected_ids(expected: Expected<'_>) -> Result<Vec<String>, String> {
    let mut ids = Vec::new();
    for &(area, count) in expected {
        if !(1..=9999).contains(&count) {
            return Err(format!("{count} checks of {area}: expect 1 to 9999"));
        }
        for number in 1..=count {
            let id = format!("{area}{number:04}");
            if !is_id(&id) || ids.contains(&id) {
                return Err(format!("`{id}` is not an id to expect (or named twice)"));
            }
            ids.push(id);
        }
    }
    Ok(ids)
}

/// A check line taken, as the test records it.
#[derive(Debug, PartialEq, Eq)]
pub struct Taken {
    /// The check's id.
    pub id: String,
    /// Its sentence, as the test's report shows it.
    pub sentence: String,
    /// Its verdict as a result: `Err` with the detail if it failed, or if the test does not
    /// expect it.
    pub result: Result<(), String>,
}

/// One program's report as its lines arrive.
#[derive(Debug)]
pub struct Reading {
    program: String,
    expected: Vec<String>,
    seen: Vec<String>,
    failed: usize,
    summarised: bool,
}

impl Reading {
    /// Follows `program`'s report, expecting the ids of `expected`.
    pub fn new(program: &str, expected: Expected<'_>) -> Result<Self, String> {
        Ok(Self {
            program: program.to_string(),
            expected: expected_ids(expected)?,
            seen: Vec::new(),
            failed: 0,
            summarised: false,
        })
    }

    /// The program whose lines this reads.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// Takes one console line: the check it reports, if it is a check line (`Ok(None)` for
    /// any other line, and for every line after the summary). `Err` for a malformed line, an
    /// id reported twice, or a summary whose counts are not those of the lines before it.
    pub fn take(&mut self, line: &str) -> Result<Option<Taken>, String> {
        if self.summarised {
            return Ok(None);
        }
        let program = &self.program;
        match parse(program, line)
            .map_err(|why| format!("{program} printed a malformed check line {line:?}: {why}"))?
        {
            None => Ok(None),
            Some(Line::Check(reported)) => {
                if self.seen.iter().any(|id| id == reported.id) {
                    return Err(format!(
                        "{program} reported {} twice (the second time: {line:?})",
                        reported.id
                    ));
                }
                self.seen.push(reported.id.to_string());
                let detail = reported.detail.unwrap_or("no detail");
                let (sentence, mut result) = match reported.verdict {
                    Verdict::Passed => (reported.sentence.to_string(), Ok(())),
                    Verdict::Failed => {
                        self.failed += 1;
                        (reported.sentence.to_string(), Err(format!("{program} says: {detail}")))
                    }
                    Verdict::KnownBug => {
                        (format!("(a known bug, not counted) {}: {detail}", reported.sentence), Ok(()))
                    }
                };
                if !self.expected.iter().any(|id| id == reported.id) {
                    result = Err(format!("{} is not a check this test expects of {program}", reported.id));
                }
                Ok(Some(Taken { id: reported.id.to_string(), sentence, result }))
            }
            Some(Line::Summary { checks, failed }) => {
                self.summarised = true;
                if (checks, failed) != (self.seen.len(), self.failed) {
                    return Err(format!(
                        "{program}'s summary says {checks} checks, {failed} failed, after {} check lines, {} failed",
                        self.seen.len(),
                        self.failed
                    ));
                }
                Ok(None)
            }
        }
    }

    /// Whether the summary has been read.
    pub fn summarised(&self) -> bool {
        self.summarised
    }

    /// Whether the program has reported `id`.
    pub fn has_reported(&self, id: &str) -> bool {
        self.seen.iter().any(|seen| seen == id)
    }

    /// Whether the test expects `id`.
    pub fn expects(&self, id: &str) -> bool {
        self.expected.iter().any(|expected| expected == id)
    }

    /// The expected ids not reported (so far).
    pub fn missing(&self) -> Vec<String> {
        self.expected.iter().filter(|id| !self.has_reported(id)).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    //! The parser and the reading rules, against lines as the guest prints them (made with
    //! the `checks` crate itself, so the two sides cannot drift apart).
    use super::*;
    use checks::{Check, Report, Summary};

    fn reported<'a>(verdict: Verdict, id: &'a str, sentence: &'a str, detail: Option<&'a str>) -> Line<'a> {
        Line::Check(Reported { verdict, id, sentence, detail })
    }

    #[test]
    fn ok_fail_known_and_summary_lines_parse() {
        assert_eq!(
            parse("test-proc", "test-proc: ok   PROC0003 an unknown program is NoSuchProgram"),
            Ok(Some(reported(Verdict::Passed, "PROC0003", "an unknown program is NoSuchProgram", None)))
        );
        assert_eq!(
            parse("test-kernel", "test-kernel: FAIL CNODE0004 bad arguments: refused -- line 40: a -- b"),
            Ok(Some(reported(
                Verdict::Failed,
                "CNODE0004",
                "bad arguments: refused",
                Some("line 40: a -- b")
            )))
        );
        assert_eq!(
            parse("test-kernel", "test-kernel: FAIL CNODE0004 refused"),
            Ok(Some(reported(Verdict::Failed, "CNODE0004", "refused", None)))
        );
        assert_eq!(
            parse("test-kernel", "test-kernel: known IPC0099 a bug -- line 3: x"),
            Ok(Some(reported(Verdict::KnownBug, "IPC0099", "a bug", Some("line 3: x"))))
        );
        assert_eq!(
            parse("survivor", "survivor: 11 checks, 0 failed"),
            Ok(Some(Line::Summary { checks: 11, failed: 0 }))
        );
    }

    #[test]
    fn other_lines_pass_by() {
        for line in [
            "",
            "test-proc: round 3: Err(NoMemory)",
            "test-proc: done",
            "test-proc: okay",
            "test-proc: 40 programs ran",
            "[kernel] test-proc exited with status 0",
            "  test-proc: ok   PROC0001 indented is not a check line",
            "test-procs: ok   PROC0001 another program's",
            "[test-runtime] INFO runtime: heap ready size=4194304",
        ] {
            assert_eq!(parse("test-proc", line), Ok(None), "{line:?}");
            assert_eq!(parse("runtime", line), Ok(None), "{line:?}");
        }
    }

    #[test]
    fn malformed_lines_are_refused() {
        for (line, why) in [
            ("p: ok", "`` is not a check id"),
            ("p: ok   proc0001 lower case", "is not a check id"),
            ("p: FAIL PROC01 short", "is not a check id"),
            ("p: ok   PROC0001", "has no sentence"),
            ("p: ok   PROC0001 ", "has no sentence"),
            ("p: FAIL PROC0001  -- a detail", "has no sentence"),
            ("p: ok   PROC0001 holds -- but a detail", "passed with a detail"),
            ("p: 3 checks", "is not a summary"),
            ("p: 3 checks, failed", "is not a summary"),
            ("p: 3 checks, -1 failed", "is not a summary"),
            ("p: 3 checks, 1 failed, 2 known", "is not a summary"),
            ("p: 99999999999999999999999 checks, 0 failed", "is not a summary"),
            ("p: 3 checks, 4 failed", "4 failed of 3"),
        ] {
            let error = parse("p", line).unwrap_err();
            assert!(error.contains(why), "{line:?}: {error}");
        }
    }

    #[test]
    fn expected_ids_are_ranges() {
        assert_eq!(expected_ids(&[("PROC", 2), ("IRQ", 1)]).unwrap(), ["PROC0001", "PROC0002", "IRQ0001"]);
        assert!(expected_ids(&[("PROC", 0)]).is_err());
        assert!(expected_ids(&[("proc", 1)]).is_err());
        assert!(expected_ids(&[("PROC", 1), ("PROC", 2)]).is_err());
    }

    /// Feeds `text` to a reading expecting `expected` of program `p`.
    fn read(expected: Expected<'_>, text: &str) -> (Reading, Vec<Taken>, Result<(), String>) {
        let mut reading = Reading::new("p", expected).unwrap();
        let mut taken = Vec::new();
        for line in text.lines() {
            match reading.take(line) {
                Ok(Some(check)) => taken.push(check),
                Ok(None) => {}
                Err(error) => return (reading, taken, Err(error)),
            }
        }
        (reading, taken, Ok(()))
    }

    #[test]
    fn a_whole_report_is_read_to_its_summary() {
        let text = "p: starting\np: ok   P0001 one\nnoise\np: FAIL P0002 two -- got 3\np: known P0003 three -- a bug\np: 3 checks, 1 failed\np: ok   P0004 after the summary\n";
        let (reading, taken, result) = read(&[("P", 3)], text);
        assert_eq!(result, Ok(()));
        assert!(reading.summarised());
        assert!(reading.missing().is_empty());
        assert_eq!(
            taken,
            [
                Taken { id: "P0001".into(), sentence: "one".into(), result: Ok(()) },
                Taken { id: "P0002".into(), sentence: "two".into(), result: Err("p says: got 3".into()) },
                Taken {
                    id: "P0003".into(),
                    sentence: "(a known bug, not counted) three: a bug".into(),
                    result: Ok(())
                },
            ]
        );
    }

    #[test]
    fn duplicates_wrong_counts_strangers_and_gaps_are_caught() {
        let (_, _, twice) = read(&[("P", 2)], "p: ok   P0001 one\np: ok   P0001 one again\n");
        assert!(twice.unwrap_err().contains("reported P0001 twice"));
        let (_, _, miscounted) = read(&[("P", 2)], "p: ok   P0001 one\np: 2 checks, 0 failed\n");
        assert!(miscounted.unwrap_err().contains("says 2 checks, 0 failed, after 1 check lines, 0 failed"));
        let (_, _, unfailed) = read(&[("P", 1)], "p: FAIL P0001 one -- no\np: 1 checks, 0 failed\n");
        assert!(unfailed.is_err());
        let (reading, taken, result) =
            read(&[("P", 2)], "p: ok   P0001 one\np: ok   Q0001 stranger\np: 2 checks, 0 failed\n");
        assert_eq!(result, Ok(()));
        assert!(
            taken[1].result.as_ref().unwrap_err().contains("Q0001 is not a check this test expects of p")
        );
        assert_eq!(reading.missing(), ["P0002"]);
        assert!(reading.has_reported("Q0001") && !reading.expects("Q0001"));
        let (reading, _, result) = read(&[("P", 1)], "p: ok   P0001 one\n");
        assert_eq!(result, Ok(()));
        assert!(!reading.summarised(), "no summary yet");
        let (_, _, malformed) = read(&[("P", 1)], "p: ok   P0001\n");
        assert!(malformed.unwrap_err().contains("p printed a malformed check line \"p: ok   P0001\""));
    }

    #[test]
    fn what_the_guest_prints_is_what_the_harness_reads() {
        const FIRST: Check = Check::new("DEMO0001", "the first holds: a colon is fine");
        const SECOND: Check = Check::new("DEMO0002", "the second holds");
        const THIRD: Check = Check::new("DEMO0003", "the third never runs");
        static TABLE: [Check; 3] = [FIRST, SECOND, THIRD];
        let mut text = String::new();
        let mut print = |line: std::fmt::Arguments<'_>| text.push_str(&format!("{line}\n"));
        let mut report = Report::new("demo", &TABLE, &mut print);
        report.check(&FIRST, true, ());
        report.check_eq(&SECOND, "got -- this", "expected\nthat");
        assert_eq!(report.finish(), 2);
        let mut reading = Reading::new("demo", &[("DEMO", 3)]).unwrap();
        let results: Vec<_> = text
            .lines()
            .filter_map(|line| reading.take(line).unwrap())
            .map(|taken| (taken.id, taken.result.is_ok()))
            .collect();
        assert_eq!(
            results,
            [("DEMO0001".into(), true), ("DEMO0002".into(), false), ("DEMO0003".into(), false)]
        );
        assert!(reading.summarised() && reading.missing().is_empty());
        let summary = Summary { program: "demo", checks: 0, failed: 0 }.to_string();
        assert_eq!(parse("demo", &summary), Ok(Some(Line::Summary { checks: 0, failed: 0 })));
    }
}
