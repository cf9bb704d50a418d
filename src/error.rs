//! Exit codes and the error kinds the command line maps onto them.
//!
//! Bad input (a config that does not parse or validate) is reported before any
//! build starts, as a [`miette`] diagnostic naming the file, line and column.

/// Everything passed.
pub const EXIT_OK: i32 = 0;
/// An image or test failed, or a push was refused.
pub const EXIT_FAILED: i32 = 1;
/// Bad input or usage: nothing was built.
pub const EXIT_INPUT: i32 = 2;
/// The environment is not usable (engine or registry unreachable).
pub const EXIT_ENVIRONMENT: i32 = 3;
/// The state file is damaged or unsupported, or another run holds its lock
/// past the wait.
pub const EXIT_STATE: i32 = 4;
/// Results could not be written: a state or report write failed.
pub const EXIT_RESULTS: i32 = 5;
/// The run was interrupted (Ctrl-C); 128 + SIGINT, as shells report it.
pub const EXIT_INTERRUPTED: i32 = 130;
/// The run was stopped by SIGTERM (as CI systems stop jobs); 128 + 15.
pub const EXIT_TERMINATED: i32 = 143;

/// Every exit code with what it means, for the manual page and help texts.
pub const EXIT_CODES: [(i32, &str); 8] = [
    (EXIT_OK, "everything passed"),
    (EXIT_FAILED, "an image, test or push failed, or a push was refused"),
    (EXIT_INPUT, "bad input or usage: nothing was built"),
    (
        EXIT_ENVIRONMENT,
        "the engine or a registry could not be reached, timed out, or refused the credentials \
         (also mid-run, when every step that failed failed for that reason)",
    ),
    (
        EXIT_STATE,
        "the state file is damaged or of an unknown version, or another run holds its lock past the wait",
    ),
    (
        EXIT_RESULTS,
        "results could not be written: a state, log or report write failed",
    ),
    (EXIT_INTERRUPTED, "interrupted by SIGINT (Ctrl-C)"),
    (EXIT_TERMINATED, "stopped by SIGTERM"),
];

/// Why a command could not do its work, or could not keep its results. Each
/// kind owns its exit code, so the command line maps nothing by hand. Every
/// kind keeps the error that caused it as its source.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// What the user gave strata is wrong: nothing was built or changed.
    #[error(transparent)]
    Input(Box<InputError>),
    /// The engine or a registry cannot be reached, timed out, or refused us.
    #[error(transparent)]
    Environment(Failure),
    /// The state file is damaged, unsupported or locked.
    #[error(transparent)]
    State(Failure),
    /// A result (the state file, a report, a generated file) could not be written.
    #[error(transparent)]
    Results(Failure),
}

impl RunError {
    /// The process exit code for this error (see the guide's table, `docs/src/running/exit-codes.md`).
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Input(_) => EXIT_INPUT,
            RunError::Environment(_) => EXIT_ENVIRONMENT,
            RunError::State(_) => EXIT_STATE,
            RunError::Results(_) => EXIT_RESULTS,
        }
    }

    /// What to print: a diagnostic for input errors, one line otherwise.
    pub fn render(&self) -> String {
        match self {
            RunError::Input(e) => render(e),
            RunError::Environment(f) | RunError::State(f) | RunError::Results(f) => {
                format!("strata: {f}\n")
            }
        }
    }

    /// The engine or a registry failed with `cause`, which says it all.
    pub fn environment(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        RunError::Environment(Failure::of(cause))
    }

    /// The state file could not be used, as `cause` says.
    pub fn state(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        RunError::State(Failure::of(cause))
    }

    /// A result could not be written, as `cause` says.
    pub fn results(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        RunError::Results(Failure::of(cause))
    }
}

impl From<InputError> for RunError {
    fn from(e: InputError) -> Self {
        if e.environment {
            // Found while reading the input (a feed URL), but the network,
            // not what the user wrote, is at fault.
            // Its message already names the file and line.
            let line = match &e.help {
                Some(help) => format!("{}; {help}", e.message),
                None => e.message.clone(),
            };
            return RunError::Environment(Failure::said(line).because(e));
        }
        RunError::Input(Box::new(e))
    }
}

