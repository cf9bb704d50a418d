//! Reading Dockerfiles the way the engine's parser reads them.
//!
//! Planning needs the `FROM` lines of every image (to order builds), and the
//! rule "a test has no `FROM`" must see exactly the instructions the engine
//! will run. Both go through [`instructions`], which follows the engine's
//! Dockerfile parser:
//!
//! * parser directives (`# escape=`, `# syntax=`) are read only at the top of
//!   the file, before any other line (a blank line or a comment ends them);
//! * the escape character (`\`, or `` ` `` after `# escape=`` ` ``) followed by
//!   spaces or tabs at the end of a line continues the instruction on the next
//!   line, and the parts are joined *as they are*: `FR\` + newline + `OM x` is
//!   `FROM x`;
//! * comment lines and blank lines inside a continuation are dropped;
//! * heredocs (`RUN <<EOF` … `EOF`, `<<-EOF` strips leading tabs) are bodies,
//!   not instructions, for the builders that read them (BuildKit, Buildah).
//!   Docker's classic builder does not: it parses a heredoc's body as
//!   instructions. [`Heredocs`] chooses the reading.
//!
//! A test's Dockerfile is built with `FROM <image ID>` in front of it;
//! [`layer_on`] keeps the test's parser directives in front of that line, so
//! the engine reads the test with the same escape character strata checked
//! it with.

/// Whether heredoc bodies are read as bodies or as instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heredocs {
    /// BuildKit's and Buildah's reading: `<<EOF` starts a body ending at `EOF`.
    Bodies,
    /// Docker's classic builder: there are no heredocs, every line is read.
    Lines,
}

/// One instruction, continuation lines joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// The instruction's keyword in upper case (`FROM`, `RUN`).
    pub keyword: String,
    /// Everything after the keyword, continuation lines joined, trimmed.
    pub args: String,
    /// 1-based line the instruction starts on.
    pub line: usize,
}

/// One `FROM` instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// The image (or earlier stage) named, as written; `$ARG`s are not expanded.
    pub image: String,
    /// The stage name given with `AS`, if any.
    pub stage: Option<String>,
    /// 1-based line the instruction starts on.
    pub line: usize,
}

/// Parser directives the engine recognises at the top of a Dockerfile.
const DIRECTIVES: &[&str] = &["escape", "syntax", "check"];

/// A parser directive line (`# key=value`), as `(key, value)`.
fn directive(line: &str) -> Option<(String, &str)> {
    let rest = line.strip_prefix('#')?;
    let (key, value) = rest.split_once('=')?;
    let key = key.trim_matches([' ', '\t']);
    let value = value.trim_matches([' ', '\t']);
    let well_formed = key.starts_with(|c: char| c.is_ascii_alphabetic())
        && key.chars().all(|c| c.is_ascii_alphanumeric())
        && !value.is_empty();
    let key = key.to_ascii_lowercase();
    (well_formed && DIRECTIVES.contains(&key.as_str())).then_some((key, value))
}

/// The lines of `text`, a leading byte-order mark dropped.
fn lines(text: &str) -> Vec<&str> {
    text.trim_start_matches('\u{feff}').lines().collect()
}

/// How many lines at the top of `lines` are parser directives, and the
/// escape character they set (`\` unless an `escape` directive says `` ` ``).
fn directives(lines: &[&str]) -> (usize, char) {
    let mut escape = '\\';
    let mut count = 0;
    for line in lines {
        let Some((key, value)) = directive(line) else {
            break;
        };
        if key == "escape" {
            // The engine accepts only these two; it refuses the file otherwise,
            // and then nothing is built at all.
            if let Some(c @ ('`' | '\\')) = value.chars().next().filter(|_| value.len() == 1) {
                escape = c;
            }
        }
        count += 1;
    }
    (count, escape)
}

