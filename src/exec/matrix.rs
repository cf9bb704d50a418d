//! The plan's images laid out as a matrix for the reports: rows are the
//! runtime versions, columns the OS values (with any other axis values),
//! and an image of several platforms gets one cell per platform.

use crate::events::MatrixCell;
use crate::plan::Plan;

/// One cell per image (per platform, when it has several) that a native
/// matrix produced and `run` (the plan as this machine runs it) holds:
/// every image labelled with a `version` and an `os`. Bases and inventory
/// images carry no such labels and get no cell.
pub fn cells(plan: &Plan, run: &Plan) -> Vec<MatrixCell> {
    let mut cells = all_cells(plan);
    cells.retain(|c| run.images.iter().any(|i| i.name == c.unit));
    cells
}

fn all_cells(plan: &Plan) -> Vec<MatrixCell> {
    let mut cells = Vec::new();
    for image in &plan.images {
        let (Some(version), Some(os)) = (image.labels.get("version"), image.labels.get("os"))
        else {
            continue;
        };
        // The OS value first, then the other axes' values in name order.
        let column = std::iter::once(os.as_str())
            .chain(
                image
                    .labels
                    .iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "version" | "os" | "platform" | "role"))
                    .map(|(_, v)| v.as_str()),
            )
            .collect::<Vec<_>>()
            .join(" · ");
        let cell = |platform: Option<&crate::reference::Platform>| MatrixCell {
            row: version.clone(),
            column: column.clone(),
            platform: platform.map(ToString::to_string),
            image: image.name.to_string(),
            unit: match platform {
                Some(p) => crate::plan::platforms::unit_name(&image.name, p).into(),
                None => image.name.to_string(),
            },
        };
        if image.platforms.is_empty() {
            cells.push(cell(None));
        } else {
            cells.extend(image.platforms.iter().map(|p| cell(Some(p))));
        }
    }
    cells
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::plan::ImagePlan;

    fn image(name: &str, labels: &[(&str, &str)], platforms: &[&str]) -> ImagePlan {
        ImagePlan {
            name: crate::reference::ImageRef::parse(name).unwrap(),
            context: "ctx".into(),
            dockerfile: "Dockerfile".into(),
            needs: vec![],
            tests: vec![],
            build_args: BTreeMap::new(),
            artifacts: vec![],
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            timeout: None,
            platforms: platforms.iter().map(|p| p.parse().unwrap()).collect(),
            rename_bases: Default::default(),
            secrets: Vec::new(),
        }
    }

    #[test]
    fn images_of_a_matrix_get_cells_and_bases_do_not() {
        let plan = Plan {
            images: vec![
                image(
                    "a/base:bookworm",
                    &[("os", "bookworm"), ("role", "base")],
                    &[],
                ),
                image(
                    "a/bookworm:22.11.0",
                    &[
                        ("os", "bookworm"),
                        ("version", "22.11.0"),
                        ("variant", "slim"),
                    ],
                    &[],
                ),
                image(
                    "a/alpine:22.11.0",
                    &[("os", "alpine"), ("version", "22.11.0")],
                    &["linux/amd64", "linux/arm/v7"],
                ),
                image("plain/app:1", &[], &[]),
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
        run.images = vec![image("a/alpine:22.11.0-linux-arm-v7", &[], &[])];
        let mine: Vec<_> = super::cells(&plan, &run)
            .into_iter()
            .map(|c| c.unit)
            .collect();
        assert_eq!(mine, ["a/alpine:22.11.0-linux-arm-v7"]);
    }
}
