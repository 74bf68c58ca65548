// xxHash 0.8.4 (https://github.com/Cyan4973/xxHash, BSD 2-Clause, see LICENSE beside this file), compiled once
// here. Porter uses XXH3-128 through its streaming API to verify file transfers.
#define XXH_IMPLEMENTATION
#define XXH_STATIC_LINKING_ONLY
#include "xxhash.h"
