//! Byte-exact comparison of streams, described the way a student needs it:
//! how many bytes were expected and seen, where they first differ, and what
//! lies around that offset.

use super::{Finding, Outcome};

/// `Ok` when `observed` equals `expected`; else a violation naming `what`,
/// both lengths, the first differing offset and the bytes around it.
pub fn same_bytes(what: &str, expected: &[u8], observed: &[u8]) -> Outcome {
    if expected == observed {
        return Ok(());
    }
    let at = expected
        .iter()
        .zip(observed)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(observed.len()));
    Err(Finding::violated(
        format!(
            "{what}: {} bytes, byte-exact; at offset {at}: {}",
            expected.len(),
            window(expected, at)
        ),
        format!(
            "{} bytes{}; at offset {at}: {}",
            observed.len(),
            shape(expected, observed),
            window(observed, at)
        ),
    ))
}

/// A short classification of how `observed` departs from `expected`.
fn shape(expected: &[u8], observed: &[u8]) -> &'static str {
    if observed.len() < expected.len() && expected.starts_with(observed) {
        " (a prefix: the rest was lost)"
    } else if observed.len() > expected.len() && observed.starts_with(expected) {
        " (extra bytes after the expected stream)"
    } else if observed.len() == expected.len() {
        " (same length, different content or order)"
    } else {
        ""
    }
}

/// Up to 8 bytes on each side of `at`, in hex, with the offset marked by `|`.
pub fn window(bytes: &[u8], at: usize) -> String {
    let start = at.saturating_sub(8);
    let end = (at + 8).min(bytes.len());
    if start >= end {
        return "end of stream".into();
    }
    let hex = |b: &[u8]| {
        b.iter()
            .map(|x| format!("{x:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let after = if at < end {
        hex(&bytes[at.min(end)..end])
    } else {
        "<end>".into()
    };
    format!("[{} | {}]", hex(&bytes[start..at.min(end)]), after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_tail_is_named_as_a_prefix() {
        let Err(Finding::Violated(f)) = same_bytes("echo", b"abc\0def", b"abc") else {
            panic!("must differ")
        };
        assert!(f.observed.contains("3 bytes (a prefix"), "{}", f.observed);
        assert!(f.expected.contains("7 bytes"), "{}", f.expected);
    }

    #[test]
    fn equal_streams_pass() {
        assert!(same_bytes("echo", b"", b"").is_ok());
        assert!(same_bytes("echo", b"\0\0", b"\0\0").is_ok());
    }
}
