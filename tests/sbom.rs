//! SBOMs end to end, on the real engine and registry: images built from
//! busybox with a hand-written dpkg status (and an apk database), tested
//! and pushed signed through the `strata` binary; the SBOM read back from
//! the registry without strata, its signature and contents checked, and the
//! document checked by independent tools: `pyspdxtools` (spdx-tools) for
//! SPDX 2.3 and `ntia-checker` (ntia-conformance-checker) for the NTIA
//! minimum elements, both installed by `scripts/setup.sh`.
//!
//! Also: the engine reads an image's files without running it, on Docker
//! and on Podman, following symbolic links, with missing files as `None`,
//! a size cap, and no container left behind.
//!
//! Needs the engine, Podman's service and registries `scripts/setup.sh`
//! starts (then `source target/strata-test-env`).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use common::{
    block_on, busybox_base, engine, registry, registry_get, request, unique, write, Log,
    BUSYBOX_IMAGE,
};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use strata::attest::sbom::{APK_INSTALLED, DPKG_STATUS, OS_RELEASE};
use strata::engine::docker::DockerEngine;
use strata::engine::{Dockerfile, Engine};

/// A dpkg status as dpkg writes it: a multi-line description, a removed
/// package whose configuration files stay, an epoch.
const STATUS: &str = "\
Package: busybox
Status: install ok installed
Priority: optional
Section: utils
Maintainer: Debian Busybox Maintainers <pkg-busybox-maint@lists.alioth.debian.org>
Architecture: amd64
Version: 1:1.35.0-4+b3
Description: Tiny utilities for small and embedded systems
 BusyBox combines tiny versions of many common UNIX utilities into a single
 small executable.

Package: removed-tool
Status: deinstall ok config-files
Architecture: amd64
Version: 2.0-1

Package: libc6
Status: install ok installed
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u7
Homepage: https://www.gnu.org/software/libc/libc.html
";

/// An apk database as apk writes it.
const INSTALLED: &str = "\
C:Q1yB3TbG3nKWOFmtLYKuW5M3bYUgs=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
S:407447
I:663552
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Timo Teras <timo.teras@iki.fi>
F:lib
R:ld-musl-x86_64.so.1

C:Q1kB0ixPfS7PUVnCSGmTb4oMJ2y1g=
P:busybox
V:1.36.1-r15
A:x86_64
L:GPL-2.0-only
o:busybox
m:Natanael Copa <ncopa@alpinelinux.org>
";

/// Builds, on `engine`, an image from busybox holding the dpkg status, an
/// os-release reached through a symbolic link (as on Debian) and a file
/// too long to read.
async fn image_with_files(engine: &DockerEngine, tag: &str) -> strata::engine::ImageId {
    busybox_base(engine, BUSYBOX_IMAGE).await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "status", STATUS);
    write(
        dir.path(),
        "os-release",
        "NAME=\"Debian GNU/Linux\"\nID=debian\n",
    );
    write(dir.path(), "big", &"x".repeat(100_000));
    write(
        dir.path(),
        "Dockerfile",
        &format!(
            "FROM {BUSYBOX_IMAGE}\nCOPY status /var/lib/dpkg/status\nCOPY os-release /usr/lib/os-release\n\
             COPY big /big\nRUN mkdir -p /etc && ln -sf ../usr/lib/os-release /etc/os-release\n"
        ),
    );
    let log = Log::default();
    let built = engine
        .build(
            request(
                dir.path(),
                Dockerfile::Path("Dockerfile".into()),
                Some(tag.into()),
            ),
            &log.sink(),
        )
        .await;
    built.unwrap_or_else(|e| panic!("build failed: {e}\n{}", log.text()))
}

