//! The command-line parser: one line in, one [`Command`] (or a [`ParseError`]) out.
//!
//! The grammar is a small, predictable subset of the POSIX shell's:
//!
//! - Words are separated by spaces and tabs.
//! - `'...'` quotes everything literally; `"..."` quotes everything but `$` expansions and
//!   the escapes `\"`, `\\` and `\$`; outside quotes, `\` makes the next character literal.
//! - `$NAME`, `${NAME}` and `$?` expand to the variable's value (empty if unset). A `$` not
//!   followed by a name, `{` or `?` is a literal `$`.
//! - Expansions are never split into several words: `$X` is one word whatever `X` holds. An
//!   unquoted expansion that is empty and is the whole word disappears (`echo $UNSET x` has
//!   one argument), as in POSIX; `"$UNSET"` stays as an empty argument.
//! - Leading `NAME=value` words are assignments: alone on a line they set shell variables,
//!   before a command they are extra environment for that command.
//! - A final `&` runs the command in the background.
//! - `#` at the start of a word starts a comment that runs to the end of the line.
//! - Pipes, lists and redirections (`| ; < > ( )` and backquotes) are not supported; they
//!   are errors unless quoted, so nothing is silently misread.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::iter::Peekable;
use core::str::CharIndices;

/// A `NAME=value` word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    /// The variable name (a valid [name](is_name)).
    pub name: String,
    /// The value, after quote removal and expansion.
    pub value: String,
}

/// A parsed line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Command {
    /// The leading `NAME=value` words.
    pub assignments: Vec<Assignment>,
    /// The command and its arguments, after quote removal and expansion; empty when the
    /// line only assigns variables (or is blank, or only a comment).
    pub words: Vec<String>,
    /// A trailing `&`: run in the background. Only ever set when `words` is not empty.
    pub background: bool,
}

/// Why a line could not be parsed. Columns count characters from 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// A `'` or `"` with no closing partner.
    UnterminatedQuote {
        /// The quote character.
        quote: char,
        /// Where the quote opened.
        column: usize,
    },
    /// `${` with no closing `}`.
    UnterminatedBrace {
        /// Where the `$` is.
        column: usize,
    },
    /// `${...}` around something that is not a variable name.
    BadSubstitution {
        /// What was between the braces.
        text: String,
    },
    /// A `\` as the last character: there is nothing to escape (lines do not continue).
    TrailingBackslash,
    /// Something after the `&` (only one command per line).
    MisplacedBackground,
    /// A `&` with no command before it.
    BackgroundWithoutCommand,
    /// An operator the shell does not have.
    Unsupported {
        /// The operator character.
        operator: char,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnterminatedQuote { quote: '\'', column } => {
                write!(formatter, "unterminated single quote (opened at column {column})")
            }
            Self::UnterminatedQuote { column, .. } => {
                write!(formatter, "unterminated double quote (opened at column {column})")
            }
            Self::UnterminatedBrace { column } => write!(formatter, "unterminated ${{ at column {column}"),
            Self::BadSubstitution { text } => write!(formatter, "bad substitution: ${{{text}}}"),
            Self::TrailingBackslash => {
                write!(formatter, "a backslash at the end of the line escapes nothing")
            }
            Self::MisplacedBackground => write!(formatter, "'&' must end the command"),
            Self::BackgroundWithoutCommand => write!(formatter, "'&' needs a command before it"),
            Self::Unsupported { operator } => {
                let what = match operator {
                    '|' => "pipes are",
                    ';' => "command lists are",
                    '<' | '>' => "redirections are",
                    '`' => "command substitution is",
                    _ => "subshells are",
                };
                write!(formatter, "'{operator}': {what} not supported (quote it to use it literally)")
            }
        }
    }
}

/// Whether `text` is a variable name: a letter or `_`, then letters, digits or `_`.
pub fn is_name(text: &str) -> bool {
    let mut characters = text.chars();
    characters.next().is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && characters.all(|character| character.is_ascii_alphanumeric() || character == '_')
}

/// Parses `line`, expanding `$NAME`, `${NAME}` and `$?` through `lookup` (called with the
/// name, or with `"?"` for `$?`; `None` expands to nothing).
pub fn parse(line: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Command, ParseError> {
    Parser { characters: line.char_indices().peekable(), line, lookup, words: Vec::new(), word: None }.run()
}

/// One word being built.
#[derive(Default)]
struct Word {
    text: String,
    /// Quotes, escapes or literal characters were seen, so the word exists even if empty.
    kept: bool,
    /// Everything so far came from unquoted literal characters (an assignment needs that
    /// for its name).
    plain: bool,
    /// Byte offset of the `=` of `NAME=value`, if the word has that form.
    equals: Option<usize>,
}

impl Word {
    fn new() -> Self {
        Self { plain: true, ..Self::default() }
    }

    /// Adds a character typed as itself, unquoted.
    fn push_plain(&mut self, character: char) {
        if character == '=' && self.plain && self.equals.is_none() && is_name(&self.text) {
            self.equals = Some(self.text.len());
        }
        self.text.push(character);
        self.kept = true;
    }

    /// Adds quoted or escaped text.
    fn push_quoted(&mut self, text: &str) {
        self.text.push_str(text);
        self.kept = true;
        self.plain = false;
    }

    /// Adds the value of an expansion.
    fn push_expansion(&mut self, text: &str) {
        self.text.push_str(text);
        self.plain = false;
    }
}

struct Parser<'a> {
    characters: Peekable<CharIndices<'a>>,
    line: &'a str,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    words: Vec<Word>,
    word: Option<Word>,
}

