#!/usr/bin/env bash
# fuzz.sh runs every Go fuzz target in the repository for a short time
# (FUZZTIME, default 10s each), so the decoders of untrusted input are
# fuzzed on every CI run and not only when someone remembers.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME="${FUZZTIME:-10s}"
git grep -l '^func Fuzz' -- '*_test.go' | while read -r file; do
	pkg="./$(dirname "$file")"
	for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | cut -d' ' -f2); do
		echo "fuzz: $pkg $target ($FUZZTIME)" >&2
		go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg"
	done
done
