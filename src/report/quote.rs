//! Text that came from a target, made safe to put in a report.
//!
//! A program under test chooses what it prints, and what it prints ends up
//! in failures (its last output lines, the bytes it echoed, its thread
//! names). [`quoted`] is what every such text goes through before it joins
//! a [`Verdict`](crate::spec::Verdict): control characters and ANSI escape
//! sequences become visible escapes (`\u{1b}`), so a report shown on a
//! terminal cannot be recoloured, rewritten or cleared by its subject; the
//! bidirectional-override marks of "Trojan source" likewise; and the text is
//! bounded to [`FIELD_BYTES`], its first and last halves kept around an
//! "… N bytes omitted …" line. Each format then escapes what is special to
//! it (JSON strings, XML text, a Markdown fence longer than any backtick run
//! inside), which the caps keep cheap.

/// The most bytes of one field of a result: its first and last halves are kept.
pub const FIELD_BYTES: usize = 8 * 1024;

/// `text` with control characters escaped, cut to [`FIELD_BYTES`].
pub fn quoted(text: &str) -> String {
    capped(&neutralised(text), FIELD_BYTES)
}

/// `text` with every control character but newline and tab, and every
/// bidirectional-formatting mark, written as a visible `\u{..}` escape.
pub fn neutralised(text: &str) -> String {
    if !text.chars().any(unsafe_char) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

fn unsafe_char(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` if it is at most `cap` bytes, else its first and last `cap / 2`
/// bytes (cut at character boundaries) around a line saying how many were left out.
pub fn capped(text: &str, cap: usize) -> String {
    if text.len() <= cap {
        return text.to_string();
    }
    let head = floor_boundary(text, cap / 2);
    let tail = ceil_boundary(text, text.len() - cap / 2);
    format!(
        "{}\n{}\n{}",
        &text[..head],
        omitted(tail - head),
        &text[tail..]
    )
}

/// The line that stands for `bytes` left out of a text.
pub fn omitted(bytes: usize) -> String {
    format!("… {bytes} bytes omitted …")
}

fn floor_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_overrides_become_visible() {
        assert_eq!(
            neutralised("\x1b[2J\x1b[32m✓ pass\r\u{202e}x\ty\n"),
            "\\u{1b}[2J\\u{1b}[32m✓ pass\\u{d}\\u{202e}x\ty\n"
        );
        assert_eq!(neutralised("plain | text"), "plain | text");
    }

    #[test]
    fn long_text_keeps_both_ends_and_says_what_it_left_out() {
        let text = format!("start{}é{}end", "a".repeat(10_000), "b".repeat(10_000));
        let cut = capped(&text, 1000);
        assert!(cut.len() < 1100, "{}", cut.len());
        assert!(cut.starts_with("start") && cut.ends_with("end"));
        let left_out = text.len() - 1000;
        assert!(
            cut.contains(&format!("\n… {left_out} bytes omitted …\n")),
            "{cut}"
        );
        assert_eq!(capped("short", 1000), "short");
    }
}
