#!/usr/bin/env bash
# Start-up and size of the shipped binary (scripts/build-release.sh), every row in one run:
#   1. `porter --version` against an empty Swift program built the same way (release, Swift runtime linked in,
#      stripped) and against /bin/true;
#   2. the stripped binary's size;
#   3. a fresh `porter exec H -- true` against a fresh `ssh host true` and ssh through a ControlMaster
#      connection, to private local servers.
# Rows 1 and 3 also run the binary linked at fixed addresses (PORTER_RELEASE_PIE=0 in scripts/build-release.sh),
# which differs only in its link step.
# Prints Markdown tables with ratios.      bash bench/startup.sh          RUNS=100 bash bench/startup.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
runs=${RUNS:-50}
source bench/lib.sh
need hyperfine hyperfine
echo "machine: $(nproc) cores, kernel $(uname -r), $(swift --version 2>&1 | head -1), $(date -u +%FT%TZ)"
cp "$(PORTER_RELEASE_PIE=0 bash scripts/build-release.sh 2>/dev/null | tail -1)" "$tmp/porter-fixed"
cp "$(bash scripts/build-release.sh 2>/dev/null | tail -1)" "$tmp/porter"
porter=$tmp/porter

# The empty program: a package of one empty main.swift, built and stripped as the release script does.
mkdir -p "$tmp/empty/Sources/empty"
: >"$tmp/empty/Sources/empty/main.swift"
cat >"$tmp/empty/Package.swift" <<'SWIFT'
// swift-tools-version:6.2
import PackageDescription
let package = Package(name: "empty", targets: [.executableTarget(name: "empty")])
SWIFT
swift build -c release --static-swift-stdlib --package-path "$tmp/empty" >/dev/null
strip --strip-all -o "$tmp/empty-swift" "$(swift build -c release --static-swift-stdlib --package-path "$tmp/empty" --show-bin-path)/empty"

hyperfine -N --warmup 10 --runs "$runs" --export-json "$tmp/version.json" \
    -n "porter --version" "$porter --version" \
    -n "porter --version (fixed addresses)" "$tmp/porter-fixed --version" \
    -n "empty Swift program" "$tmp/empty-swift" \
    -n "/bin/true" "/bin/true" >/dev/null

start_sshd
start_porter
pexec="$porter exec $endpoint $PORTER_ARGS --"
$pexec true
hyperfine -N --warmup 5 --runs "$runs" --export-json "$tmp/exec.json" \
    -n "porter exec true" "$pexec true" \
    -n "porter exec true (fixed addresses)" "$tmp/porter-fixed exec $endpoint $PORTER_ARGS -- true" \
    -n "ssh true" "$SSH true" \
    -n "ssh true (ControlMaster)" "$SSH_MASTER true" >/dev/null

ratio_table "$tmp/version.json" "porter --version"
ratio_table "$tmp/exec.json" "porter exec true"
mib=$((1024 * 1024))
echo "| stripped binary | bytes | MiB |"
echo "|---|---:|---:|"
for row in "porter:$porter" "porter (fixed addresses):$tmp/porter-fixed" "empty Swift program:$tmp/empty-swift"; do
    size=$(stat -c %s "${row#*:}")
    echo "| ${row%%:*} | $size | $((size * 10 / mib / 10)).$((size * 10 / mib % 10)) |"
done
