//! Compiling and rendering the templates of a native config.
//!
//! Every template (an inline name template from the config, a `*.j2` file of a
//! template folder) is compiled once and rendered per matrix cell, with
//! strict undefined: a template naming a field no cell has is a bug in the
//! config, reported at the template's file and line rather than rendered as
//! an empty string into a Dockerfile.
//!
//! A render is bounded: at most [`FUEL`] units of minijinja's fuel (about one
//! per instruction, and one per 64 bytes of data made) and at most
//! [`MAX_RENDERED_BYTES`] of output. Past either, the render stops and the
//! template is named, so a loop that never ends or a template writing a
//! gigabyte is an input error, not a hang.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior};
use serde_saphyr::Spanned;

use crate::config::yaml::{span_of, Source};
use crate::error::InputError;

/// The fuel one render may use: minijinja's budget of instructions (about
/// one each) and of data made (about one per 64 bytes). A real Dockerfile
/// template uses a few thousand.
pub const FUEL: u64 = 1_000_000;

/// The most one rendered file (or name, or condition) may hold, in bytes.
pub const MAX_RENDERED_BYTES: usize = 4 * 1024 * 1024;

/// A render's output, refused past [`MAX_RENDERED_BYTES`].
struct CappedOutput {
    bytes: Vec<u8>,
    over: bool,
}

impl std::io::Write for CappedOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_RENDERED_BYTES {
            self.over = true;
            return Err(std::io::Error::other("rendered output too large"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Where a template's text came from, to point errors at it.
#[derive(Debug, Clone)]
enum Origin {
    /// A `*.j2` file: its path as shown to the user and its text.
    File { display: String, text: String },
    /// A string inside the config file, at this span.
    Inline {
        span: miette::SourceSpan,
        line: u64,
        column: u64,
        what: String,
    },
}

/// All templates of one config, compiled once.
pub struct Templates<'s> {
    env: Environment<'static>,
    origins: BTreeMap<String, Origin>,
    config: &'s Source,
}

impl<'s> Templates<'s> {
    pub fn new(config: &'s Source) -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(FUEL));
        // Dockerfiles and scripts end with a newline; keep it.
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .expect("the default delimiters are valid");
        env.set_syntax(syntax);
        // Values go in as written, whatever the file type: by default a
        // `run.yml.j2` or `*.json.j2` would be JSON-escaped, so
        // `"v{{ version }}"` would render as `"v"22.11.0""`.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        Templates {
            env,
            origins: BTreeMap::new(),
            config,
        }
    }

    /// The config file the templates belong to.
    pub fn source(&self) -> &Source {
        self.config
    }

    /// Adds a template written inline in the config (`image.name`). `what`
    /// names it in messages. Returns the template's key.
    pub fn add_inline(&mut self, what: &str, text: &Spanned<String>) -> Result<String, InputError> {
        let key = format!("{what}@{}", text.referenced.span().offset());
        if self.origins.contains_key(&key) {
            return Ok(key);
        }
        self.origins.insert(
            key.clone(),
            Origin::Inline {
                span: span_of(text),
                line: text.referenced.line(),
                column: text.referenced.column(),
                what: what.to_string(),
            },
        );
        self.env
            .add_template_owned(key.clone(), text.value.clone())
            .map_err(|e| self.error(&key, &e))?;
        Ok(key)
    }

    /// Adds an inline template without a position in the config (a test's
    /// `when`), reported against the config file as a whole.
    pub fn add_unplaced(&mut self, what: &str, text: &str) -> Result<String, InputError> {
        let key = format!("{what}#{}", self.origins.len());
        self.origins.insert(
            key.clone(),
            Origin::Inline {
                span: (0, 0).into(),
                line: 0,
                column: 0,
                what: what.to_string(),
            },
        );
        self.env
            .add_template_owned(key.clone(), text.to_string())
            .map_err(|e| self.error(&key, &e))?;
        Ok(key)
    }

    /// Adds a template file; `display` is its path as the user knows it.
    pub fn add_file(&mut self, display: &str, text: String) -> Result<String, InputError> {
        let key = display.to_string();
        if self.origins.contains_key(&key) {
            return Ok(key);
        }
        self.origins.insert(
            key.clone(),
            Origin::File {
                display: display.to_string(),
                text: text.clone(),
            },
        );
        self.env
            .add_template_owned(key.clone(), text)
            .map_err(|e| self.error(&key, &e))?;
        Ok(key)
    }

    /// Renders the template `key` with `context`.
    pub fn render(&self, key: &str, context: &serde_json::Value) -> Result<String, InputError> {
        let template = self
            .env
            .get_template(key)
            .map_err(|e| self.error(key, &e))?;
        let mut out = CappedOutput {
            bytes: Vec::new(),
            over: false,
        };
        let result = template.render_captured_to(crate::alias::value::from_json(context), &mut out);
        if out.over {
            let err = minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("renders more than {} MiB", MAX_RENDERED_BYTES >> 20),
            );
            return Err(self.error(key, &err).with_help(format!(
                "a rendered file may hold at most {} MiB; check the template's loops",
                MAX_RENDERED_BYTES >> 20
            )));
        }
        result.map_err(|e| self.error(key, &e))?;
        // minijinja writes only whole strings.
        String::from_utf8(out.bytes).map_err(|e| {
            self.error(
                key,
                &minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string()),
            )
        })
    }

    /// Renders `key` and reads the result as a condition (`true` unless empty).
    pub fn holds(&self, key: &str, context: &serde_json::Value) -> Result<bool, InputError> {
        Ok(!self.render(key, context)?.trim().is_empty())
    }

    /// A template error as an [`InputError`] at the template's file and line.
    fn error(&self, key: &str, err: &minijinja::Error) -> InputError {
        let detail = describe(err);
        match self.origins.get(key) {
            Some(Origin::File { display, text }) => {
                let line = err.line().unwrap_or(0);
                let span = err
                    .range()
                    .filter(|r| r.end <= text.len())
                    .map(|r| miette::SourceSpan::from(r.start..r.end))
                    .unwrap_or_else(|| line_span(text, line));
                let snippet = snippet(text, err);
                InputError::plain(format!("{display}:{line}: {detail}{snippet}"))
                    .at(display, text.clone(), span, detail)
                    .with_help(help_for(err))
            }
            Some(Origin::Inline {
                span,
                line,
                column,
                what,
            }) => {
                let name = self.config.name();
                let snippet = err
                    .template_source()
                    .map(|src| snippet(src, err))
                    .unwrap_or_default();
                let mut e = InputError::plain(format!(
                    "{name}:{line}:{column}: {what} template: {detail}{snippet}"
                ))
                .with_help(help_for(err));
                if *line > 0 {
                    e = e.at(name, self.config.text.clone(), *span, detail);
                }
                e
            }
            None => InputError::plain(format!("{}: template {key}: {detail}", self.config.name())),
        }
    }
}

