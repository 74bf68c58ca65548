#!/usr/bin/env bash
# Regenerates docs/man/porter.1, the man page, from the command definitions with swift-argument-parser's
# generate-manual plugin (a debug build: incremental after `swift build`).
#   bash scripts/generate-manual.sh           # rewrites docs/man/porter.1 if the commands changed
#   bash scripts/generate-manual.sh --check   # exits 1 if docs/man/porter.1 is not what the commands give (CI)
#   man -l docs/man/porter.1                  # read it
# The page keeps its date unless its text changes, so regenerating an unchanged page changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
check=false
case "${1:-}" in
    --check) check=true ;;
    "") ;;
    *) echo "usage: bash scripts/generate-manual.sh [--check]" >&2; exit 64 ;;
esac
page=docs/man/porter.1
out=.build/plugins/GenerateManual/outputs/PorterCLI
rm -rf "$out"
# --disable-sandbox: the plugin runs the built porter (with --experimental-dump-help) to read its commands.
swift package --disable-sandbox plugin generate-manual --configuration debug --date "$(date -u +%F)" >/dev/null
[ -s "$out/porter.1" ] || { echo "the generate-manual plugin wrote no $out/porter.1" >&2; exit 1; }
# A blank line between paragraphs of a discussion is a paragraph break in mdoc (man warns about a blank line).
sed -i 's/^$/.Pp/' "$out/porter.1"
# Everything but the date line (.Dd) must match.
if [ -f "$page" ] && cmp -s <(grep -v '^\.Dd ' "$page") <(grep -v '^\.Dd ' "$out/porter.1"); then
    echo "$page is current"
    exit 0
fi
if $check; then
    echo "$page is out of date with the command definitions: run bash scripts/generate-manual.sh and commit it" >&2
    diff <(grep -v '^\.Dd ' "$page" 2>/dev/null) <(grep -v '^\.Dd ' "$out/porter.1") | head -40 >&2 || true
    exit 1
fi
mkdir -p "$(dirname "$page")"
cp "$out/porter.1" "$page"
echo "wrote $page"