impl Parser<'_> {
    fn run(mut self) -> Result<Command, ParseError> {
        let mut background = false;
        while let Some((offset, character)) = self.characters.next() {
            if background {
                match character {
                    ' ' | '\t' => continue,
                    '#' => break,
                    _ => return Err(ParseError::MisplacedBackground),
                }
            }
            match character {
                ' ' | '\t' => self.end_word(),
                '#' if self.word.is_none() => break,
                '&' => {
                    self.end_word();
                    background = true;
                }
                '|' | ';' | '<' | '>' | '(' | ')' | '`' => {
                    return Err(ParseError::Unsupported { operator: character });
                }
                '\'' => self.single_quoted(offset)?,
                '"' => self.double_quoted(offset)?,
                '\\' => {
                    let (_, escaped) = self.characters.next().ok_or(ParseError::TrailingBackslash)?;
                    self.word().push_quoted(escaped.encode_utf8(&mut [0; 4]));
                }
                '$' => match self.expansion(offset)? {
                    Some(value) => self.word().push_expansion(&value),
                    None => self.word().push_plain('$'),
                },
                character => self.word().push_plain(character),
            }
        }
        self.end_word();

        let mut command = Command { background, ..Command::default() };
        let mut words = self.words.into_iter();
        for word in words.by_ref() {
            match word.equals {
                Some(equals) if command.words.is_empty() => {
                    let (name, value) = word.text.split_at(equals);
                    command.assignments.push(Assignment {
                        name: name.into(),
                        value: value.get(1..).unwrap_or_default().into(),
                    });
                }
                _ => {
                    command.words.push(word.text);
                    break;
                }
            }
        }
        command.words.extend(words.map(|word| word.text));
        if background && command.words.is_empty() {
            return Err(ParseError::BackgroundWithoutCommand);
        }
        Ok(command)
    }

    /// The word being built, starting one if needed.
    fn word(&mut self) -> &mut Word {
        self.word.get_or_insert_with(Word::new)
    }

    fn end_word(&mut self) {
        if let Some(word) = self.word.take()
            && (word.kept || !word.text.is_empty())
        {
            self.words.push(word);
        }
    }

    /// After a `'` at `offset`: everything up to the next `'`, literally.
    fn single_quoted(&mut self, offset: usize) -> Result<(), ParseError> {
        let start = offset + 1;
        loop {
            match self.characters.next() {
                Some((end, '\'')) => {
                    let text = self.line.get(start..end).unwrap_or_default();
                    self.word().push_quoted(text);
                    return Ok(());
                }
                Some(_) => {}
                None => {
                    return Err(ParseError::UnterminatedQuote { quote: '\'', column: self.column(offset) });
                }
            }
        }
    }

    /// After a `"` at `offset`: up to the next unescaped `"`, with expansions.
    fn double_quoted(&mut self, offset: usize) -> Result<(), ParseError> {
        let unterminated = ParseError::UnterminatedQuote { quote: '"', column: self.column(offset) };
        // An empty "" still makes a word.
        self.word().push_quoted("");
        loop {
            let (position, character) = self.characters.next().ok_or_else(|| unterminated.clone())?;
            match character {
                '"' => return Ok(()),
                '\\' => match self.characters.peek() {
                    Some(&(_, escaped @ ('"' | '\\' | '$'))) => {
                        self.characters.next();
                        self.word().push_quoted(escaped.encode_utf8(&mut [0; 4]));
                    }
                    _ => self.word().push_quoted("\\"),
                },
                '$' => {
                    let value = self.expansion(position)?.unwrap_or_else(|| "$".into());
                    self.word().push_quoted(&value);
                }
                character => self.word().push_quoted(character.encode_utf8(&mut [0; 4])),
            }
        }
    }

    /// After a `$` at `offset`: the expansion's value, or `None` if the `$` is literal.
    fn expansion(&mut self, offset: usize) -> Result<Option<String>, ParseError> {
        let name = match self.characters.peek() {
            Some(&(_, '?')) => {
                self.characters.next();
                String::from("?")
            }
            Some(&(_, '{')) => {
                self.characters.next();
                let mut name = String::new();
                loop {
                    match self.characters.next() {
                        Some((_, '}')) => break,
                        Some((_, character)) => name.push(character),
                        None => return Err(ParseError::UnterminatedBrace { column: self.column(offset) }),
                    }
                }
                if name != "?" && !is_name(&name) {
                    return Err(ParseError::BadSubstitution { text: name });
                }
                name
            }
            Some(&(_, first)) if first.is_ascii_alphabetic() || first == '_' => {
                let mut name = String::new();
                while let Some(&(_, character)) = self.characters.peek() {
                    if !(character.is_ascii_alphanumeric() || character == '_') {
                        break;
                    }
                    name.push(character);
                    self.characters.next();
                }
                name
            }
            _ => return Ok(None),
        };
        Ok(Some((self.lookup)(&name).unwrap_or_default()))
    }

    /// The 1-based character column of byte `offset`.
    fn column(&self, offset: usize) -> usize {
        self.line.get(..offset).map_or(0, |before| before.chars().count()) + 1
    }
}

#[cfg(test)]
mod tests;