/// An error that stopped strata, boxed: what a [`Failure`] keeps.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// One line saying what failed, with the error that caused it kept as its
/// [`source`](std::error::Error::source), so nothing below is lost to a
/// string. It reads `DOING: CAUSE`, `CAUSE` or `MESSAGE` (see the
/// constructors).
#[derive(Debug)]
pub struct Failure {
    /// What strata was doing, or the whole message.
    doing: String,
    cause: Option<Cause>,
    /// Whether the cause's own words follow `doing` (`false` when the
    /// message already says them in its own way).
    shown: bool,
}

impl Failure {
    /// A failure `cause` describes by itself.
    pub fn of(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Failure {
            doing: String::new(),
            cause: Some(Box::new(cause)),
            shown: true,
        }
    }

    /// `DOING: CAUSE`: what strata was doing when `cause` stopped it.
    pub fn caused(
        doing: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Failure {
            doing: doing.into(),
            cause: Some(Box::new(cause)),
            shown: true,
        }
    }

    /// A failure said in `message` alone, with no error below it (or one
    /// added with [`Failure::because`] that the message already words).
    pub fn said(message: impl Into<String>) -> Self {
        Failure {
            doing: message.into(),
            cause: None,
            shown: false,
        }
    }

    /// Keeps `cause` as the source of a message that already says it.
    pub fn because(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.cause = Some(Box::new(cause));
        self
    }

    /// The error below this one, if it was kept.
    pub fn cause(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.cause.as_deref()
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::said(message)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.cause, self.shown) {
            (Some(cause), true) if self.doing.is_empty() => write!(f, "{cause}"),
            (Some(cause), true) => write!(f, "{}: {cause}", self.doing),
            _ => f.write_str(&self.doing),
        }
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.cause {
            Some(cause) => Some(cause.as_ref()),
            None => None,
        }
    }
}

/// How many problems one error reports before summing up the rest.
pub const MAX_REPORTED: usize = 20;

/// A problem with what the user gave strata: a config file, a path, a flag.
///
/// Carries a rendered diagnostic; the CLI prints it and exits with [`EXIT_INPUT`].
/// The details live behind a box (and are reached through `Deref`, so
/// `err.message` works) to keep `Result<_, InputError>` small.
#[derive(Debug)]
pub struct InputError(Box<Details>);

/// What an [`InputError`] says and where.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{message}")]
pub struct Details {
    pub message: String,
    #[source_code]
    /// The file's text, shared (not copied) by every error pointing into it.
    pub src: Option<miette::NamedSource<std::sync::Arc<str>>>,
    #[label(primary, "{label}")]
    pub span: Option<miette::SourceSpan>,
    pub label: String,
    #[help]
    pub help: Option<String>,
    /// More places in the same source the problem involves (the first of two
    /// duplicate names, say).
    #[label(collection)]
    pub also: Vec<miette::LabeledSpan>,
    /// Further problems found in the same pass, so a user fixes them all at once.
    #[related]
    pub related: Vec<InputError>,
    /// Set by [`InputError::unreachable`]: the input names something on the
    /// network that could not be reached, an environment problem (exit 3).
    pub environment: bool,
}

impl std::ops::Deref for InputError {
    type Target = Details;
    fn deref(&self) -> &Details {
        &self.0
    }
}

impl std::ops::DerefMut for InputError {
    fn deref_mut(&mut self) -> &mut Details {
        &mut self.0
    }
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for InputError {}

impl miette::Diagnostic for InputError {
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.0.help()
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.0.source_code()
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        self.0.labels()
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        self.0.related()
    }
}

impl InputError {
    /// An error with no source location (a missing file, a bad flag).
    pub fn plain(message: impl Into<String>) -> Self {
        InputError(Box::new(Details {
            message: message.into(),
            src: None,
            span: None,
            label: String::new(),
            help: None,
            also: Vec::new(),
            related: Vec::new(),
            environment: false,
        }))
    }

    /// Marks the problem as the network's (a feed URL that refused the
    /// connection or answered 5xx): the command exits 3, not 2.
    pub fn unreachable(mut self) -> Self {
        self.environment = true;
        self
    }

    /// Adds a second labelled place in the same source as [`InputError::at`]
    /// (call `at` first). The label ends with the place's `(LINE:COL)`:
    /// the rendered header only gives the primary place's.
    pub fn also_at(
        mut self,
        span: impl Into<miette::SourceSpan>,
        label: impl Into<String>,
    ) -> Self {
        use miette::SourceCode;
        let span = span.into();
        let mut label = label.into();
        if let Some(contents) = self
            .src
            .as_ref()
            .and_then(|s| s.read_span(&span, 0, 0).ok())
        {
            label = format!(
                "{label} ({}:{})",
                contents.line() + 1,
                contents.column() + 1
            );
        }
        self.also
            .push(miette::LabeledSpan::new_with_span(Some(label), span));
        self
    }

