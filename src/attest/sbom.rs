//! The SBOM strata attests for each platform image it pushes: an SPDX 2.3
//! JSON document, as the predicate (`https://spdx.dev/Document`) of an
//! in-toto statement about the image's manifest digest.
//!
//! A pure value: built from the texts of the image's package databases (as
//! the executor read them from the built image's filesystem through the
//! engine, never from the Dockerfile) and from what strata itself put into
//! the build context (its artifacts, with their source and checksum). The
//! same inputs make the same bytes: the namespace comes from the digest and
//! `created` from the time the image was tested, not from the clock.
//!
//! * `/var/lib/dpkg/status`: one package per stanza whose `Status` says
//!   installed (`deinstall … config-files` and half-installed ones are left
//!   out), purl `pkg:deb/<os>/NAME@VERSION?arch=ARCH`;
//! * `/lib/apk/db/installed`: one package per stanza, purl
//!   `pkg:apk/<os>/NAME@VERSION?arch=ARCH`;
//! * each artifact: `pkg:npm/NAME@VERSION` for an npm package,
//!   `pkg:generic/NAME@VERSION?download_url=URL` for a URL, with its
//!   download location and SHA-256.
//!
//! `<os>` is `ID` from the image's `/etc/os-release`, else `debian` for a
//! dpkg database and `alpine` for an apk one. Every package has a supplier
//! (the NTIA minimum elements ask for one): the distribution for its
//! packages (its maintainer, when named, is the originator), the host an
//! artifact was downloaded from, and for the image itself its repository.

use chrono::{DateTime, Utc};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};

use super::{STATEMENT_TYPE, STRATA_VERSION};

/// The predicate type of an SPDX document in an in-toto statement.
pub const SPDX_PREDICATE_TYPE: &str = "https://spdx.dev/Document";

/// Where the package databases and the OS's name are in an image.
pub const DPKG_STATUS: &str = "/var/lib/dpkg/status";
pub const APK_INSTALLED: &str = "/lib/apk/db/installed";
pub const OS_RELEASE: &str = "/etc/os-release";

/// The files an SBOM is made from, in the order [`Image::files`] holds them.
pub const FILES: [&str; 3] = [DPKG_STATUS, APK_INSTALLED, OS_RELEASE];

/// The most strata reads of one of those files: 64 MiB (a large Debian
/// image's dpkg status is a few MiB).
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The most strata reads of a signed SBOM back from a registry (to copy
/// it to an alias's repository): 256 MiB.
pub const MAX_ENVELOPE_BYTES: u64 = 256 * 1024 * 1024;

/// Which package database a package was listed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Dpkg,
    Apk,
}

/// A package an image's package database lists as installed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Installed {
    pub name: String,
    pub version: String,
    pub arch: Option<String>,
    /// The maintainer as the database names it (`Name <mail>`).
    pub maintainer: Option<String>,
    pub license: Option<String>,
    pub homepage: Option<String>,
}

/// A file strata downloaded and put into the image's build context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactEntry {
    /// Its name in the build context.
    pub file_name: String,
    /// `npm` for an npm package, `generic` for a URL.
    pub kind: ArtifactKind,
    pub name: String,
    pub version: String,
    /// The URL it was downloaded from.
    pub download_location: String,
    /// SHA-256 of the bytes that went into the context, in hex.
    pub sha256: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactKind {
    Npm,
    Generic,
}

/// What an SBOM is made from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Image {
    /// The repository the image is in (the statement's subject name).
    pub repository: String,
    /// The manifest digest (`sha256:…`).
    pub digest: String,
    /// The image ID (config digest).
    pub image_id: String,
    /// When it was tested: the document's `created`.
    pub created: DateTime<Utc>,
    /// The platform, such as `linux/amd64`, if known.
    pub platform: Option<String>,
    /// The texts of [`FILES`] as read from the image; `None`: not there.
    pub files: [Option<String>; 3],
    pub artifacts: Vec<ArtifactEntry>,
}

