//! Shared support for integration tests that need a real engine or registry.
//!
//! Nothing here fakes anything: helpers connect to the engine and registries
//! `scripts/setup.sh` starts, and fail loudly with instructions when they are
//! not there, so a missing engine can never look like a passing test.
//!
//! No image can be pulled in the test environment, so [`busybox_base`] makes a
//! base image from the host's static busybox.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::future::Future;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use strata::engine::docker::DockerEngine;
use strata::engine::{BuildContext, BuildRequest, Dockerfile, Engine, ImageId};
use strata::secret::{Credentials, Secret};

/// What to do when the test environment is missing.
pub const SETUP_HINT: &str =
    "start it with `bash scripts/setup.sh`, then `source target/strata-test-env`";

/// Where the static busybox binary lives (Debian's busybox-static).
pub const BUSYBOX: &str = "/bin/busybox";

/// The base image most tests build on.
pub const BUSYBOX_IMAGE: &str = "strata-test/busybox:latest";

/// Runs a future to completion on a fresh runtime, for tests that are not
/// `#[tokio::test]`.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

/// The Docker engine (`DOCKER_HOST`, else the default socket). Panics, saying
/// how to start it, when it does not answer.
pub async fn engine() -> DockerEngine {
    let host = std::env::var("DOCKER_HOST")
        .unwrap_or_else(|_| strata::engine::docker::DEFAULT_HOST.to_string());
    engine_at(&host).await
}

/// The engine at `host`; panics with setup instructions when unreachable.
pub async fn engine_at(host: &str) -> DockerEngine {
    let engine = match DockerEngine::connect_to(host).await {
        Ok(engine) => engine,
        Err(e) => panic!("container engine not reachable at {host}: {SETUP_HINT}\n({e})"),
    };
    if let Err(e) = engine.info().await {
        panic!("container engine not reachable at {host}: {SETUP_HINT}\n({e})");
    }
    engine
}

/// Podman's Docker-compatible service, from `STRATA_TEST_PODMAN_HOST`.
pub async fn podman() -> DockerEngine {
    let host = env_or_panic("STRATA_TEST_PODMAN_HOST");
    engine_at(&host).await
}

/// The open test registry (`host:port`), from `STRATA_TEST_REGISTRY`.
/// Panics with setup instructions when unset or not listening.
pub fn registry() -> String {
    let registry = env_or_panic("STRATA_TEST_REGISTRY");
    assert_listening(&registry);
    registry
}

/// The registry that requires a password, and its credentials.
pub fn auth_registry() -> (String, Credentials) {
    let registry = env_or_panic("STRATA_TEST_AUTH_REGISTRY");
    assert_listening(&registry);
    let credentials = Credentials {
        username: env_or_panic("STRATA_TEST_REGISTRY_USER"),
        password: Secret::new(env_or_panic("STRATA_TEST_REGISTRY_PASSWORD")),
    };
    (registry, credentials)
}

fn env_or_panic(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!("{name} is not set: {SETUP_HINT}"),
    }
}

fn assert_listening(host_port: &str) {
    let reachable = host_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(3)).is_ok());
    assert!(
        reachable,
        "registry not reachable at {host_port}: {SETUP_HINT}"
    );
}

/// A name no other test run uses: `prefix-<pid>-<time>-<n>`, lowercase so
/// it is a valid repository name.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() % 1_000_000_000_000)
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{}-{}-{nanos}-{n}",
        prefix.to_lowercase(),
        std::process::id()
    )
}

/// Writes `text` to `dir/name`, creating folders.
pub fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// `text` as an image reference (tests name images with strings).
pub fn image_ref(text: &str) -> strata::reference::ImageRef {
    strata::reference::ImageRef::parse(text)
        .unwrap_or_else(|e| panic!("`{text}` is not an image reference: {e}"))
}

/// `text` as a repository.
pub fn repository(text: &str) -> strata::reference::Repository {
    strata::reference::Repository::parse(text)
        .unwrap_or_else(|e| panic!("`{text}` is not a repository: {e}"))
}

/// A plain build request: `dir` as the context, no arguments or labels.
pub fn request(dir: &Path, dockerfile: Dockerfile, tag: Option<String>) -> BuildRequest {
    BuildRequest {
        context: BuildContext {
            dir: dir.to_path_buf(),
            dockerfile,
            extra_files: Vec::new(),
        },
        tag: tag.map(|t| image_ref(&t)),
        build_args: Default::default(),
        labels: Default::default(),
        no_cache: false,
        timeout: None,
        platform: None,
        builder: None,
        secrets: Vec::new(),
    }
}

/// Collects log lines; `sink()` is what engine calls take.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn sink(&self) -> impl Fn(&str) + Send + Sync + '_ {
        move |line: &str| self.0.lock().unwrap().push(line.to_string())
    }
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    pub fn text(&self) -> String {
        self.lines().join("\n")
    }
}

