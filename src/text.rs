//! Text shown to people: long values are cut so a message stays readable.
//!
//! A config value, an engine answer or a registry body can be megabytes long;
//! a message quoting it must not be. [`cut`] keeps the start and says how
//! much was left out.

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

#[cfg(test)]
mod tests {
    use super::*;

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
