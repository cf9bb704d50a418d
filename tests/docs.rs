//! The README's reference parts that come from the code: they are kept
//! equal to it, so the documentation cannot drift.
//!
//! After an intended change, `STRATA_UPDATE_DOCS=1 cargo test --test docs`
//! rewrites the README's generated parts; review the diff.

use std::path::PathBuf;

fn readme() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md")
}

/// Checks (or, with `STRATA_UPDATE_DOCS=1`, rewrites) the README text
/// between `<!-- strata:NAME:start -->` and `<!-- strata:NAME:end -->`.
fn generated_part(name: &str, expected: &str) {
    let text = std::fs::read_to_string(readme()).unwrap();
    let start = format!("<!-- strata:{name}:start -->\n");
    let end = format!("<!-- strata:{name}:end -->");
    let from = text.find(&start).expect("the start marker") + start.len();
    let to = from + text[from..].find(&end).expect("the end marker");
    if std::env::var_os("STRATA_UPDATE_DOCS").is_some() {
        let updated = format!("{}{expected}{}", &text[..from], &text[to..]);
        std::fs::write(readme(), updated).unwrap();
        return;
    }
    assert!(
        text[from..to] == *expected,
        "README.md's {name} part differs from the code; rewrite it with \
         `STRATA_UPDATE_DOCS=1 cargo test --test docs`\n--- README\n{}\n--- code\n{expected}",
        &text[from..to]
    );
}

#[test]
fn the_fact_reference_is_the_code_s() {
    generated_part("facts", &strata::feed::facts::reference_table());
}

/// Every fact name the README uses in backticks in its table rows is one the
/// code offers, and each documented fact is named exactly once.
#[test]
fn the_fact_table_names_each_fact_once() {
    let table = strata::feed::facts::reference_table();
    for fact in strata::feed::facts::FACTS {
        let row = format!("| `{}` |", fact.name);
        assert_eq!(table.matches(&row).count(), 1, "{}", fact.name);
    }
    assert_eq!(
        table.lines().count(),
        strata::feed::facts::FACTS.len() + 2,
        "{table}"
    );
}
