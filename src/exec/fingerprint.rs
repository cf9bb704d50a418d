//! What an image's test result depends on, as one digest.
//!
//! `strata test` skips an image whose inputs are exactly those of its last
//! passing run: the same build context (file contents and modes, after
//! `.dockerignore`, artifacts included), Dockerfile, build arguments, labels,
//! the same image IDs behind every `FROM`, and the same test folders. The
//! engine's layer cache would rebuild such an image quickly, but it would
//! still send every context (Node.js tarballs included) and rerun nothing
//! new; with hundreds of images, skipping is what makes a run incremental.
//!
//! Contents are hashed, not modification times, so a fresh checkout of an
//! unchanged tree is still up to date.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::StepError;
use crate::engine::context;
use crate::engine::{BuildContext, Dockerfile, Engine};
use crate::plan::{ArtifactSource, ImagePlan};
use crate::state::inputs::{ArtifactPart, InputParts, MAX_NAMED_FILES};

/// Bumped when what goes into a fingerprint changes, so old records miss.
const VERSION: &str = "strata-inputs-v2";

/// An image's input fingerprint and the parts it was made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    /// The digest of everything (what decides "up to date").
    pub digest: String,
    /// Each part's own digest, kept so the next run can say what changed.
    pub parts: InputParts,
}

/// The digests of the parts an image is built and tested from, as its
/// provenance names them: each `sha256:<hex>` over the entries' names,
/// modes and contents (after `.dockerignore`), as the input fingerprint
/// hashes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parts {
    /// The build context, artifacts included.
    pub context: String,
    /// Each test folder and its digest, in the plan's order.
    pub tests: Vec<(PathBuf, String)>,
}

/// The parts of `inputs` that `image`'s provenance names.
pub fn provenance_parts(image: &ImagePlan, inputs: &Inputs) -> Parts {
    let sha = |hex: &str| format!("sha256:{hex}");
    Parts {
        context: sha(&inputs.parts.context),
        tests: image
            .tests
            .iter()
            .filter_map(|t| Some((t.path.clone(), sha(inputs.parts.tests.get(t.tag.as_str())?))))
            .collect(),
    }
}

/// The digest of everything `image`'s result depends on, given the artifact
/// files it will get (`extra_files`), with its parts. Base images are
/// looked up on `engine`.
pub async fn inputs(
    image: &ImagePlan,
    extra_files: &[(String, PathBuf)],
    secrets: &[crate::engine::session::BuildSecret],
    engine: &dyn Engine,
) -> Result<Inputs, StepError> {
    let mut parts = local_parts(image, extra_files).await?;
    // A changed secret rebuilds; only a digest of its hash is kept.
    for secret in secrets {
        let field = super::secrets::fingerprint_field(secret);
        parts.secrets.insert(secret.id.clone(), sha256_hex(&field));
    }
    let dockerfile = dockerfile_text(image)?;
    for base in crate::dockerfile::base_images_with(&dockerfile, &image.build_args) {
        let id = engine.image_id(&StepError::reference(&base)?).await?;
        parts.from.insert(
            base,
            id.map(|i| i.to_string()).unwrap_or_else(|| "-".into()),
        );
    }
    Ok(Inputs {
        digest: digest_of(image, &parts),
        parts,
    })
}

/// Every part of `image`'s inputs that is read from the host alone (no
/// engine): its context, Dockerfile, artifacts, tests, build arguments
/// and labels; `from` is left empty.
pub async fn local_parts(
    image: &ImagePlan,
    extra_files: &[(String, PathBuf)],
) -> Result<InputParts, StepError> {
    let mut parts = InputParts {
        strata: env!("CARGO_PKG_VERSION").to_string(),
        ..Default::default()
    };
    let ctx = BuildContext {
        dir: image.context.clone(),
        dockerfile: Dockerfile::Path(image.dockerfile.clone()),
        extra_files: extra_files.to_vec(),
    };
    let (context, files) = hash_context(ctx).await?;
    parts.context = context;
    parts.files_named = files.len() <= MAX_NAMED_FILES;
    for (name, digest) in files {
        if extra_files.iter().any(|(n, _)| *n == name) {
            let source = image
                .artifacts
                .iter()
                .find(|a| a.file_name == name)
                .map(|a| artifact_source(&a.source))
                .unwrap_or_default();
            parts.artifacts.insert(
                name,
                ArtifactPart {
                    source,
                    content: digest,
                },
            );
        } else if name != image.dockerfile && parts.files_named {
            parts.files.insert(name, digest);
        }
    }
    let path = image.context.join(&image.dockerfile);
    let written = crate::read::read_text(&path, None, "Dockerfile")
        .map_err(|e| StepError::Input(e.message.clone()))?;
    parts.dockerfile = sha256_hex(&written);
    for (k, v) in &image.build_args {
        parts
            .args
            .insert(k.clone(), sha256_hex(&format!("{k}={v}")));
    }
    let mut labels = Sha256::new();
    // The labels strata adds follow from other inputs (or name the
    // repository): only the user's own labels are a part of their own.
    for (k, v) in image
        .labels
        .iter()
        .filter(|(k, _)| !super::provenance::DERIVED.contains(&k.as_str()))
    {
        field(&mut labels, "label", &format!("{k}={v}"));
    }
    parts.labels = hex::encode(labels.finalize());
    for test in &image.tests {
        // A test folder may hold only a `run.yml`, and then has no Dockerfile.
        let dockerfile = match test.path.join(context::INLINE_DOCKERFILE).is_file() {
            true => Dockerfile::Path(context::INLINE_DOCKERFILE.to_string()),
            false => Dockerfile::Inline(String::new()),
        };
        let ctx = BuildContext {
            dir: test.path.clone(),
            dockerfile,
            extra_files: vec![],
        };
        parts
            .tests
            .insert(test.tag.to_string(), hash_context(ctx).await?.0);
    }
    Ok(parts)
}

