//! Parser tests: lines against argv, assignments and background flag, or against errors.

use super::*;
use crate::testing::Random;

/// The variables every test sees.
fn lookup(name: &str) -> Option<String> {
    match name {
        "HOME" => Some("/home/user".into()),
        "GREETING" => Some("hello world".into()),
        "EMPTY" => Some(String::new()),
        "?" => Some("3".into()),
        "_under_1" => Some("u".into()),
        _ => None,
    }
}

fn parse_line(line: &str) -> Result<Command, ParseError> {
    parse(line, &lookup)
}

#[test]
fn words() {
    // (line, argv)
    let cases: &[(&str, &[&str])] = &[
        ("", &[]),
        ("   \t ", &[]),
        ("echo", &["echo"]),
        ("  echo   a  b\tc  ", &["echo", "a", "b", "c"]),
        ("echo 'a  b' \"c  d\"", &["echo", "a  b", "c  d"]),
        ("echo 'it''s'", &["echo", "its"]),
        ("echo a'b'\"c\"d", &["echo", "abcd"]),
        ("echo '' \"\"", &["echo", "", ""]),
        ("echo '$HOME \\n'", &["echo", "$HOME \\n"]),
        ("echo \"$HOME\" $HOME ${HOME}/x", &["echo", "/home/user", "/home/user", "/home/user/x"]),
        ("echo $GREETING", &["echo", "hello world"]),
        ("echo $? \"$?\" ${?}", &["echo", "3", "3", "3"]),
        ("echo $_under_1-$HOME.x", &["echo", "u-/home/user.x"]),
        ("echo $HOMEx", &["echo"]),
        ("echo $UNSET x", &["echo", "x"]),
        ("echo $EMPTY$UNSET x", &["echo", "x"]),
        ("echo \"$UNSET\" x", &["echo", "", "x"]),
        ("echo a$UNSET", &["echo", "a"]),
        ("echo $ a$ $1 \"$\" $-", &["echo", "$", "a$", "$1", "$", "$-"]),
        ("echo \\$HOME \\\\ \\' \\\" \\a \\ b", &["echo", "$HOME", "\\", "'", "\"", "a", " b"]),
        ("echo \"a\\\"b\\\\c\\$d\\n\"", &["echo", "a\"b\\c$d\\n"]),
        ("echo \"it's\" 'say \"hi\"'", &["echo", "it's", "say \"hi\""]),
        ("echo a#b # a comment", &["echo", "a#b"]),
        ("# only a comment", &[]),
        ("echo '#' \\# \"#\"", &["echo", "#", "#", "#"]),
        ("echo '|;<>()&`' \\|", &["echo", "|;<>()&`", "|"]),
        ("echo ünïcödé 'ü'", &["echo", "ünïcödé", "ü"]),
    ];
    for (line, argv) in cases {
        let command = parse_line(line).unwrap_or_else(|error| panic!("{line:?}: {error}"));
        assert_eq!(command.words, *argv, "words of {line:?}");
        assert_eq!(command.assignments, [], "assignments of {line:?}");
        assert!(!command.background, "background of {line:?}");
    }
}

#[test]
fn background() {
    // (line, argv)
    let cases: &[(&str, &[&str])] = &[
        ("spin &", &["spin"]),
        ("spin&", &["spin"]),
        ("spin a b &  ", &["spin", "a", "b"]),
        ("spin & # later", &["spin"]),
        ("X=1 spin &", &["spin"]),
    ];
    for (line, argv) in cases {
        let command = parse_line(line).unwrap_or_else(|error| panic!("{line:?}: {error}"));
        assert_eq!(command.words, *argv, "words of {line:?}");
        assert!(command.background, "background of {line:?}");
    }
}

/// A line, the assignments it makes (name, value), and its argv.
type AssignmentCase = (&'static str, &'static [(&'static str, &'static str)], &'static [&'static str]);

#[test]
fn assignments() {
    let cases: &[AssignmentCase] = &[
        ("A=1", &[("A", "1")], &[]),
        ("A=", &[("A", "")], &[]),
        ("A=1 B='x y' C=\"$HOME\"", &[("A", "1"), ("B", "x y"), ("C", "/home/user")], &[]),
        ("A=$GREETING", &[("A", "hello world")], &[]),
        ("A=a=b", &[("A", "a=b")], &[]),
        ("_x9=1", &[("_x9", "1")], &[]),
        ("A=1 prog B=2", &[("A", "1")], &["prog", "B=2"]),
        ("prog A=1", &[], &["prog", "A=1"]),
        // Not assignments: the name is quoted, escaped, expanded or not a name.
        ("'A'=1", &[], &["A=1"]),
        ("\\A=1", &[], &["A=1"]),
        ("$UNSET=1", &[], &["=1"]),
        ("1A=1", &[], &["1A=1"]),
        ("=1", &[], &["=1"]),
        ("A-B=1", &[], &["A-B=1"]),
    ];
    for (line, assignments, argv) in cases {
        let command = parse_line(line).unwrap_or_else(|error| panic!("{line:?}: {error}"));
        let found: Vec<(&str, &str)> =
            command.assignments.iter().map(|each| (each.name.as_str(), each.value.as_str())).collect();
        assert_eq!(found, *assignments, "assignments of {line:?}");
        assert_eq!(command.words, *argv, "words of {line:?}");
    }
}

