//! What a run tells a CI system beyond its reports: on GitHub Actions,
//! failures as annotations on the files and lines that failed
//! (`GITHUB_ACTIONS=true`), and the Markdown summary appended to the job's
//! summary page (`GITHUB_STEP_SUMMARY`). JUnit in the run folder serves
//! every other CI system.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::events::record::{ImageRecord, RunRecord, StepRecord};
use crate::events::Step;
use crate::plan::{ImagePlan, Plan};
use crate::report::github::{self, Place, TestFile};

use super::outcome::Outcome;
use super::output::print_stdout;

/// The GitHub outputs the environment asks for. A summary that cannot be
/// appended is a result not written.
pub fn github(record: &RunRecord, plan: &Plan, outcome: &mut Outcome) {
    if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
        let locator = Locator::new(plan);
        let text = github::annotations(record, &|img, step| locator.place(img, step));
        print_stdout(&crate::secret::redact(&text));
    }
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        let summary = format!(
            "{}{}",
            nothing_moved(record),
            crate::report::markdown::summary(record)
        );
        let summary = github::step_summary(&summary);
        if let Err(e) = append(Path::new(&path), &crate::secret::redact(&summary)) {
            outcome.unwritten.push(format!(
                "could not append the summary to GITHUB_STEP_SUMMARY ({}): {e}",
                Path::new(&path).display()
            ));
        }
    }
}

/// The line a `test` run in which no image was rebuilt (each one's inputs,
/// its external bases' digests included, those of its last pass) opens the
/// job summary with; empty for any other run.
pub fn nothing_moved(record: &RunRecord) -> &'static str {
    let all_up_to_date =
        !record.images.is_empty() && record.images.iter().all(|i| i.up_to_date.is_some());
    match record.command == Some(crate::events::Command::Test) && all_up_to_date {
        true => "**Nothing moved**: no base image and no input of any image changed since its last pass, so nothing was built or tested.\n\n",
        false => "",
    }
}

fn append(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")
}

/// Finds the file and line a failed step points at, from the plan the
/// executor ran (images built for several platforms as their units).
struct Locator {
    images: BTreeMap<String, ImagePlan>,
    config: PathBuf,
    /// Paths are given relative to this folder: the repository.
    root: Option<PathBuf>,
}

impl Locator {
    fn new(plan: &Plan) -> Locator {
        let (executed, _) =
            crate::plan::platforms::expand(plan, &crate::reference::Platform::host());
        let root = std::env::var_os("GITHUB_WORKSPACE")
            .map(PathBuf::from)
            .or_else(|| std::env::current_dir().ok())
            .and_then(|p| p.canonicalize().ok());
        Locator {
            images: executed
                .images
                .into_iter()
                .map(|i| (i.name.to_string(), i))
                .collect(),
            config: plan.source.clone(),
            root,
        }
    }

    fn place(&self, img: &ImageRecord, step: &StepRecord) -> Option<Place> {
        let at = |path: &Path, line: Option<usize>| {
            Some(Place {
                file: self.relative(path),
                line,
            })
        };
        let Some(image) = self.images.get(&img.name) else {
            return at(&self.config, None);
        };
        match &step.step {
            Step::Build => {
                let file = image.context.join(&image.dockerfile);
                let line =
                    read_quietly(&file).and_then(|text| github::failing_line(&step.log, &text, 0));
                at(&file, line)
            }
            Step::Test { path, .. } => {
                let dockerfile = path.join(crate::config::files::DOCKERFILE);
                let run_file = path.join(crate::config::run_file::RUN_FILE);
                let (docker_text, run_text) = (read_quietly(&dockerfile), read_quietly(&run_file));
                match github::test_failure(&step.log, docker_text.as_deref(), run_text.as_deref()) {
                    Some((TestFile::Dockerfile, line)) => at(&dockerfile, line),
                    Some((TestFile::RunFile, line)) => at(&run_file, line),
                    None => at(path, None),
                }
            }
            Step::Push | Step::Alias { .. } => at(&self.config, None),
        }
    }

    /// `path` relative to the repository, `/`-separated, when it is inside.
    fn relative(&self, path: &Path) -> String {
        let full = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let rel = self
            .root
            .as_ref()
            .and_then(|root| full.strip_prefix(root).ok())
            .unwrap_or(path);
        rel.to_string_lossy().replace('\\', "/")
    }
}

/// A file named in an annotation, read through the capped reader (a regular
/// file of at most 4 MiB): a FIFO or device put there since the run cannot
/// hang the report; a file that cannot be read gives no line number.
fn read_quietly(path: &Path) -> Option<String> {
    crate::config::read::read_text(path, None, "file").ok()
}
