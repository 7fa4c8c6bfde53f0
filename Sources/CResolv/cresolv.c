#define _GNU_SOURCE
#include "cresolv.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>

static int map_herrno(int h) {
    switch (h) {
    case HOST_NOT_FOUND: return CRESOLV_NXDOMAIN;
    case NO_DATA: return CRESOLV_NODATA;
    case TRY_AGAIN: return CRESOLV_TRY_AGAIN;
    default: return CRESOLV_NO_RECOVERY;
    }
}

int cresolv_query(const char *name, int type, const char *server, uint16_t port,
                  int timeout_seconds, int attempts,
                  cresolv_record *out, int capacity) {
    struct __res_state st;
    memset(&st, 0, sizeof st);
    if (res_ninit(&st) != 0) return CRESOLV_INIT;
    if (timeout_seconds > 0) st.retrans = timeout_seconds;
    if (attempts > 0) st.retry = attempts;

    if (server != NULL) {
        struct in_addr a4;
        struct in6_addr a6;
        if (inet_pton(AF_INET, server, &a4) == 1) {
            struct sockaddr_in sa;
            memset(&sa, 0, sizeof sa);
            sa.sin_family = AF_INET;
            sa.sin_port = htons(port);
            sa.sin_addr = a4;
            st.nsaddr_list[0] = sa;
            st.nscount = 1;
        } else if (inet_pton(AF_INET6, server, &a6) == 1) {
            /* glibc keeps IPv6 servers in _u._ext.nsaddrs; the simplest portable
               route is to clear IPv4 servers and set the extension slot. */
            struct sockaddr_in6 *sa6 = malloc(sizeof *sa6);
            if (sa6 == NULL) { res_nclose(&st); return CRESOLV_INIT; }
            memset(sa6, 0, sizeof *sa6);
            sa6->sin6_family = AF_INET6;
            sa6->sin6_port = htons(port);
            sa6->sin6_addr = a6;
            for (int i = 0; i < MAXNS; i++) {
                if (st._u._ext.nsaddrs[i] != NULL) { free(st._u._ext.nsaddrs[i]); st._u._ext.nsaddrs[i] = NULL; }
            }
            st._u._ext.nsaddrs[0] = sa6;
            st.nsaddr_list[0].sin_family = 0;
            st.nscount = 1;
        } else {
            res_nclose(&st);
            return CRESOLV_BAD_SERVER;
        }
    }

    unsigned char *answer = malloc(NS_MAXMSG);
    if (answer == NULL) { res_nclose(&st); return CRESOLV_INIT; }
    int len = res_nquery(&st, name, ns_c_in, type, answer, NS_MAXMSG);
    if (len < 0) {
        int code = map_herrno(st.res_h_errno);
        free(answer);
        res_nclose(&st);
        return code;
    }

    ns_msg msg;
    if (ns_initparse(answer, len, &msg) < 0) {
        free(answer);
        res_nclose(&st);
        return CRESOLV_NO_RECOVERY;
    }
    int count = 0;
    int total = ns_msg_count(msg, ns_s_an);
    for (int i = 0; i < total && count < capacity; i++) {
        ns_rr rr;
        if (ns_parserr(&msg, ns_s_an, i, &rr) < 0) break;
        if (ns_rr_type(rr) != type || ns_rr_class(rr) != ns_c_in) continue;
        const unsigned char *rdata = ns_rr_rdata(rr);
        int rdlen = ns_rr_rdlen(rr);
        cresolv_record *rec = &out[count];
        memset(rec, 0, sizeof *rec);
        if (type == ns_t_mx) {
            if (rdlen < 3) continue;
            rec->preference = ns_get16(rdata);
            if (dn_expand(ns_msg_base(msg), ns_msg_end(msg), rdata + 2, rec->name, sizeof rec->name) < 0) continue;
        } else if (type == ns_t_a) {
            if (rdlen != 4) continue;
            inet_ntop(AF_INET, rdata, rec->name, sizeof rec->name);
        } else if (type == ns_t_aaaa) {
            if (rdlen != 16) continue;
            inet_ntop(AF_INET6, rdata, rec->name, sizeof rec->name);
        } else {
            continue;
        }
        count++;
    }
    free(answer);
    res_nclose(&st);
    return count;
}
