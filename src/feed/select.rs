//! Choosing which releases of the index become images.
//!
//! A matrix says "every release matching `>=18`", and then either all of them,
//! or only the newest of each line or minor: publishing every patch of every
//! line is rarely wanted, but the newest of each is what users pull.

use std::collections::BTreeSet;

use super::{line_key, Release};
pub use crate::config::native::Pick;

/// The releases matching `range`, reduced by `pick`, newest first.
///
/// Prereleases only match a range that names a prerelease, as with npm.
pub fn select(releases: &[Release], range: &nodejs_semver::Range, pick: Pick) -> Vec<Release> {
    let mut matching: Vec<&Release> = releases
        .iter()
        .filter(|r| {
            nodejs_semver::Version::parse(r.version.to_string())
                .map(|v| range.satisfies(&v))
                .unwrap_or(false)
        })
        .collect();
    matching.sort_by(|a, b| b.version.cmp(&a.version));
    matching.dedup_by(|a, b| a.version == b.version);

    // Newest first, so the first release seen in each group is its newest.
    let mut seen = BTreeSet::new();
    matching
        .into_iter()
        .filter(|r| match pick {
            Pick::All => true,
            Pick::NewestOfMajor => seen.insert(line_key(&r.version)),
            Pick::NewestOfMinor => seen.insert((r.version.major, Some(r.version.minor))),
        })
        .cloned()
        .collect()
}
