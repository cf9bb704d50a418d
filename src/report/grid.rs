//! The matrix at a glance: the run's images laid out as a grid, rows = the
//! runtime versions (newest first), columns = the OS values in the order the
//! config lists them, one column per platform under an OS value whose images
//! have several. The HTML and Markdown reports draw it from this one view.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::events::record::RunRecord;
use crate::events::{Command, Outcome};

use super::view::{self, Status};

/// Longest failure or skip message a cell shows; the image's section has it all.
const DETAIL_CHARS: usize = 120;

/// The grid of a run; `None` from [`Grid::of`] outside a native matrix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grid {
    /// Every column, left to right.
    pub columns: Vec<Column>,
    /// The OS values over the columns, with how many columns each spans.
    pub heads: Vec<Head>,
    /// True when some column is one platform's (the header has two rows).
    pub platforms: bool,
    pub rows: Vec<Row>,
    /// What a passing cell says in this run: `passed`, or `pushed`.
    pub passed_word: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    /// The OS value (and other axis values).
    pub name: String,
    pub platform: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Head {
    pub name: String,
    pub span: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The runtime version.
    pub version: String,
    /// One per column; `None` where the matrix has no image (excluded).
    pub cells: Vec<Option<Cell>>,
}

/// How a cell ended, as its colour says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CellState {
    /// Built and tested (or pushed) in this run, and passed.
    Passed,
    /// Passed before with the same inputs: not built again.
    UpToDate,
    Failed,
    /// Not attempted (a parent failed, a refusal upstream…).
    Skipped,
    /// The run ended before it reached this image.
    NotRun,
}

impl CellState {
    /// What the cell says, in words (colour is never the only signal).
    pub fn word(self, command: Option<Command>) -> &'static str {
        match (self, command) {
            (CellState::Passed, Some(Command::Push)) => "pushed",
            (CellState::Passed, _) => "passed",
            (CellState::UpToDate, _) => "up to date",
            (CellState::Failed, _) => "failed",
            (CellState::Skipped, _) => "skipped",
            (CellState::NotRun, _) => "not run",
        }
    }

    /// A symbol plus the word, for Markdown.
    pub fn badge(self, command: Option<Command>) -> String {
        let symbol = match self {
            CellState::Passed => "✅",
            CellState::UpToDate => "💤",
            CellState::Failed => "❌",
            CellState::Skipped => "⏭️",
            CellState::NotRun => "⏹️",
        };
        format!("{symbol} {}", self.word(command))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    pub state: CellState,
    /// `state` in words.
    pub word: String,
    /// The name the run reports this cell's steps under (its section).
    pub unit: String,
    /// The position of that image in the run record (its section), when
    /// the run reached it.
    pub index: Option<usize>,
    /// Every tag the image carries after this run: its own, then the
    /// aliases pointed at it, short (`bookworm:22`).
    pub tags: Vec<String>,
    /// The failing step and why (`test 1 (tests/node): …`), why it was
    /// skipped, or when an up-to-date image passed.
    pub detail: Option<String>,
}

impl Grid {
    pub fn of(record: &RunRecord) -> Option<Grid> {
        if record.matrix.is_empty() {
            return None;
        }
        // Columns in the order the plan first names them (the config's OS
        // order), each OS value's platforms in their order.
        let mut names: Vec<&str> = Vec::new();
        let mut platforms: BTreeMap<&str, Vec<Option<&str>>> = BTreeMap::new();
        for c in &record.matrix {
            if !names.contains(&c.column.as_str()) {
                names.push(&c.column);
            }
            let list = platforms.entry(&c.column).or_default();
            if !list.contains(&c.platform.as_deref()) {
                list.push(c.platform.as_deref());
            }
        }
        let mut columns = Vec::new();
        let mut heads = Vec::new();
        for name in &names {
            let list = &platforms[name];
            heads.push(Head {
                name: name.to_string(),
                span: list.len(),
            });
            columns.extend(list.iter().map(|p| Column {
                name: name.to_string(),
                platform: p.map(str::to_string),
            }));
        }
        let mut versions: Vec<&str> = Vec::new();
        for c in &record.matrix {
            if !versions.contains(&c.row.as_str()) {
                versions.push(&c.row);
            }
        }
        versions.sort_by(|a, b| newest_first(a, b));
        let rows = versions
            .into_iter()
            .map(|version| Row {
                version: version.to_string(),
                cells: columns
                    .iter()
                    .map(|col| {
                        record
                            .matrix
                            .iter()
                            .find(|c| {
                                c.row == version
                                    && c.column == col.name
                                    && c.platform == col.platform
                            })
                            .map(|c| cell(record, &c.image, &c.unit))
                    })
                    .collect(),
            })
            .collect();
        Some(Grid {
            passed_word: CellState::Passed.word(record.command).to_string(),
            platforms: columns.iter().any(|c| c.platform.is_some()),
            columns,
            heads,
            rows,
        })
    }
}