/// The error's kind and detail without minijinja's location suffix.
fn describe(err: &minijinja::Error) -> String {
    match err.detail() {
        Some(detail) => format!("{}: {detail}", err.kind()),
        None => err.kind().to_string(),
    }
}

/// `` (in `os.codenam`)`` when the failing expression is known.
fn snippet(text: &str, err: &minijinja::Error) -> String {
    err.range()
        .and_then(|r| text.get(r))
        .map(|s| format!(" (in `{}`)", s.trim()))
        .unwrap_or_default()
}

fn help_for(err: &minijinja::Error) -> String {
    if err.kind() == minijinja::ErrorKind::UndefinedError {
        use crate::feed::facts::{Scope, FACTS};
        let release: Vec<&str> = FACTS
            .iter()
            .filter(|f| f.scope == Scope::Release)
            .map(|f| f.name)
            .collect();
        format!(
            "templates see the release facts ({}), `os` and every other axis by name \
             (with `name`, `default` and its attrs), `artifacts.<name>` (file names), `base` and \
             `image`; check the spelling (the guide's Facts chapter, docs/src/config/facts.md, lists each)",
            release.join(", ")
        )
    } else if err.kind() == minijinja::ErrorKind::OutOfFuel {
        format!(
            "one render may run about {FUEL} template instructions (or make about {} MiB of data); \
             check the template's loops (a loop inside a loop over `range(…)` multiplies)",
            (FUEL * 64) >> 20
        )
    } else {
        "fix the template's syntax (Jinja)".to_string()
    }
}

/// The byte span of 1-based `line` in `text` (empty span at 0 if out of range).
fn line_span(text: &str, line: usize) -> miette::SourceSpan {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            return (offset, l.trim_end_matches('\n').len()).into();
        }
        offset += l.len();
    }
    (0, 0).into()
}

/// A template folder: `*.j2` files are rendered per image (name minus `.j2`),
/// every other file is copied as is.
#[derive(Debug, Clone)]
pub struct TemplateDir {
    /// The folder as written in the config, for messages.
    pub display: String,
    pub files: Vec<DirFile>,
}

#[derive(Debug, Clone)]
pub struct DirFile {
    /// Path inside the folder of the *output* file (without `.j2`).
    pub rel: PathBuf,
    pub kind: FileKind,
}

#[derive(Debug, Clone)]
pub enum FileKind {
    /// Rendered with the template of this key.
    Render(String),
    /// Copied verbatim.
    Copy(String),
}

impl TemplateDir {
    /// Reads `display` (relative to `base_dir`), sorted by path so output
    /// order is stable, and compiles its templates into `templates`.
    /// `io_error` turns an unreadable folder or file into an error pointing
    /// at the config entry that named the folder.
    pub fn read(
        base_dir: &Path,
        display: &str,
        templates: &mut Templates<'_>,
        io_error: &dyn Fn(String) -> InputError,
    ) -> Result<TemplateDir, InputError> {
        let root = base_dir.join(display);
        let mut paths = Vec::new();
        walk(&root, &root, &mut paths)
            .map_err(|e| io_error(format!("cannot read template folder {display}: {e}")))?;
        paths.sort();
        let mut files = Vec::new();
        for rel in paths {
            let rel_str = rel.to_string_lossy().replace('\\', "/");
            let text =
                crate::config::read::read_text(&root.join(&rel), Some(base_dir), "template file")
                    .map_err(|e| {
                    io_error(format!(
                        "{} ({})",
                        e.message,
                        e.help
                            .as_deref()
                            .unwrap_or("template folders hold text files only")
                    ))
                })?;
            match rel_str.strip_suffix(".j2") {
                Some(out) => {
                    let name = format!("{}/{rel_str}", display.trim_end_matches('/'));
                    let key = templates.add_file(&name, text)?;
                    files.push(DirFile {
                        rel: PathBuf::from(out),
                        kind: FileKind::Render(key),
                    });
                }
                None => files.push(DirFile {
                    rel,
                    kind: FileKind::Copy(text),
                }),
            }
        }
        Ok(TemplateDir {
            display: display.to_string(),
            files,
        })
    }

