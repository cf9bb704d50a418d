#!/usr/bin/env python3
"""Checks strata's SLSA provenance attestations without strata.

Usage: check-provenance.py REGISTRY_URL REPOSITORY REFERENCE PUBLIC_KEY.pem

Reads, over plain registry HTTP (anonymous), the manifest REFERENCE (a tag
or digest) of REPOSITORY names, computes its digest from its bytes, finds the
in-toto attestations that refer to it (the referrers API, else the OCI 1.1
referrers tag schema `sha256-<hex>`), and for each SLSA provenance v1 among
them checks:

* the DSSE signature (ECDSA P-256, SHA-256) with PUBLIC_KEY (Python's
  `cryptography`), and that the artifact's and the statement's subjects
  name the manifest digest;
* the statement and its predicate with the in-toto attestation framework's
  own bindings (the PyPI package `in-toto-attestation`): parsed strictly
  into its `Statement` and `Provenance` protobuf messages (an unknown field
  fails), `Statement.validate()`, and every resolved dependency a valid
  `ResourceDescriptor` with a digest; a build type, a builder id, start and
  finish times.

Prints one line per provenance; exits 0 when there is one and every one
holds, 1 otherwise.
"""

import base64
import importlib.util
import json
import os
import sys

from google.protobuf import json_format
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
from in_toto_attestation.v1.statement import Statement

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

PROVENANCE = "https://slsa.dev/provenance/v1"

# The registry helpers of check-attestation.py (plain HTTP, referrers).
_spec = importlib.util.spec_from_file_location(
    "check_attestation", os.path.join(os.path.dirname(__file__), "check-attestation.py")
)
base = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(base)


def statement_of(registry, repo, digest, entry, key):
    """The statement of one referrer, or why it cannot be trusted."""
    art = base.get(f"{registry}/v2/{repo}/manifests/{entry['digest']}", base.OCI_MANIFEST)
    if base.sha256(art) != entry["digest"]:
        return None, "artifact manifest does not match its digest"
    manifest = json.loads(art)
    if manifest.get("subject", {}).get("digest") != digest:
        return None, "artifact manifest's subject is not the image"
    layers = [l for l in manifest.get("layers", []) if l.get("mediaType") == base.DSSE]
    if len(layers) != 1:
        return None, "no DSSE envelope in the artifact"
    blob = base.get(f"{registry}/v2/{repo}/blobs/{layers[0]['digest']}")
    if base.sha256(blob) != layers[0]["digest"]:
        return None, "envelope does not match its digest"
    envelope = json.loads(blob)
    payload = base64.b64decode(envelope["payload"])
    signed = False
    for s in envelope.get("signatures", []):
        try:
            key.verify(
                base64.b64decode(s["sig"]),
                base.pae(envelope["payloadType"], payload),
                ec.ECDSA(hashes.SHA256()),
            )
            signed = True
        except (InvalidSignature, ValueError):
            pass
    if not signed:
        return None, "signature INVALID for this key"
    return json.loads(payload), None


def check(statement, digest):
    """None when `statement` is valid SLSA provenance v1 about `digest`."""
    pb = json_format.ParseDict(statement, statement_pb2.Statement())
    Statement.copy_from_pb(pb).validate()
    algorithm, hexdigest = digest.split(":", 1)
    if not any(s.digest.get(algorithm) == hexdigest for s in pb.subject):
        return "statement's subject is not the image"
    if pb.predicate_type != PROVENANCE:
        return "not a provenance"
    provenance = json_format.ParseDict(statement["predicate"], provenance_pb2.Provenance())
    definition = provenance.build_definition
    if not definition.build_type:
        return "no buildType"
    if not definition.resolved_dependencies:
        return "no resolvedDependencies"
    for rd in definition.resolved_dependencies:
        ResourceDescriptor.copy_from_pb(rd).validate()
        if len(rd.digest) == 0:
            return f"dependency {rd.name or rd.uri} has no digest"
    run = provenance.run_details
    if not run.builder.id:
        return "no builder id"
    if not run.metadata.HasField("started_on") or not run.metadata.HasField("finished_on"):
        return "no start or finish time"
    return (
        f"valid: {definition.build_type}, {len(definition.resolved_dependencies)} dependencies, "
        f"builder {run.builder.id} {dict(run.builder.version)}"
    )


def main(argv):
    if len(argv) != 5:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    registry, repo, reference, key_file = argv[1:]
    registry = registry.rstrip("/")
    with open(key_file, "rb") as f:
        key = serialization.load_pem_public_key(f.read())
    manifest = base.get(f"{registry}/v2/{repo}/manifests/{reference}", base.ACCEPT)
    digest = base.sha256(manifest)
    print(f"{repo}:{reference} is {digest}")
    index = json.loads(base.referrers(registry, repo, digest))
    found, ok = 0, True
    for entry in index.get("manifests", []):
        if entry.get("artifactType") != base.IN_TOTO:
            continue
        # Other kinds (test results, SBOMs) say so on their entry.
        kind = entry.get("annotations", {}).get("in-toto.io/predicate-type")
        if kind not in (None, PROVENANCE):
            continue
        statement, why = statement_of(registry, repo, digest, entry, key)
        if statement is not None and statement.get("predicateType") != PROVENANCE:
            continue
        if statement is not None:
            try:
                why = check(statement, digest)
            except (json_format.ParseError, ValueError, TypeError) as e:
                why = f"INVALID: {e}"
        found += 1
        good = why is not None and why.startswith("valid")
        ok &= good
        print(f"  provenance {entry['digest']}: {why}")
    if found == 0:
        print("no provenance refers to it")
        return 1
    print("provenance checks out" if ok else "provenance does NOT check out")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