/// `line` without a trailing escape character (and the spaces or tabs after
/// it), and whether it had one: whether the instruction continues.
fn strip_continuation(line: &str, escape: char) -> (&str, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    match trimmed.strip_suffix(escape) {
        Some(head) => (head, true),
        None => (line, false),
    }
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// The instructions of a Dockerfile, in order (see the module documentation
/// for the rules followed).
pub fn instructions(text: &str, heredocs: Heredocs) -> Vec<Instruction> {
    let lines = lines(text);
    let (_, escape) = directives(&lines);
    read_instructions(&lines, escape, heredocs)
}

fn read_instructions(lines: &[&str], escape: char, heredocs: Heredocs) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let first = lines[i].trim_start();
        i += 1;
        if first.is_empty() || first.starts_with('#') {
            continue;
        }
        let start = i;
        let (head, mut continues) = strip_continuation(first, escape);
        let mut joined = head.to_string();
        while continues && i < lines.len() {
            let next = lines[i];
            i += 1;
            if is_comment(next) || next.trim().is_empty() {
                continue;
            }
            let (part, more) = strip_continuation(next, escape);
            joined.push_str(part);
            continues = more;
        }
        let joined = joined.trim();
        let (keyword, args) = match joined.split_once(char::is_whitespace) {
            Some((k, a)) => (k, a.trim()),
            None => (joined, ""),
        };
        let keyword = keyword.to_ascii_uppercase();
        if heredocs == Heredocs::Bodies && matches!(keyword.as_str(), "RUN" | "COPY" | "ADD") {
            for (name, strip_tabs) in heredoc_names(args) {
                // The body runs to its terminator line (or the end of the file).
                while i < lines.len() {
                    let line = lines[i];
                    i += 1;
                    let line = if strip_tabs {
                        line.trim_start_matches('\t')
                    } else {
                        line
                    };
                    if line == name {
                        break;
                    }
                }
            }
        }
        out.push(Instruction {
            keyword,
            args: args.to_string(),
            line: start,
        });
    }
    out
}

/// The heredocs an instruction opens (`<<EOF`, `<<-EOF`, `<<"EOF"`), in
/// order: each one's terminator and whether leading tabs are stripped.
fn heredoc_names(args: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut rest = args;
    while let Some(at) = rest.find("<<") {
        let after = &rest[at + 2..];
        if after.starts_with('<') {
            // `<<<` is a here-string, not a heredoc.
            rest = after.trim_start_matches('<');
            continue;
        }
        let (strip_tabs, after) = match after.strip_prefix('-') {
            Some(a) => (true, a),
            None => (false, after),
        };
        let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'');
        let after = quote.map_or(after, |q| &after[q.len_utf8()..]);
        let end = after
            .find(|c: char| {
                c.is_whitespace()
                    || Some(c) == quote
                    || c == ';'
                    || c == '&'
                    || c == '|'
                    || c == '>'
            })
            .unwrap_or(after.len());
        let name = &after[..end];
        if !name.is_empty() {
            out.push((name.to_string(), strip_tabs));
        }
        rest = &after[end..];
    }
    out
}

/// The `FROM` instructions of a Dockerfile, in order, read as BuildKit and
/// Buildah read it (heredoc bodies are not instructions). Flags such as
/// `--platform=…` are skipped; `AS name` gives the stage.
pub fn from_instructions(dockerfile: &str) -> Vec<From> {
    froms(dockerfile, Heredocs::Bodies)
}

fn froms(dockerfile: &str, heredocs: Heredocs) -> Vec<From> {
    from_lines(instructions(dockerfile, heredocs))
}

fn from_lines(instructions: Vec<Instruction>) -> Vec<From> {
    instructions
        .into_iter()
        .filter(|i| i.keyword == "FROM")
        .filter_map(|i| {
            let mut words = i
                .args
                .split_whitespace()
                .skip_while(|w| w.starts_with("--"));
            let image = words.next()?.to_string();
            let stage = match (words.next(), words.next()) {
                (Some(kw), Some(name)) if kw.eq_ignore_ascii_case("AS") => Some(name.to_string()),
                _ => None,
            };
            Some(From {
                image,
                stage,
                line: i.line,
            })
        })
        .collect()
}

