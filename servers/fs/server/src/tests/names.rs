//! Names and paths are refused before anything changes.

use fs_api::FsError;

use crate::names::{
    check_name, checked_owned_path, checked_path, client_path, file_key, same_name, with_file_key,
};

#[test]
fn names_fat_cannot_hold_are_refused() {
    let long = "n".repeat(255);
    let too_long = "n".repeat(256);
    let cases: &[(&str, Result<(), ()>)] = &[
        ("index.html", Ok(())),
        ("a file with a long name and spaces.txt", Ok(())),
        ("Ünïcödé ñame", Ok(())),
        ("(a)[b]{c}$%'-_@~`!+,;=^#&", Ok(())),
        (&long, Ok(())),
        ("bad:name.txt", Err(())),
        ("what?", Err(())),
        ("star*", Err(())),
        ("quote\"", Err(())),
        ("less<", Err(())),
        ("pipe|", Err(())),
        ("back\\slash", Err(())),
        ("trailing.", Err(())),
        ("trailing ", Err(())),
        ("", Err(())),
        (".", Err(())),
        ("..", Err(())),
        ("emoji 😀", Err(())),
    ];
    for (name, expected) in cases {
        assert_eq!(check_name(name).map_err(|_| ()), *expected, "{name:?}");
    }
    assert_eq!(check_name(&too_long), Err(FsError::NameTooLong));
    assert!(matches!(check_name("bad:name"), Err(FsError::InvalidName { .. })));
}

#[test]
fn client_paths_normalise_and_every_name_is_checked() {
    let cases: &[(&str, Option<&str>)] = &[
        ("/", Some("/")),
        ("//www//index.html", Some("/www/index.html")),
        ("/www/./a/../index.html", Some("/www/index.html")),
        ("/www/../etc/policy", Some("/etc/policy")),
        ("/..", None),
        ("www", None),
        ("/www/bad:name", None),
        ("/bad:dir/../www", Some("/www")),
        ("/www/x\u{1}", None),
    ];
    for (text, expected) in cases {
        let got = client_path(text).ok().map(|(path, _)| path.as_str().to_string());
        assert_eq!(got.as_deref(), *expected, "{text:?}");
    }
    let (_, names) = client_path("/home/user/notes.txt").unwrap();
    assert_eq!(names, ["home", "user", "notes.txt"]);
    assert!(client_path("/").unwrap().1.is_empty());
}

#[test]
fn names_compare_as_fat_does() {
    let long: Vec<u16> = "Index.HTML".encode_utf16().collect();
    assert!(same_name(Some(&long), "INDEX.HTM", "index.html"));
    assert!(same_name(Some(&long), "INDEX.HTM", "INDEX.HTM"));
    assert!(!same_name(Some(&long), "INDEX.HTM", "index.htm "));
    assert!(same_name(None, "README", "readme"));
    assert!(same_name(None, "ÄB", "äb"));
    assert!(!same_name(None, "README", "readme.txt"));
}

/// The table of allowed ASCII characters says what the rule says, and non-ASCII names
/// are judged as before.
#[test]
fn the_ascii_table_is_the_rule() {
    let rule = |c: char| {
        c.is_ascii_alphanumeric()
            || ('\u{80}'..='\u{FFFF}').contains(&c)
            || "$%'-_@~`!(){}. +,;=[]^#&".contains(c)
    };
    for code in (0..0x300).chain([0xFFFF, 0x10000, 0x1F600]) {
        let Some(c) = char::from_u32(code) else { continue };
        for name in [format!("a{c}b"), format!("{c}\u{e9}x")] {
            assert_eq!(check_name(&name).is_ok(), name.chars().all(rule), "{name:?}");
        }
    }
}

/// Lookup keys made on the stack are the allocated ones.
#[test]
fn stack_keys_are_file_keys() {
    let long = format!("/{}", "a".repeat(300));
    for text in ["/bench/small.txt", "/", "/Caf\u{e9}/\u{df}", "/x", &long] {
        assert_eq!(with_file_key(text, |key| key.to_string()), file_key(text), "{text:?}");
    }
}

/// An owned path is checked as a borrowed one is.
#[test]
fn owned_paths_are_checked_as_borrowed_ones() {
    for text in ["/a/b.txt", "/a/../b", "/a//b/", "relative", "/a/b.", "/a/<b>", "/..", "/caf\u{e9}"] {
        assert_eq!(checked_owned_path(text.to_string()), checked_path(text), "{text:?}");
    }
}