async fn reads_files_without_running(engine: DockerEngine, tag: String) {
    let id = image_with_files(&engine, &tag).await;
    let files = engine
        .read_files(&id, &[DPKG_STATUS, APK_INSTALLED, OS_RELEASE], 1 << 20)
        .await
        .unwrap();
    assert_eq!(files[0].as_deref(), Some(STATUS.as_bytes()));
    assert_eq!(
        files[1], None,
        "a missing database is no file, not an error"
    );
    // /etc/os-release is a link to ../usr/lib/os-release: followed.
    assert_eq!(
        files[2].as_deref(),
        Some(&b"NAME=\"Debian GNU/Linux\"\nID=debian\n"[..])
    );
    // Longer than the cap: an error that says so.
    let e = engine.read_files(&id, &["/big"], 1000).await.unwrap_err();
    assert!(e.to_string().contains("/big"), "{e}");
    // Nothing ran, and nothing is left behind.
    assert!(engine
        .run_containers_from(id.as_str())
        .await
        .unwrap()
        .is_empty());
    let _ = engine.remove(&common::image_ref(&tag)).await;

    // An image of another platform, without any command (`FROM scratch`):
    // a container that is never started is made all the same.
    let dir = tempfile::tempdir().unwrap();
    let mut rootfs = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(INSTALLED.len() as u64);
    header.set_mode(0o644);
    rootfs
        .append_data(&mut header, "lib/apk/db/installed", INSTALLED.as_bytes())
        .unwrap();
    std::fs::write(dir.path().join("rootfs.tar"), rootfs.into_inner().unwrap()).unwrap();
    write(dir.path(), "Dockerfile", "FROM scratch\nADD rootfs.tar /\n");
    let mut req = request(
        dir.path(),
        Dockerfile::Path("Dockerfile".into()),
        Some(format!("{tag}-arm64")),
    );
    req.platform = Some("linux/arm64".parse().unwrap());
    let log = Log::default();
    let built = engine.build(req, &log.sink()).await;
    let arm = built.unwrap_or_else(|e| panic!("build failed: {e}\n{}", log.text()));
    let files = engine
        .read_files(&arm, &[APK_INSTALLED, DPKG_STATUS], 1 << 20)
        .await
        .unwrap();
    assert_eq!(files, [Some(INSTALLED.as_bytes().to_vec()), None]);
    assert!(engine
        .run_containers_from(arm.as_str())
        .await
        .unwrap()
        .is_empty());
    let _ = engine
        .remove(&common::image_ref(&format!("{tag}-arm64")))
        .await;
}

#[tokio::test]
async fn docker_reads_an_images_files_without_running_it() {
    let tag = format!("strata-test/{}:1", unique("sbom-read"));
    reads_files_without_running(engine().await, tag).await;
}

#[tokio::test]
async fn podman_reads_an_images_files_without_running_it() {
    let tag = format!("localhost/strata-test/{}:1", unique("sbom-read"));
    reads_files_without_running(common::podman().await, tag).await;
}

/// A local HTTP proxy that answers every request with `body`, and records
/// the request lines: the artifact's URL keeps a public host name, as
/// SPDX's download locations want, while its bytes come from here.
fn proxy(body: Vec<u8>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            record.lock().unwrap().push(first.trim().to_string());
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
        }
    });
    (address, seen)
}

