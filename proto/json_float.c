/*
 * json_float.c - shortest round-trip formatting of float32 values: Ulf Adams' Ryu algorithm
 * (PLDI 2018, github.com/ulfjack/ryu, f2s.c) specialised to float32, then our decimal layout.
 * Ryu computes the shortest digit string in the float's rounding interval exactly with 64-bit
 * multiplications by tabulated powers of five, so it needs no big integers and no retry loop;
 * about 30 ns per value, which matters because every output float goes through it.
 *
 * The two tables were generated (Python, exact integers) as
 *   pow5_inv_split[i] = floor(2^(bitlen(5^i) - 1 + 59) / 5^i) + 1      i = 0..30
 *   pow5_split[i]     = 5^i scaled by a power of two to exactly 61 bits   i = 0..47
 * which are Ryu's FLOAT_POW5_INV_SPLIT and FLOAT_POW5_SPLIT (one extra entry at the end so the
 * lookup for the smallest subnormals stays in bounds).
 */
#include "json_float.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define MANTISSA_BITS     23
#define EXPONENT_BIAS     127
#define POW5_INV_BITCOUNT 59
#define POW5_BITCOUNT     61

static const uint64_t pow5_inv_split[31] = {
    UINT64_C(576460752303423489), UINT64_C(461168601842738791), UINT64_C(368934881474191033),
    UINT64_C(295147905179352826), UINT64_C(472236648286964522), UINT64_C(377789318629571618),
    UINT64_C(302231454903657294), UINT64_C(483570327845851670), UINT64_C(386856262276681336),
    UINT64_C(309485009821345069), UINT64_C(495176015714152110), UINT64_C(396140812571321688),
    UINT64_C(316912650057057351), UINT64_C(507060240091291761), UINT64_C(405648192073033409),
    UINT64_C(324518553658426727), UINT64_C(519229685853482763), UINT64_C(415383748682786211),
    UINT64_C(332306998946228969), UINT64_C(531691198313966350), UINT64_C(425352958651173080),
    UINT64_C(340282366920938464), UINT64_C(544451787073501542), UINT64_C(435561429658801234),
    UINT64_C(348449143727040987), UINT64_C(557518629963265579), UINT64_C(446014903970612463),
    UINT64_C(356811923176489971), UINT64_C(570899077082383953), UINT64_C(456719261665907162),
    UINT64_C(365375409332725730),
};

static const uint64_t pow5_split[48] = {
    UINT64_C(1152921504606846976), UINT64_C(1441151880758558720), UINT64_C(1801439850948198400),
    UINT64_C(2251799813685248000), UINT64_C(1407374883553280000), UINT64_C(1759218604441600000),
    UINT64_C(2199023255552000000), UINT64_C(1374389534720000000), UINT64_C(1717986918400000000),
    UINT64_C(2147483648000000000), UINT64_C(1342177280000000000), UINT64_C(1677721600000000000),
    UINT64_C(2097152000000000000), UINT64_C(1310720000000000000), UINT64_C(1638400000000000000),
    UINT64_C(2048000000000000000), UINT64_C(1280000000000000000), UINT64_C(1600000000000000000),
    UINT64_C(2000000000000000000), UINT64_C(1250000000000000000), UINT64_C(1562500000000000000),
    UINT64_C(1953125000000000000), UINT64_C(1220703125000000000), UINT64_C(1525878906250000000),
    UINT64_C(1907348632812500000), UINT64_C(1192092895507812500), UINT64_C(1490116119384765625),
    UINT64_C(1862645149230957031), UINT64_C(1164153218269348144), UINT64_C(1455191522836685180),
    UINT64_C(1818989403545856475), UINT64_C(2273736754432320594), UINT64_C(1421085471520200371),
    UINT64_C(1776356839400250464), UINT64_C(2220446049250313080), UINT64_C(1387778780781445675),
    UINT64_C(1734723475976807094), UINT64_C(2168404344971008868), UINT64_C(1355252715606880542),
    UINT64_C(1694065894508600678), UINT64_C(2117582368135750847), UINT64_C(1323488980084844279),
    UINT64_C(1654361225106055349), UINT64_C(2067951531382569187), UINT64_C(1292469707114105741),
    UINT64_C(1615587133892632177), UINT64_C(2019483917365790221), UINT64_C(1262177448353618888),
};

/* Bit length of 5^e (1 for e = 0); exact for 0 <= e <= 3528. */
static int32_t pow5_bits(int32_t e)
{
    return (int32_t)(((uint32_t)e * 1217359) >> 19) + 1;
}

/* floor(e * log10(2)) and floor(e * log10(5)) for the small e float32 needs. */
static uint32_t log10_pow2(int32_t e)
{
    return ((uint32_t)e * 78913) >> 18;
}

static uint32_t log10_pow5(int32_t e)
{
    return ((uint32_t)e * 732923) >> 20;
}

