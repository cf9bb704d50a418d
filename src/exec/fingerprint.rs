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
use crate::plan::ImagePlan;

/// Bumped when what goes into a fingerprint changes, so old records miss.
const VERSION: &str = "strata-inputs-v1";

/// The digest of everything `image`'s result depends on, given the artifact
/// files it will get (`extra_files`). Base images are looked up on `engine`.
pub async fn inputs(
    image: &ImagePlan,
    extra_files: &[(String, PathBuf)],
    secrets: &[crate::engine::session::BuildSecret],
    engine: &dyn Engine,
) -> Result<String, StepError> {
    let mut h = Sha256::new();
    h.update(VERSION);
    let ctx = BuildContext {
        dir: image.context.clone(),
        dockerfile: Dockerfile::Path(image.dockerfile.clone()),
        extra_files: extra_files.to_vec(),
    };
    field(&mut h, "image", &hash_context(ctx).await?);
    for (k, v) in &image.build_args {
        field(&mut h, "arg", &format!("{k}={v}"));
    }
    for (k, v) in &image.labels {
        field(&mut h, "label", &format!("{k}={v}"));
    }
    // A changed secret rebuilds; only its hash is hashed in.
    for secret in secrets {
        field(&mut h, "secret", &super::secrets::fingerprint_field(secret));
    }
    let dockerfile = dockerfile_text(image)?;
    for base in crate::dockerfile::base_images_with(&dockerfile, &image.build_args) {
        let id = engine.image_id(&base).await?;
        field(
            &mut h,
            "from",
            &format!("{base}={}", id.as_deref().unwrap_or("-")),
        );
    }
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
        field(&mut h, "test", &test.tag);
        field(&mut h, "test-files", &hash_context(ctx).await?);
    }
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}

/// The Dockerfile `image` is built from: its file, with the `FROM` lines
/// that name another image of the plan pointed at that image's build for
/// the same platform.
pub fn dockerfile_text(image: &ImagePlan) -> Result<String, StepError> {
    let path = image.context.join(&image.dockerfile);
    // A regular file under the config cap, as at load: a Dockerfile swapped
    // for a FIFO since would block the run.
    let text = crate::config::read::read_text(&path, None, "Dockerfile")
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
/// content, in the context's own (sorted) order.
async fn hash_context(ctx: BuildContext) -> Result<String, StepError> {
    tokio::task::spawn_blocking(move || hash_context_blocking(&ctx))
        .await
        .map_err(|e| StepError::Local {
            doing: "hashing a build context".into(),
            source: std::io::Error::other(e),
        })?
}

fn hash_context_blocking(ctx: &BuildContext) -> Result<String, StepError> {
    let names = context::list(ctx)?;
    let mut h = Sha256::new();
    for name in names {
        field(&mut h, "entry", &name);
        if let Some((_, host)) = ctx.extra_files.iter().find(|(n, _)| *n == name) {
            hash_path(&mut h, host)?;
        } else if let (Dockerfile::Inline(text), true) =
            (&ctx.dockerfile, name == context::INLINE_DOCKERFILE)
        {
            field(&mut h, "inline", text);
        } else {
            hash_path(&mut h, &ctx.dir.join(&name))?;
        }
    }
    Ok(hex::encode(h.finalize()))
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
        let image = ImagePlan {
            name: "acme/a:1".into(),
            context: dir.path().to_path_buf(),
            dockerfile: "Dockerfile".into(),
            needs: vec![],
            tests: vec![],
            build_args: Default::default(),
            artifacts: vec![],
            labels: Default::default(),
            timeout: None,
            platforms: vec![],
            rename_bases: Default::default(),
            secrets: Vec::new(),
        };
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
