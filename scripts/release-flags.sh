# shellcheck shell=bash
# The flags of Porter's release build, in one place: scripts/build-release.sh builds the shipped binary with them
# and bench/lib.sh every benchmark's products, so that the benchmarks measure the binary that ships. Sourced; sets
# `release_flags`.
#
# - The Swift runtime linked in (--static-swift-stdlib): the binary runs where no Swift is installed.
# - -Osize: 1.5 MB smaller than -O, with no difference the transfer and exec benchmarks can see.
# - Concrete types' metadata reached by direct calls to their accessors, not by mangled name
#   (-disable-concrete-type-metadata-mangled-name-accessors). A mangled name is demangled at run time the first time
#   it is used, and every generic requirement it carries (a dictionary's key is Hashable, a set's element too) is a
#   linear scan of the binary's 7,000 protocol-conformance records, about 50 µs each here. A fresh `porter exec`
#   made 97 such scans, 56 with the flag; it costs 0.1 MB (docs/BENCHMARKS.md, "Start-up").
# - No `$ORIGIN` run path (--disable-local-rpath): the loader looks for libc, libm, libstdc++ and libgcc only where
#   the system keeps them, never in the directory the binary was copied to, where anyone who can write there could
#   put a library of their own; and it skips the 20 failed lookups there at every start.
# - No exported dynamic symbols: the static runtime's link options export every symbol (3 MB of tables) that
#   nothing loads.
# - Identical functions folded where no address is taken (--icf=safe): 0.3 MB of duplicate specialisations.
# - Each Swift function in its own section, and the sections nothing reaches dropped (--gc-sections): 1.0 MB of
#   package code Porter never calls.
release_flags=(-c release --static-swift-stdlib --disable-local-rpath -Xswiftc -Osize
    -Xswiftc -Xfrontend -Xswiftc -disable-concrete-type-metadata-mangled-name-accessors
    -Xswiftc -Xfrontend -Xswiftc -function-sections
    -Xlinker --no-export-dynamic -Xlinker --icf=safe -Xlinker --gc-sections)