/// Newest version first; versions that are not semver after them, by text.
fn newest_first(a: &str, b: &str) -> std::cmp::Ordering {
    let parse = |v: &str| semver::Version::parse(v.trim_start_matches('v')).ok();
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => y.cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

fn cell(record: &RunRecord, image: &str, unit: &str) -> Cell {
    let index = record.images.iter().position(|i| i.name == unit);
    let img = index.map(|i| &record.images[i]);
    let state = match img {
        None => CellState::NotRun,
        Some(img) => match view::image_status(img) {
            Status::Passed if img.up_to_date.is_some() => CellState::UpToDate,
            Status::Passed => CellState::Passed,
            Status::Failed => CellState::Failed,
            Status::Skipped | Status::Interrupted
                if img.steps.is_empty() && img.skipped.is_none() =>
            {
                CellState::NotRun
            }
            Status::Skipped | Status::Interrupted => CellState::Skipped,
        },
    };
    // An index of several platforms fails as a whole: its push is reported
    // under the image's name.
    let index_failure = record
        .images
        .iter()
        .find(|i| i.name == image && i.name != unit)
        .and_then(view::first_failure);
    let detail = match (state, img) {
        (CellState::Failed, Some(img)) => view::first_failure(img).map(failure_text),
        (CellState::Skipped, Some(img)) => img
            .skipped
            .clone()
            .or_else(|| {
                img.steps.iter().find_map(|s| match &s.outcome {
                    Outcome::Skipped { reason } => Some(reason.clone()),
                    _ => None,
                })
            })
            .map(|r| short(&r)),
        (CellState::UpToDate, Some(img)) => img
            .up_to_date
            .map(|at| format!("passed {}; not rebuilt", at.format("%Y-%m-%d %H:%M UTC"))),
        (CellState::Passed, Some(img)) if !img.reasons.is_empty() && index_failure.is_none() => {
            let mut labels: Vec<&str> = img.reasons.iter().map(|r| r.kind.label()).collect();
            labels.dedup();
            Some(short(&format!("rebuilt: {}", labels.join(", "))))
        }
        _ => index_failure.map(failure_text),
    };
    let state = if state == CellState::Passed && index_failure.is_some() {
        CellState::Failed
    } else {
        state
    };
    let mut tags = vec![view::short_alias(image, image).to_string()];
    tags.extend(
        view::aliases_of(record, image)
            .into_iter()
            .map(|a| view::short_alias(image, &a.tag).to_string()),
    );
    Cell {
        word: state.word(record.command).to_string(),
        state,
        unit: unit.to_string(),
        index,
        tags,
        detail,
    }
}

fn failure_text(step: &crate::events::record::StepRecord) -> String {
    let why = view::outcome_reason(&step.outcome).unwrap_or_default();
    format!("{}: {}", view::step_label(&step.step), short(why))
}

fn short(text: &str) -> String {
    crate::text::cut(&view::one_line(text), DETAIL_CHARS).into_owned()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::events::record::Recorder;
    use crate::events::{Event, Listener, MatrixCell, Step};

    fn at(row: &str, column: &str, platform: Option<&str>, image: &str) -> MatrixCell {
        MatrixCell {
            row: row.into(),
            column: column.into(),
            platform: platform.map(str::to_string),
            image: image.into(),
            unit: match platform {
                Some(p) => format!("{image}-{}", p.replace('/', "-")),
                None => image.into(),
            },
        }
    }

    fn finished(image: &str, step: Step, outcome: Outcome) -> Event {
        Event::StepFinished {
            image: image.into(),
            step,
            attempt: 1,
            outcome,
            log: String::new(),
            duration: Duration::ZERO,
            image_id: None,
            digest: None,
        }
    }

    #[test]
    fn rows_are_versions_newest_first_and_columns_os_values_then_platforms() {
        let mut r = Recorder::default();
        r.on_event(&Event::Matrix {
            cells: vec![
                at("20.18.0", "bookworm", None, "r/bookworm:20.18.0"),
                at("22.11.0", "bookworm", None, "r/bookworm:22.11.0"),
                at("9.0.0", "bookworm", None, "r/bookworm:9.0.0"),
                at("22.11.0", "alpine", Some("linux/amd64"), "r/alpine:22.11.0"),
                at("22.11.0", "alpine", Some("linux/arm64"), "r/alpine:22.11.0"),
            ],
        });
        r.on_event(&finished(
            "r/bookworm:22.11.0",
            Step::Build,
            Outcome::Passed,
        ));
        r.on_event(&Event::UpToDate {
            image: "r/bookworm:20.18.0".into(),
            since: chrono::DateTime::from_timestamp(1_732_000_000, 0).unwrap(),
        });
        r.on_event(&finished(
            "r/bookworm:20.18.0",
            Step::Build,
            Outcome::Passed,
        ));
        r.on_event(&finished(
            "r/alpine:22.11.0-linux-arm64",
            Step::Test {
                index: 1,
                path: "tests/node".into(),
            },
            Outcome::Failed {
                message: "RUN node -v returned 1\nmore".into(),
            },
        ));
        r.on_event(&Event::ImageSkipped {
            image: "r/alpine:22.11.0-linux-amd64".into(),
            reason: "parent failed".into(),
        });
        r.on_event(&Event::AliasApplied {
            tag: "r/bookworm:latest".into(),
            image: "r/bookworm:22.11.0".into(),
            image_id: None,
            digest: None,
        });
        let grid = Grid::of(&r.record).unwrap();
        let versions: Vec<_> = grid.rows.iter().map(|r| r.version.as_str()).collect();
        assert_eq!(versions, ["22.11.0", "20.18.0", "9.0.0"]);
        let columns: Vec<_> = grid
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.platform.as_deref()))
            .collect();
        assert_eq!(
            columns,
            [
                ("bookworm", None),
                ("alpine", Some("linux/amd64")),
                ("alpine", Some("linux/arm64"))
            ]
        );
        assert_eq!(grid.heads[1].span, 2);
        assert!(grid.platforms);

        let row = |i: usize| &grid.rows[i].cells;
        let top = row(0)[0].as_ref().unwrap();
        assert_eq!(top.state, CellState::Passed);
        assert_eq!(top.tags, ["bookworm:22.11.0", "bookworm:latest"]);
        assert_eq!(top.index, Some(0));
        assert_eq!(row(1)[0].as_ref().unwrap().state, CellState::UpToDate);
        assert_eq!(
            row(1)[0].as_ref().unwrap().detail.as_deref(),
            Some("passed 2024-11-19 07:06 UTC; not rebuilt")
        );
        assert_eq!(
            row(0)[1].as_ref().unwrap().detail.as_deref(),
            Some("parent failed")
        );
        assert_eq!(
            row(0)[2].as_ref().unwrap().detail.as_deref(),
            Some("test 1 (tests/node): RUN node -v returned 1 …")
        );
        assert_eq!(row(0)[2].as_ref().unwrap().state, CellState::Failed);
        assert_eq!(row(0)[1].as_ref().unwrap().state, CellState::Skipped);
        // The matrix has no alpine image of 20.18.0: an empty cell.
        assert!(row(1)[1].is_none());
        // 9.0.0 was planned but the run never reached it.
        assert_eq!(row(2)[0].as_ref().unwrap().state, CellState::NotRun);
    }

    #[test]
    fn no_matrix_no_grid() {
        assert_eq!(Grid::of(&RunRecord::default()), None);
    }
}
