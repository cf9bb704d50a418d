#!/usr/bin/env python3
"""Checks a strata test attestation without strata.

Usage: check-attestation.py REGISTRY_URL REPOSITORY REFERENCE PUBLIC_KEY.pem

Reads, over plain registry HTTP (anonymous), the manifest REFERENCE (a tag
or digest) of REPOSITORY names, computes its digest from its bytes, finds the
in-toto attestations that refer to it (the referrers API, else the OCI 1.1
referrers tag schema `sha256-<hex>`), and for each checks with Python's
`cryptography` package:

* the DSSE signature (ECDSA P-256, SHA-256) over the pre-authentication
  encoding of the payload, with PUBLIC_KEY;
* that the artifact manifest's subject and the statement's subject are the
  manifest digest;
* the predicate type (in-toto Test Result) and its result.

Prints one line per attestation; exits 0 when one of them holds and says
PASSED, 1 otherwise. For single-platform images (an index's platforms are
checked by giving each platform manifest's digest as REFERENCE).
"""

import base64
import hashlib
import json
import sys
import urllib.error
import urllib.request

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
ACCEPT = ", ".join(
    [
        OCI_MANIFEST,
        OCI_INDEX,
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)
IN_TOTO = "application/vnd.in-toto+json"
DSSE = "application/vnd.dsse.envelope.v1+json"
TEST_RESULT = "https://in-toto.io/attestation/test-result/v0.1"


def get(url, accept=None):
    headers = {"Accept": accept} if accept else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as r:
        return r.read()


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def pae(payload_type, payload):
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def referrers(base, repo, digest):
    try:
        return get(f"{base}/v2/{repo}/referrers/{digest}", OCI_INDEX)
    except urllib.error.HTTPError as e:
        if e.code != 404:
            raise
    tag = digest.replace(":", "-", 1)
    try:
        return get(f"{base}/v2/{repo}/manifests/{tag}", OCI_INDEX)
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return b'{"manifests": []}'
        raise


def check(base, repo, digest, entry, key):
    art = get(f"{base}/v2/{repo}/manifests/{entry['digest']}", OCI_MANIFEST)
    if sha256(art) != entry["digest"]:
        return "artifact manifest does not match its digest"
    manifest = json.loads(art)
    if manifest.get("subject", {}).get("digest") != digest:
        return "artifact manifest's subject is not the image"
    layers = [l for l in manifest.get("layers", []) if l.get("mediaType") == DSSE]
    if len(layers) != 1:
        return "no DSSE envelope in the artifact"
    blob = get(f"{base}/v2/{repo}/blobs/{layers[0]['digest']}")
    if sha256(blob) != layers[0]["digest"]:
        return "envelope does not match its digest"
    envelope = json.loads(blob)
    payload = base64.b64decode(envelope["payload"])
    signed = False
    for s in envelope.get("signatures", []):
        try:
            key.verify(
                base64.b64decode(s["sig"]),
                pae(envelope["payloadType"], payload),
                ec.ECDSA(hashes.SHA256()),
            )
            signed = True
        except (InvalidSignature, ValueError):
            pass
    if not signed:
        return "signature INVALID for this key"
    statement = json.loads(payload)
    algorithm, hexdigest = digest.split(":", 1)
    if not any(s.get("digest", {}).get(algorithm) == hexdigest for s in statement.get("subject", [])):
        return "statement's subject is not the image"
    if statement.get("predicateType") != TEST_RESULT:
        return "not a test result"
    return statement["predicate"].get("result", "no result")


def main(argv):
    if len(argv) != 5:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    base, repo, reference, key_file = argv[1:]
    base = base.rstrip("/")
    with open(key_file, "rb") as f:
        key = serialization.load_pem_public_key(f.read())
    manifest = get(f"{base}/v2/{repo}/manifests/{reference}", ACCEPT)
    digest = sha256(manifest)
    print(f"{repo}:{reference} is {digest}")
    index = json.loads(referrers(base, repo, digest))
    ok = False
    for entry in index.get("manifests", []):
        if entry.get("artifactType") != IN_TOTO:
            continue
        verdict = check(base, repo, digest, entry, key)
        print(f"  attestation {entry['digest']}: {verdict}")
        ok |= verdict == "PASSED"
    print("signature and subject check out: PASSED" if ok else "no valid passing attestation")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