/// The first `FROM` of a test's Dockerfile under any reading an engine
/// could make of it, or `None` when none would see one. A test is built on
/// the image it tests, so it must have none. The readings: with and without
/// heredocs, and with its escape directive honoured or lost (as it would be
/// behind a `FROM` put in front of it; [`layer_on`] keeps it, but a file no
/// reading can turn into a second base is the one that is safe to build).
pub fn first_from_any_reading(dockerfile: &str) -> Option<From> {
    let all = lines(dockerfile);
    let (_, escape) = directives(&all);
    let mut found: Option<From> = None;
    for escape in [escape, '\\'] {
        for heredocs in [Heredocs::Bodies, Heredocs::Lines] {
            let first = from_lines(read_instructions(&all, escape, heredocs))
                .into_iter()
                .next();
            if let Some(f) = first {
                if found.as_ref().is_none_or(|g| f.line < g.line) {
                    found = Some(f);
                }
            }
        }
    }
    found
}

/// The images a Dockerfile builds from, in order and without repeats: every
/// `FROM` that does not name an earlier stage or `scratch`.
pub fn base_images(dockerfile: &str) -> Vec<String> {
    let mut stages: Vec<String> = Vec::new();
    let mut images: Vec<String> = Vec::new();
    for from in from_instructions(dockerfile) {
        let is_stage = stages.iter().any(|s| s.eq_ignore_ascii_case(&from.image));
        if !is_stage && from.image != "scratch" && !images.contains(&from.image) {
            images.push(from.image);
        }
        if let Some(stage) = from.stage {
            stages.push(stage);
        }
    }
    images
}

/// [`base_images`] with `$NAME` and `${NAME}` in each `FROM` replaced as
/// the engine replaces them: by the `ARG`s declared before the first `FROM`,
/// each the build argument of that name when `args` has it, else its
/// default (an undeclared or valueless one becomes empty). So
/// `ARG TARGETARCH` + `FROM debian:bookworm-${TARGETARCH}` names
/// `debian:bookworm-arm64` for the arm64 build.
pub fn base_images_with(
    dockerfile: &str,
    args: &std::collections::BTreeMap<String, String>,
) -> Vec<String> {
    let globals = global_args(dockerfile, args);
    let mut out: Vec<String> = Vec::new();
    for (_, image) in bases_as_written(dockerfile, &globals) {
        if !out.contains(&image) {
            out.push(image);
        }
    }
    out
}

/// Each image of [`base_images_with`] with the text its `FROM` line holds
/// (before `$NAME` is replaced): `(as written, as the engine reads it)`.
/// Renaming a base ([`rename_bases`]) goes by the text as written.
pub fn base_images_written(
    dockerfile: &str,
    args: &std::collections::BTreeMap<String, String>,
) -> Vec<(String, String)> {
    bases_as_written(dockerfile, &global_args(dockerfile, args))
}

/// The `ARG`s declared before the first `FROM`, valued as the engine values them.
fn global_args(
    dockerfile: &str,
    args: &std::collections::BTreeMap<String, String>,
) -> std::collections::BTreeMap<String, String> {
    let mut globals = std::collections::BTreeMap::new();

    for i in instructions(dockerfile, Heredocs::Bodies) {
        if i.keyword == "FROM" {
            break;
        }
        if i.keyword != "ARG" {
            continue;
        }
        for decl in i.args.split_whitespace() {
            let (name, default) = match decl.split_once('=') {
                Some((n, d)) => (n, Some(d.trim_matches(|c| c == '"' || c == '\''))),
                None => (decl, None),
            };
            let value = args
                .get(name)
                .map(String::as_str)
                .or(default)
                .unwrap_or_default();
            globals.insert(name.to_string(), value.to_string());
        }
    }
    globals
}

fn bases_as_written(
    dockerfile: &str,
    globals: &std::collections::BTreeMap<String, String>,
) -> Vec<(String, String)> {
    base_images(dockerfile)
        .into_iter()
        .map(|image| {
            let read = substitute(&image, globals);
            (image, read)
        })
        .collect()
}

