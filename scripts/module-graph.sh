#!/usr/bin/env bash
# Prints the edges between strata's top-level modules (src/X.rs or src/X/), read from the
# `crate::X` paths in non-test code, then any cycle among them. Exit 1 when there is a cycle.
# Usage: scripts/module-graph.sh   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
edges=$(
  find src -name '*.rs' | sort | while read -r file; do
    rel=${file#src/}
    from=${rel%%/*}; from=${from%.rs}
    case $from in main | lib) continue ;; esac
    # Test modules come last in a file: stop reading at the first #[cfg(test)].
    awk '/^[[:space:]]*#\[cfg\(test\)\]/ { exit } { sub(/\/\/.*/, ""); print }' "$file" |
      perl -0777 -ne '
        print "$1\n" while /\bcrate::(\w+)/g;
        while (/\buse\s+crate::\{([^;]*)\}/gs) { my $g = $1; print "$1\n" while $g =~ /(?:^|,)\s*(\w+)/g }' |
      sort -u | while read -r to; do
        [ "$to" != "$from" ] && echo "$from $to"
      done
  done | sort -u
)
echo "module edges (from -> to):"
echo "$edges" | awk '{ to[$1] = to[$1] " " $2 } END { for (m in to) print "  " m " ->" to[m] }' | sort
# tsort names the modules of every loop it meets on stderr.
if loops=$(echo "$edges" | tsort 2>&1 >/dev/null) && [ -z "$loops" ]; then
  echo "cycles: none"
else
  echo "cycles:"; echo "$loops" | sed 's/^tsort: /  /'
  exit 1
fi
