//! Dante's `inventory.yml`: parsing and the checks that need only the file.
//!
//! ```yaml
//! images:
//!   - name: nodesource/node:20.1.0        # the image's reference
//!     path: ./debian/bookworm/20.1.0      # folder with its Dockerfile
//!     test: ./tests/node                  # optional: a folder, or a list
//!     alias: [nodesource/node:20]         # optional: a tag, or a list
//! ```
//!
//! [`parse`] checks everything that can be checked from the text alone (keys,
//! names, references, aliases) and keeps the location of every value, so later
//! checks (see [`super::files`]) can point at the line that caused them. It
//! never touches the disk, which is why it accepts an inventory whose folders
//! are elsewhere.

use std::collections::HashMap;
use std::path::PathBuf;

use std::sync::Arc;

use miette::SourceSpan;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::yaml::{suggest, Entries, Located, Source, Strings};
use crate::error::InputError;
use crate::reference;

/// The keys an image entry may have.
const IMAGE_KEYS: [&str; 7] = [
    "name",
    "path",
    "test",
    "alias",
    "timeout",
    "platforms",
    "secrets",
];
/// The keys the file may have at the top.
const TOP_KEYS: [&str; 3] = ["images", "pull", "builder"];

/// A parsed inventory, with the text it came from (for error snippets).
#[derive(Debug, Clone)]
pub struct Inventory {
    /// The file as the user named it; errors and relative paths use it.
    pub file: PathBuf,
    /// The text, shared with every error pointing into it.
    pub text: Arc<str>,
    pub images: Vec<InventoryImage>,
    /// `pull:` (strata's own key): when `test` pulls the external bases.
    pub pull: Option<super::pull::PullPolicy>,
    /// `builder: classic|buildkit` (strata's own key): which of Docker's
    /// builders builds, unless `--builder` says.
    pub builder: Option<crate::config::builder::Builder>,
}

/// One `images:` entry.
#[derive(Debug, Clone)]
pub struct InventoryImage {
    pub name: Located<String>,
    /// The image folder, relative to the inventory's folder.
    pub path: Located<String>,
    /// Test folders, in order.
    pub tests: Vec<Located<String>>,
    /// Moving tags this image gets when it passes.
    pub aliases: Vec<Located<String>>,
    /// Seconds each build of this image and of its tests may take (strata's
    /// own key; Dante has none, and an inventory without it is unchanged).
    pub timeout: Option<super::timeout::StepTimeout>,
    /// The platforms to build the image for (strata's own key). Empty: the
    /// engine's own platform, as Dante built.
    pub platforms: Vec<Located<crate::reference::Platform>>,
    /// Build secrets of the image and its tests (strata's own key):
    /// `[{id: NAME, env: VAR}]` or `[{id: NAME, file: PATH}]`.
    pub secrets: Vec<super::secrets::SecretConfig>,
}

impl Inventory {
    /// The file name errors show: the path as the user gave it.
    pub fn display_name(&self) -> String {
        self.file.display().to_string()
    }