/// The stanzas of a Debian control file (dpkg's status): each a list of
/// (field, value); continuation lines are joined to their field's value
/// with newlines.
fn stanzas(text: &str, separator: char) -> Vec<Vec<(String, String)>> {
    let mut all = Vec::new();
    let mut current: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                all.push(std::mem::take(&mut current));
            }
            continue;
        }
        if separator == ':' && (line.starts_with(' ') || line.starts_with('\t')) {
            if let Some((_, value)) = current.last_mut() {
                value.push('\n');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((field, value)) = line.split_once(separator) {
            current.push((field.trim().to_string(), value.trim().to_string()));
        }
    }
    if !current.is_empty() {
        all.push(current);
    }
    all
}

fn field<'a>(stanza: &'a [(String, String)], name: &str) -> Option<&'a str> {
    stanza
        .iter()
        .find(|(f, _)| f.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// The installed packages of a dpkg status file, by name.
pub fn parse_dpkg_status(text: &str) -> Vec<Installed> {
    let mut packages: Vec<Installed> = stanzas(text, ':')
        .iter()
        .filter(|s| {
            // `want flag status`: only `installed` is on disk in full.
            field(s, "Status").and_then(|st| st.split_whitespace().nth(2)) == Some("installed")
        })
        .filter_map(|s| {
            Some(Installed {
                name: field(s, "Package")?.to_string(),
                version: field(s, "Version")?.to_string(),
                arch: field(s, "Architecture").map(str::to_string),
                maintainer: field(s, "Maintainer").map(str::to_string),
                license: None,
                homepage: field(s, "Homepage").map(str::to_string),
            })
        })
        .collect();
    packages.sort_by(|a, b| (&a.name, &a.arch).cmp(&(&b.name, &b.arch)));
    packages
}

/// The installed packages of an apk database, by name.
pub fn parse_apk_installed(text: &str) -> Vec<Installed> {
    let mut packages: Vec<Installed> = stanzas(text, ':')
        .iter()
        .filter_map(|s| {
            Some(Installed {
                name: field(s, "P")?.to_string(),
                version: field(s, "V")?.to_string(),
                arch: field(s, "A").map(str::to_string),
                maintainer: field(s, "m").map(str::to_string),
                license: field(s, "L").map(str::to_string),
                homepage: field(s, "U").map(str::to_string),
            })
        })
        .collect();
    packages.sort_by(|a, b| (&a.name, &a.arch).cmp(&(&b.name, &b.arch)));
    packages
}

/// `ID` and `NAME` from an os-release file.
fn os_release(text: &str) -> (Option<String>, Option<String>) {
    let get = |key: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            let v = v.trim().trim_matches('"').trim_matches('\'');
            (k.trim() == key && !v.is_empty()).then(|| v.to_string())
        })
    };
    (get("ID"), get("NAME"))
}

/// What purl leaves as it is in a name, version or qualifier value.
const PURL: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':');

fn enc(s: &str) -> String {
    utf8_percent_encode(s, PURL).to_string()
}

/// A purl for a package of an OS database.
pub fn os_purl(db: Db, os: &str, p: &Installed) -> String {
    let kind = match db {
        Db::Dpkg => "deb",
        Db::Apk => "apk",
    };
    let mut purl = format!(
        "pkg:{kind}/{}/{}@{}",
        enc(&os.to_lowercase()),
        enc(&p.name),
        enc(&p.version)
    );
    if let Some(arch) = &p.arch {
        purl.push_str(&format!("?arch={}", enc(arch)));
    }
    purl
}