static bool multiple_of_pow5(uint32_t value, uint32_t p)
{
    uint32_t count = 0;
    while (value % 5 == 0 && count < p) {
        value /= 5;
        count++;
    }
    return count >= p;
}

static bool multiple_of_pow2(uint32_t value, uint32_t p)
{
    return (value & ((1u << p) - 1)) == 0;
}

/* (m * factor) >> shift for shift > 32, without 128-bit types. */
static uint32_t mul_shift(uint32_t m, uint64_t factor, int32_t shift)
{
    const uint64_t bits0 = (uint64_t)m * (uint32_t)factor;
    const uint64_t bits1 = (uint64_t)m * (uint32_t)(factor >> 32);
    const uint64_t sum = (bits0 >> 32) + bits1;
    return (uint32_t)(sum >> (shift - 32));
}

struct decimal {
    uint32_t digits;  /* shortest digit string, as an integer */
    int32_t exponent; /* power of ten of its last digit */
};

/* Ryu's f2d: the shortest decimal in the rounding interval of a finite, nonzero float. */
static struct decimal shortest(uint32_t ieee_mantissa, uint32_t ieee_exponent)
{
    int32_t e2;
    uint32_t m2;
    if (ieee_exponent == 0) {
        e2 = 1 - EXPONENT_BIAS - MANTISSA_BITS - 2;
        m2 = ieee_mantissa;
    } else {
        e2 = (int32_t)ieee_exponent - EXPONENT_BIAS - MANTISSA_BITS - 2;
        m2 = (1u << MANTISSA_BITS) | ieee_mantissa;
    }
    /* Round-half-even on input: an even mantissa owns the interval's end points. */
    const bool accept_bounds = (m2 & 1) == 0;

    /* The interval [mm, mp] around mv, in units of 2^e2 (a quarter ulp). The lower gap is half
     * as wide at a power of two, except for the smallest normal exponent. */
    const uint32_t mv = 4 * m2;
    const uint32_t mp = 4 * m2 + 2;
    const uint32_t mm_shift = ieee_mantissa != 0 || ieee_exponent <= 1;
    const uint32_t mm = 4 * m2 - 1 - mm_shift;

    uint32_t vr, vp, vm;
    int32_t e10;
    bool vm_trailing_zeros = false, vr_trailing_zeros = false;
    uint8_t last_removed = 0;
    if (e2 >= 0) {
        const uint32_t q = log10_pow2(e2);
        e10 = (int32_t)q;
        const int32_t k = POW5_INV_BITCOUNT + pow5_bits((int32_t)q) - 1;
        const int32_t i = -e2 + (int32_t)q + k;
        vr = mul_shift(mv, pow5_inv_split[q], i);
        vp = mul_shift(mp, pow5_inv_split[q], i);
        vm = mul_shift(mm, pow5_inv_split[q], i);
        if (q != 0 && (vp - 1) / 10 <= vm / 10) {
            /* The loop below may remove no digit; compute the first removed one directly. */
            const int32_t l = POW5_INV_BITCOUNT + pow5_bits((int32_t)q - 1) - 1;
            last_removed =
                (uint8_t)(mul_shift(mv, pow5_inv_split[q - 1], -e2 + (int32_t)q - 1 + l) % 10);
        }
        if (q <= 9) {
            /* At most one of mp, mv, mm is a multiple of 5. */
            if (mv % 5 == 0)
                vr_trailing_zeros = multiple_of_pow5(mv, q);
            else if (accept_bounds)
                vm_trailing_zeros = multiple_of_pow5(mm, q);
            else
                vp -= multiple_of_pow5(mp, q);
        }
    } else {
        const uint32_t q = log10_pow5(-e2);
        e10 = (int32_t)q + e2;
        const int32_t i = -e2 - (int32_t)q;
        const int32_t k = pow5_bits(i) - POW5_BITCOUNT;
        int32_t j = (int32_t)q - k;
        vr = mul_shift(mv, pow5_split[i], j);
        vp = mul_shift(mp, pow5_split[i], j);
        vm = mul_shift(mm, pow5_split[i], j);
        if (q != 0 && (vp - 1) / 10 <= vm / 10) {
            j = (int32_t)q - 1 - (pow5_bits(i + 1) - POW5_BITCOUNT);
            last_removed = (uint8_t)(mul_shift(mv, pow5_split[i + 1], j) % 10);
        }
        if (q <= 1) {
            /* mv = 4 * m2 has at least two trailing zero bits. */
            vr_trailing_zeros = true;
            if (accept_bounds)
                vm_trailing_zeros = mm_shift == 1;
            else
                vp--;
        } else if (q < 31) {
            vr_trailing_zeros = multiple_of_pow2(mv, q - 1);
        }
    }