    /// An error pointing at `span` in the inventory.
    pub fn error(
        &self,
        span: SourceSpan,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> InputError {
        Source::new(self.file.clone(), self.text.clone()).error(span, message, label)
    }
}

/// The file's top level, entries located.
#[derive(Deserialize)]
#[serde(transparent)]
struct RawTop(Entries<serde::de::IgnoredAny>);

/// Parses `text` (read from `file`) and checks it; reports every problem found.
pub fn parse(file: PathBuf, text: String) -> Result<Inventory, InputError> {
    let src = Source::new(file.clone(), text);
    let (images, pull, builder) = read_images(&src)?;
    let mut problems = Vec::new();
    let images: Vec<InventoryImage> = images
        .into_iter()
        .filter_map(|raw| read_image(&src, raw, &mut problems))
        .collect();
    check_names(&src, &images, &mut problems);
    // Report in file order, so the first problem shown is the first one written.
    problems.sort_by_key(|p| p.span.map(|s| s.offset()));
    InputError::collect(problems)?;
    Ok(Inventory {
        file,
        text: src.text,
        images,
        pull,
        builder,
    })
}

/// Reads the top level: `images`, holding a list of mappings, and strata's
/// own `pull:` and `builder:`.
type Images = Vec<Spanned<ImageEntries>>;

type Top3 = (
    Images,
    Option<super::pull::PullPolicy>,
    Option<crate::config::builder::Builder>,
);

fn read_images(src: &Source) -> Result<Top3, InputError> {
    let top: RawTop = src.parse(&TOP_KEYS)?;
    let mut problems = Vec::new();
    for (key, _) in &top.0 .0 {
        if !TOP_KEYS.contains(&key.value.as_str()) {
            problems.push(unknown_key(
                src,
                key,
                &TOP_KEYS,
                "at the top of an inventory",
            ));
        }
    }
    InputError::collect(problems)?;
    #[derive(Deserialize)]
    struct Top {
        images: Option<Spanned<Vec<Spanned<ImageEntries>>>>,
        pull: Option<super::pull::PullPolicy>,
        builder: Option<crate::config::builder::Builder>,
    }
    let top: Top = src.parse(&TOP_KEYS)?;
    match top.images {
        None => Err(src
            .error(
                (0, 0).into(),
                format!("{}: no `images:` list", src.name()),
                "expected `images:` here",
            )
            .with_help(
                "an inventory lists its images under `images:`, each with a `name` and a `path`",
            )),
        Some(images) if images.value.is_empty() => Err(src
            .error(
                src.span(&images.referenced),
                format!("{}: the `images:` list is empty", src.name()),
                "no images",
            )
            .with_help("add at least one image with a `name` and a `path`")),
        Some(images) => Ok((images.value, top.pull, top.builder)),
    }
}

fn unknown_key(src: &Source, key: &Spanned<String>, known: &[&str], place: &str) -> InputError {
    let message = format!("unknown key `{}` {place}", key.value);
    let help = match suggest(&key.value, known) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!(
            "the known keys are {}",
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    src.error(src.span(&key.referenced), message, "unknown key")
        .with_help(help)
}

/// An image entry's values as read, before the checks that need them all.
#[derive(Default)]
struct ImageFields {
    name: Option<Located<String>>,
    path: Option<Located<String>>,
    tests: Vec<Located<String>>,
    aliases: Vec<Located<String>>,
    timeout: Option<super::timeout::StepTimeout>,
    platforms: Vec<Located<crate::reference::Platform>>,
}

/// Reads one image entry and pushes its problems. Returns the image if it has
/// a name and a path, even with other problems, so name clashes are found in
/// the same pass; [`parse`] fails if any problem was pushed.
fn read_image(
    src: &Source,
    raw: Spanned<ImageEntries>,
    problems: &mut Vec<InputError>,
) -> Option<InventoryImage> {
    let entry_span = src.span(&raw.referenced);
    let mut fields = ImageFields::default();
    let mut secrets = Vec::new();
    // Keys written at all: a `name` of the wrong shape is not also "missing".
    let mut written: Vec<String> = raw.value.0.iter().map(|(k, _)| k.value.clone()).collect();
    written.extend(raw.value.1.iter().map(|_| "secrets".to_string()));
    if let Some(list) = raw.value.1 {
        read_secrets(src, list, &mut secrets, problems);
    }
    for (key, value) in raw.value.0 {
        read_image_key(src, key, value, &mut fields, problems);
    }
    check_name_and_path(src, entry_span, &fields, &written, problems);
    for t in fields.tests.iter().filter(|t| t.value.trim().is_empty()) {
        problems.push(
            src.error(t.span, "test path is empty", "empty path")
                .with_help(
                    "give the folder holding the test's Dockerfile, relative to the inventory",
                ),
        );
    }
    for a in &fields.aliases {
        check_reference(src, a, "alias", problems);
    }
    // Repeating an alias on one image is harmless; keep the first.
    let mut seen = std::collections::HashSet::new();
    fields
        .aliases
        .retain(|a| seen.insert(reference::normalize(&a.value)));
    match (fields.name, fields.path) {
        (Some(name), Some(path)) => Some(InventoryImage {
            name,
            path,
            tests: fields.tests,
            aliases: fields.aliases,
            timeout: fields.timeout,
            platforms: fields.platforms,
            secrets,
        }),
        _ => None,
    }
}

/// Reads one `key: value` of an image entry (all but `secrets`) into
/// `fields`, pushing a problem for a value of the wrong shape or an
/// unknown key.
fn read_image_key(
    src: &Source,
    key: Spanned<String>,
    value: Spanned<Strings>,
    fields: &mut ImageFields,
    problems: &mut Vec<InputError>,
) {
    let value_span = src.span(&value.referenced);
    match key.value.as_str() {
        "name" | "path" => {
            let Strings::One(text) = value.value else {
                problems.push(
                    src.error(
                        value_span,
                        format!("`{}` must be a single string", key.value),
                        "not a string",
                    )
                    .with_help(format!("write `{}: <text>` on one line", key.value)),
                );
                return;
            };
            let located = Located {
                value: text,
                span: value_span,
            };
            if key.value == "name" {
                fields.name = Some(located);
            } else {
                fields.path = Some(located);
            }
        }
        "test" | "alias" => {
            let list = located_list(src, value.value, value_span);
            if key.value == "test" {
                fields.tests = list;
            } else {
                fields.aliases = list;
            }
        }
        "timeout" => match read_timeout(&value.value) {
            Ok(t) => fields.timeout = Some(t),
            Err(message) => problems.push(
                src.error(value_span, message, "not a timeout")
                    .with_help("give the seconds one build may take, from 1 to 86400"),
            ),
        },
        "platforms" => {
            let list = located_list(src, value.value, value_span);
            read_platforms(src, list, &mut fields.platforms, problems);
        }
        _ => problems.push(unknown_key(src, &key, &IMAGE_KEYS, "in an image")),
    }
}

/// An image's `timeout:`, or the message saying why it is not one.
fn read_timeout(value: &Strings) -> Result<super::timeout::StepTimeout, String> {
    match value {
        Strings::One(text) => super::timeout::StepTimeout::parse(text).map_err(|e| e.to_string()),
        _ => Err("`timeout` must be whole seconds, such as 600".to_string()),
    }
}

/// Parses an image's `platforms:` items into `platforms`, pushing a problem
/// for each one that is not a platform or is listed twice.
fn read_platforms(
    src: &Source,
    list: Vec<Located<String>>,
    platforms: &mut Vec<Located<crate::reference::Platform>>,
    problems: &mut Vec<InputError>,
) {
    for item in list {
        match item.value.trim().parse::<crate::reference::Platform>() {
            Ok(p) if platforms.iter().any(|q| q.value == p) => problems.push(
                src.error(item.span, format!("platform {p} is listed twice"), "again")
                    .with_help("list each platform once"),
            ),
            Ok(p) => platforms.push(Located {
                value: p,
                span: item.span,
            }),
            Err(message) => problems.push(
                src.error(item.span, message.to_string(), "not a platform")
                    .with_help(
                    "write platforms as the engine does: linux/amd64, linux/arm64, linux/arm/v7",
                ),
            ),
        }
    }
}

/// Pushes a problem for a missing or empty `name` or `path` (not when the
/// key was written with a value of the wrong shape: that has its own), and
/// checks the name is a reference.
fn check_name_and_path(
    src: &Source,
    entry_span: SourceSpan,
    fields: &ImageFields,
    written: &[String],
    problems: &mut Vec<InputError>,
) {
    let missing = |what: &str| {
        src.error(
            entry_span,
            format!("image has no `{what}`"),
            format!("this image needs a `{what}`"),
        )
        .with_help(format!(
            "every image needs `name` (its reference) and `path` (its folder); add `{what}:`"
        ))
    };
    match &fields.name {
        None if written.iter().any(|k| k == "name") => {}
        None => problems.push(missing("name")),
        Some(n) if n.value.trim().is_empty() => problems.push(
            src.error(n.span, "image name is empty", "empty name")
                .with_help("give the image a reference such as `acme/app:1.0`"),
        ),
        Some(n) => check_reference(src, n, "image name", problems),
    }
    match &fields.path {
        None if written.iter().any(|k| k == "path") => {}
        None => problems.push(missing("path")),
        Some(p) if p.value.trim().is_empty() => problems.push(
            src.error(p.span, "image path is empty", "empty path")
                .with_help(
                    "give the folder holding the image's Dockerfile, relative to the inventory",
                ),
        ),
        Some(_) => {}
    }
}

/// An image entry's keys in order, values located: `secrets` (a list of
/// mappings) apart from the others (a string or a list of strings).
pub(crate) struct ImageEntries(
    Vec<(Spanned<String>, Spanned<Strings>)>,
    Option<Vec<Spanned<SecretMap>>>,
);

/// One `secrets:` item as written.
type SecretMap = std::collections::BTreeMap<String, String>;

impl<'de> Deserialize<'de> for ImageEntries {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> serde::de::Visitor<'de> for EntriesVisitor {
            type Value = ImageEntries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping of `key: value` lines")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                let mut secrets = None;
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    if key.value == "secrets" {
                        secrets = Some(
                            map.next_value::<Option<Vec<Spanned<SecretMap>>>>()?
                                .unwrap_or_default(),
                        );
                    } else {
                        entries.push((key, map.next_value::<Spanned<Strings>>()?));
                    }
                }
                Ok(ImageEntries(entries, secrets))
            }
        }
        deserializer.deserialize_map(EntriesVisitor)
    }
}

