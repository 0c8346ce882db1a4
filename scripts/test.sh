#!/usr/bin/env bash
# make test: vet, staticcheck (the version pinned in go.mod) and every test
# with the race detector. Each step is announced; the end says which steps
# failed and, for the tests, which packages and tests. go test's own lines
# (ok / FAIL) stay in the output: .ci/run counts them.
set -uo pipefail
GO=${GO:-go}
# PKGS narrows every step, e.g. make test PKGS=./pkg/redrive/...
read -r -a pkgs <<<"${PKGS:-./...}"

# The race detector needs cgo, so a C compiler.
cc=$($GO env CC)
cgo=$($GO env CGO_ENABLED)
if ! command -v "${cc%% *}" >/dev/null 2>&1; then
  cat >&2 <<MSG
== make test: no C compiler ("go env CC" is "$cc", not found). The race detector needs one.
   Debian/Ubuntu:  sudo apt-get install gcc
   Fedora:         sudo dnf install gcc
   macOS:          xcode-select --install
   Then run make test again (or CC=/path/to/compiler make test).
MSG
  exit 1
fi
if [ "$cgo" != 1 ]; then
  echo "== make test: cgo is off (CGO_ENABLED=$cgo); the race detector needs it: unset CGO_ENABLED or set it to 1" >&2
  exit 1
fi

failed=()
log=$(mktemp "${TMPDIR:-/tmp}/novamed-bridge-test.XXXXXX")
trap 'rm -f "$log"' EXIT

echo "== vet"
$GO vet "${pkgs[@]}" || failed+=("vet")
# make fuzz builds the tests with the nokumo tag (functions/intake leaves
# its kumo test files out): that build must compile too.
$GO vet -tags nokumo "${pkgs[@]}" || failed+=("vet -tags nokumo")

echo "== staticcheck (the version pinned in go.mod: go tool staticcheck)"
$GO tool staticcheck "${pkgs[@]}" || failed+=("staticcheck")
# The packages (of those asked for) whose files the nokumo tag changes, in
# that build too.
nokumo=()
while IFS= read -r dir; do
  if grep -qlE '^//go:build .*nokumo' "$dir"/*.go 2>/dev/null; then
    nokumo+=("$dir")
  fi
done < <($GO list -tags nokumo -f '{{.Dir}}' "${pkgs[@]}")
if [ ${#nokumo[@]} -gt 0 ]; then
  $GO tool staticcheck -tags nokumo "${nokumo[@]}" || failed+=("staticcheck -tags nokumo")
fi

echo "== tests (race detector; the first run compiles for minutes)"
# Compile every test binary first, in parallel; then run the packages one
# at a time: the end-to-end packages start real processes (the Lambda RIE,
# kumo, sandboxes) and two of them at once on a small machine starve each
# other's loopback calls into timeouts that say nothing about the code.
$GO test -race -count=1 -run '^$' "$@" "${pkgs[@]}" >/dev/null 2>&1 || true
$GO test -race -count=1 -p 1 "$@" "${pkgs[@]}" 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || failed+=("tests")

if [ ${#failed[@]} -eq 0 ]; then
  echo "== make test: OK (vet, staticcheck, $(grep -cE '^ok ' "$log") test packages)"
  exit 0
fi
echo "== make test FAILED: ${failed[*]}"
if [[ " ${failed[*]} " == *" tests "* ]]; then
  grep -E '^FAIL[[:space:]]+[^[:space:]]+' "$log" | awk '{i = index($0, "["); print "   package " $2 (i ? " " substr($0, i) : "")}' | sort -u
  grep -E '^[[:space:]]*--- FAIL: ' "$log" | sed -E 's/^[[:space:]]*--- FAIL: ([^ ]+).*/   test    \1/' | sort -u
  grep -E '^(panic:|fatal error:|WARNING: DATA RACE)' "$log" | sort -u | sed 's/^/   /'
fi
exit 1