fn data(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A project of two images of Node 22.11.0 on busybox: `deb` with a dpkg
/// status and Debian's os-release, `apk` with an apk database; both get
/// the artifact `node` from `url`.
fn project(root: &Path, repo: &str, url: &str, sha256: &str) {
    std::fs::create_dir_all(root.join("feed")).unwrap();
    std::fs::copy(data("node-dist-index.tab"), root.join("feed/index.tab")).unwrap();
    std::fs::copy(
        data("node-release-schedule.json"),
        root.join("feed/schedule.json"),
    )
    .unwrap();
    write(
        root,
        "tpl/Dockerfile.j2",
        &format!(
            "FROM {{{{ os.from }}}}\nCOPY {{{{ artifacts.node }}}} /opt/\n\
             {{% if os.name == \"deb\" %}}RUN mkdir -p /var/lib/dpkg /usr/lib && printf '{}' > /var/lib/dpkg/status \
             && printf 'NAME=\"Debian GNU/Linux\"\\nID=debian\\n' > /usr/lib/os-release \
             && ln -sf ../usr/lib/os-release /etc/os-release\n\
             {{% else %}}RUN mkdir -p /lib/apk/db && printf '{}' > /lib/apk/db/installed\n{{% endif %}}",
            escape(STATUS),
            escape(INSTALLED)
        ),
    );
    write(
        root,
        "strata.yml",
        &format!(
            "as_of: 2024-10-30\noutput: out\nfeed:\n  index: feed/index.tab\n  schedule: feed/schedule.json\n  range: \"22.11.0\"\n\
             os:\n  - {{ name: deb, default: true, from: \"{BUSYBOX_IMAGE}\" }}\n  - {{ name: apk, from: \"{BUSYBOX_IMAGE}\" }}\n\
             image:\n  name: \"{repo}:{{{{ version }}}}-{{{{ os.name }}}}\"\n  template: tpl\n\
             artifacts:\n  node:\n    url: \"{url}\"\n    sha256: \"{sha256}\"\n    file: node.tgz\n"
        ),
    );
}

/// `text` as a printf format inside single quotes in a Dockerfile: new
/// lines as `\n`, `%` doubled.
fn escape(text: &str) -> String {
    assert!(!text.contains('\''));
    text.replace('%', "%%").replace('\n', "\\n")
}

fn strata(dir: &Path, proxy: &str, args: &[&str]) -> (Option<i32>, String) {
    let out = assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(dir)
        .env_remove("STRATA_SIGNING_KEY")
        .env("http_proxy", proxy)
        .env("HTTP_PROXY", proxy)
        .env("no_proxy", "127.0.0.1,localhost")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .args(args)
        .timeout(std::time::Duration::from_secs(300))
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), all)
}

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const SPDX: &str = "https://spdx.dev/Document";

/// The referrers of `digest` in `repo` (the registry has no referrers API:
/// the OCI 1.1 tag schema), read without strata.
fn referrers(reg: &str, repo: &str, digest: &str) -> Vec<Value> {
    let tag = digest.replacen(':', "-", 1);
    let index: Value = serde_json::from_slice(&registry_get(
        &format!("http://{reg}/v2/{repo}/manifests/{tag}"),
        INDEX,
    ))
    .unwrap();
    index["manifests"].as_array().cloned().unwrap_or_default()
}

/// The payload bytes of every SBOM statement attached to `digest`, each
/// signature checked with `public`.
fn sboms(reg: &str, repo: &str, digest: &str, public: &Path) -> Vec<Vec<u8>> {
    let key = strata::attest::key::PublicKey::read(public).unwrap();
    referrers(reg, repo, digest)
        .iter()
        .filter(|e| {
            e["artifactType"] == "application/vnd.in-toto+json"
                && e["annotations"]["in-toto.io/predicate-type"] == SPDX
        })
        .map(|e| {
            let art = registry_get(
                &format!(
                    "http://{reg}/v2/{repo}/manifests/{}",
                    e["digest"].as_str().unwrap()
                ),
                MANIFEST,
            );
            let art: Value = serde_json::from_slice(&art).unwrap();
            assert_eq!(art["subject"]["digest"], digest);
            let layer = art["layers"][0]["digest"].as_str().unwrap();
            let envelope = registry_get(&format!("http://{reg}/v2/{repo}/blobs/{layer}"), "*/*");
            let envelope = strata::attest::dsse::Envelope::parse(&envelope).unwrap();
            envelope
                .verify(&key)
                .expect("the SBOM is signed with the key");
            envelope.payload_bytes().unwrap()
        })
        .collect()
}

fn package<'a>(doc: &'a Value, name: &str) -> Option<&'a Value> {
    doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
}

fn purl(p: &Value) -> &str {
    p["externalRefs"][0]["referenceLocator"].as_str().unwrap()
}