/// The one digest of `parts`, in a fixed order; the image's tests in the
/// plan's order.
fn digest_of(image: &ImagePlan, parts: &InputParts) -> String {
    let mut h = Sha256::new();
    h.update(VERSION);
    field(&mut h, "strata", &parts.strata);
    field(&mut h, "image", &parts.context);
    for (k, v) in &parts.args {
        field(&mut h, "arg", &format!("{k}={v}"));
    }
    for (k, v) in &parts.secrets {
        field(&mut h, "secret", &format!("{k}={v}"));
    }
    field(&mut h, "labels", &parts.labels);
    for (base, id) in &parts.from {
        field(&mut h, "from", &format!("{base}={id}"));
    }
    for test in &image.tests {
        field(&mut h, "test", &test.tag);
        let digest = parts.tests.get(test.tag.as_str()).map(String::as_str);
        field(&mut h, "test-files", digest.unwrap_or_default());
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// Where an artifact comes from, in words: `npm PACKAGE@VERSION` or its URL.
pub fn artifact_source(source: &ArtifactSource) -> String {
    match source {
        ArtifactSource::Npm { package, version } => format!("npm {package}@{version}"),
        ArtifactSource::Url { url, .. } => url.clone(),
    }
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The Dockerfile `image` is built from: its file, with the `FROM` lines
/// that name another image of the plan pointed at that image's build for
/// the same platform.
pub fn dockerfile_text(image: &ImagePlan) -> Result<String, StepError> {
    let path = image.context.join(&image.dockerfile);
    // A regular file under the config cap, as at load: a Dockerfile swapped
    // for a FIFO since would block the run.
    let text = crate::read::read_text(&path, None, "Dockerfile")
        .map_err(|e| StepError::Input(e.message.clone()))?;
    crate::dockerfile::rename_bases(&text, &image.rename_bases)
        .map_err(|e| StepError::Input(format!("{}: {e}", path.display())))
}

fn field(h: &mut Sha256, name: &str, value: &str) {
    // Length-prefixed, so no two different field lists hash alike.
    for part in [name, value] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
}

/// Hashes what a build context would hold: every entry's name, mode and
/// content, in the context's own (sorted) order. Also gives each entry's
/// own digest (its mode and content).
async fn hash_context(ctx: BuildContext) -> Result<(String, Vec<(String, String)>), StepError> {
    tokio::task::spawn_blocking(move || hash_context_blocking(&ctx))
        .await
        .map_err(|e| StepError::Local {
            doing: "hashing a build context".into(),
            source: std::io::Error::other(e),
        })?
}

fn hash_context_blocking(ctx: &BuildContext) -> Result<(String, Vec<(String, String)>), StepError> {
    let names = context::list(ctx)?;
    let mut h = Sha256::new();
    let mut entries = Vec::with_capacity(names.len());
    for name in names {
        let mut entry = Sha256::new();
        if let Some((_, host)) = ctx.extra_files.iter().find(|(n, _)| *n == name) {
            hash_path(&mut entry, host)?;
        } else if let (Dockerfile::Inline(text), true) =
            (&ctx.dockerfile, name == context::INLINE_DOCKERFILE)
        {
            field(&mut entry, "inline", text);
        } else {
            hash_path(&mut entry, &ctx.dir.join(&name))?;
        }
        let entry = hex::encode(entry.finalize());
        field(&mut h, "entry", &name);
        field(&mut h, "digest", &entry);
        entries.push((name, entry));
    }
    Ok((hex::encode(h.finalize()), entries))
}

fn hash_path(h: &mut Sha256, path: &Path) -> Result<(), StepError> {
    let err = |source: std::io::Error| StepError::Local {
        doing: format!("cannot read {}", path.display()),
        source,
    };
    let meta = std::fs::symlink_metadata(path).map_err(err)?;
    field(h, "mode", &format!("{:o}", meta.permissions().mode()));
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(path).map_err(err)?;
        field(h, "link", &target.to_string_lossy());
    } else if meta.is_file() {
        let mut file = std::fs::File::open(path).map_err(err)?;
        let mut buf = vec![0u8; 1 << 16];
        let mut content = Sha256::new();
        loop {
            let n = file.read(&mut buf).map_err(err)?;
            if n == 0 {
                break;
            }
            content.update(&buf[..n]);
        }
        field(h, "file", &hex::encode(content.finalize()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dockerfile_that_became_a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(dir.path().join("Dockerfile"))
            .status()
            .unwrap();
        assert!(made.success());
        let image = ImagePlan::for_test("acme/a:1", dir.path());
        let err = match dockerfile_text(&image) {
            Err(StepError::Input(message)) => message,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert!(err.contains("it is a FIFO"), "{err}");
        assert!(crate::exec::known::references(&image_plan(image))
            .iter()
            .all(|r| !r.contains("FROM")));
    }

    fn image_plan(image: ImagePlan) -> crate::plan::Plan {
        crate::plan::Plan {
            images: vec![image],
            ..Default::default()
        }
    }
}
