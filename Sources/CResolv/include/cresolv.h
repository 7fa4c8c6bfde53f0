#ifndef CRESOLV_H
#define CRESOLV_H

#include <stddef.h>
#include <stdint.h>

/// One record from an answer section. `name` is the MX exchange (or the
/// textual address for A/AAAA answers).
typedef struct {
    uint16_t preference;
    char name[1025];
} cresolv_record;

/// Result codes (negative) besides the record count (>= 0).
enum {
    CRESOLV_NXDOMAIN = -1,   /* HOST_NOT_FOUND: the name does not exist */
    CRESOLV_NODATA = -2,     /* NO_DATA: the name exists, no record of the type */
    CRESOLV_TRY_AGAIN = -3,  /* TRY_AGAIN: server failure, refused or timeout */
    CRESOLV_NO_RECOVERY = -4,/* NO_RECOVERY: FORMERR, NOTIMP, malformed answer */
    CRESOLV_INIT = -5,       /* res_ninit failed */
    CRESOLV_BAD_SERVER = -6  /* the server override is not a numeric address */
};

/// Query `name` for records of `type` (15 = MX, 1 = A, 28 = AAAA) with a fresh
/// resolver state per call (thread-safe). When `server` is non-NULL it is a
/// numeric IPv4 or IPv6 address that replaces the system's name servers, and
/// `port` its port. `timeout_seconds` and `attempts` bound the wait.
/// Returns the number of records written to `out` (at most `capacity`), or a
/// negative CRESOLV_* code.
int cresolv_query(const char *name, int type, const char *server, uint16_t port,
                  int timeout_seconds, int attempts,
                  cresolv_record *out, int capacity);

#endif
