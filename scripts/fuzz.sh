#!/usr/bin/env bash
# fuzz.sh runs every Go fuzz target in the repository for a short budget
# (FUZZTIME, default 100,000 executions each), so the decoders of untrusted
# input are fuzzed on every CI run and not only when someone remembers.
#
# The budget is a count because a duration trips a race in Go's fuzzing
# coordinator before Go 1.27 (go.dev/issue/75804): a run that found nothing
# can end with "context deadline exceeded". Should someone pass a duration,
# such a run (no failing input written) is tried once more instead of
# failing CI. A real finding always names the input it wrote under
# testdata/fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME="${FUZZTIME:-100000x}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
git grep -l '^func Fuzz' -- '*_test.go' | while read -r file; do
	pkg="./$(dirname "$file")"
	for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | cut -d' ' -f2); do
		for attempt in 1 2; do
			echo "fuzz: $pkg $target ($FUZZTIME)" >&2
			if go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg" >"$log" 2>&1; then
				cat "$log"
				break
			fi
			cat "$log"
			if [[ $attempt == 1 ]] && grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log"; then
				echo "fuzz: $target stopped on the fuzzer's deadline without a finding; running it again" >&2
				continue
			fi
			exit 1
		done
	done
done
