#!/usr/bin/env bash
# test-deps.sh installs what coffer's tests run against, on a fresh Debian
# machine: PostgreSQL, the AWS CLI v2, OpenSSL (which checks KMS
# signatures outside coffer) and Chromium (the console's browser tests
# drive it with chromedp) from Debian's packages, the Go
# modules, and a MinIO server built from its Go module. It does nothing
# for what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_if_needed() {
	if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

missing=()
for pkg in postgresql awscli openssl chromium; do
	dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
	echo "test-deps: installing ${missing[*]}" >&2
	sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get update -q
	sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

go mod download
scripts/install-minio.sh >/dev/null