    /// Folds the problems of one validation pass into one error: the first is
    /// reported as the error, the others as related problems. `Ok` when there
    /// are none.
    ///
    /// At most [`MAX_REPORTED`] problems are kept: an inventory moved to the
    /// wrong folder has a missing path per image, and a thousand copies of
    /// one mistake hide rather than help.
    pub fn collect(problems: Vec<InputError>) -> Result<(), InputError> {
        let total = problems.len();
        let mut problems = problems.into_iter();
        let Some(mut first) = problems.next() else {
            return Ok(());
        };
        first
            .related
            .extend(problems.by_ref().take(MAX_REPORTED - 1));
        if total > MAX_REPORTED {
            first.related.push(InputError::plain(format!(
                "{} more problems like these were not shown ({total} in all)",
                total - MAX_REPORTED
            )));
        }
        Err(first)
    }

    /// Every problem this error carries: itself and its related problems.
    pub fn count(&self) -> usize {
        1 + self.related.iter().map(InputError::count).sum::<usize>()
    }

    /// Adds a hint telling the user what to do.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Points the error at `span` inside the file `name` whose text is
    /// `source`. Pass the file's shared text (an `Arc<str>` clone), so a
    /// thousand errors in one file hold one copy of it.
    pub fn at(
        mut self,
        name: impl AsRef<str>,
        source: impl Into<std::sync::Arc<str>>,
        span: impl Into<miette::SourceSpan>,
        label: impl Into<String>,
    ) -> Self {
        self.src = Some(miette::NamedSource::new(name, source.into()));
        self.span = Some(span.into());
        self.label = label.into();
        self
    }
}

/// Renders `err` as text for stderr: message, `FILE:LINE:COL`, the offending
/// lines with a label, the hint, then any further problems.
///
/// Unicode and colour are used only when stderr is a terminal, so logs and CI
/// output stay plain ASCII. Lines are not wrapped off a terminal, so a long
/// path stays greppable.
pub fn render(err: &InputError) -> String {
    use std::io::IsTerminal;
    let tty = std::io::stderr().is_terminal();
    render_with(err, tty)
}

/// [`render`] with the terminal decision made by the caller (tests use it).
pub fn render_with(err: &InputError, tty: bool) -> String {
    let out = render_handler(err, tty, true);
    // A huge value, wrapped for the terminal, would be many lines: render
    // unwrapped and cut the long lines instead.
    if out.len() > 16 * MAX_LINE || out.lines().any(|l| l.len() > MAX_LINE) {
        return cut_long_lines(&render_handler(err, tty, false), tty);
    }
    out
}

fn render_handler(err: &InputError, tty: bool, wrap: bool) -> String {
    use miette::{GraphicalReportHandler, GraphicalTheme};
    let handler = if tty && wrap {
        GraphicalReportHandler::new_themed(GraphicalTheme::unicode())
    } else if tty {
        GraphicalReportHandler::new_themed(GraphicalTheme::unicode())
            .with_width(usize::MAX / 4)
            .with_wrap_lines(false)
    } else {
        GraphicalReportHandler::new_themed(GraphicalTheme::none())
            .with_width(usize::MAX / 4)
            .with_wrap_lines(false)
    };
    let mut out = String::new();
    if handler.render_report(&mut out, err).is_err() {
        // Rendering into a String only fails on a broken Display impl; fall
        // back to the bare message rather than losing the error.
        out = err.to_string();
    }
    out
}

/// The longest line an error prints, in characters: a megabyte-long bad
/// value is quoted by its start, not in full (in the message or the snippet).
pub const MAX_LINE: usize = 400;