/// Makes `reference` a local image holding busybox and its applets (`sh`,
/// `echo`, `cat`, `find`, …) unless it already exists, and returns its ID.
///
/// Safe to call from tests running at the same time: they all get the image
/// the first one made.
pub async fn busybox_base(engine: &DockerEngine, reference: &str) -> ImageId {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _guard = LOCK.lock().await;
    if let Some(id) = engine
        .image_id(&image_ref(reference))
        .await
        .expect("inspect base image")
    {
        return id;
    }
    let tar = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(tar.path(), busybox_rootfs()).expect("write rootfs tar");
    engine
        .import(tar.path().to_path_buf(), &image_ref(reference))
        .await
        .unwrap_or_else(|e| panic!("importing the busybox base image failed: {e}"))
}

/// A root filesystem tar: `/bin/busybox`, a link per applet, and the few
/// files and folders programs expect.
pub fn busybox_rootfs() -> Vec<u8> {
    assert!(
        Path::new(BUSYBOX).is_file(),
        "{BUSYBOX} is missing: install busybox-static ({SETUP_HINT})"
    );
    let applets = std::process::Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .expect("run busybox --list");
    let applets = String::from_utf8(applets.stdout).expect("applet list");

    let mut builder = tar::Builder::new(Vec::new());
    for (dir, mode) in [
        ("bin", 0o755),
        ("etc", 0o755),
        ("root", 0o700),
        ("tmp", 0o1777),
        ("proc", 0o755),
        ("sys", 0o755),
        ("dev", 0o755),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(mode);
        header.set_size(0);
        builder
            .append_data(&mut header, format!("{dir}/"), std::io::empty())
            .unwrap();
    }
    let binary = std::fs::read(BUSYBOX).expect("read busybox");
    append_file(&mut builder, "bin/busybox", 0o755, &binary);
    for applet in applets.lines().map(str::trim).filter(|a| !a.is_empty()) {
        if applet == "busybox" {
            continue;
        }
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_mode(0o777);
        header.set_size(0);
        builder
            .append_link(&mut header, format!("bin/{applet}"), "busybox")
            .unwrap();
    }
    append_file(
        &mut builder,
        "etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\n",
    );
    append_file(&mut builder, "etc/group", 0o644, b"root:x:0:\n");
    builder.into_inner().expect("rootfs tar")
}

fn append_file(builder: &mut tar::Builder<Vec<u8>>, name: &str, mode: u32, data: &[u8]) {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(mode);
    header.set_size(data.len() as u64);
    builder.append_data(&mut header, name, data).unwrap();
}

/// Checks [`Engine::tags_of`] on `engine`: the tags of the repositories
/// asked for (normalized, with the IDs `image_id` gives), nothing of a
/// repository not asked for, whatever form the repository is written in.
pub async fn check_tags_of(engine: &DockerEngine, host_prefix: &str) {
    let base = busybox_base(engine, BUSYBOX_IMAGE).await;
    let one = format!("{host_prefix}strata-test/{}", unique("list-one"));
    let two = format!("{host_prefix}strata-test/{}", unique("list-two"));
    let other = format!("{host_prefix}strata-test/{}", unique("list-other"));
    for reference in [
        format!("{one}:a"),
        format!("{one}:b"),
        format!("{two}:latest"),
        format!("{other}:a"),
    ] {
        engine.tag(&base, &image_ref(&reference)).await.unwrap();
    }
    let base_repo = BUSYBOX_IMAGE.split(':').next().unwrap().to_string();
    let found = engine
        .tags_of(&[
            repository(&one),
            repository(&two),
            repository(&format!("docker.io/{base_repo}")),
        ])
        .await
        .unwrap();
    let tags: Vec<&str> = found.iter().map(|(t, _)| t.as_str()).collect();
    let norm = strata::reference::normalize;
    for wanted in [
        format!("{one}:a"),
        format!("{one}:b"),
        format!("{two}:latest"),
    ] {
        assert!(
            tags.contains(&norm(&wanted).as_str()),
            "{wanted} in {tags:?}"
        );
    }
    assert!(
        tags.contains(&norm(BUSYBOX_IMAGE).as_str()),
        "the base, asked for as docker.io/…: {tags:?}"
    );
    assert!(
        !tags.iter().any(|t| t.contains("list-other")),
        "a repository not asked for: {tags:?}"
    );
    for (tag, id) in &found {
        assert_eq!(
            engine.image_id(&image_ref(tag)).await.unwrap().as_ref(),
            Some(id),
            "{tag}"
        );
    }
    for reference in [
        format!("{one}:a"),
        format!("{one}:b"),
        format!("{two}:latest"),
        format!("{other}:a"),
    ] {
        engine.remove(&image_ref(&reference)).await.unwrap();
    }
}

