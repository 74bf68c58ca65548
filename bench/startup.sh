#!/usr/bin/env bash
# Start-up and size of the shipped binary (scripts/build-release.sh), every row in one run:
#   1. `porter --version` against an empty Swift program built the same way (the release flags, Swift runtime
#      linked in, stripped), against the smallest program that answers `--version` with swift-argument-parser, as
#      Porter does (a root command with one subcommand, built the same way), and against /bin/true;
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

# The two baselines, each a package built and stripped as the release script builds Porter: an empty main.swift,
# and a program whose only work is swift-argument-parser's, from the same checkout Porter builds with.
baseline() { # name, main.swift, Package.swift dependencies, target dependencies
    mkdir -p "$tmp/$1/Sources/$1"
    printf '%s\n' "$2" >"$tmp/$1/Sources/$1/main.swift"
    cat >"$tmp/$1/Package.swift" <<SWIFT
// swift-tools-version:6.2
import PackageDescription
let package = Package(name: "$1", dependencies: [$3], targets: [.executableTarget(name: "$1", dependencies: [$4])])
SWIFT
    swift build "${release_flags[@]}" --package-path "$tmp/$1" >/dev/null
    strip --strip-all -o "$tmp/$1-swift" "$(swift build "${release_flags[@]}" --package-path "$tmp/$1" --show-bin-path)/$1"
}
baseline empty "" "" ""
baseline parser '
import ArgumentParser

struct Tool: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tool", version: "0.1.0", subcommands: [Run.self])
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run")
    @Option var name = "x"
    func run() async throws {}
}

do {
    var command = try Tool.parseAsRoot()
    if var command = command as? AsyncParsableCommand { try await command.run() } else { try command.run() }
} catch {
    Tool.exit(withError: error)
}' ".package(path: \"$root/${PORTER_RELEASE_SCRATCH:-.build-release}/checkouts/swift-argument-parser\")" \
    '.product(name: "ArgumentParser", package: "swift-argument-parser")'

hyperfine -N --warmup 10 --runs "$runs" --export-json "$tmp/version.json" \
    -n "porter --version" "$porter --version" \
    -n "porter --version (fixed addresses)" "$tmp/porter-fixed --version" \
    -n "empty Swift program" "$tmp/empty-swift" \
    -n "swift-argument-parser's --version alone" "$tmp/parser-swift --version" \
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
for row in "porter:$porter" "porter (fixed addresses):$tmp/porter-fixed" "empty Swift program:$tmp/empty-swift" \
    "swift-argument-parser alone:$tmp/parser-swift"; do
    size=$(stat -c %s "${row#*:}")
    echo "| ${row%%:*} | $size | $((size * 10 / mib / 10)).$((size * 10 / mib % 10)) |"
done