    /// True if the folder renders a `Dockerfile`.
    pub fn has_dockerfile(&self) -> bool {
        self.files.iter().any(|f| f.rel == Path::new("Dockerfile"))
    }

    /// True if the folder has any template (`*.j2`) at all.
    pub fn is_template(&self) -> bool {
        self.files
            .iter()
            .any(|f| matches!(f.kind, FileKind::Render(_)))
    }

    /// Renders every file for one cell: (path inside the folder, contents).
    pub fn render(
        &self,
        templates: &Templates<'_>,
        context: &serde_json::Value,
    ) -> Result<Vec<(PathBuf, String)>, InputError> {
        self.files
            .iter()
            .map(|f| {
                let content = match &f.kind {
                    FileKind::Render(key) => templates.render(key, context)?,
                    FileKind::Copy(text) => text.clone(),
                };
                Ok((f.rel.clone(), content))
            })
            .collect()
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk(root, &path, out)?;
        } else {
            out.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> Source {
        Source {
            path: PathBuf::from("strata.yml"),
            text: text.into(),
        }
    }

    #[test]
    fn strict_undefined_names_file_and_line() {
        let src = source("");
        let mut t = Templates::new(&src);
        let key = t
            .add_file(
                "tpl/Dockerfile.j2",
                "FROM x\nRUN echo {{ os.codenam }}\n".into(),
            )
            .unwrap();
        let ctx = serde_json::json!({"os": {"name": "bookworm"}});
        let err = t.render(&key, &ctx).unwrap_err();
        assert!(
            err.message.starts_with("tpl/Dockerfile.j2:2:"),
            "{}",
            err.message
        );
        assert!(err.message.contains("os.codenam"), "{}", err.message);
    }

    #[test]
    fn yaml_and_json_templates_are_not_escaped() {
        let src = source("x: 1\n");
        let mut t = Templates::new(&src);
        for name in ["t/run.yml.j2", "t/data.json.j2"] {
            let key = t.add_file(name, "v: \"v{{ v }}\\n\"\n".into()).unwrap();
            let out = t.render(&key, &serde_json::json!({"v": "1.2.3"})).unwrap();
            assert_eq!(out, "v: \"v1.2.3\\n\"\n", "{name}");
        }
    }

    #[test]
    fn keeps_trailing_newline() {
        let src = source("");
        let mut t = Templates::new(&src);
        let key = t.add_file("a.j2", "v={{ v }}\n".into()).unwrap();
        assert_eq!(
            t.render(&key, &serde_json::json!({"v": 1})).unwrap(),
            "v=1\n"
        );
    }

    #[test]
    fn a_render_that_never_ends_is_stopped_and_named() {
        let src = source("");
        let mut t = Templates::new(&src);
        let key = t
            .add_file(
                "tpl/Dockerfile.j2",
                "FROM x\n{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}\n"
                    .into(),
            )
            .unwrap();
        let started = std::time::Instant::now();
        let err = t.render(&key, &serde_json::json!({})).unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_secs(60));
        assert!(
            err.message.starts_with("tpl/Dockerfile.j2:"),
            "{}",
            err.message
        );
        assert!(err.message.contains("fuel"), "{}", err.message);
    }

    #[test]
    fn a_render_larger_than_the_cap_is_refused() {
        let src = source("");
        let mut t = Templates::new(&src);
        let key = t
            .add_file(
                "tpl/Dockerfile.j2",
                "FROM x\n{% for i in range(5000) %}{{ v }}{% endfor %}\n".into(),
            )
            .unwrap();
        let ctx = serde_json::json!({"v": "y".repeat(1024)});
        let err = t.render(&key, &ctx).unwrap_err();
        assert!(
            err.message.starts_with("tpl/Dockerfile.j2:"),
            "{}",
            err.message
        );
        assert!(err.message.contains("more than 4 MiB"), "{}", err.message);
        // Just under the cap is fine.
        let key = t
            .add_file(
                "tpl/ok.j2",
                "{% for i in range(3000) %}{{ v }}{% endfor %}".into(),
            )
            .unwrap();
        assert_eq!(t.render(&key, &ctx).unwrap().len(), 3000 * 1024);
    }

    #[test]
    fn line_span_finds_line() {
        let span = line_span("ab\ncde\n", 2);
        assert_eq!((span.offset(), span.len()), (3, 3));
    }
}
