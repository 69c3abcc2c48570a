#!/usr/bin/env bash
# Finds or provisions the etcd the etcd end-to-end suites run, and prints the path of its binary on
# stdout: $ETCD_BIN if set, else `etcd` on PATH if it is 3.4 or newer, else (as root, with apt)
# Debian's etcd-server (3.4.23), installed with apt-get.
# With ETCD_VERSION=3.6 (or the argument 3.6) it instead builds etcd 3.6 (pinned below) from the
# Go module proxy with the installed Go, into the git-ignored .peers/etcd-3.6/. `go install
# go.etcd.io/etcd/server/v3@…` is refused (that module's go.mod has replace directives), so a
# small module there requires it and `go build` makes the binary from it.
# Anything else it says goes to stderr; it exits non-zero, saying how to provide etcd, when it
# cannot find or install one.
set -euo pipefail

ETCD_36_VERSION="3.6.16"
root="$(cd "$(dirname "$0")/../.." && pwd)"
want="${1:-${ETCD_VERSION:-}}"

fail() {
  echo "shardvoy e2e: $1" >&2
  if [ "$want" = "3.6" ]; then
    echo "  Provide etcd 3.6 with ETCD_BIN=/path/to/etcd, or make Go (1.26 or newer) and the Go module proxy reachable so that go.etcd.io/etcd/server/v3@v$ETCD_36_VERSION can be built into $root/.peers/etcd-3.6." >&2
  else
    echo "  Provide etcd 3.4 or newer with ETCD_BIN=/path/to/etcd, put 'etcd' on PATH (Debian: apt-get install etcd-server), or set ETCD_VERSION=3.6 to build etcd $ETCD_36_VERSION with Go." >&2
  fi
  exit 1
}

# "3.4.23" from `etcd --version` (first line "etcd Version: 3.4.23"); empty if it does not run.
# Without ETCD_* in its environment: etcd reads those as its flags.
version_of() { env -u ETCD_VERSION -u ETCD_BIN "$1" --version 2>/dev/null | sed -n 's/^etcd Version: *\([0-9][0-9.]*\).*/\1/p' | head -n1; }
# True when version $1 is at least major.minor $2.$3.
at_least() {
  local major minor
  IFS=. read -r major minor _ <<<"$1"
  [ -n "$major" ] && [ -n "$minor" ] || return 1
  [ "$major" -gt "$2" ] || { [ "$major" -eq "$2" ] && [ "$minor" -ge "$3" ]; }
}

if [ -n "${ETCD_BIN:-}" ]; then
  [ -x "$ETCD_BIN" ] || fail "ETCD_BIN=$ETCD_BIN is not an executable file"
  echo "$ETCD_BIN"; exit 0
fi

case "$want" in
  ""|3.4) ;;
  3.6)
    dir="$root/.peers/etcd-3.6"
    binary="$dir/etcd"
    if [ -x "$binary" ] && [ "$(version_of "$binary")" = "$ETCD_36_VERSION" ]; then
      echo "$binary"; exit 0
    fi
    command -v go >/dev/null 2>&1 || fail "no go to build etcd $ETCD_36_VERSION with (install Go 1.26 or newer)"
    echo "shardvoy e2e: building etcd $ETCD_36_VERSION (go.etcd.io/etcd/server/v3) into $dir, a few minutes" >&2
    rm -rf "$dir"
    mkdir -p "$dir/src"
    cd "$dir/src"
    # Not `go 1.x` of our own: `go get` raises it to what etcd's go.mod asks for.
    printf 'module shardvoy.peers/etcd\n\ngo 1.23\n' >go.mod
    { GOFLAGS=-mod=mod go get "go.etcd.io/etcd/server/v3@v$ETCD_36_VERSION" >&2 \
      && CGO_ENABLED=0 go build -trimpath -o "$binary" go.etcd.io/etcd/server/v3 >&2; } \
      || { rm -rf "$dir"; fail "go could not build go.etcd.io/etcd/server/v3@v$ETCD_36_VERSION"; }
    built="$(version_of "$binary")"
    [ "$built" = "$ETCD_36_VERSION" ] || { rm -rf "$dir"; fail "the etcd built from go.etcd.io/etcd/server/v3@v$ETCD_36_VERSION reports version '${built:-none}'"; }
    echo "$binary"; exit 0
    ;;
  *) fail "ETCD_VERSION=$want: only 3.4 (an etcd on PATH or Debian's) or 3.6 (built with Go) is known" ;;
esac

if command -v etcd >/dev/null 2>&1; then
  found="$(command -v etcd)"
  version="$(version_of "$found")"
  if at_least "$version" 3 4; then echo "$found"; exit 0; fi
  echo "shardvoy e2e: $found is etcd '${version:-unknown}', older than 3.4; looking for another" >&2
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "shardvoy e2e: installing Debian's etcd-server with apt-get" >&2
  { apt-get install -y -qq etcd-server >&2 || { apt-get update -qq >&2 && apt-get install -y -qq etcd-server >&2; }; } \
    || fail "apt-get could not install etcd-server"
  # Debian's package may start etcd as a service on 2379/2380 (none ran before: etcd was not on
  # PATH); the suites start their own.
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now etcd >/dev/null 2>&1 || true; fi
  if [ -x /etc/init.d/etcd ]; then /etc/init.d/etcd stop >/dev/null 2>&1 || true; fi
  for candidate in /usr/bin/etcd "$(command -v etcd 2>/dev/null || true)"; do
    if [ -x "$candidate" ] && at_least "$(version_of "$candidate")" 3 4; then echo "$candidate"; exit 0; fi
  done
  fail "etcd-server installed, but no etcd 3.4 or newer is on PATH"
fi
fail "no etcd 3.4 or newer on PATH, and not root with apt-get to install etcd-server"
