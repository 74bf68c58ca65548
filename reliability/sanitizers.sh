#!/usr/bin/env bash
# Runs the whole test suite under ThreadSanitizer and AddressSanitizer, each in its own build directory.
#
#   bash reliability/sanitizers.sh              # thread, then address
#   bash reliability/sanitizers.sh address      # one of them
#
# Under a sanitizer everything runs several times slower, so PORTER_TEST_SLOWDOWN tells the tests that wait
# for something to happen by a deadline to allow that many times longer.
#
# AddressSanitizer: the Swift runtime leaves a small allocation at exit that LeakSanitizer reports, so leak
# detection is off (detect_leaks=0); every other check is on.
set -euo pipefail
cd "$(dirname "$0")/.."
sanitizers=("$@")
[ ${#sanitizers[@]} -gt 0 ] || sanitizers=(thread address)
export PORTER_TEST_SLOWDOWN=${PORTER_TEST_SLOWDOWN:-4}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1}
# The Swift backtracer would take minutes to symbolicate a sanitizer's abort; the sanitizer prints its own trace.
export SWIFT_BACKTRACE=enable=no
for sanitizer in "${sanitizers[@]}"; do
    case $sanitizer in thread | address) ;; *) echo "unknown sanitizer '$sanitizer' (thread or address)" >&2 && exit 2 ;; esac
    scratch=.build-$sanitizer
    echo "== $sanitizer sanitizer ($scratch)"
    start=$(date +%s)
    swift build --build-tests --sanitize="$sanitizer" --scratch-path "$scratch" 2>&1 | grep -E 'error|Build' || true
    status=0
    swift test --skip-build --sanitize="$sanitizer" --scratch-path "$scratch" >"$scratch/test.log" 2>&1 || status=$?
    grep -E 'WARNING: ThreadSanitizer|ERROR: AddressSanitizer|SUMMARY|Test run with|✘' "$scratch/test.log" || true
    # A sanitizer's report fails the run even where it stopped only a child process (halt_on_error).
    if grep -qE 'WARNING: ThreadSanitizer|ERROR: AddressSanitizer' "$scratch/test.log" && [ "$status" -eq 0 ]; then
        status=1
    fi
    echo "$sanitizer: exit $status after $(($(date +%s) - start)) s; the whole log is $scratch/test.log"
    [ "$status" -eq 0 ] || exit "$status"
done
