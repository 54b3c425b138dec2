/*
 * wire_text.h - text helpers shared by the codecs (internal to proto/): UTF-8 well-formedness
 * (Unicode 15, table 3-7) for the JSON reader, which rejects ill-formed strings, and the JSON
 * writer, which replaces them; and quoting of a user's text inside an error message.
 */
#ifndef ATROUS_WIRE_TEXT_H
#define ATROUS_WIRE_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Length (1..4) of the well-formed UTF-8 sequence that starts at s, given n >= 1 readable
 * bytes. Returns 0 when the bytes there are not a well-formed sequence (overlong forms,
 * surrogates, code points past U+10FFFF, stray continuation bytes, truncation); *bad then
 * receives the length (>= 1) of the maximal ill-formed subpart, the unit Unicode recommends
 * replacing with one U+FFFD. bad may be NULL.
 */
size_t atrous__utf8_sequence(const unsigned char *s, size_t n, size_t *bad);

/* Writes code point cp (<= 0x10FFFF, not a surrogate) as UTF-8 into out (4 bytes room);
 * returns the byte count. */
size_t atrous__utf8_encode(uint32_t cp, unsigned char *out);

/* Bytes of a user's text that atrous__quote() copies before cutting with "...". */
#define ATROUS__QUOTE_MAX 40

/* Room a buffer needs for any atrous__quote() result. */
#define ATROUS__QUOTE_SIZE (ATROUS__QUOTE_MAX * 4 + 8)

/*
 * Copies at most ATROUS__QUOTE_MAX bytes of s (len bytes, may hold NULs) into buf (size bytes,
 * NUL-terminated) for quoting in a message: control characters, DEL, '"' and '\\' become \xNN,
 * other bytes are kept, and a cut is marked with "...".
 */
void atrous__quote(const char *s, size_t len, char *buf, size_t size);

/* True when name is one of names (NULL-terminated): the codecs' known-key checks. */
bool atrous__name_listed(const char *name, const char *const *names);

#endif