/// A TCP port nothing listens on right now, for a server a test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The manifest types a plain-HTTP read of the registry accepts.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// The digest `repo:reference` resolves to in the plain-HTTP registry
/// `registry` (an index or an image manifest), read without strata; `None`
/// when the registry does not have it.
pub fn manifest_digest(registry: &str, repo: &str, reference: &str) -> Option<String> {
    let url = format!("http://{registry}/v2/{repo}/manifests/{reference}");
    block_on(async move {
        let r = reqwest::Client::new()
            .head(&url)
            .header("Accept", MANIFEST_ACCEPT)
            .send()
            .await
            .unwrap();
        r.status().is_success().then(|| {
            r.headers()["Docker-Content-Digest"]
                .to_str()
                .unwrap()
                .to_string()
        })
    })
}

/// Puts the manifest `repo:from` also under `repo:to` in the plain-HTTP
/// registry `registry`, as another tool (or machine) would, without strata.
pub fn registry_retag(registry: &str, repo: &str, from: &str, to: &str) {
    let base = format!("http://{registry}/v2/{repo}/manifests");
    block_on(async move {
        let client = reqwest::Client::new();
        let got = client
            .get(format!("{base}/{from}"))
            .header("Accept", MANIFEST_ACCEPT)
            .send()
            .await
            .unwrap();
        assert!(
            got.status().is_success(),
            "GET {repo}:{from}: {}",
            got.status()
        );
        let media_type = got.headers()["Content-Type"].to_str().unwrap().to_string();
        let body = got.bytes().await.unwrap();
        let put = client
            .put(format!("{base}/{to}"))
            .header("Content-Type", media_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(
            put.status().is_success(),
            "PUT {repo}:{to}: {}",
            put.status()
        );
    })
}

/// Runs the `strata` binary in `dir` with `args` and the extra `envs`, with
/// short retry pauses and no `STRATA_BUILDER` from the caller's shell.
pub fn strata_with(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = assert_cmd::Command::cargo_bin("strata").unwrap();
    cmd.current_dir(dir)
        .env("STRATA_RETRY_BACKOFF_MS", "10")
        .env_remove("STRATA_BUILDER")
        .args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// The arm64 busybox that the setup script fetched
/// (`STRATA_TEST_BUSYBOX_ARM64`).
pub fn arm64_busybox() -> PathBuf {
    let path = std::env::var("STRATA_TEST_BUSYBOX_ARM64")
        .expect("STRATA_TEST_BUSYBOX_ARM64 is unset: run scripts/setup.sh and source its env file");
    let path = PathBuf::from(path);
    assert!(
        path.is_file(),
        "{} is missing (scripts/setup.sh)",
        path.display()
    );
    path
}

/// The host's busybox root filesystem with its binary swapped for `binary`.
pub fn rootfs_with(binary: &Path) -> Vec<u8> {
    let host = busybox_rootfs();
    let mut archive = tar::Archive::new(host.as_slice());
    let mut out = tar::Builder::new(Vec::new());
    let replacement = std::fs::read(binary).unwrap();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut header = entry.header().clone();
        if entry.path().unwrap().to_str() == Some("bin/busybox") {
            header.set_size(replacement.len() as u64);
            header.set_cksum();
            out.append(&header, replacement.as_slice()).unwrap();
        } else {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            out.append(&header, data.as_slice()).unwrap();
        }
    }
    out.into_inner().unwrap()
}

/// The host's busybox root filesystem with the arm64 busybox in it.
pub fn arm64_rootfs() -> Vec<u8> {
    rootfs_with(&arm64_busybox())
}

/// The architecture the engine records for the local image `reference`
/// (`docker image inspect`, read without strata); empty when it has none.
pub fn architecture(reference: &str) -> String {
    architecture_on(reference, None)
}

/// [`architecture`] on the engine at `docker_host` (`None`: the default).
pub fn architecture_on(reference: &str, docker_host: Option<&str>) -> String {
    let mut cmd = std::process::Command::new("docker");
    if let Some(host) = docker_host {
        cmd.env("DOCKER_HOST", host);
    }
    let out = cmd
        .args([
            "image",
            "inspect",
            "--format",
            "{{.Architecture}}",
            reference,
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The body of a plain-HTTP GET of `url` with `accept`, read without
/// strata; panics unless the registry answers with success.
pub fn registry_get(url: &str, accept: &str) -> Vec<u8> {
    let (url, accept) = (url.to_string(), accept.to_string());
    block_on(async move {
        let r = reqwest::Client::new()
            .get(&url)
            .header("Accept", accept)
            .send()
            .await
            .expect("registry answers");
        assert!(r.status().is_success(), "GET {url}: {}", r.status());
        r.bytes().await.unwrap().to_vec()
    })
}

/// Pushes `reference`, held by the engine at `DOCKER_HOST`, to its registry
/// with the Docker CLI: how tests put an upstream base where strata finds it
/// (strata itself ships by image ID, never pushes a name).
pub fn docker_push(reference: &str) {
    let out = std::process::Command::new("docker")
        .args(["push", reference])
        .output()
        .expect("the docker CLI runs");
    assert!(
        out.status.success(),
        "docker push {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
