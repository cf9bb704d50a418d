//! The plan's images laid out as a matrix for the reports: rows are the
//! runtime versions, columns the OS values (with any other axis values),
//! and an image of several platforms gets one cell per platform.

use crate::events::MatrixCell;
use crate::plan::Plan;

/// One cell per image (per platform, when it has several) that a native
/// matrix produced and `run` (the plan as this machine runs it) holds:
/// every image of a release ([`crate::plan::Cell`] with a version). Bases
/// and inventory images get no cell.
pub fn cells(plan: &Plan, run: &Plan) -> Vec<MatrixCell> {
    let mut cells = all_cells(plan);
    cells.retain(|c| run.images.iter().any(|i| i.name == c.unit));
    cells
}

fn all_cells(plan: &Plan) -> Vec<MatrixCell> {
    let mut cells = Vec::new();
    for image in &plan.images {
        let Some((cell, version)) = image.cell.as_ref().and_then(|c| Some((c, c.version()?)))
        else {
            continue;
        };
        // The OS value first, then the other axes' values in name order.
        let column = std::iter::once(cell.os.as_str())
            .chain(cell.axes.values().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" · ");
        let grid_cell = |platform: Option<&crate::reference::Platform>| MatrixCell {
            row: version.to_string(),
            column: column.clone(),
            platform: platform.map(ToString::to_string),
            image: image.name.to_string(),
            unit: match platform {
                Some(p) => crate::plan::platforms::unit_name(&image.name, p).into(),
                None => image.name.to_string(),
            },
        };
        if image.platforms.is_empty() {
            cells.push(grid_cell(None));
        } else {
            cells.extend(image.platforms.iter().map(|p| grid_cell(Some(p))));
        }
    }
    cells
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::plan::{Cell, ImagePlan, Role};

    /// A cell: OS value, version (none for a base), other axes.
    type CellOf<'a> = (&'a str, Option<&'a str>, &'a [(&'a str, &'a str)]);

    /// An image of cell `os` × `version` (a base without a version) with
    /// further `axes`, labelled as a matrix labels it.
    fn image(name: &str, cell: Option<CellOf<'_>>, platforms: &[&str]) -> ImagePlan {
        let cell = cell.map(|(os, version, axes)| Cell {
            os: os.into(),
            role: match version {
                Some(v) => Role::Image { version: v.into() },
                None => Role::Base,
            },
            axes: axes
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            platform: None,
        });
        let mut labels = BTreeMap::new();
        if let Some(c) = &cell {
            labels.insert("os".to_string(), c.os.clone());
            labels.extend(c.axes.clone());
            match c.version() {
                Some(v) => labels.insert("version".into(), v.into()),
                None => labels.insert("role".into(), "base".into()),
            };
        }
        ImagePlan {
            labels,
            cell,
            platforms: platforms.iter().map(|p| p.parse().unwrap()).collect(),
            ..ImagePlan::for_test(name, "ctx")
        }
    }

    #[test]
    fn images_of_a_matrix_get_cells_and_bases_do_not() {
        let plan = Plan {
            images: vec![
                image("a/base:bookworm", Some(("bookworm", None, &[])), &[]),
                image(
                    "a/bookworm:22.11.0",
                    Some(("bookworm", Some("22.11.0"), &[("variant", "slim")])),
                    &[],
                ),
                image(
                    "a/alpine:22.11.0",
                    Some(("alpine", Some("22.11.0"), &[])),
                    &["linux/amd64", "linux/arm/v7"],
                ),
                image("plain/app:1", None, &[]),
            ],
            ..Plan::default()
        };
        let cells = all_cells(&plan);
        let summary: Vec<_> = cells
            .iter()
            .map(|c| {
                (
                    c.row.as_str(),
                    c.column.as_str(),
                    c.platform.as_deref(),
                    c.unit.as_str(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("22.11.0", "bookworm · slim", None, "a/bookworm:22.11.0"),
                (
                    "22.11.0",
                    "alpine",
                    Some("linux/amd64"),
                    "a/alpine:22.11.0-linux-amd64"
                ),
                (
                    "22.11.0",
                    "alpine",
                    Some("linux/arm/v7"),
                    "a/alpine:22.11.0-linux-arm-v7"
                ),
            ]
        );
        assert!(cells[1..].iter().all(|c| c.image == "a/alpine:22.11.0"));

        // A machine that runs only arm builds gets only their cells.
        let mut run = plan.clone();
        run.images = vec![image("a/alpine:22.11.0-linux-arm-v7", None, &[])];
        let mine: Vec<_> = super::cells(&plan, &run)
            .into_iter()
            .map(|c| c.unit)
            .collect();
        assert_eq!(mine, ["a/alpine:22.11.0-linux-arm-v7"]);
    }

    #[test]
    fn the_grid_reads_the_cell_not_the_labels() {
        // Labels are what the image carries; an axis may even be called
        // `role` or `platform` and still be a column.
        let mut labelled_only = image("a/x:1", Some(("x", Some("1"), &[])), &[]);
        labelled_only.cell = None;
        let with_role_axis = image(
            "a/bookworm:22",
            Some(("bookworm", Some("22"), &[("role", "server")])),
            &[],
        );
        let plan = Plan {
            images: vec![labelled_only, with_role_axis],
            ..Plan::default()
        };
        let cells = all_cells(&plan);
        assert_eq!(cells.len(), 1, "{cells:?}");
        assert_eq!(cells[0].column, "bookworm · server");
        assert_eq!(cells[0].row, "22");
    }
}