/// A purl for an artifact.
pub fn artifact_purl(a: &ArtifactEntry) -> String {
    match a.kind {
        ArtifactKind::Npm => {
            // A scope's `@` is encoded; its `/` separates namespace and name.
            let name = match a.name.split_once('/') {
                Some((scope, name)) => format!("{}/{}", enc(scope), enc(name)),
                None => enc(&a.name),
            };
            format!("pkg:npm/{name}@{}", enc(&a.version))
        }
        ArtifactKind::Generic => format!(
            "pkg:generic/{}@{}?download_url={}",
            enc(&a.name),
            enc(&a.version),
            enc(&a.download_location)
        ),
    }
}

/// `Person: Name (mail)` from `Name <mail>`; `None` for nothing usable.
fn person(maintainer: &str) -> Option<String> {
    let one_line = maintainer.replace('\n', " ");
    let (name, mail) = match one_line.split_once('<') {
        Some((name, rest)) => (name.trim(), rest.trim_end_matches('>').trim()),
        None => (one_line.trim(), ""),
    };
    if name.is_empty() {
        return None;
    }
    Some(match mail.is_empty() {
        true => format!("Person: {name}"),
        false => format!("Person: {name} ({mail})"),
    })
}

/// The host of a URL, for an artifact's supplier.
fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    Some(host).filter(|h| !h.is_empty())
}

/// An SPDX ID part: letters, digits, `.` and `-` only.
fn id_part(s: &str) -> String {
    s.chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                true => c,
                false => '-',
            },
        )
        .collect()
}

fn checksum(sha256: &str) -> Value {
    json!([{ "algorithm": "SHA256", "checksumValue": sha256 }])
}

/// The image's own package's SPDX ID.
const IMAGE_ID: &str = "SPDXRef-Image";

/// The SPDX 2.3 document for `image`.
pub fn document(image: &Image) -> Value {
    let [dpkg, apk, release] = &image.files;
    let (os_id, os_name) = release.as_deref().map(os_release).unwrap_or_default();
    let digest_hex = image
        .digest
        .split_once(':')
        .map(|(_, h)| h)
        .unwrap_or(&image.digest);
    let mut packages = vec![image_package(image)];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": IMAGE_ID,
    })];
    let databases = [
        (Db::Dpkg, dpkg, "debian", "Debian"),
        (Db::Apk, apk, "alpine", "Alpine Linux"),
    ];
    for (db, text, default_id, default_name) in databases {
        let Some(text) = text else { continue };
        let installed = match db {
            Db::Dpkg => parse_dpkg_status(text),
            Db::Apk => parse_apk_installed(text),
        };
        let os = os_id.as_deref().unwrap_or(default_id);
        let distribution = os_name.as_deref().unwrap_or(default_name);
        for p in &installed {
            let (id, package) = installed_package(db, os, distribution, p);
            relationships.push(image_contains(&id));
            packages.push(package);
        }
    }
    for a in &image.artifacts {
        let (id, package) = artifact_package(a);
        packages.push(package);
        relationships.push(image_contains(&id));
    }
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{}@{}", image.repository, image.digest),
        // SPDX's own form for a tool without a domain of its own; unique
        // per manifest digest, and the same for the same digest.
        "documentNamespace": format!(
            "https://spdx.org/spdxdocs/strata/{}-{digest_hex}",
            id_part(&image.repository)
        ),
        "creationInfo": {
            "created": image.created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "creators": [format!("Tool: strata-{STRATA_VERSION}")],
        },
        "packages": packages,
        "relationships": relationships,
    })
}

/// The image's own package: the container, named by its repository and
/// manifest digest, with its image ID (and platform) as a comment.
fn image_package(image: &Image) -> Value {
    let (_, short_name) = image
        .repository
        .rsplit_once('/')
        .unwrap_or(("", &image.repository));
    let mut image_package = json!({
        "SPDXID": IMAGE_ID,
        "name": image.repository,
        "versionInfo": image.digest,
        "supplier": format!("Organization: {}", image.repository),
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": "CONTAINER",
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": format!(
                "pkg:oci/{}@{}?repository_url={}",
                enc(short_name),
                enc(&image.digest),
                enc(&image.repository)
            ),
        }],
        "comment": format!("image ID {}", image.image_id),
    });
    if let Some(platform) = &image.platform {
        image_package["comment"] =
            json!(format!("image ID {}, platform {platform}", image.image_id));
    }
    image_package
}

