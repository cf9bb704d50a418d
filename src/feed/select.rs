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
    if pick == Pick::NewestWithPrerelease {
        return self::pick(
            releases,
            |r| &r.version,
            |r| super::line_name(&r.version),
            range,
            pick,
        )
        .into_iter()
        .cloned()
        .collect();
    }
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
            Pick::NewestWithPrerelease => unreachable!("handled above"),
        })
        .cloned()
        .collect()
}

/// The items matching `range`, reduced by `pick`, newest first, for a feed
/// of any kind: `order` gives an item's version, `line` its release line.
///
/// Pre-releases match only a range naming a pre-release (as with npm),
/// except with [`Pick::NewestWithPrerelease`], which matches each version
/// without its pre-release part and keeps, per line, the newest final
/// release, or the newest pre-release of a line with no final release.
pub fn pick<'a, T>(
    items: &'a [T],
    order: impl Fn(&T) -> &semver::Version,
    line: impl Fn(&T) -> String,
    range: &nodejs_semver::Range,
    pick: Pick,
) -> Vec<&'a T> {
    let satisfies = |v: &semver::Version| {
        let text = if pick == Pick::NewestWithPrerelease {
            format!("{}.{}.{}", v.major, v.minor, v.patch)
        } else {
            v.to_string()
        };
        nodejs_semver::Version::parse(text)
            .map(|v| range.satisfies(&v))
            .unwrap_or(false)
    };
    let mut matching: Vec<&T> = items.iter().filter(|i| satisfies(order(i))).collect();
    matching.sort_by(|a, b| order(b).cmp(order(a)));
    matching.dedup_by(|a, b| order(a) == order(b));
    let finals: BTreeSet<String> = matching
        .iter()
        .filter(|i| order(i).pre.is_empty())
        .map(|i| line(i))
        .collect();
    let mut seen = BTreeSet::new();
    matching
        .into_iter()
        .filter(|i| {
            let v = order(i);
            match pick {
                Pick::All => true,
                Pick::NewestOfMajor => seen.insert(line(i)),
                Pick::NewestOfMinor => seen.insert(format!("{}.{}", v.major, v.minor)),
                Pick::NewestWithPrerelease => {
                    let l = line(i);
                    let wanted = v.pre.is_empty() || !finals.contains(&l);
                    wanted && seen.insert(l)
                }
            }
        })
        .collect()
}