/// `$NAME` and `${NAME}` in `text` replaced from `vars` (empty if absent).
fn substitute(text: &str, vars: &std::collections::BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, tail) = if let Some(inner) = after.strip_prefix('{') {
            match inner.find('}') {
                Some(end) => (&inner[..end], &inner[end + 1..]),
                None => {
                    out.push_str(&rest[at..]);
                    return out;
                }
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        if name.is_empty() {
            out.push('$');
        } else {
            out.push_str(vars.get(name).map(String::as_str).unwrap_or_default());
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// The image the final stage descends from, following stage references
/// (`FROM base AS build` … `FROM build`): the image the result is built on.
pub fn final_base(dockerfile: &str) -> Option<String> {
    let froms = from_instructions(dockerfile);
    let mut current = froms.len().checked_sub(1)?;
    // Each step moves to an earlier instruction, so this ends.
    loop {
        let image = &froms[current].image;
        let earlier = froms[..current].iter().rposition(|f| {
            f.stage
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case(image))
        });
        match earlier {
            Some(i) => current = i,
            None if image == "scratch" => return None,
            None => return Some(image.clone()),
        }
    }
}

/// The Dockerfile a test is built from: the test's parser directives, then
/// `FROM <base>`, then the rest of the test. Keeping the directives first
/// keeps them directives, so the engine reads the test with the escape
/// character it was checked with.
pub fn layer_on(base: &str, test: &str) -> String {
    let all = lines(test);
    let (count, _) = directives(&all);
    let mut out = String::with_capacity(test.len() + base.len() + 8);
    for line in &all[..count] {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("FROM ");
    out.push_str(base);
    out.push('\n');
    for line in &all[count..] {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// A `FROM` whose image is not on its first line, which
/// [`rename_bases`] cannot rewrite.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: the image of this FROM is not on its first line; write `FROM {image}` on one line")]
pub struct SplitFrom {
    /// The `FROM` instruction's first line (1-based).
    pub line: usize,
    pub image: String,
}

/// The Dockerfile with the images some `FROM` lines name replaced, as
/// `rename` maps them (a stage of the same name is not an image and is left
/// alone). Used to build an image for one platform on that platform's build
/// of its parent. A `FROM` whose image is not on its first line (split by a
/// continuation) cannot be rewritten and is an error naming the line.
pub fn rename_bases(
    dockerfile: &str,
    rename: &std::collections::BTreeMap<String, String>,
) -> Result<String, SplitFrom> {
    if rename.is_empty() {
        return Ok(dockerfile.to_string());
    }
    let mut stages: Vec<String> = Vec::new();
    let mut lines: Vec<String> = dockerfile.split('\n').map(str::to_string).collect();
    for from in from_instructions(dockerfile) {
        let is_stage = stages.iter().any(|s| s.eq_ignore_ascii_case(&from.image));
        if let Some(stage) = &from.stage {
            stages.push(stage.clone());
        }
        let Some(new) = rename.get(&from.image).filter(|_| !is_stage) else {
            continue;
        };
        let line = &mut lines[from.line - 1];
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words
            .iter()
            .skip(1)
            .position(|w| !w.starts_with("--"))
            .map(|i| i + 1)
            .filter(|&i| words[i] == from.image);
        let Some(at) = at else {
            return Err(SplitFrom {
                line: from.line,
                image: from.image.clone(),
            });
        };
        let mut rebuilt: Vec<&str> = words.clone();
        rebuilt[at] = new;
        *line = rebuilt.join(" ");
    }
    Ok(lines.join("\n"))
}

/// The byte span of 1-based line `line` of `text` (without its newline).
pub fn line_span(text: &str, line: usize) -> miette::SourceSpan {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let len = text[start..].find('\n').unwrap_or(text.len() - start);
    (start, len).into()
}

#[cfg(test)]
mod tests;
