//! Text shown to people: long values are cut so a message stays readable,
//! and control characters are escaped so a value cannot drive the terminal.
//!
//! A config value, an engine answer or a registry body can be megabytes long;
//! a message quoting it must not be. [`cut`] keeps the start and says how
//! much was left out. A value read from outside (a feed's version, a file
//! name) can hold an escape sequence or a newline; [`escape`] makes it
//! visible text wherever it is printed: plan output, errors, reports.

use std::borrow::Cow;

/// The longest value a message quotes, in characters.
pub const MAX_QUOTED: usize = 200;

/// `text` if it has at most `max` characters, else its first `max`
/// characters and `… (N more bytes)`. Never cuts inside a character.
pub fn cut(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((end, _)) => Cow::Owned(format!(
            "{}… ({} more bytes)",
            &text[..end],
            text.len() - end
        )),
    }
}

/// True for a character [`escape`] rewrites: control characters (C0, DEL,
/// C1) and the invisible formatting characters that reorder or hide what a
/// terminal shows (direction marks and overrides, zero-width characters, the
/// byte-order mark).
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00ad}'
                | '\u{061c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
        )
}

/// `text` with every control character written out as Rust writes it
/// (`\n`, `\t`, `\u{1b}`), so an escape sequence or a newline from outside
/// is shown, never acted on. A backslash is kept as is; text without control
/// characters is returned unchanged (borrowed).
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// [`escape`], and every backslash doubled: for text from a party that
/// may forge what it sends (a registry), whose own `\u{1b}` must not read
/// as one of ours.
pub fn escape_untrusted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\\' || needs_escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// [`escape`] and [`cut`] at [`MAX_QUOTED`]: a value from outside, quoted.
pub fn quote(text: &str) -> String {
    cut(&escape(text), MAX_QUOTED).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert!(matches!(escape("22.11.0-slim é"), Cow::Borrowed(_)));
        assert_eq!(escape("1.0.0\u{1b}[2J\n"), "1.0.0\\u{1b}[2J\\n");
        assert_eq!(escape("a\tb\rc\u{7f}\u{9b}"), "a\\tb\\rc\\u{7f}\\u{9b}");
        assert_eq!(escape("x\u{202e}y"), "x\\u{202e}y");
        assert!(!escape("\u{1b}]0;title\u{7}").chars().any(char::is_control));
    }

    /// One rule for both escapers: invisible characters that hide or
    /// reorder text are escaped wherever outside text is printed; text from a
    /// registry also gets its backslashes doubled.
    #[test]
    fn invisible_characters_are_escaped_and_untrusted_backslashes_doubled() {
        assert_eq!(escape("a\u{200b}b\u{feff}"), "a\\u{200b}b\\u{feff}");
        assert_eq!(escape("a\\u{1b}"), "a\\u{1b}");
        assert_eq!(
            escape_untrusted("a\\u{1b}\u{1b}\u{2067}"),
            "a\\\\u{1b}\\u{1b}\\u{2067}"
        );
    }

    #[test]
    fn short_text_is_unchanged() {
        assert_eq!(cut("abc", 3), "abc");
        assert!(matches!(cut("abc", 3), Cow::Borrowed(_)));
    }

    #[test]
    fn long_text_is_cut_at_a_character() {
        assert_eq!(cut("ééééé", 2), "éé… (6 more bytes)");
        let huge = "x".repeat(2_500_000);
        assert!(cut(&huge, MAX_QUOTED).len() < 300);
    }
}
