#!/usr/bin/env bash
# bench-deps.sh installs what `coffer bench storage` and `coffer bench
# backup` compare coffer with: Debian's restic, borgbackup and pgbackrest
# (apt-get), and the MinIO server coffer's S3 run uses
# (scripts/install-minio.sh). It does nothing for what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_if_needed() {
	if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

missing=()
for pkg in restic borgbackup pgbackrest; do
	dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
	echo "bench-deps: installing ${missing[*]}" >&2
	sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get update -q
	sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi
scripts/install-minio.sh >/dev/null
restic version
borg --version
pgbackrest version
