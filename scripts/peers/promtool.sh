#!/usr/bin/env bash
# Finds or provisions promtool, which checks deploy/prometheus/alerts.yaml and runs its unit tests
# (test/deploy/alerts.promtool.yaml), and prints the path of its binary on stdout: $PROMTOOL_BIN
# if set, else `promtool` on PATH, else the one unpacked before into the git-ignored
# .peers/promtool/, else (with apt) Debian's `prometheus` package (2.42, about 19 MB) fetched with
# `apt-get download` and unpacked there with `dpkg -x`: nothing is installed and no Prometheus
# server starts. Building promtool from the Go module proxy instead would take many minutes.
# Anything else it says goes to stderr; it exits non-zero when it cannot find or fetch one.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="$root/.peers/promtool"
binary="$dir/usr/bin/promtool"

fail() {
  echo "shardvoy: $1" >&2
  echo "  Provide promtool with PROMTOOL_BIN=/path/to/promtool, put 'promtool' on PATH (Debian: apt-get install prometheus), or make apt-get reach Debian's archive." >&2
  exit 1
}
runs() { "$1" --version >/dev/null 2>&1; }

if [ -n "${PROMTOOL_BIN:-}" ]; then
  runs "$PROMTOOL_BIN" || fail "PROMTOOL_BIN=$PROMTOOL_BIN does not run"
  echo "$PROMTOOL_BIN"; exit 0
fi
if command -v promtool >/dev/null 2>&1 && runs "$(command -v promtool)"; then
  command -v promtool; exit 0
fi
if [ -x "$binary" ] && runs "$binary"; then
  echo "$binary"; exit 0
fi

command -v apt-get >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1 || fail "no promtool, and no apt-get and dpkg to fetch Debian's"
work="$(mktemp -d "${TMPDIR:-/tmp}/shardvoy-promtool.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "shardvoy: fetching Debian's prometheus package for its promtool into $dir" >&2
# apt-get download needs the package lists; a fresh machine may have none yet.
( cd "$work" && { apt-get download -qq prometheus >&2 2>/dev/null || { apt-get update -qq >&2 && apt-get download -qq prometheus >&2; }; } ) \
  || fail "apt-get could not download the prometheus package"
deb="$(ls "$work"/prometheus_*.deb 2>/dev/null | head -n1)"
[ -n "$deb" ] || fail "apt-get download left no prometheus_*.deb"
dpkg -x "$deb" "$work/x" || fail "dpkg -x could not unpack $deb"
[ -x "$work/x/usr/bin/promtool" ] || fail "$deb holds no usr/bin/promtool"
mkdir -p "$dir/usr/bin"
# Moved into place whole, so a concurrent run sees either no binary or a complete one.
mv "$work/x/usr/bin/promtool" "$binary.tmp.$$" && mv -f "$binary.tmp.$$" "$binary"
runs "$binary" || fail "the unpacked $binary does not run"
echo "$binary"
