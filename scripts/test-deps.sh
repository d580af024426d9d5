#!/usr/bin/env bash
# test-deps.sh installs what coffer's tests run against, on a fresh Debian
# machine: PostgreSQL, the AWS CLI v2, OpenSSL (which checks KMS
# signatures outside coffer) and Chromium (the console's browser tests
# drive it with chromedp) from Debian's packages, boto3 (pip, in a
# virtual environment in ~/.cache/coffer/boto3, when no python3 has one
# that knows restore testing: Debian's predates it), the Go modules, and
# a MinIO server built from its Go module. It does nothing for what is
# already there.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_if_needed() {
	if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

missing=()
for pkg in postgresql awscli openssl chromium python3-venv; do
	dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
	echo "test-deps: installing ${missing[*]}" >&2
	sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get update -q
	sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

# The same probe as internal/testenv's Boto3Python.
boto3_probe='import boto3, botocore.session
assert "CreateRestoreTestingPlan" in botocore.session.get_session().get_service_model("backup").operation_names'
boto3_venv="$HOME/.cache/coffer/boto3"
if ! python3 -c "$boto3_probe" 2>/dev/null && ! "$boto3_venv/bin/python3" -c "$boto3_probe" 2>/dev/null; then
	echo "test-deps: installing boto3 into $boto3_venv" >&2
	python3 -m venv "$boto3_venv"
	"$boto3_venv/bin/pip" install -q boto3
fi

go mod download
scripts/install-minio.sh >/dev/null