#[test]
fn errors() {
    // (line, error, message)
    let cases: &[(&str, ParseError, &str)] = &[
        (
            "echo 'abc",
            ParseError::UnterminatedQuote { quote: '\'', column: 6 },
            "unterminated single quote (opened at column 6)",
        ),
        (
            "echo \"abc",
            ParseError::UnterminatedQuote { quote: '"', column: 6 },
            "unterminated double quote (opened at column 6)",
        ),
        (
            "ü \"a\\\"",
            ParseError::UnterminatedQuote { quote: '"', column: 3 },
            "unterminated double quote (opened at column 3)",
        ),
        ("echo ${HOME", ParseError::UnterminatedBrace { column: 6 }, "unterminated ${ at column 6"),
        ("echo \"${HOME\"", ParseError::UnterminatedBrace { column: 7 }, "unterminated ${ at column 7"),
        ("echo ${}", ParseError::BadSubstitution { text: "".into() }, "bad substitution: ${}"),
        ("echo ${1x}", ParseError::BadSubstitution { text: "1x".into() }, "bad substitution: ${1x}"),
        ("echo ${A B}", ParseError::BadSubstitution { text: "A B".into() }, "bad substitution: ${A B}"),
        ("echo \\", ParseError::TrailingBackslash, "a backslash at the end of the line escapes nothing"),
        ("a & b", ParseError::MisplacedBackground, "'&' must end the command"),
        ("a && b", ParseError::MisplacedBackground, "'&' must end the command"),
        ("&", ParseError::BackgroundWithoutCommand, "'&' needs a command before it"),
        ("A=1 &", ParseError::BackgroundWithoutCommand, "'&' needs a command before it"),
        (
            "ps | more",
            ParseError::Unsupported { operator: '|' },
            "'|': pipes are not supported (quote it to use it literally)",
        ),
        (
            "a; b",
            ParseError::Unsupported { operator: ';' },
            "';': command lists are not supported (quote it to use it literally)",
        ),
        (
            "echo >file",
            ParseError::Unsupported { operator: '>' },
            "'>': redirections are not supported (quote it to use it literally)",
        ),
        (
            "echo `ps`",
            ParseError::Unsupported { operator: '`' },
            "'`': command substitution is not supported (quote it to use it literally)",
        ),
        (
            "(ps)",
            ParseError::Unsupported { operator: '(' },
            "'(': subshells are not supported (quote it to use it literally)",
        ),
    ];
    for (line, error, message) in cases {
        let found = parse_line(line).expect_err(line);
        assert_eq!(found, *error, "error for {line:?}");
        assert_eq!(found.to_string(), *message, "message for {line:?}");
    }
}

#[test]
fn lookup_sees_each_name_once_in_order() {
    let seen = core::cell::RefCell::new(Vec::new());
    let recording = |name: &str| {
        seen.borrow_mut().push(name.to_string());
        None
    };
    parse("A=$X echo ${Y}z \"$?\" '$NOT' \\$NOT", &recording).unwrap();
    assert_eq!(*seen.borrow(), ["X", "Y", "?"]);
}

#[test]
fn names() {
    for name in ["A", "_", "a_1", "PATH", "_9"] {
        assert!(is_name(name), "{name}");
    }
    for not_a_name in ["", "1", "a-b", "a b", "ü", "?"] {
        assert!(!is_name(not_a_name), "{not_a_name}");
    }
}

#[test]
fn random_lines_never_panic() {
    const ALPHABET: &[char] =
        &['a', 'B', '_', '1', ' ', '\t', '\'', '"', '\\', '$', '{', '}', '?', '=', '&', '#', '|', ';', 'ü'];
    for seed in 1..=2000 {
        let mut random = Random::new(seed);
        let length = random.below(24);
        let line: String = (0..length).map(|_| ALPHABET[random.below(ALPHABET.len())]).collect();
        if let Ok(command) = parse_line(&line) {
            assert!(!command.background || !command.words.is_empty(), "{line:?}");
            assert!(command.assignments.iter().all(|each| is_name(&each.name)), "{line:?}");
        }
    }
}
