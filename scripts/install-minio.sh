#!/usr/bin/env bash
# install-minio.sh builds the MinIO server that coffer's tests run against
# (the S3 run of the blob backend suite, and later end-to-end tests), from
# its Go module at a pinned version, into a cache directory, once.
#
#   scripts/install-minio.sh          # build if missing, print the binary's path
#
# Where it goes: ${COFFER_CACHE_DIR:-$HOME/.cache/coffer}/minio/<version>/minio,
# with ${COFFER_CACHE_DIR:-$HOME/.cache/coffer}/bin/minio pointing at it.
# internal/testenv looks there (after $COFFER_MINIO_BIN and PATH).
#
# MinIO publishes no semver tags the Go proxy serves, so the pin is a
# pseudo-version (a commit of github.com/minio/minio). Changing it builds a
# new binary beside the old one; the symlink then points at the new one.
# The first build takes several minutes on a 2-core machine.
set -euo pipefail

MINIO_VERSION="${COFFER_MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
CACHE="${COFFER_CACHE_DIR:-$HOME/.cache/coffer}"
DIR="$CACHE/minio/$MINIO_VERSION"
BIN="$DIR/minio"
LINK="$CACHE/bin/minio"

if [[ ! -x "$BIN" ]]; then
	echo "install-minio: building github.com/minio/minio@$MINIO_VERSION into $DIR (takes a while)" >&2
	mkdir -p "$DIR.tmp"
	start=$(date +%s)
	# GOFLAGS=-mod=mod: build the module on its own go.mod, not a
	# workspace or vendor dir of whoever runs us. GOTOOLCHAIN=local: the
	# Go on this machine is newer than MinIO's toolchain line; never
	# download another one.
	CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local GOBIN="$DIR.tmp" \
		go install -trimpath -ldflags="-s -w" "github.com/minio/minio@$MINIO_VERSION"
	rm -rf "$DIR"
	mv "$DIR.tmp" "$DIR"
	echo "install-minio: built in $(( $(date +%s) - start ))s" >&2
fi

mkdir -p "$(dirname "$LINK")"
ln -sfn "$BIN" "$LINK"
echo "$BIN"
