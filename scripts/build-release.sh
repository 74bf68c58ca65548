#!/usr/bin/env bash
# Builds `porter` for release with the Swift runtime linked in, so that the one file runs on a Linux machine that
# has no Swift installed (it needs only the C library, libstdc++ and libgcc, which every distribution has).
#
#   bash scripts/build-release.sh        # the last line printed is the stripped binary's path
#
# The build goes to .build-release (PORTER_RELEASE_SCRATCH to change it), apart from the debug build of `swift
# build` and `swift test`, so that neither makes the other start again.
#
# PORTER_RELEASE_PIE=0 links it at fixed addresses instead of position-independent: every command then starts
# 0.5–2 ms sooner (more on a loaded host), since the loader no longer rewrites 80,000 pointers (and copies the
# pages that hold them), but the program's own code and data lose address-space layout randomisation
# (docs/SECURITY.md). Only the link step changes, so switching between the two does not recompile anything.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=${PORTER_RELEASE_SCRATCH:-.build-release}
source scripts/release-flags.sh
flags=("${release_flags[@]}" --product porter --scratch-path "$scratch")
if [ "${PORTER_RELEASE_PIE:-1}" = 0 ]; then flags+=(-Xlinker -no-pie); fi
swift build "${flags[@]}" >&2
built=$(swift build "${flags[@]}" --show-bin-path)/porter
binary=$scratch/porter
strip --strip-all -o "$binary" "$built"

# Everything it loads must be part of any Linux system: no library of the Swift toolchain.
unexpected=$(ldd "$binary" | awk '{print $1}' |
    grep -vE '^(linux-vdso\.so|/lib64/ld-linux|libc\.so|libm\.so|libstdc\+\+\.so|libgcc_s\.so|libpthread\.so|libdl\.so|librt\.so)' || true)
if [ -n "$unexpected" ]; then
    echo "the binary still loads: $unexpected" >&2
    exit 1
fi
echo "$("$binary" --version), $(stat -c %s "$binary") bytes, loads only: $(ldd "$binary" | awk '{print $1}' | tr '\n' ' ')" >&2
case $binary in
/*) echo "$binary" ;;
*) echo "$(pwd)/$binary" ;;
esac