/// `text` with every line longer than [`MAX_LINE`] cut, saying how much
/// was left out; unchanged when no line is that long.
fn cut_long_lines(text: &str, tty: bool) -> String {
    if text.lines().all(|l| l.len() <= MAX_LINE) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len().min(64 * 1024));
    for line in text.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        let cut = crate::text::cut(body, MAX_LINE);
        out.push_str(&cut);
        if tty && cut.len() != body.len() {
            // Close any colour the cut left open.
            out.push_str("\x1b[0m");
        }
        out.push_str(end);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_bad_value_is_not_echoed_in_full() {
        let value = "A".repeat(2_500_000);
        let text = format!("images:\n  - name: \"{value}\"\n");
        let err = InputError::plain(format!("image name `{value}` is not valid")).at(
            "inv.yml",
            text,
            (19, value.len()),
            "here",
        );
        for tty in [false, true] {
            let out = render_with(&err, tty);
            assert!(out.len() < 10_000, "{} bytes", out.len());
            assert!(out.contains("more bytes"), "{out}");
            assert!(out.contains("inv.yml"), "{out}");
        }
    }

    fn sample() -> InputError {
        let text = "images:\n  - name: a\n  - name: a\n".to_string();
        InputError::plain("image name `a` is used twice")
            .at("inv.yml", text, (30, 1), "second use")
            .also_at((18, 1), "first use")
            .with_help("rename one of them")
    }

    #[test]
    fn render_names_file_line_and_column() {
        for tty in [false, true] {
            let out = render_with(&sample(), tty);
            assert!(out.contains("inv.yml:3:11"), "{out}");
            assert!(out.contains("image name `a` is used twice"), "{out}");
            assert!(
                out.contains("first use (2:11)") && out.contains("second use"),
                "{out}"
            );
            assert!(out.contains("rename one of them"), "{out}");
        }
        assert!(render_with(&sample(), false).is_ascii());
    }

    #[test]
    fn a_failure_reads_as_before_and_keeps_its_cause() {
        use std::error::Error as _;
        let io = || std::io::Error::other("disk full");
        let err = RunError::Results(Failure::caused("cannot write out.md", io()));
        assert_eq!(err.render(), "strata: cannot write out.md: disk full\n");
        assert_eq!(err.exit_code(), EXIT_RESULTS);
        assert!(err.source().unwrap().is::<std::io::Error>());

        let err = RunError::environment(io());
        assert_eq!(err.render(), "strata: disk full\n");
        assert_eq!(err.exit_code(), EXIT_ENVIRONMENT);
        assert!(err.source().unwrap().is::<std::io::Error>());

        let err = RunError::State(Failure::said("locked (disk full); wait").because(io()));
        assert_eq!(err.render(), "strata: locked (disk full); wait\n");
        assert_eq!(err.exit_code(), EXIT_STATE);
        assert!(err.source().unwrap().is::<std::io::Error>());

        let err = RunError::Environment(Failure::said("no answer"));
        assert_eq!(err.render(), "strata: no answer\n");
        assert!(err.source().is_none());
    }

    #[test]
    fn an_unreachable_input_exits_3_and_keeps_the_input_error() {
        use std::error::Error as _;
        let err = RunError::from(
            InputError::plain("feed.yml: cannot reach the feed")
                .with_help("try again")
                .unreachable(),
        );
        assert_eq!(err.exit_code(), EXIT_ENVIRONMENT);
        assert_eq!(
            err.render(),
            "strata: feed.yml: cannot reach the feed; try again\n"
        );
        assert!(err.source().unwrap().is::<InputError>());
    }

    #[test]
    fn results_stay_small() {
        assert!(std::mem::size_of::<InputError>() <= std::mem::size_of::<usize>());
    }

    #[test]
    fn collect_keeps_every_problem() {
        assert!(InputError::collect(vec![]).is_ok());
        let err = InputError::collect(vec![
            sample(),
            InputError::plain("second problem"),
            InputError::plain("third problem"),
        ])
        .unwrap_err();
        assert_eq!(err.count(), 3);
        let out = render_with(&err, false);
        assert!(
            out.contains("second problem") && out.contains("third problem"),
            "{out}"
        );
    }

    #[test]
    fn collect_caps_the_report() {
        let many = (0..MAX_REPORTED + 5)
            .map(|i| InputError::plain(format!("problem {i}")))
            .collect();
        let err = InputError::collect(many).unwrap_err();
        assert_eq!(err.count(), MAX_REPORTED + 1);
        let last = &err.related.last().unwrap().message;
        assert!(last.contains("5 more problems"), "{last}");
        assert!(
            last.contains(&format!("{} in all", MAX_REPORTED + 5)),
            "{last}"
        );
    }
}