/// `secrets: [{id: NAME, env: VAR}, {id: NAME, file: PATH}]`, each checked
/// where it is written.
fn read_secrets(
    src: &Source,
    maps: Vec<Spanned<SecretMap>>,
    out: &mut Vec<super::secrets::SecretConfig>,
    problems: &mut Vec<InputError>,
) {
    let help = "write `secrets: [{id: NAME, env: VARIABLE}]` or `[{id: NAME, file: PATH}]`";
    for map in maps {
        let at = src.span(&map.referenced);
        let unknown: Vec<&String> = map
            .value
            .keys()
            .filter(|k| !["id", "env", "file"].contains(&k.as_str()))
            .collect();
        if let Some(key) = unknown.first() {
            problems.push(
                src.error(
                    at,
                    format!("unknown key `{key}` in a secret"),
                    "unknown key",
                )
                .with_help(help),
            );
            continue;
        }
        let secret = super::secrets::SecretConfig {
            id: map.value.get("id").cloned().unwrap_or_default(),
            env: map.value.get("env").cloned(),
            file: map.value.get("file").cloned(),
        };
        match secret.check() {
            Ok(()) if out.iter().any(|s| s.id == secret.id) => problems.push(
                src.error(at, format!("secret {} is listed twice", secret.id), "again")
                    .with_help("list each secret id once"),
            ),
            Ok(()) => out.push(secret),
            Err(e) => problems.push(src.error(at, e.to_string(), "this secret").with_help(help)),
        }
    }
}

