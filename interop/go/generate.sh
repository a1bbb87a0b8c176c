#!/bin/sh
# Regenerates the Go code of MyService (api/) from proto/examples/my_service.proto
# with Go psrpc's own generator, once per psrpc version the peer is built against.
#
# Needs Go and protoc; protoc comes from pip's grpcio-tools when not on PATH:
#   python3 -m pip install grpcio-tools
# The generators are installed as Go module tools into a temporary GOBIN.
# interop/tests/go_generated_drift.rs fails when api/ no longer matches the .proto:
# rerun this script then.
set -eu
cd "$(dirname "$0")"

PROTOC_GEN_GO=v1.36.12
# version -> build tag of the generated psrpc file (see peer/bus_*.go)
VERSIONS="v0.8.2:!psrpc07 v0.7.7:psrpc07"

if command -v protoc >/dev/null 2>&1; then PROTOC="protoc"; else PROTOC="python3 -m grpc_tools.protoc"; fi
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
GOBIN="$bin" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO"

map="Mmy_service.proto=github.com/psrpc-rs/psrpc-rs/interop/go/api;api"
for entry in $VERSIONS; do
    version=${entry%%:*}
    tag=${entry#*:}
    GOBIN="$bin" go install "github.com/livekit/psrpc/protoc-gen-psrpc@$version"
    options=$(go mod download -json "github.com/livekit/psrpc@$version" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')/protoc-gen-psrpc/options
    out=$(mktemp -d)
    PATH="$bin:$PATH" $PROTOC -I ../../proto/examples -I "$options" \
        --go_out="$out" --go_opt=paths=source_relative --go_opt="$map" \
        --psrpc_out="$out" --psrpc_opt=paths=source_relative --psrpc_opt="$map" \
        my_service.proto
    # The messages do not depend on the psrpc version; the service code does.
    mv "$out/my_service.pb.go" api/my_service.pb.go
    name=$(echo "$version" | tr -d v. | cut -c1-3)
    { printf '//go:build %s\n\n' "$tag"; cat "$out/my_service.psrpc.go"; } > "api/my_service_v$name.psrpc.go"
    rm -rf "$out"
done
gofmt -l api || true
