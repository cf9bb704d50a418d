//! YAML reading shared by the config formats: values that remember where they
//! were written, and parse errors turned into [`InputError`]s.
//!
//! Config structs are not derived with `deny_unknown_fields`: that stops at the
//! first unknown key and cannot suggest a fix. Instead maps are read as ordered
//! lists of located keys and values ([`Entries`]), and the caller checks them
//! all, so every problem is reported with its line and column.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use miette::SourceSpan;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

use crate::error::InputError;

/// A value and where it was written, as a byte span of the source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<T> {
    pub value: T,
    pub span: SourceSpan,
}

/// A config file being read: its path and text, for locating errors. The
/// one source type of every config reader; the text is shared by every error
/// that points into it.
#[derive(Debug, Clone)]
pub struct Source {
    /// The path as given (used in messages and as the plan's `source`).
    pub path: PathBuf,
    pub text: Arc<str>,
}

impl Source {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<Arc<str>>) -> Self {
        Source {
            path: path.into(),
            text: text.into(),
        }
    }

    /// The display name of the file in diagnostics.
    pub fn name(&self) -> String {
        self.path.display().to_string()
    }

    /// The folder relative paths in the file are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// An error pointing at `span` in this file.
    pub fn error(
        &self,
        span: SourceSpan,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> InputError {
        InputError::plain(message).at(self.name(), self.text.clone(), span, label)
    }

    /// An error pointing at a parsed value, its message prefixed with
    /// `FILE:LINE:COL`.
    pub fn error_at<T>(
        &self,
        at: &Spanned<T>,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> InputError {
        let line = at.referenced.line();
        let col = at.referenced.column();
        let message = format!("{}:{line}:{col}: {}", self.name(), message.into());
        self.error(span_of(at), message, label)
    }

    /// Converts a parser location into a byte span of this file's text.
    pub fn span(&self, location: &Location) -> SourceSpan {
        let span = location.span();
        match (span.byte_offset(), span.byte_len()) {
            (Some(offset), Some(len)) => (offset as usize, len as usize).into(),
            // Only character offsets are known: map them onto bytes.
            _ => {
                let start = self.char_to_byte(span.offset() as usize);
                let end = self.char_to_byte((span.offset() + span.len()) as usize);
                (start, end.saturating_sub(start)).into()
            }
        }
    }

    /// Locates a parsed value.
    pub fn locate<T>(&self, spanned: Spanned<T>) -> Located<T> {
        Located {
            span: self.span(&spanned.referenced),
            value: spanned.value,
        }
    }

    fn char_to_byte(&self, chars: usize) -> usize {
        self.text
            .char_indices()
            .nth(chars)
            .map(|(i, _)| i)
            .unwrap_or(self.text.len())
    }

    /// Parses the whole file as `T`, turning a syntax or shape error into an
    /// [`InputError`] at the parser's location (`FILE:LINE:COL`). An unknown
    /// key gets a "did you mean" from the keys the parser expected there, or
    /// else from `keys`.
    pub fn parse<T: de::DeserializeOwned>(&self, keys: &[&str]) -> Result<T, InputError> {
        // The parser's own snippet is off: miette draws the snippet.
        let options = serde_saphyr::options! { with_snippet: false };
        serde_saphyr::from_str_with_options::<T>(&self.text, options)
            .map_err(|e| self.parse_error(&e, keys))
    }

    fn parse_error(&self, err: &serde_saphyr::Error, keys: &[&str]) -> InputError {
        let message = err.render_with_formatter(&serde_saphyr::UserMessageFormatter);
        let message = message.lines().next().unwrap_or("").trim().to_string();
        // The parser appends " at line L, column C"; the prefix says it.
        let message = match message.rfind(" at line ") {
            Some(i) => message[..i].to_string(),
            None => message,
        };
        let help = unknown_key_help(&message, keys).unwrap_or_else(|| {
            "fix the YAML at the marked place; strings with `:` or `#` need quotes".into()
        });
        match err.location() {
            Some(location) => {
                let message = format!(
                    "{}:{}:{}: invalid YAML: {message}",
                    self.name(),
                    location.line(),
                    location.column()
                );
                self.error(self.span(&location), message, "here")
                    .with_help(help)
            }
            None => InputError::plain(format!("{}: invalid YAML: {message}", self.name()))
                .with_help(help),
        }
    }
}

/// For "unknown field `x`, expected one of a, b, …": "did you mean" the
/// closest expected name, or else the closest of `keys`.
pub fn unknown_key_help(message: &str, keys: &[&str]) -> Option<String> {
    let rest = message.split("unknown field `").nth(1)?;
    let (unknown, rest) = rest.split_once('`')?;
    let list = rest
        .split_once("expected one of ")
        .or_else(|| rest.split_once("expected "))
        .map(|(_, l)| l)
        .unwrap_or("");
    let expected: Vec<&str> = list
        .split(',')
        .map(|s| s.trim().trim_matches('`'))
        .filter(|s| !s.is_empty())
        .collect();
    let pool = if expected.is_empty() { keys } else { &expected };
    suggest(unknown, pool).map(|c| format!("did you mean `{c}`?"))
}

/// The byte range of a spanned value (empty at its start when the length is unknown).
pub fn span_of<T>(at: &Spanned<T>) -> SourceSpan {
    let span = at.referenced.span();
    let offset = span.byte_offset().unwrap_or(0) as usize;
    let len = span.byte_len().unwrap_or(0) as usize;
    (offset, len).into()
}

/// A mapping read as its entries in order, keys and values located.
/// Duplicate keys are already rejected by the parser.
#[derive(Debug)]
pub struct Entries<V>(pub Vec<(Spanned<String>, Spanned<V>)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Entries<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for EntriesVisitor<V> {
            type Value = Entries<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of `key: value` lines")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    entries.push((key, map.next_value::<Spanned<V>>()?));
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(EntriesVisitor(std::marker::PhantomData))
    }
}

/// A value that is a string or a list of strings (or absent: `null`), as
/// Dante's `test` and `alias` are.
#[derive(Debug, Clone, PartialEq)]
pub enum Strings {
    Null,
    One(String),
    Many(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for Strings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StringsVisitor;
        impl<'de> Visitor<'de> for StringsVisitor {
            type Value = Strings;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Strings, E> {
                Ok(Strings::One(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Strings, E> {
                Ok(Strings::One(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Strings, E> {
                Ok(Strings::One(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Strings, E> {
                Ok(Strings::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Strings, E> {
                Ok(Strings::Null)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strings, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<String>>()? {
                    items.push(item);
                }
                Ok(Strings::Many(items))
            }
        }
        deserializer.deserialize_any(StringsVisitor)
    }
}

/// The closest of `candidates` to a mistyped `word`, if one is close enough
/// to be what the user meant: the one typo suggester of every config reader.
pub fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(&word.to_lowercase(), c), *c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_key_gets_the_closest_expected_or_known_key() {
        let msg = "unknown field `aliasses`, expected one of `as_of`, `aliases`, `tests`";
        assert_eq!(
            unknown_key_help(msg, &[]).as_deref(),
            Some("did you mean `aliases`?")
        );
        let msg = "unknown field `templte`, expected one of name, template";
        assert_eq!(
            unknown_key_help(msg, &[]).as_deref(),
            Some("did you mean `template`?")
        );
        assert_eq!(
            unknown_key_help("unknown field `zzz`, expected `as_of`", &[]),
            None
        );
        assert_eq!(
            unknown_key_help("unknown field `stdot`", &["stdout", "stderr"]).as_deref(),
            Some("did you mean `stdout`?")
        );
    }

    #[test]
    fn suggests_close_keys_only() {
        let keys = ["name", "path", "test", "alias"];
        assert_eq!(suggest("aliases", &keys), Some("alias"));
        assert_eq!(suggest("tests", &keys), Some("test"));
        assert_eq!(suggest("Name", &keys), Some("name"));
        assert_eq!(suggest("colour", &keys), None);
    }

    #[test]
    fn reads_entries_and_strings_with_locations() {
        let text = "a: x\nb: [y, \"z\"]\nc:\n";
        let src = Source::new("f.yml", text);
        let entries: Entries<Strings> = src.parse(&[]).unwrap();
        let keys: Vec<_> = entries.0.iter().map(|(k, _)| k.value.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c"]);
        assert_eq!(entries.0[0].1.value, Strings::One("x".into()));
        assert_eq!(entries.0[2].1.value, Strings::Null);
        let Strings::Many(items) = &entries.0[1].1.value else {
            panic!("b is a list")
        };
        let z = src.locate(items[1].clone());
        assert_eq!(
            &text[z.span.offset()..z.span.offset() + z.span.len()],
            "\"z\""
        );
    }

    #[test]
    fn syntax_errors_point_at_the_place() {
        let text = "a: x\nb: \"open\n";
        let src = Source::new("f.yml", text);
        let err = src.parse::<Entries<Strings>>(&[]).unwrap_err();
        assert!(
            err.message.contains("f.yml:2:4: invalid YAML"),
            "{}",
            err.message
        );
        assert!(!err.message.contains("at line"), "{}", err.message);
        let out = crate::error::render_with(&err, false);
        assert!(out.contains("f.yml:2:4"), "{out}");
    }
}
