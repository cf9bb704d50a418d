#!/usr/bin/env python3
"""Deletes every manifest in the repositories of a plain-HTTP registry whose
name contains a given text (what a benchmark or test pushed there).

    scripts/registry-clean.py REGISTRY TEXT [--page N]

The catalog and each tag list are read page by page, following the `Link`
header the distribution API pages with (a registry refuses a page larger than
its limit, 1000 for distribution). Each tag's manifest is deleted by digest;
the registry frees the blobs at its next garbage collection. Any error is
printed and the exit status is 1; a registry that does not allow deletes is an
error too. Prints how many manifests were deleted.
"""

import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
TIMEOUT = 30
MAX_BODY = 16 * 1024 * 1024


def request(method, url, accept=None):
    req = urllib.request.Request(url, method=method)
    if accept:
        req.add_header("Accept", accept)
    with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
        body = r.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            raise RuntimeError(f"{method} {url}: more than {MAX_BODY} bytes")
        return r.headers, body


def pages(base, path, key, page):
    """Every item of the paged list at `path` (`repositories` or `tags`); a
    repository whose tags were all deleted may answer 404: no items."""
    url = f"{base}{path}?n={page}"
    while url:
        try:
            headers, body = request("GET", url)
        except urllib.error.HTTPError as e:
            if e.code == 404 and key == "tags":
                return
            raise
        yield from json.loads(body).get(key) or []
        url = None
        link = headers.get("Link")
        if link:
            m = re.match(r'\s*<([^>]+)>\s*;\s*rel="?next"?', link)
            if not m:
                raise RuntimeError(f"GET {path}: a Link header not understood: {link}")
            url = urllib.parse.urljoin(base, m.group(1))


def main(argv):
    args = argv[1:]
    page = 100
    if "--page" in args:
        i = args.index("--page")
        page = int(args[i + 1])
        del args[i : i + 2]
    if len(args) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    registry, text = args
    base = f"http://{registry}"
    deleted = 0
    try:
        repos = [r for r in pages(base, "/v2/_catalog", "repositories", page) if text in r]
        for repo in repos:
            digests = set()
            for tag in pages(base, f"/v2/{repo}/tags/list", "tags", page):
                headers, _ = request("HEAD", f"{base}/v2/{repo}/manifests/{tag}", ACCEPT)
                digest = headers.get("Docker-Content-Digest")
                if not digest:
                    raise RuntimeError(f"{repo}:{tag}: the registry gave no digest")
                digests.add(digest)
            for digest in sorted(digests):
                request("DELETE", f"{base}/v2/{repo}/manifests/{digest}")
                deleted += 1
    except urllib.error.HTTPError as e:
        detail = e.read(4096).decode("utf-8", "replace").strip()
        print(f"registry-clean: HTTP {e.code} for {e.url}: {detail}", file=sys.stderr)
        return 1
    except (OSError, ValueError, RuntimeError) as e:
        print(f"registry-clean: {registry}: {e}", file=sys.stderr)
        return 1
    print(f"registry-clean: deleted {deleted} manifest(s) in {len(repos)} repositories of {registry}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
