/*
 * trace.c - traceparent and tracestate parsing (W3C Trace Context, section 3), new ids.
 */
#include "trace.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* The flags we know (sampled, random-trace-id); others are cleared on the way out. */
#define TRACE_FLAGS_KNOWN      0x03
#define TRACESTATE_MEMBERS_MAX 32
#define TRACESTATE_KEY_MAX     256
#define TRACESTATE_VALUE_MAX   256
#define TRACESTATE_ENTRY_LONG  128
/* The most raw tracestate text read: a list of 32 members of the longest kind. */
#define TRACESTATE_RAW_MAX                                                                         \
    (TRACESTATE_MEMBERS_MAX * (TRACESTATE_KEY_MAX + TRACESTATE_VALUE_MAX + 8))

static bool lower_hex(const char *s, size_t n, bool *all_zero)
{
    bool zero = true;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
        zero &= c == '0';
    }
    if (all_zero)
        *all_zero = zero;
    return true;
}

static unsigned hex_value(char c)
{
    return c <= '9' ? (unsigned)(c - '0') : (unsigned)(c - 'a' + 10);
}

bool atrousd_traceparent_parse(const char *value, char trace_id[33], char parent_id[17],
                               uint8_t *flags)
{
    bool zero;
    if (value == NULL)
        return false;
    size_t len = strlen(value);
    if (len < ATROUSD_TRACEPARENT_LEN || !lower_hex(value, 2, NULL) ||
        strncmp(value, "ff", 2) == 0 || value[2] != '-')
        return false;
    if (strncmp(value, "00", 2) == 0
            ? len != ATROUSD_TRACEPARENT_LEN
            : len > ATROUSD_TRACEPARENT_LEN && value[ATROUSD_TRACEPARENT_LEN] != '-')
        return false;
    if (!lower_hex(value + 3, 32, &zero) || zero || value[35] != '-')
        return false;
    if (!lower_hex(value + 36, 16, &zero) || zero || value[52] != '-')
        return false;
    if (!lower_hex(value + 53, 2, NULL))
        return false;
    memcpy(trace_id, value + 3, 32);
    trace_id[32] = '\0';
    memcpy(parent_id, value + 36, 16);
    parent_id[16] = '\0';
    *flags = (uint8_t)((hex_value(value[53]) << 4 | hex_value(value[54])) & TRACE_FLAGS_KNOWN);
    return true;
}

static bool key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '*' ||
           c == '/' || c == '@';
}

/* A member "key=value" of n bytes at s (blanks already trimmed); *key_len gets the key's. */
static bool valid_member(const char *s, size_t n, size_t *key_len)
{
    const char *eq = memchr(s, '=', n);
    if (eq == NULL)
        return false;
    size_t k = (size_t)(eq - s), v = n - k - 1;
    if (k == 0 || k > TRACESTATE_KEY_MAX ||
        !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
        return false;
    for (size_t i = 1; i < k; i++)
        if (!key_char(s[i]))
            return false;
    if (v == 0 || v > TRACESTATE_VALUE_MAX || eq[v] == ' ')
        return false;
    for (size_t i = 1; i <= v; i++)
        if (eq[i] < 0x20 || eq[i] > 0x7e || eq[i] == ',' || eq[i] == '=')
            return false;
    *key_len = k;
    return true;
}

struct member {
    const char *s;
    size_t len, key_len;
};

bool atrousd_tracestate_normalize(const char *const *fields, size_t count,
                                  char out[ATROUSD_TRACESTATE_MAX + 1])
{
    char raw[TRACESTATE_RAW_MAX + 1];
    struct member members[TRACESTATE_MEMBERS_MAX];
    size_t used = 0, n = 0;
    out[0] = '\0';
    raw[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        int w = snprintf(raw + used, sizeof(raw) - used, "%s%s", i ? "," : "", fields[i]);
        if (w < 0 || (size_t)w >= sizeof(raw) - used)
            return false; /* longer than 32 members of the longest kind can be */
        used += (size_t)w;
    }
    for (const char *p = raw; *p;) {
        size_t len = strcspn(p, ",");
        const char *s = p, *e = p + len;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e > s) {
            struct member m = {.s = s, .len = (size_t)(e - s)};
            if (n == TRACESTATE_MEMBERS_MAX || !valid_member(s, m.len, &m.key_len))
                return false;
            for (size_t k = 0; k < n; k++)
                if (members[k].key_len == m.key_len && memcmp(members[k].s, s, m.key_len) == 0)
                    return false;
            members[n++] = m;
        }
        p += len + (p[len] == ',');
    }
    /* Cut to the limit: whole entries, those over 128 characters first, then from the end. */
    size_t total = n ? n - 1 : 0;
    bool keep[TRACESTATE_MEMBERS_MAX];
    for (size_t i = 0; i < n; i++) {
        total += members[i].len;
        keep[i] = true;
    }
    for (size_t i = 0; i < n && total > ATROUSD_TRACESTATE_MAX; i++) {
        if (members[i].len > TRACESTATE_ENTRY_LONG) {
            keep[i] = false;
            total -= members[i].len + 1;
        }
    }
    for (size_t i = n; i-- > 0 && total > ATROUSD_TRACESTATE_MAX;) {
        if (keep[i]) {
            keep[i] = false;
            total -= members[i].len + 1;
        }
    }
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (!keep[i])
            continue;
        if (at > 0)
            out[at++] = ',';
        memcpy(out + at, members[i].s, members[i].len);
        at += members[i].len;
    }
    out[at] = '\0';
    return true;
}

static void hex64(uint64_t v, char *out)
{
    snprintf(out, 17, "%016" PRIx64, v);
}

/* A random value that is not zero (an all-zero id is invalid). */
static uint64_t nonzero(uint64_t (*random64)(void *), void *arg)
{
    uint64_t v = random64(arg);
    return v != 0 ? v : 1;
}

void atrousd_trace_begin(struct atrousd_trace *t, const char *traceparent,
                         unsigned traceparent_count, const char *const *tracestate,
                         size_t tracestate_count, uint64_t (*random64)(void *arg), void *arg)
{
    memset(t, 0, sizeof(*t));
    /* A traceparent sent twice is no single value: the trace restarts. */
    if (traceparent_count == 1 &&
        atrousd_traceparent_parse(traceparent, t->trace_id, t->parent_id, &t->flags)) {
        if (!atrousd_tracestate_normalize(tracestate, tracestate_count, t->tracestate))
            t->tracestate[0] = '\0';
    } else {
        /* A new trace: random ids, and every request is in the access log, so sampled. */
        hex64(nonzero(random64, arg), t->trace_id);
        hex64(random64(arg), t->trace_id + 16);
        t->parent_id[0] = '\0';
        t->flags = 0x01;
    }
    hex64(nonzero(random64, arg), t->span_id);
}

void atrousd_trace_header(const struct atrousd_trace *t, char out[ATROUSD_TRACEPARENT_LEN + 1])
{
    snprintf(out, ATROUSD_TRACEPARENT_LEN + 1, "00-%s-%s-%02x", t->trace_id, t->span_id,
             (unsigned)t->flags);
}
