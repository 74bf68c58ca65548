#!/usr/bin/env bash
# Builds `porter` for release with the Swift runtime linked in, so that the one file runs on a Linux machine that
# has no Swift installed (it needs only the C library, libstdc++ and libgcc, which every distribution has).
#
#   bash scripts/build-release.sh        # the last line printed is the stripped binary's path
#
# The build goes to .build-release (PORTER_RELEASE_SCRATCH to change it), apart from the debug build of `swift
# build` and `swift test`, so that neither makes the other start again.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=${PORTER_RELEASE_SCRATCH:-.build-release}
flags=(-c release --static-swift-stdlib --product porter --scratch-path "$scratch")
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
echo "$("$binary" --version), $(($(stat -c %s "$binary") / 1024 / 1024)) MiB, loads only: $(ldd "$binary" | awk '{print $1}' | tr '\n' ' ')" >&2
echo "$(pwd)/$binary"