/// Runs the independent checkers on `doc`: `pyspdxtools` validates it as
/// SPDX 2.3, `ntia-checker` checks the NTIA minimum elements.
fn independent_checks(doc: &Value, dir: &Path, name: &str) {
    let (valid, said) = spdx_valid(doc, dir, name);
    assert!(valid, "pyspdxtools: {said}");
    let report = ntia(doc, dir, name);
    assert_eq!(report["isNtiaConformant"], true, "{report:#}");
    assert_eq!(
        report["validationMessages"],
        serde_json::json!([]),
        "{report:#}"
    );
}

/// Whether `pyspdxtools` finds `doc` a valid SPDX document, and what it said.
fn spdx_valid(doc: &Value, dir: &Path, name: &str) -> (bool, String) {
    let file = dir.join(format!("{name}.spdx.json"));
    std::fs::write(&file, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    let out = std::process::Command::new("pyspdxtools")
        .arg("-i")
        .arg(&file)
        .output()
        .expect("pyspdxtools runs (scripts/setup.sh installs spdx-tools)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && !said.contains("invalid"), said)
}

/// `ntia-checker`'s JSON report on `doc`.
fn ntia(doc: &Value, dir: &Path, name: &str) -> Value {
    let file = dir.join(format!("{name}.ntia.spdx.json"));
    std::fs::write(&file, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    let out = std::process::Command::new("ntia-checker")
        .args(["--comply", "ntia", "--output", "json"])
        .arg(&file)
        .output()
        .expect("ntia-checker runs (scripts/setup.sh installs ntia-conformance-checker)");
    let said = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&said).unwrap_or_else(|e| {
        panic!(
            "ntia-checker: {e}: {said}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn signed_pushes_attach_an_sbom_read_from_the_image() {
    let reg = registry();
    block_on(async {
        busybox_base(&engine().await, BUSYBOX_IMAGE).await;
    });
    let body = b"node 22.11.0 as strata downloaded it".to_vec();
    let sum = hex::encode(Sha256::digest(&body));
    let (proxy, requests) = proxy(body);
    let url = "http://downloads.example.com/dist/v{{ version }}/node-v{{ version }}-linux-x64.tgz";
    let fetched = "http://downloads.example.com/dist/v22.11.0/node-v22.11.0-linux-x64.tgz";
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("project");
    let repo_path = format!("{}/node", unique("sbom"));
    let repo = format!("{reg}/{repo_path}");
    project(&root, &repo, url, &sum);

    let prefix = dir.path().join("release");
    let (code, all) = strata(
        dir.path(),
        &proxy,
        &["key", "generate", "--out", prefix.to_str().unwrap()],
    );
    assert_eq!(code, Some(0), "{all}");
    let (key, public) = (
        dir.path().join("release.key"),
        dir.path().join("release.pub"),
    );
    let (code, all) = strata(&root, &proxy, &["test", "-f", "strata.yml"]);
    assert_eq!(code, Some(0), "{all}");
    assert!(
        requests.lock().unwrap().iter().any(|r| r.contains(fetched)),
        "{:?}",
        requests.lock().unwrap()
    );
    let (code, all) = strata(
        &root,
        &proxy,
        // One at a time: both images send the busybox layer to one
        // repository.
        &[
            "push",
            "-v",
            "-j",
            "1",
            "--key",
            key.to_str().unwrap(),
            "-f",
            "strata.yml",
        ],
    );
    assert_eq!(code, Some(0), "{all}");
    assert!(all.contains("SBOM of sha256:"), "{all}");

    // --- the dpkg image.
    let digest = common::manifest_digest(&reg, &repo_path, "22.11.0-deb").unwrap();
    let found = sboms(&reg, &repo_path, &digest, &public);
    assert_eq!(found.len(), 1, "one SBOM per platform image");
    let first = found[0].clone();
    let statement: Value = serde_json::from_slice(&found[0]).unwrap();
    assert_eq!(statement["predicateType"], SPDX);
    assert_eq!(
        statement["subject"][0]["digest"]["sha256"],
        digest.trim_start_matches("sha256:")
    );
    let doc = &statement["predicate"];
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    let busybox = package(doc, "busybox").expect("busybox from the dpkg status");
    assert_eq!(busybox["versionInfo"], "1:1.35.0-4+b3");
    assert_eq!(
        purl(busybox),
        "pkg:deb/debian/busybox@1:1.35.0-4%2Bb3?arch=amd64"
    );
    assert_eq!(
        purl(package(doc, "libc6").unwrap()),
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u7?arch=amd64"
    );
    assert!(
        package(doc, "removed-tool").is_none(),
        "deinstalled: left out"
    );
    // Debian's os-release, through its link, names the supplier.
    assert_eq!(busybox["supplier"], "Organization: Debian GNU/Linux");
    let node = package(doc, "node").expect("the artifact strata put in");
    assert_eq!(node["versionInfo"], "22.11.0", "{node:#}");
    assert_eq!(node["downloadLocation"], fetched);
    assert_eq!(node["checksums"][0]["algorithm"], "SHA256");
    assert_eq!(node["checksums"][0]["checksumValue"], sum);
    assert!(
        purl(node).starts_with("pkg:generic/node@22.11.0?download_url=http"),
        "{}",
        purl(node)
    );
    independent_checks(doc, dir.path(), "deb");
    // The checkers check: a package without supplier is not NTIA
    // conformant, a download location that is no URL not valid SPDX.
    let mut no_supplier = doc.clone();
    no_supplier["packages"][1]["supplier"] = "NOASSERTION".into();
    let report = ntia(&no_supplier, dir.path(), "no-supplier");
    assert_eq!(report["isNtiaConformant"], false, "{report:#}");
    let mut bad_location = doc.clone();
    bad_location["packages"][1]["downloadLocation"] = "not a location".into();
    assert!(!spdx_valid(&bad_location, dir.path(), "bad-location").0);

    // --- the apk image: its database, and no dpkg packages.
    let apk_digest = common::manifest_digest(&reg, &repo_path, "22.11.0-apk").unwrap();
    let found = sboms(&reg, &repo_path, &apk_digest, &public);
    assert_eq!(found.len(), 1);
    let statement: Value = serde_json::from_slice(&found[0]).unwrap();
    let apk_doc = &statement["predicate"];
    let musl = package(apk_doc, "musl").expect("musl from the apk database");
    assert_eq!(
        purl(musl),
        "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64"
    );
    assert!(package(apk_doc, "libc6").is_none());
    assert!(package(apk_doc, "node").is_some());
    independent_checks(apk_doc, dir.path(), "apk");

    // --- pushed again: nothing new; with --no-cache the SBOM is made and
    // attached again (read from the image again), and it is the same
    // statement, so the registry holds the very same referrer.
    let before = referrers(&reg, &repo_path, &digest).len();
    let (code, all) = strata(
        &root,
        &proxy,
        &[
            "push",
            "-v",
            "--key",
            key.to_str().unwrap(),
            "-f",
            "strata.yml",
        ],
    );
    assert_eq!(code, Some(0), "{all}");
    assert!(all.contains("SBOM of this image already attached"), "{all}");
    assert_eq!(referrers(&reg, &repo_path, &digest).len(), before);
    let (code, all) = strata(
        &root,
        &proxy,
        &[
            "push",
            "-v",
            "--no-cache",
            "--key",
            key.to_str().unwrap(),
            "-f",
            "strata.yml",
        ],
    );
    assert_eq!(code, Some(0), "{all}");
    assert!(all.contains("SBOM of sha256:"), "{all}");
    let again = sboms(&reg, &repo_path, &digest, &public);
    assert_eq!(again, [first], "the same image makes the same SBOM");
}

/// A dpkg status of `n` installed packages.
fn many_packages(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "Package: pkg-{i}\nStatus: install ok installed\nMaintainer: Team <team@example.org>\n\
                 Architecture: amd64\nVersion: 1.0-{i}\n\n"
            )
        })
        .collect()
}

const PACKAGES: usize = 8000;

#[test]
fn an_image_with_thousands_of_packages_still_verifies() {
    let reg = registry();
    block_on(async {
        busybox_base(&engine().await, BUSYBOX_IMAGE).await;
    });
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("project");
    let repo_path = format!("{}/big", unique("sbom"));
    let image = format!("{reg}/{repo_path}:1");
    let other = format!("{}/elsewhere", unique("sbom"));
    let alias = format!("{reg}/{other}:latest");
    write(
        &root,
        "inventory.yml",
        &format!(
            "images:\n  - name: \"{image}\"\n    path: ./app\n    test: [./tests/db]\n    alias: \"{alias}\"\n"
        ),
    );
    write(&root, "app/status", &many_packages(PACKAGES));
    write(
        &root,
        "app/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nCOPY status /var/lib/dpkg/status\n"),
    );
    write(
        &root,
        "tests/db/Dockerfile",
        "RUN test -s /var/lib/dpkg/status\n",
    );
    let prefix = dir.path().join("release");
    let none = "http://127.0.0.1:9";
    let (code, all) = strata(
        dir.path(),
        none,
        &["key", "generate", "--out", prefix.to_str().unwrap()],
    );
    assert_eq!(code, Some(0), "{all}");
    let (key, public) = (
        dir.path().join("release.key"),
        dir.path().join("release.pub"),
    );
    let (code, all) = strata(&root, none, &["test"]);
    assert_eq!(code, Some(0), "{all}");
    let (code, all) = strata(&root, none, &["push", "-v", "--key", key.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{all}");
    assert!(all.contains(&format!("{PACKAGES} packages")), "{all}");
    let digest = common::manifest_digest(&reg, &repo_path, "1").unwrap();
    let found = sboms(&reg, &repo_path, &digest, &public);
    assert_eq!(found.len(), 1);
    assert!(found[0].len() > 4 << 20, "{} bytes", found[0].len());
    // The SBOM is larger than a test attestation may be: `verify` reads
    // an SBOM up to the SBOM's own cap, and finds it valid.
    let (code, all) = strata(
        dir.path(),
        none,
        &["verify", &image, "--key", public.to_str().unwrap()],
    );
    assert_eq!(code, Some(0), "{all}");
    // The alias in another repository got the same SBOM there, and
    // `publish` finds it up to date.
    let copied = sboms(&reg, &other, &digest, &public);
    assert!(copied == found, "{} SBOMs in {other}", copied.len());
    let (code, all) = strata(&root, none, &["publish", "--key", public.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{all}");
    // A run stopped before the alias's repository got its attestations:
    // `publish` copies them, the SBOM too, whatever its size.
    let tag = format!("{reg}/{other}:{}", digest.replacen(':', "-", 1));
    let empty = serde_json::json!({
        "schemaVersion": 2, "mediaType": INDEX, "manifests": [],
    });
    block_on(async {
        use oci_client::client::{ClientConfig, ClientProtocol};
        let client = oci_client::Client::new(ClientConfig {
            protocol: ClientProtocol::Http,
            ..Default::default()
        });
        let reference: oci_client::Reference = tag.parse().unwrap();
        client
            .push_manifest_raw(
                &reference,
                serde_json::to_vec(&empty).unwrap(),
                INDEX.parse().unwrap(),
            )
            .await
            .unwrap();
    });
    assert!(sboms(&reg, &other, &digest, &public).is_empty());
    let (code, all) = strata(&root, none, &["publish", "--key", public.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{all}");
    let copied = sboms(&reg, &other, &digest, &public);
    assert!(copied == found, "{} SBOMs in {other}: {all}", copied.len());
}
