#ifndef CBUILDINFO_H
#define CBUILDINFO_H

/// The git commit the binary was built from (short hash), or "unknown".
/// Set at build time through Package.swift from $ROUNDTRIP_COMMIT
/// (scripts/package.sh sets it from `git rev-parse --short HEAD`).
const char *roundtrip_build_commit(void);

#endif