    /* Remove digits while the interval still holds a shorter number. */
    int32_t removed = 0;
    uint32_t output;
    if (vm_trailing_zeros || vr_trailing_zeros) {
        /* The rare general case (a few percent of inputs): exact ties and end points. */
        while (vp / 10 > vm / 10) {
            vm_trailing_zeros &= vm % 10 == 0;
            vr_trailing_zeros &= last_removed == 0;
            last_removed = (uint8_t)(vr % 10);
            vr /= 10;
            vp /= 10;
            vm /= 10;
            removed++;
        }
        if (vm_trailing_zeros) {
            while (vm % 10 == 0) {
                vr_trailing_zeros &= last_removed == 0;
                last_removed = (uint8_t)(vr % 10);
                vr /= 10;
                vp /= 10;
                vm /= 10;
                removed++;
            }
        }
        if (vr_trailing_zeros && last_removed == 5 && vr % 2 == 0)
            last_removed = 4; /* an exact ...50..0 rounds to even */
        output = vr + ((vr == vm && (!accept_bounds || !vm_trailing_zeros)) || last_removed >= 5);
    } else {
        while (vp / 10 > vm / 10) {
            last_removed = (uint8_t)(vr % 10);
            vr /= 10;
            vp /= 10;
            vm /= 10;
            removed++;
        }
        output = vr + (vr == vm || last_removed >= 5);
    }
    return (struct decimal){output, e10 + removed};
}

static int digit_count(uint32_t v)
{
    int n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

static const char digit_pairs[200] = "00010203040506070809101112131415161718192021222324"
                                     "25262728293031323334353637383940414243444546474849"
                                     "50515253545556575859606162636465666768697071727374"
                                     "75767778798081828384858687888990919293949596979899";

/* Writes the n decimal digits of v (n = digit_count(v)) at out. */
static void write_digits(uint32_t v, int n, char *out)
{
    char *w = out + n;
    while (v >= 100) {
        const uint32_t pair = (v % 100) * 2;
        v /= 100;
        w -= 2;
        memcpy(w, digit_pairs + pair, 2);
    }
    if (v >= 10) {
        w -= 2;
        memcpy(w, digit_pairs + v * 2, 2);
    } else {
        *--w = (char)('0' + v);
    }
}

size_t atrous__float_text(float f, char *buf)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof(bits));
    const bool negative = (bits >> 31) != 0;
    const uint32_t ieee_exponent = (bits >> MANTISSA_BITS) & 0xFF;
    const uint32_t ieee_mantissa = bits & ((1u << MANTISSA_BITS) - 1);
    char *w = buf;

    if (ieee_exponent == 0xFF) {
        /* TF Serving's tokens; a NaN's sign and payload are not kept. */
        if (ieee_mantissa != 0) {
            memcpy(w, "NaN", 3);
            return 3;
        }
        if (negative)
            *w++ = '-';
        memcpy(w, "Infinity", 8);
        return (size_t)(w - buf) + 8;
    }
    if (negative)
        *w++ = '-';
    if (ieee_exponent == 0 && ieee_mantissa == 0) {
        *w++ = '0';
        return (size_t)(w - buf);
    }

    const struct decimal d = shortest(ieee_mantissa, ieee_exponent);
    const int n = digit_count(d.digits);
    const int sci = d.exponent + n - 1; /* power of ten of the first digit */
    char digits[10];
    write_digits(d.digits, n, digits);

    if (sci >= 0 && sci <= 8) {
        if (d.exponent >= 0) { /* an integer: digits then zeros, at most 9 characters */
            memcpy(w, digits, (size_t)n);
            w += n;
            memset(w, '0', (size_t)d.exponent);
            w += d.exponent;
        } else { /* digits with the point inside */
            memcpy(w, digits, (size_t)sci + 1);
            w += sci + 1;
            *w++ = '.';
            memcpy(w, digits + sci + 1, (size_t)(n - sci - 1));
            w += n - sci - 1;
        }
    } else if (sci < 0 && sci >= -5) { /* 0.000ddd */
        *w++ = '0';
        *w++ = '.';
        memset(w, '0', (size_t)(-sci - 1));
        w += -sci - 1;
        memcpy(w, digits, (size_t)n);
        w += n;
    } else { /* d[.ddd]e[-]x, exponents -45..38 */
        *w++ = digits[0];
        if (n > 1) {
            *w++ = '.';
            memcpy(w, digits + 1, (size_t)n - 1);
            w += n - 1;
        }
        *w++ = 'e';
        int e = sci;
        if (e < 0) {
            *w++ = '-';
            e = -e;
        }
        if (e >= 10) {
            memcpy(w, digit_pairs + e * 2, 2);
            w += 2;
        } else {
            *w++ = (char)('0' + e);
        }
    }
    return (size_t)(w - buf);
}

size_t atrous_json_format_float(float f, char *buf)
{
    const size_t n = atrous__float_text(f, buf);
    buf[n] = '\0';
    return n;
}
