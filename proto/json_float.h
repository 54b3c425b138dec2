/*
 * json_float.h - float32 to shortest round-trip decimal text, the JSON writer's hot path: part
 * of the JSON toolkit (reader, lean document, writer, this), which knows nothing of the op.
 */
#ifndef ATROUS_JSON_FLOAT_H
#define ATROUS_JSON_FLOAT_H

#include <stddef.h>

/* Longest text atrous__float_text() writes: "-0.0000123456789" (sign, "0.0000", 9 digits). */
#define ATROUS__FLOAT_TEXT_MAX 16

/*
 * Writes f as the shortest decimal that reads back to exactly f as float32 (closest to f when
 * several are that short), or NaN / Infinity / -Infinity, into buf without a terminating NUL.
 * Writes at most ATROUS__FLOAT_TEXT_MAX bytes and returns the count.
 *
 * Layout: plain decimal when the decimal exponent E of the first digit is in [-5, 8]
 * ("0.5", "123", "0.000012"), else scientific ("1e9", "1.5e-7", "3.4028235e38"). Zero is "0"
 * or "-0" (the sign survives the round trip).
 */
size_t atrous__float_text(float f, char *buf);

/* Writes the shortest decimal that reads back to exactly f as float32 (or NaN, Infinity,
 * -Infinity) into buf (at least 32 bytes), NUL-terminated. Returns the length written. */
size_t atrous_json_format_float(float f, char *buf);

#endif
