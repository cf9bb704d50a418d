//! Docker's `.dockerignore` rules, on globset.
//!
//! The engine API does not filter a build context: the client does, before
//! it sends the tar. So strata must apply the rules exactly as Docker's own
//! client does, or an image built by strata would differ from one built with
//! `docker build`. The rules differ from `.gitignore` (and from the `ignore`
//! crate) in ways that matter:
//!
//! * Patterns are anchored at the context root: `node_modules` matches only
//!   the root `node_modules`, never `sub/node_modules`; `*.md` only root-level
//!   Markdown. Use `**/node_modules` to match at any depth.
//! * A pattern that matches a directory excludes everything below it.
//! * `!pattern` re-includes what an earlier pattern excluded; the last pattern
//!   that matches a path decides.
//! * `#` starts a comment only at the very beginning of a line; lines are
//!   trimmed; a leading `/` is dropped; patterns are cleaned like Go's
//!   `path.Clean` (`a//b/./c/..` is `a/b`).
//!
//! Matching a path is [`DockerIgnore::is_excluded`]; the walk over a folder
//! also needs [`DockerIgnore::may_reinclude_below`], which is how Docker
//! decides whether to look inside an excluded directory at all.

use globset::{GlobBuilder, GlobMatcher};

/// A parsed `.dockerignore`: its patterns, in order.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
}

/// One line of a `.dockerignore`.
#[derive(Debug, Clone)]
struct Pattern {
    /// The cleaned pattern, without its `!`: what Docker compares directory
    /// prefixes against.
    text: String,
    /// `true` for a `!` line, which re-includes.
    exception: bool,
    matcher: GlobMatcher,
}

/// A `.dockerignore` line Docker would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct PatternError {
    /// 1-based line number in the `.dockerignore`.
    pub line: usize,
    pub message: String,
}

impl DockerIgnore {
    /// Parses the text of a `.dockerignore`.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let mut patterns = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let raw = if index == 0 {
                raw.trim_start_matches('\u{feff}')
            } else {
                raw
            };
            // Only a `#` in the very first column is a comment (Docker checks
            // before trimming), so ` #x` is a pattern.
            if raw.starts_with('#') {
                continue;
            }
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            let (exception, body) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            if body.is_empty() {
                return Err(PatternError {
                    line: index + 1,
                    message: "illegal exclusion pattern: \"!\"".into(),
                });
            }
            patterns.push(Pattern::new(body, exception, index + 1)?);
        }
        Ok(DockerIgnore { patterns })
    }

    /// Adds `!path` at the end, so `path` is sent whatever came before.
    ///
    /// Docker's client does this for the Dockerfile and `.dockerignore` when
    /// the patterns would exclude them: the engine needs them to build (and
    /// removes them from the context itself afterwards).
    pub fn keep(&mut self, path: &str) {
        if self.is_excluded(path) {
            let pattern =
                Pattern::new(path, true, 0).expect("a literal path is always a valid pattern");
            self.patterns.push(pattern);
        }
    }

    /// Whether `path` (relative to the context root, `/`-separated) is left
    /// out of the context: the last pattern that matches the path or one of
    /// its parent directories decides.
    pub fn is_excluded(&self, path: &str) -> bool {
        let path = clean(path);
        let ancestors = ancestors(&path);
        let mut excluded = false;
        for pattern in &self.patterns {
            // A pattern can only change the verdict in one direction; skip
            // the ones that cannot (Docker's own shortcut, same result).
            if pattern.exception != excluded {
                continue;
            }
            let hit = pattern.matcher.is_match(&path)
                || ancestors.iter().any(|dir| pattern.matcher.is_match(dir));
            if hit {
                excluded = !pattern.exception;
            }
        }
        excluded
    }

    /// Whether an excluded directory must still be entered because an
    /// exception may re-include something inside it.
    ///
    /// This mirrors Docker's walk exactly, quirks included: it looks only for
    /// an exception whose text starts with `dir/`. An exception with a
    /// wildcard before that point (`!**/keep`) cannot rescue files inside an
    /// excluded directory.
    pub fn may_reinclude_below(&self, dir: &str) -> bool {
        let prefix = format!("{}/", clean(dir));
        self.patterns
            .iter()
            .filter(|p| p.exception)
            .any(|p| format!("{}/", p.text).starts_with(&prefix))
    }

    /// Whether there is any `!` pattern at all.
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }

    /// Whether there are no patterns (nothing is excluded).
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

