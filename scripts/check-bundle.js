#!/usr/bin/env node
// Checks strata's Sigstore bundle referrers without strata, with sigstore-js.
//
// Usage: check-bundle.js REGISTRY_URL REPOSITORY REFERENCE PUBLIC_KEY.pem [--tamper]
//
// Reads over plain registry HTTP (anonymous) the manifest REFERENCE (a tag
// or digest) of REPOSITORY, computes its digest from its bytes, finds the
// referrers of artifact type application/vnd.dev.sigstore.bundle.v0.3+json
// (the referrers API, else the referrers tag schema `sha256-<hex>`), checks
// each referrer's layout as cosign writes it, and verifies each bundle with
// @sigstore/verify: the public key only, with thresholds of zero for
// transparency-log entries, certificate-transparency entries and
// timestamps. The in-toto statement's subjects must name the digest.
// --tamper changes one byte of the statement first (the check must fail).
//
// Needs @sigstore/verify and @sigstore/bundle, found through NODE_PATH
// (scripts/setup.sh installs them under target/sigstore-js).
// Exits 0 when every bundle holds, 1 otherwise (or when there is none).
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const { bundleFromJSON } = require('@sigstore/bundle');
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');

const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const EMPTY = 'application/vnd.oci.empty.v1+json';
const ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

function fail(message) {
  console.log(`FAIL ${message}`);
  process.exit(1);
}

async function get(url, accept) {
  const r = await fetch(url, { headers: { Accept: accept || ACCEPT } });
  if (!r.ok) return null;
  return Buffer.from(await r.arrayBuffer());
}

const sha256 = (b) => 'sha256:' + crypto.createHash('sha256').update(b).digest('hex');

async function main() {
  const [base, repo, ref, keyFile, flag] = process.argv.slice(2);
  if (!keyFile) fail('usage: check-bundle.js REGISTRY_URL REPOSITORY REFERENCE PUBLIC_KEY.pem [--tamper]');
  const subject = await get(`${base}/v2/${repo}/manifests/${ref}`);
  if (!subject) fail(`no manifest ${repo}:${ref}`);
  const digest = sha256(subject);
  let index = await get(`${base}/v2/${repo}/referrers/${digest}`, 'application/vnd.oci.image.index.v1+json');
  if (!index) index = await get(`${base}/v2/${repo}/manifests/${digest.replace(':', '-')}`);
  const entries = index ? (JSON.parse(index).manifests || []).filter((m) => m.artifactType === BUNDLE) : [];
  if (entries.length === 0) fail(`no sigstore bundle refers to ${digest}`);

  const der = crypto.createPublicKey(fs.readFileSync(keyFile)).export({ type: 'spki', format: 'der' });
  const hint = crypto.createHash('sha256').update(der).digest('base64');
  const trust = toTrustMaterial(
    { certificateAuthorities: [], timestampAuthorities: [], tlogs: [], ctlogs: [] },
    { [hint]: { rawBytes: der } },
  );
  const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });

  for (const entry of entries) {
    const m = JSON.parse(await get(`${base}/v2/${repo}/manifests/${entry.digest}`));
    // The layout cosign writes and reads.
    if (m.artifactType !== BUNDLE) fail(`${entry.digest}: artifactType ${m.artifactType}`);
    if (m.config.mediaType !== EMPTY || m.config.size !== 2) fail(`${entry.digest}: config is not the empty descriptor`);
    if (m.layers.length !== 1 || m.layers[0].mediaType !== BUNDLE) fail(`${entry.digest}: layers`);
    if (!m.subject || m.subject.digest !== digest) fail(`${entry.digest}: subject is not ${digest}`);
    const a = m.annotations || {};
    if (a['dev.sigstore.bundle.content'] !== 'dsse-envelope' || !a['dev.sigstore.bundle.predicateType'] || !a['org.opencontainers.image.created']) {
      fail(`${entry.digest}: annotations ${JSON.stringify(a)}`);
    }
    const blob = await get(`${base}/v2/${repo}/blobs/${m.layers[0].digest}`, '*/*');
    if (!blob || sha256(blob) !== m.layers[0].digest) fail(`${entry.digest}: the layer does not match its digest`);
    const json = JSON.parse(blob);
    if (flag === '--tamper') {
      const p = Buffer.from(json.dsseEnvelope.payload, 'base64');
      p[p.length - 2] ^= 1;
      json.dsseEnvelope.payload = p.toString('base64');
    }
    let statement;
    try {
      const bundle = bundleFromJSON(json);
      verifier.verify(toSignedEntity(bundle));
      statement = JSON.parse(Buffer.from(bundle.content.dsseEnvelope.payload).toString());
    } catch (e) {
      fail(`${entry.digest}: ${e.code || ''} ${e.message}`);
    }
    const subjects = (statement.subject || []).map((s) => `sha256:${(s.digest || {}).sha256}`);
    if (!subjects.includes(digest)) fail(`${entry.digest}: the statement's subjects ${subjects} do not name ${digest}`);
    console.log(`OK ${entry.digest} ${statement.predicateType} ${(statement.predicate || {}).result} subject ${digest}`);
  }
}

main().catch((e) => fail(e.stack || String(e)));