/// A package the OS package database `db` lists as installed: its SPDX ID
/// and its package entry, supplied by `distribution`.
fn installed_package(db: Db, os: &str, distribution: &str, p: &Installed) -> (String, Value) {
    let prefix = match db {
        Db::Dpkg => "deb",
        Db::Apk => "apk",
    };
    let id = format!(
        "SPDXRef-Package-{prefix}-{}-{}",
        id_part(&p.name),
        id_part(p.arch.as_deref().unwrap_or("any"))
    );
    let mut package = json!({
        "SPDXID": id,
        "name": p.name,
        "versionInfo": p.version,
        "supplier": format!("Organization: {distribution}"),
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": os_purl(db, os, p),
        }],
        "sourceInfo": format!("listed in {}", match db {
            Db::Dpkg => DPKG_STATUS,
            Db::Apk => APK_INSTALLED,
        }),
    });
    if let Some(originator) = p.maintainer.as_deref().and_then(person) {
        package["originator"] = json!(originator);
    }
    if let Some(homepage) = &p.homepage {
        package["homepage"] = json!(homepage);
    }
    if let Some(license) = &p.license {
        // apk's `L:` is free text, not always an SPDX expression.
        package["comment"] = json!(format!("license as packaged: {license}"));
    }
    (id, package)
}

/// A file strata downloaded into the build context: its SPDX ID and its
/// package entry, with its checksum and where it came from.
fn artifact_package(a: &ArtifactEntry) -> (String, Value) {
    let id = format!("SPDXRef-Artifact-{}", id_part(&a.file_name));
    let supplier = host_of(&a.download_location)
        .map(|h| format!("Organization: {h}"))
        .unwrap_or_else(|| "NOASSERTION".into());
    let package = json!({
        "SPDXID": id,
        "name": a.name,
        "versionInfo": a.version,
        "packageFileName": a.file_name,
        "supplier": supplier,
        "downloadLocation": a.download_location,
        "filesAnalyzed": false,
        "checksums": checksum(&a.sha256),
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": artifact_purl(a),
        }],
        "sourceInfo": format!(
            "downloaded and verified by strata, put into the build context as {}",
            a.file_name
        ),
    });
    (id, package)
}

/// The relationship saying the image contains the package `id`.
fn image_contains(id: &str) -> Value {
    json!({
        "spdxElementId": IMAGE_ID,
        "relationshipType": "CONTAINS",
        "relatedSpdxElement": id,
    })
}