impl Pattern {
    fn new(body: &str, exception: bool, line: usize) -> Result<Self, PatternError> {
        let mut text = clean(body);
        if text.len() > 1 && text.starts_with('/') {
            text.remove(0);
        }
        let glob = GlobBuilder::new(&to_glob(&text))
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|e| PatternError {
                line,
                message: format!("bad pattern {text:?}: {}", e.kind()),
            })?;
        Ok(Pattern {
            text,
            exception,
            matcher: glob.compile_matcher(),
        })
    }
}

/// Rewrites Docker's pattern syntax into globset's where they differ: braces
/// are literal for Docker but alternation for globset; and in a class only
/// `^` negates for Docker (Go's `filepath.Match`), so `[!a]` is the set of
/// `!` and `a` there, which globset, negating on `!`, is told as `[a!]`.
fn to_glob(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '[' if chars.peek() == Some(&'!') => {
                chars.next();
                // Copy the rest of the class, then add the `!` at its end.
                let mut class = String::new();
                let mut closed = false;
                while let Some(d) = chars.next() {
                    if d == ']' && !class.is_empty() {
                        closed = true;
                        break;
                    }
                    if d == '\\' {
                        class.push('\\');
                        if let Some(e) = chars.next() {
                            class.push(e);
                        }
                        continue;
                    }
                    class.push(d);
                }
                if !closed {
                    // Not a class after all: keep the text as it was.
                    out.push('[');
                    out.push('!');
                    out.push_str(&class);
                } else if class.is_empty() {
                    out.push_str("\\!");
                } else {
                    out.push('[');
                    out.push_str(&class);
                    out.push_str("!]");
                }
            }
            '\\' => {
                out.push('\\');
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// The proper ancestors of a clean relative path: `a/b/c` → `a`, `a/b`.
fn ancestors(path: &str) -> Vec<&str> {
    path.match_indices('/').map(|(i, _)| &path[..i]).collect()
}

/// Lexical path cleaning, as Go's `path.Clean`: collapses `//`, drops `.`
/// segments, resolves `..` against the previous segment, drops a trailing
/// `/`. An empty result is `.`.
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            _ => parts.push(segment),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignore(text: &str) -> DockerIgnore {
        DockerIgnore::parse(text).unwrap()
    }

    #[test]
    fn clean_matches_go_path_clean() {
        for (input, want) in [
            ("a//b/./c/..", "a/b"),
            ("./a/", "a"),
            ("/a/../..", "/"),
            ("../a", "../a"),
            ("a/../..", ".."),
            ("", "."),
            ("/", "/"),
        ] {
            assert_eq!(clean(input), want, "clean({input:?})");
        }
    }

    #[test]
    fn plain_names_are_anchored_at_the_root() {
        let di = ignore("node_modules\n*.md\n");
        assert!(di.is_excluded("node_modules"));
        assert!(di.is_excluded("node_modules/x/y.js"));
        assert!(!di.is_excluded("sub/node_modules"));
        assert!(!di.is_excluded("sub/node_modules/a.js"));
        assert!(di.is_excluded("README.md"));
        assert!(!di.is_excluded("docs/README.md"));
    }

    #[test]
    fn double_star_matches_at_any_depth() {
        let di = ignore("**/*.log\n**/tmp\nbuild/**\n");
        assert!(di.is_excluded("a.log"));
        assert!(di.is_excluded("x/y/z.log"));
        assert!(di.is_excluded("deep/tmp/file"));
        assert!(di.is_excluded("tmp"));
        // `build/**` matches what is inside build, not build itself.
        assert!(!di.is_excluded("build"));
        assert!(di.is_excluded("build/out/bin"));
        let mid = ignore("a/**/z");
        assert!(mid.is_excluded("a/z"));
        assert!(mid.is_excluded("a/b/c/z"));
        assert!(!mid.is_excluded("b/z"));
    }

    #[test]
    fn star_and_question_mark_stop_at_slashes() {
        let di = ignore("src/*.rs\nv?\n");
        assert!(di.is_excluded("src/main.rs"));
        assert!(!di.is_excluded("src/bin/main.rs"));
        assert!(di.is_excluded("v1"));
        assert!(!di.is_excluded("v12"));
        assert!(!di.is_excluded("sub/v1"));
    }

    #[test]
    fn last_match_wins_with_exceptions() {
        let di = ignore("*.txt\n!keep*.txt\nkeep-not.txt\n");
        assert!(di.is_excluded("a.txt"));
        assert!(!di.is_excluded("keep1.txt"));
        assert!(di.is_excluded("keep-not.txt"));
        assert!(!di.is_excluded("b.rs"));
    }

    #[test]
    fn exceptions_reach_inside_excluded_directories() {
        let di = ignore("docs\n!docs/keep\n");
        assert!(di.is_excluded("docs/a.md"));
        assert!(!di.is_excluded("docs/keep"));
        assert!(!di.is_excluded("docs/keep/inner.md"));
        assert!(di.may_reinclude_below("docs"));
        assert!(!di.may_reinclude_below("other"));
        // Docker's walk only follows literal prefixes of exceptions.
        let wild = ignore("docs\n!**/keep\n");
        assert!(!wild.may_reinclude_below("docs"));
    }

    #[test]
    fn comments_blank_lines_leading_slash_and_cleaning() {
        let di = ignore("# comment\n\n   \n/secret\n  spaced  \n ./a//b/../c \n #notcomment\n");
        assert!(!di.is_excluded("# comment"));
        assert!(di.is_excluded("secret"));
        assert!(di.is_excluded("spaced"));
        assert!(di.is_excluded("a/c"));
        assert!(di.is_excluded("#notcomment"));
        assert!(!di.is_excluded("a/b"));
    }

    #[test]
    fn bang_in_a_class_is_a_character_as_for_docker() {
        let di = ignore("[!a]\n");
        assert!(di.is_excluded("a"));
        assert!(di.is_excluded("!"));
        assert!(!di.is_excluded("b"));
        let di = ignore("[^a]\n");
        assert!(!di.is_excluded("a"));
        assert!(di.is_excluded("b"));
        let di = ignore("x[!bc]y\n");
        assert!(di.is_excluded("xby"));
        assert!(di.is_excluded("x!y"));
        assert!(!di.is_excluded("xay"));
    }

    #[test]
    fn braces_are_literal_and_escapes_work() {
        let di = ignore("{a,b}\nstar\\*\n");
        assert!(di.is_excluded("{a,b}"));
        assert!(!di.is_excluded("a"));
        assert!(di.is_excluded("star*"));
        assert!(!di.is_excluded("starx"));
    }

    #[test]
    fn keep_adds_an_exception_only_when_needed() {
        let mut di = ignore("*\n");
        di.keep("Dockerfile");
        assert!(!di.is_excluded("Dockerfile"));
        assert!(di.is_excluded("other"));
        let mut none = ignore("*.md\n");
        none.keep("Dockerfile");
        assert!(!none.has_exceptions());
    }

    #[test]
    fn bad_patterns_are_errors_with_line_numbers() {
        let err = DockerIgnore::parse("ok\n!\n").unwrap_err();
        assert_eq!(err.line, 2);
        let err = DockerIgnore::parse("a\nb\n[unclosed\n").unwrap_err();
        assert_eq!(err.line, 3);
    }
}
