#include "cbuildinfo.h"

/* Package.swift defines ROUNDTRIP_COMMIT as a string literal; a build without
   it (plain `swift build` with no $ROUNDTRIP_COMMIT) says "unknown". */
#ifndef ROUNDTRIP_COMMIT
#define ROUNDTRIP_COMMIT "unknown"
#endif

const char *roundtrip_build_commit(void) {
    return ROUNDTRIP_COMMIT;
}
