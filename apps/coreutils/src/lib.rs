//! What the small programs share, apart from the machine so the host tests can run it:
//! parsing their arguments.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use core::time::Duration;

/// Longest `sleep` accepted: a day (longer is surely a typo).
pub const MAX_SLEEP: Duration = Duration::from_secs(24 * 60 * 60);

/// `sleep`'s argument: seconds, a whole number or with up to nine decimals (`2`, `0.5`,
/// `1.25`), at most [`MAX_SLEEP`]. `None` for anything else (signs, exponents, units,
/// empty parts, more digits than nanoseconds).
pub fn parse_seconds(text: &str) -> Option<Duration> {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit());
    if !digits(whole) {
        return None;
    }
    let seconds: u64 = whole.parse().ok()?;
    let nanos = match fraction {
        None => 0,
        Some(fraction) if digits(fraction) && fraction.len() <= 9 => {
            let value: u32 = fraction.parse().ok()?;
            value * 10u32.pow(9 - u32::try_from(fraction.len()).ok()?)
        }
        Some(_) => return None,
    };
    let duration = Duration::new(seconds, nanos);
    (duration <= MAX_SLEEP).then_some(duration)
}

/// The usage line of `sleep`.
pub const SLEEP_USAGE: &str = "usage: sleep SECONDS (a number, decimals allowed, at most 86400)";

/// Exit status for a bad command line (as the usual tools use).
pub const USAGE_STATUS: i32 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_and_decimal_seconds() {
        assert_eq!(parse_seconds("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_seconds("0"), Some(Duration::ZERO));
        assert_eq!(parse_seconds("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_seconds("1.25"), Some(Duration::from_millis(1250)));
        assert_eq!(parse_seconds("3.000000001"), Some(Duration::new(3, 1)));
        assert_eq!(parse_seconds("86400"), Some(MAX_SLEEP));
    }

    #[test]
    fn refuses_what_is_not_plain_seconds() {
        for bad in ["", "x", "-1", "+1", "1.", ".5", "1..2", "1e3", "2s", " 2", "1.0000000001", "86401"] {
            assert_eq!(parse_seconds(bad), None, "{bad:?}");
        }
        assert_eq!(parse_seconds("99999999999999999999999"), None);
    }
}
