#!/usr/bin/env bash
# Finds or provisions the Chromium the dashboard's browser tests drive with playwright-core, and
# prints the path of its launcher on stdout: $CHROMIUM_BIN if set, else /usr/bin/chromium or
# `chromium` on PATH, else (as root, with apt) Debian's chromium, installed with apt-get.
# No browser build is downloaded: playwright-core drives the system's Chromium.
# Anything else it says goes to stderr; it exits non-zero, saying how to provide Chromium, when it
# cannot find or install one.
set -euo pipefail

fail() {
  echo "shardvoy e2e: $1" >&2
  echo "  Provide Chromium with CHROMIUM_BIN=/path/to/chromium, put 'chromium' on PATH (Debian: apt-get install chromium), or run as root with apt-get reachable." >&2
  exit 1
}

# "156" from `chromium --version` ("Chromium 156.0.8078.114 built on Debian ..."); empty if it does not run.
major_of() { "$1" --version 2>/dev/null | sed -n 's/^[A-Za-z ]*\([0-9][0-9]*\)\..*/\1/p' | head -n1; }

usable() {
  [ -x "$1" ] || return 1
  [ -n "$(major_of "$1")" ]
}

if [ -n "${CHROMIUM_BIN:-}" ]; then
  usable "$CHROMIUM_BIN" || fail "CHROMIUM_BIN=$CHROMIUM_BIN is not a Chromium that answers --version"
  echo "$CHROMIUM_BIN"; exit 0
fi

for candidate in /usr/bin/chromium "$(command -v chromium 2>/dev/null || true)"; do
  if [ -n "$candidate" ] && usable "$candidate"; then echo "$candidate"; exit 0; fi
done

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "shardvoy e2e: installing Debian's chromium with apt-get" >&2
  { apt-get install -y -qq chromium >&2 || { apt-get update -qq >&2 && apt-get install -y -qq chromium >&2; }; } \
    || fail "apt-get could not install chromium"
  for candidate in /usr/bin/chromium "$(command -v chromium 2>/dev/null || true)"; do
    if [ -n "$candidate" ] && usable "$candidate"; then echo "$candidate"; exit 0; fi
  done
  fail "chromium installed, but no working chromium is on PATH"
fi
fail "no chromium on PATH, and not root with apt-get to install it"