/// The in-toto statement (JSON bytes, the DSSE payload) whose subject is
/// the image's manifest digest and whose predicate is its SPDX document.
pub fn statement(image: &Image) -> Vec<u8> {
    let (algorithm, hex) = image.digest.split_once(':').unwrap_or(("sha256", ""));
    let statement = json!({
        "_type": STATEMENT_TYPE,
        "subject": [{
            "name": image.repository,
            "digest": { algorithm: hex },
        }],
        "predicateType": SPDX_PREDICATE_TYPE,
        "predicate": document(image),
    });
    serde_json::to_vec(&statement).expect("a statement serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three stanzas as dpkg writes them: a multi-line description, a
    /// removed package whose configuration files stay, an epoch and a `+`.
    const DPKG: &str = "\
Package: base-files
Essential: yes
Status: install ok installed
Priority: required
Section: admin
Installed-Size: 340
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: amd64
Version: 12.4+deb12u5
Replaces: base, dpkg (<= 1.15.0)
Description: Debian base system miscellaneous files
 This package contains the basic filesystem hierarchy of a Debian system, and
 several important miscellaneous files.
 .
 It has no Homepage: field of its own.

Package: old-tool
Status: deinstall ok config-files
Priority: optional
Architecture: amd64
Version: 1.0-1
Conffiles:
 /etc/old-tool.conf 2b6f6ad2d3a5c9d2e8f0c1b4a5d6e7f8

Package: libgcc-s1
Status: install ok installed
Priority: optional
Section: libs
Maintainer: Debian GCC Maintainers <debian-gcc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: gcc-12
Version: 1:12.2.0-14
Homepage: https://gcc.gnu.org/
Description: GCC support library

Package: half
Status: install reinstreq half-installed
Architecture: all
Version: 2
";

    /// Two stanzas of an apk database, as apk writes them.
    const APK: &str = "\
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
m:Timo Teräs <timo.teras@iki.fi>
t:1705933021
c:0f0b1f3cd35c4c4b1f1e2e39b8e8a7f1c2e0b0f3
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1jLUC3bj1Qy7OWcA5oXpNhKv8pNs=

C:Q1kB0ixPfS7PUVnCSGmTb4oMJ2y1g=
P:busybox
V:1.36.1-r15
A:x86_64
L:GPL-2.0-only
o:busybox
m:Sören Tempel <soeren+alpine@soeren-tempel.net>
";

    #[test]
    fn dpkg_status_lists_what_is_installed() {
        let p = parse_dpkg_status(DPKG);
        let names: Vec<_> = p.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["base-files", "libgcc-s1"]);
        assert_eq!(p[0].version, "12.4+deb12u5");
        assert_eq!(p[0].arch.as_deref(), Some("amd64"));
        assert_eq!(
            p[0].maintainer.as_deref(),
            Some("Santiago Vila <sanvila@debian.org>")
        );
        // A description's continuation lines are no fields of their own.
        assert_eq!(p[0].homepage, None);
        assert_eq!(p[1].version, "1:12.2.0-14");
        assert_eq!(p[1].homepage.as_deref(), Some("https://gcc.gnu.org/"));
        assert_eq!(
            os_purl(Db::Dpkg, "debian", &p[0]),
            "pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64"
        );
        assert_eq!(
            os_purl(Db::Dpkg, "debian", &p[1]),
            "pkg:deb/debian/libgcc-s1@1:12.2.0-14?arch=amd64"
        );
    }

    #[test]
    fn apk_database_lists_its_packages() {
        let p = parse_apk_installed(APK);
        let names: Vec<_> = p.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["busybox", "musl"]);
        assert_eq!(p[1].version, "1.2.4_git20230717-r4");
        assert_eq!(p[1].license.as_deref(), Some("MIT"));
        assert_eq!(
            os_purl(Db::Apk, "alpine", &p[1]),
            "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64"
        );
    }

    #[test]
    fn nonsense_is_no_package_and_no_panic() {
        for text in [
            "",
            "\n\n",
            "Package: x\n",
            ":::\n \n\t",
            "P:\nV:\n",
            "\u{feff}",
        ] {
            assert!(parse_dpkg_status(text).is_empty(), "{text:?}");
            assert!(parse_apk_installed(text).is_empty(), "{text:?}");
        }
    }

    fn image() -> Image {
        Image {
            repository: "127.0.0.1:5000/acme/app".into(),
            digest: format!("sha256:{}", "d".repeat(64)),
            image_id: format!("sha256:{}", "1".repeat(64)),
            created: "2026-03-01T12:00:00Z".parse().unwrap(),
            platform: Some("linux/amd64".into()),
            files: [
                Some(DPKG.into()),
                None,
                Some("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nID=debian\n".into()),
            ],
            artifacts: vec![
                ArtifactEntry {
                    file_name: "node.tgz".into(),
                    kind: ArtifactKind::Generic,
                    name: "node".into(),
                    version: "22.11.0".into(),
                    download_location: "https://nodejs.org/dist/v22.11.0/node-v22.11.0-linux-x64.tar.gz".into(),
                    sha256: "a".repeat(64),
                },
                ArtifactEntry {
                    file_name: "bun.tgz".into(),
                    kind: ArtifactKind::Npm,
                    name: "@oven/bun-linux-x64".into(),
                    version: "1.1.34".into(),
                    download_location: "https://registry.npmjs.org/@oven/bun-linux-x64/-/bun-linux-x64-1.1.34.tgz".into(),
                    sha256: "b".repeat(64),
                },
            ],
        }
    }

    fn by_name<'a>(doc: &'a Value, name: &str) -> &'a Value {
        doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no package {name} in {doc}"))
    }

    fn purl(p: &Value) -> &str {
        p["externalRefs"][0]["referenceLocator"].as_str().unwrap()
    }

    #[test]
    fn the_document_lists_packages_and_artifacts_with_purls() {
        let doc = document(&image());
        assert_eq!(doc["spdxVersion"], "SPDX-2.3");
        assert_eq!(doc["creationInfo"]["created"], "2026-03-01T12:00:00Z");
        assert_eq!(
            doc["creationInfo"]["creators"][0],
            format!("Tool: strata-{STRATA_VERSION}")
        );
        let ns = doc["documentNamespace"].as_str().unwrap();
        assert!(ns.ends_with(&"d".repeat(64)), "{ns}");
        assert_eq!(doc["packages"].as_array().unwrap().len(), 1 + 2 + 2);
        let base = by_name(&doc, "base-files");
        assert_eq!(base["versionInfo"], "12.4+deb12u5");
        assert_eq!(base["supplier"], "Organization: Debian GNU/Linux");
        assert_eq!(
            base["originator"],
            "Person: Santiago Vila (sanvila@debian.org)"
        );
        assert_eq!(
            purl(base),
            "pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64"
        );
        let node = by_name(&doc, "node");
        assert_eq!(node["versionInfo"], "22.11.0");
        assert_eq!(node["checksums"][0]["checksumValue"], "a".repeat(64));
        assert_eq!(node["supplier"], "Organization: nodejs.org");
        assert!(
            purl(node).starts_with("pkg:generic/node@22.11.0?download_url=https:"),
            "{}",
            purl(node)
        );
        let bun = by_name(&doc, "@oven/bun-linux-x64");
        assert_eq!(purl(bun), "pkg:npm/%40oven/bun-linux-x64@1.1.34");
        // The image is described, and contains every other package.
        let rels = doc["relationships"].as_array().unwrap();
        assert_eq!(rels[0]["relationshipType"], "DESCRIBES");
        assert_eq!(rels.len(), 1 + 4);
        assert!(rels[1..]
            .iter()
            .all(|r| r["relationshipType"] == "CONTAINS" && r["spdxElementId"] == "SPDXRef-Image"));
        // Unique IDs.
        let mut ids: Vec<_> = doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["SPDXID"].as_str().unwrap())
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 5);
    }

    #[test]
    fn without_os_release_the_database_names_the_distribution() {
        let mut i = image();
        i.files = [None, Some(APK.into()), None];
        i.artifacts.clear();
        let doc = document(&i);
        let musl = by_name(&doc, "musl");
        assert_eq!(
            purl(musl),
            "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64"
        );
        assert_eq!(musl["supplier"], "Organization: Alpine Linux");
        // No database at all: the image alone, not an error.
        i.files = [None, None, None];
        let doc = document(&i);
        assert_eq!(doc["packages"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn the_same_inputs_make_the_same_bytes() {
        let s = statement(&image());
        assert_eq!(s, statement(&image()));
        let v: Value = serde_json::from_slice(&s).unwrap();
        assert_eq!(v["predicateType"], SPDX_PREDICATE_TYPE);
        assert_eq!(v["subject"][0]["digest"]["sha256"], "d".repeat(64));
        assert_eq!(v["predicate"], document(&image()));
    }
}