/// A string-or-list value as located strings (a single string at `span`).
fn located_list(src: &Source, value: Strings, span: SourceSpan) -> Vec<Located<String>> {
    match value {
        Strings::Null => Vec::new(),
        Strings::One(text) => vec![Located { value: text, span }],
        Strings::Many(items) => items.into_iter().map(|i| src.locate(i)).collect(),
    }
}

/// Checks that Docker would accept `value` as a tag for an image.
fn check_reference(
    src: &Source,
    value: &Located<String>,
    what: &str,
    problems: &mut Vec<InputError>,
) {
    let result = reference::parse(&value.value).and_then(|r| match r.digest {
        // A digest names content; it cannot be given to a new image.
        Some(d) => Err(reference::ReferenceError::BadDigest(format!(
            "{d}` (a name to tag cannot have a digest)"
        ))),
        None => Ok(()),
    });
    if let Err(e) = result {
        problems.push(
            src.error(value.span, format!("{what} `{}` is not a valid image reference: {e}", value.value), "invalid reference")
                .with_help("use `[registry/]repository[:tag]` with a lowercase repository, such as `acme/app:1.0`"),
        );
    }
}

/// Names must be unique, and an alias must belong to one image and not be
/// another image's name: otherwise which image a tag ends up on would depend
/// on build order.
///
/// Names and aliases that are not valid references were reported already and
/// are skipped here.
fn check_names(src: &Source, images: &[InventoryImage], problems: &mut Vec<InputError>) {
    let valid = |r: &&Located<String>| reference::parse(&r.value).is_ok();
    let mut names: HashMap<String, &Located<String>> = HashMap::new();
    for image in images.iter().filter(|i| valid(&&i.name)) {
        let key = reference::normalize(&image.name.value);
        if let Some(first) = names.get(&key) {
            problems.push(
                src.error(
                    image.name.span,
                    format!("two images are named `{}`", image.name.value),
                    "second image with this name",
                )
                .also_at(first.span, "first image with this name")
                .with_help("image names must be unique; rename or remove one of them"),
            );
        } else {
            names.insert(key, &image.name);
        }
    }
    let mut claimed: HashMap<String, (&Located<String>, &Located<String>)> = HashMap::new();
    for image in images {
        for alias in image.aliases.iter().filter(valid) {
            let key = reference::normalize(&alias.value);
            if key == reference::normalize(&image.name.value) {
                problems.push(
                    src.error(
                        alias.span,
                        format!("alias `{}` is the image's own name", alias.value),
                        "alias",
                    )
                    .also_at(image.name.span, "the image's name")
                    .with_help(
                        "an alias is a second tag for the image; remove it or give it another tag",
                    ),
                );
                continue;
            }
            if let Some(other) = names.get(&key) {
                if other.value != image.name.value {
                    problems.push(
                        src.error(alias.span, format!("alias `{}` is the name of another image", alias.value), "alias")
                            .also_at(other.span, "the image with that name")
                            .with_help("an alias must not replace another image; remove the alias or rename that image"),
                    );
                }
                continue;
            }
            match claimed.get(&key) {
                Some((first_alias, first_image)) => problems.push(
                    src.error(
                        alias.span,
                        format!(
                            "alias `{}` is claimed by two images: `{}` and `{}`",
                            alias.value, first_image.value, image.name.value
                        ),
                        "claimed again here",
                    )
                    .also_at(first_alias.span, "first claimed here")
                    .with_help("an alias can point at one image only; remove it from one of them"),
                ),
                None => {
                    claimed.insert(key, (alias, &image.name));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Inventory, InputError> {
        parse(PathBuf::from("inv.yml"), text.to_string())
    }

    #[test]
    fn pull_is_read_at_the_top_and_a_wrong_value_is_refused_at_its_line() {
        let inv = parse_str("pull: never\nimages:\n  - name: a/b:1\n    path: b\n").unwrap();
        assert_eq!(inv.pull, Some(crate::config::pull::PullPolicy::Never));
        let inv = parse_str("images:\n  - name: a/b:1\n    path: b\n").unwrap();
        assert_eq!(inv.pull, None);
        let err =
            parse_str("images:\n  - name: a/b:1\n    path: b\npull: sometimes\n").unwrap_err();
        let at = err.span.expect("a location").offset();
        assert_eq!(
            at,
            "images:\n  - name: a/b:1\n    path: b\npull: ".len(),
            "{err}"
        );
    }

    fn messages(err: &InputError) -> Vec<String> {
        std::iter::once(err.message.clone())
            .chain(err.related.iter().map(|e| e.message.clone()))
            .collect()
    }

    #[test]
    fn reads_the_nodesource_inventory() {
        let path = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/nodesource-inventory.yml"
        ));
        let text = std::fs::read_to_string(&path).unwrap();
        let inv = parse(path, text).unwrap();
        assert_eq!(inv.images.len(), 718);
        let aliases: usize = inv.images.iter().map(|i| i.aliases.len()).sum();
        assert_eq!(aliases, 341);
        let first = &inv.images[0];
        assert_eq!(first.name.value, "nodesource/jessie:4.4.7");
        assert_eq!(first.path.value, "./debian/jessie/node/4.4.7");
        assert_eq!(first.tests.len(), 1);
        assert_eq!(
            &inv.text[first.name.span.offset()..][..25],
            "\"nodesource/jessie:4.4.7\""
        );
    }

    #[test]
    fn string_or_list_and_optional() {
        let inv = parse_str(
            "images:\n  - name: a:1\n    path: a\n    test: t\n    alias: a:latest\n  - name: b\n    path: b\n    test: [t1, t2]\n",
        )
        .unwrap();
        let tests: Vec<_> = inv.images[1]
            .tests
            .iter()
            .map(|t| t.value.as_str())
            .collect();
        assert_eq!(tests, ["t1", "t2"]);
        assert_eq!(inv.images[0].tests[0].value, "t");
        assert_eq!(inv.images[0].aliases[0].value, "a:latest");
        assert!(inv.images[1].aliases.is_empty());
    }

    #[test]
    fn unknown_keys_get_suggestions() {
        let err = parse_str("images:\n  - name: a\n    path: a\n    aliases: [b]\n").unwrap_err();
        assert!(
            err.message.contains("unknown key `aliases`"),
            "{}",
            err.message
        );
        assert_eq!(err.help.as_deref(), Some("did you mean `alias`?"));
        let err = parse_str("imagess:\n  - name: a\n").unwrap_err();
        assert_eq!(err.help.as_deref(), Some("did you mean `images`?"));
    }

    #[test]
    fn reports_all_problems_at_once() {
        let err = parse_str(
            "images:\n  - name: \"\"\n    path: a\n  - name: Acme/App\n    path: b\n  - path: c\n  - name: d\n    path: d\n    tset: x\n",
        )
        .unwrap_err();
        let all = messages(&err).join("\n");
        assert_eq!(err.count(), 4, "{all}");
        assert!(all.contains("image name is empty"), "{all}");
        assert!(all.contains("must be lowercase"), "{all}");
        assert!(all.contains("image has no `name`"), "{all}");
        assert!(all.contains("unknown key `tset`"), "{all}");
    }

    #[test]
    fn clashes_are_found_alongside_other_problems() {
        let err = parse_str(
            "images:\n  - name: a:1\n    path: a\n    tset: x\n  - name: a:1\n    path: b\n",
        )
        .unwrap_err();
        let all = messages(&err);
        assert_eq!(all.len(), 2, "{all:?}");
        // In file order: the unknown key (line 4) before the clash (line 5).
        assert!(all[0].contains("unknown key `tset`"), "{all:?}");
        assert!(all[1].contains("two images are named `a:1`"), "{all:?}");
    }

    #[test]
    fn duplicate_names_point_at_both() {
        let text = "images:\n  - name: a:1\n    path: a\n  - name: a:1\n    path: b\n";
        let err = parse_str(text).unwrap_err();
        assert!(err.message.contains("two images are named `a:1`"));
        assert_eq!(err.span.unwrap().offset(), text.rfind("a:1").unwrap());
        assert_eq!(err.also[0].offset(), text.find("a:1").unwrap());
        // `a` and `a:latest` are the same reference.
        let err = parse_str("images:\n  - name: a\n    path: a\n  - name: a:latest\n    path: b\n")
            .unwrap_err();
        assert!(err.message.contains("two images are named"));
    }

    #[test]
    fn alias_conflicts() {
        let err = parse_str(
            "images:\n  - name: a:1\n    path: a\n    alias: b:1\n  - name: b:1\n    path: b\n",
        )
        .unwrap_err();
        assert!(
            err.message
                .contains("alias `b:1` is the name of another image"),
            "{}",
            err.message
        );
        let err = parse_str(
            "images:\n  - name: a:1\n    path: a\n    alias: x\n  - name: b:1\n    path: b\n    alias: [x:latest]\n",
        )
        .unwrap_err();
        assert!(
            err.message
                .contains("claimed by two images: `a:1` and `b:1`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn bad_shapes() {
        let err = parse_str("images:\n  - name: [a]\n    path: a\n").unwrap_err();
        assert_eq!(err.count(), 1, "{:?}", messages(&err));
        assert!(
            err.message.contains("`name` must be a single string"),
            "{}",
            err.message
        );
        let err = parse_str("images: []\n").unwrap_err();
        assert!(err.message.contains("empty"), "{}", err.message);
        let err =
            parse_str("images:\n  - name: a\n    path: a\n    alias: b@sha256:0123\n").unwrap_err();
        assert!(
            err.message.contains("not a valid image reference"),
            "{}",
            err.message
        );
    }
}
