#!/bin/sh
# Builds the go-control-plane peer of the bench with this machine's Go toolchain: the modules come
# from the Go module proxy (go.sum pins them), the module cache, the build cache and the binary go
# into the git-ignored .peers/ folder at the repository root. Prints the binary's path.
#
#   bench/peers/go-control-plane/build.sh
#
# Exit code 3 (and "no Go toolchain" on stderr) when there is no `go` (GO=path picks one): the bench
# then reports the peer as not run.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
go=${GO:-}
if [ -n "$go" ] && ! command -v "$go" >/dev/null 2>&1; then
  echo "no Go toolchain (GO=$go is not a command)" >&2; exit 3
fi
if [ -z "$go" ]; then
  if command -v go >/dev/null 2>&1; then go=$(command -v go)
  elif [ -x /usr/local/go/bin/go ]; then go=/usr/local/go/bin/go
  else echo "no Go toolchain (looked for go on PATH and /usr/local/go/bin/go)" >&2; exit 3
  fi
fi
out="$root/.peers/go-control-plane"
mkdir -p "$out"
export GOPATH="$root/.peers/go"
export GOMODCACHE="$GOPATH/mod"
export GOCACHE="$GOPATH/cache"
export GOFLAGS=-mod=mod
# The go directive of go.mod is below any supported toolchain: never download another one.
export GOTOOLCHAIN=local
export CGO_ENABLED=0
cd "$here"
"$go" build -trimpath -o "$out/shardvoy-gcp-peer" . >&2
echo "$out/shardvoy-gcp-peer"
