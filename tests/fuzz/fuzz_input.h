/*
 * fuzz_input.h - the byte encoding the validation fuzz target reads, shared by the target and
 * the seed maker so that seeds built from the conformance corpus decode to those cases.
 *
 * Numbers are "tagged": a tag byte below FUZZ_TAG_RAW is the value itself (small numbers are
 * what interesting shapes are made of); FUZZ_TAG_RAW is followed by 8 raw little-endian bytes
 * (huge, negative, overflowing). A rank/length byte below FUZZ_RANK_BIAS means 4 (the common
 * case), otherwise (byte - FUZZ_RANK_BIAS) % (limit + 1).
 */
#ifndef TESTS_FUZZ_INPUT_H
#define TESTS_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FUZZ_TAG_RAW 255
#define FUZZ_RANK_BIAS 200

struct fuzz_reader {
    const uint8_t *data;
    size_t size, pos;
};

static inline uint8_t fuzz_byte(struct fuzz_reader *r)
{
    return r->pos < r->size ? r->data[r->pos++] : 0;
}

static inline int64_t fuzz_number(struct fuzz_reader *r)
{
    uint8_t tag = fuzz_byte(r);
    if (tag != FUZZ_TAG_RAW)
        return tag;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)fuzz_byte(r) << (8 * i);
    int64_t s;
    memcpy(&s, &v, sizeof(s));
    return s;
}

static inline size_t fuzz_count(struct fuzz_reader *r, size_t limit)
{
    uint8_t b = fuzz_byte(r);
    return b < FUZZ_RANK_BIAS ? 4 : (size_t)(b - FUZZ_RANK_BIAS) % (limit + 1);
}

/* Appends the tagged encoding of v to buf at *len (buf must have 9 bytes free). */
static inline void fuzz_put_number(uint8_t *buf, size_t *len, int64_t v)
{
    if (v >= 0 && v < FUZZ_TAG_RAW) {
        buf[(*len)++] = (uint8_t)v;
        return;
    }
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    buf[(*len)++] = FUZZ_TAG_RAW;
    for (int i = 0; i < 8; i++)
        buf[(*len)++] = (uint8_t)(u >> (8 * i));
}

/* The rank/length byte for count (4 is the common, short form). */
static inline uint8_t fuzz_count_byte(size_t count)
{
    return count == 4 ? 0 : (uint8_t)(FUZZ_RANK_BIAS + count);
}

#endif
