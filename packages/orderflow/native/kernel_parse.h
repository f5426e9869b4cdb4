/* Exact parsers of the kernel: numbers, order-book sides and timestamps.
 *
 * Every function here either returns a result that equals the Python reference
 * (msgspec / float() / orderflow.core.timestamps) bit for bit, or declines, and the
 * caller hands the row to Python, which decides. Declining is always safe; accepting
 * is only done for the plain forms whose result is provably identical. Nothing here
 * trusts its input: every read is bounded by the given end pointer. */
#ifndef ORDERFLOW_KERNEL_PARSE_H
#define ORDERFLOW_KERNEL_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* 10^0 .. 10^22: every one is exactly representable as a double. */
static const double EXACT_POW10[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

#define MANTISSA_LIMIT (UINT64_C(1) << 53)

/* A JSON number without a minus sign: 0 | [1-9][0-9]*, optional .[0-9]+, optional
 * [eE][+-]?[0-9]+. Returns the end of the number, or NULL (declined) when the text is
 * not that grammar or not on the exact fast path (Clinger): at most 19 significant
 * digits, a mantissa below 2^53 and a decimal exponent within +-22, so that one
 * correctly rounded multiply or divide by an exact power of ten gives the double
 * msgspec and float() give. */
static const char *
parse_plain_number_careful(const char *p, const char *end, double *out)
{
    uint64_t mantissa = 0;
    int significant = 0;
    int exponent = 0;
    if (p >= end || (unsigned char)(*p - '0') > 9)
        return NULL;
    if (*p == '0') {
        p++;
    } else {
        while (p < end && (unsigned char)(*p - '0') <= 9) {
            if (++significant > 19)
                return NULL;
            mantissa = mantissa * 10 + (uint64_t)(*p - '0');
            p++;
        }
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || (unsigned char)(*p - '0') > 9)
            return NULL;
        while (p < end && (unsigned char)(*p - '0') <= 9) {
            if (mantissa != 0 || *p != '0') {
                if (++significant > 19)
                    return NULL;
            }
            mantissa = mantissa * 10 + (uint64_t)(*p - '0');
            exponent--;
            if (exponent < -400)
                return NULL;
            p++;
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        int negative = 0, written = 0, digits = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-')) {
            negative = *p == '-';
            p++;
        }
        if (p >= end || (unsigned char)(*p - '0') > 9)
            return NULL;
        while (p < end && (unsigned char)(*p - '0') <= 9) {
            if (++digits > 4)
                return NULL;
            written = written * 10 + (*p - '0');
            p++;
        }
        exponent += negative ? -written : written;
    }
    if (mantissa >= MANTISSA_LIMIT)
        return NULL;
    if (mantissa == 0) {
        *out = 0.0;
        return p;
    }
    if (exponent < -22 || exponent > 22)
        return NULL;
    *out = exponent >= 0 ? (double)mantissa * EXACT_POW10[exponent]
                         : (double)mantissa / EXACT_POW10[-exponent];
    return p;
}

/* The same grammar and result as parse_plain_number_careful, in one pass for the
 * common case of at most 19 digits in all (so the mantissa cannot overflow); longer
 * digit strings, where leading zeros decide, go to the careful version. */
static inline __attribute__((always_inline)) const char *
parse_plain_number(const char *p, const char *end, double *out)
{
    const char *start = p;
    uint64_t mantissa = 0;
    unsigned d;
    if (p >= end || (d = (unsigned char)*p - '0') > 9)
        return NULL;
    p++;
    if (d != 0) {
        mantissa = d;
        while (p < end && (d = (unsigned char)*p - '0') <= 9) {
            mantissa = mantissa * 10 + d;
            p++;
        }
    }
    int digits = (int)(p - start);
    int exponent = 0;
    if (p < end && *p == '.') {
        const char *fraction = ++p;
        while (p < end && (d = (unsigned char)*p - '0') <= 9) {
            mantissa = mantissa * 10 + d;
            p++;
        }
        if (p == fraction)
            return NULL;
        exponent = -(int)(p - fraction);
        digits -= exponent;
    }
    if (digits > 19)
        return parse_plain_number_careful(start, end, out);
    if (p < end && (*p == 'e' || *p == 'E')) {
        int negative = 0, written = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-')) {
            negative = *p == '-';
            p++;
        }
        const char *first = p;
        while (p < end && (d = (unsigned char)*p - '0') <= 9) {
            if (p - first == 4)
                return NULL;
            written = written * 10 + (int)d;
            p++;
        }
        if (p == first)
            return NULL;
        exponent += negative ? -written : written;
    }
    if (mantissa >= MANTISSA_LIMIT)
        return NULL;
    if (mantissa == 0) {
        *out = 0.0;
        return p;
    }
    if (exponent < -22 || exponent > 22)
        return NULL;
    *out = exponent >= 0 ? (double)mantissa * EXACT_POW10[exponent]
                         : (double)mantissa / EXACT_POW10[-exponent];
    return p;
}

/* The whole text is one plain number (float() of it equals *out). */
static int
parse_number_text(const char *p, size_t n, double *out)
{
    const char *end = p + n;
    const char *after = parse_plain_number(p, end, out);
    return after != NULL && after == end;
}

static inline const char *
skip_ws(const char *p, const char *end)
{
    /* Most sides have no whitespace at all: one comparison settles it. */
    while (p < end && (unsigned char)*p <= ' ' &&
           (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* One element of a level: a plain number or a string holding exactly one. */
static inline __attribute__((always_inline)) const char *
parse_element(const char *p, const char *end, double *out)
{
    if (p < end && *p == '"') {
        const char *after = parse_plain_number(p + 1, end, out);
        if (after == NULL || after >= end || *after != '"')
            return NULL;
        return after + 1;
    }
    return parse_plain_number(p, end, out);
}

typedef struct {
    double *price;
    double *size;
    size_t n;
    size_t cap;
} Levels;

static inline int
levels_push(Levels *lv, double price, double size)
{
    if (lv->n == lv->cap) {
        size_t cap = lv->cap ? lv->cap * 2 : 64;
        double *np = realloc(lv->price, cap * sizeof(double));
        if (np == NULL)
            return 0;
        lv->price = np;
        double *ns = realloc(lv->size, cap * sizeof(double));
        if (ns == NULL)
            return 0;
        lv->size = ns;
        lv->cap = cap;
    }
    lv->price[lv->n] = price;
    lv->size[lv->n] = size;
    lv->n++;
    return 1;
}

static void
levels_free(Levels *lv)
{
    free(lv->price);
    free(lv->size);
    lv->price = lv->size = NULL;
    lv->n = lv->cap = 0;
}


/* liq_count / order_count: only whether the reference accepts them matters, not
 * their value, and any JSON integer of at most 19 digits is accepted (as a float, or
 * as an int by the calculator's fast path). Anything else is parsed in full. */
static inline __attribute__((always_inline)) const char *
skip_count(const char *p, const char *end)
{
    int quoted = p < end && *p == '"';
    const char *q = p + quoted;
    const char *first = q;
    if (q < end && *q == '0')
        q++;
    else
        while (q < end && (unsigned char)(*q - '0') <= 9)
            q++;
    if (q == first || q - first > 19 || (q < end && (*q == '.' || *q == 'e' || *q == 'E'))) {
        double ignored;
        return parse_element(p, end, &ignored);
    }
    if (!quoted)
        return q;
    return q < end && *q == '"' ? q + 1 : NULL;
}

#define SKIP_WS(p, end)                                                                    \
    do {                                                                                   \
        if ((p) < (end) && (unsigned char)*(p) <= ' ')                                     \
            (p) = skip_ws((p), (end));                                                     \
    } while (0)

enum { SIDE_OK = 1, SIDE_DECLINED = 0, SIDE_NO_MEMORY = -1 };

/* A side as the reference decodes it (list of [price, size(, liq_count(, order_count))]),
 * restricted to plain non-negative numbers; anything else (other shapes, nesting,
 * escapes, signs, NaN text, more digits) is declined. Levels go to ``lv`` (reset).
 * Whitespace is skipped only where present: recorders rarely write any. */
static int
parse_side(const char *p, size_t n, Levels *lv)
{
    const char *end = p + n;
    lv->n = 0;
    SKIP_WS(p, end);
    if (p >= end || *p != '[')
        return SIDE_DECLINED;
    p++;
    SKIP_WS(p, end);
    if (p < end && *p == ']') {
        p = skip_ws(p + 1, end);
        return p == end ? SIDE_OK : SIDE_DECLINED;
    }
    for (;;) {
        double values[2];
        int count = 0;
        if (p >= end || *p != '[')
            return SIDE_DECLINED;
        p++;
        for (;;) {
            SKIP_WS(p, end);
            if (count < 2)
                p = parse_element(p, end, &values[count]);
            else if (count < 4)
                p = skip_count(p, end);
            else
                return SIDE_DECLINED; /* a fifth element: the reference rejects it */
            if (p == NULL)
                return SIDE_DECLINED;
            count++;
            SKIP_WS(p, end);
            if (p >= end)
                return SIDE_DECLINED;
            if (*p == ',') {
                p++;
                continue;
            }
            if (*p == ']')
                break;
            return SIDE_DECLINED;
        }
        if (count < 2)
            return SIDE_DECLINED;
        if (!levels_push(lv, values[0], values[1]))
            return SIDE_NO_MEMORY;
        p++;
        SKIP_WS(p, end);
        if (p >= end)
            return SIDE_DECLINED;
        if (*p == ',') {
            p++;
            SKIP_WS(p, end);
            continue;
        }
        if (*p == ']') {
            p = skip_ws(p + 1, end);
            return p == end ? SIDE_OK : SIDE_DECLINED;
        }
        return SIDE_DECLINED;
    }
}

/* ---- timestamps (orderflow.core.timestamps) ---- */

#define NS_PER_S INT64_C(1000000000)

/* Integer epochs by magnitude: < 1e11 s, < 1e14 ms, < 1e17 us, else ns. */
static int
epoch_scale_ns(unsigned __int128 whole, int64_t *scale)
{
    if (whole < (unsigned __int128)100000000000ULL)
        *scale = NS_PER_S;
    else if (whole < (unsigned __int128)100000000000000ULL)
        *scale = 1000000;
    else if (whole < (unsigned __int128)100000000000000000ULL)
        *scale = 1000;
    else
        *scale = 1;
    return 1;
}

static int
epoch_ns(uint64_t whole, uint64_t fraction, int fraction_digits, int64_t *out)
{
    int64_t scale;
    epoch_scale_ns(whole, &scale);
    unsigned __int128 ns = (unsigned __int128)whole * (uint64_t)scale;
    if (fraction_digits > 0) {
        unsigned __int128 denominator = 1;
        for (int i = 0; i < fraction_digits; i++)
            denominator *= 10;
        ns += ((unsigned __int128)fraction * (uint64_t)scale) / denominator;
    }
    if (ns > (unsigned __int128)INT64_MAX)
        return 0; /* the reference says None: Python decides and records it */
    *out = (int64_t)ns;
    return 1;
}

static int
read_digits(const char **pp, const char *end, int count, int *value)
{
    const char *p = *pp;
    int v = 0;
    for (int i = 0; i < count; i++) {
        if (p >= end || (unsigned char)(*p - '0') > 9)
            return 0;
        v = v * 10 + (*p - '0');
        p++;
    }
    *pp = p;
    *value = v;
    return 1;
}

/* Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t
days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int
days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return days[m - 1];
}

/* YYYY-MM-DD[( |T)HH:MM[:SS[(.|,)digits]]][Z|z|(+|-)HH[[:]MM]], the reference's regex
 * matched greedily; a string it would need to backtrack for is declined. */
static int
parse_iso_ns(const char *p, const char *end, int64_t *out)
{
    int year, month, day, hour = 0, minute = 0, second = 0;
    int64_t fraction = 0;
    if (!read_digits(&p, end, 4, &year) || p >= end || *p++ != '-')
        return 0;
    if (!read_digits(&p, end, 2, &month) || p >= end || *p++ != '-')
        return 0;
    if (!read_digits(&p, end, 2, &day))
        return 0;
    if (p < end && (*p == 'T' || *p == ' ')) {
        p++;
        if (!read_digits(&p, end, 2, &hour) || p >= end || *p++ != ':')
            return 0;
        if (!read_digits(&p, end, 2, &minute))
            return 0;
        if (p < end && *p == ':') {
            p++;
            if (!read_digits(&p, end, 2, &second))
                return 0;
            if (p < end && (*p == '.' || *p == ',')) {
                p++;
                int digits = 0;
                if (p >= end || (unsigned char)(*p - '0') > 9)
                    return 0;
                while (p < end && (unsigned char)(*p - '0') <= 9) {
                    if (digits < 9)
                        fraction = fraction * 10 + (*p - '0');
                    digits++;
                    p++;
                }
                for (; digits < 9; digits++)
                    fraction *= 10;
            }
        }
    }
    int zone_sign = 0, zone_hour = 0, zone_minute = 0;
    if (p < end && (*p == 'Z' || *p == 'z')) {
        p++;
    } else if (p < end && (*p == '+' || *p == '-')) {
        zone_sign = *p == '-' ? -1 : 1;
        p++;
        if (!read_digits(&p, end, 2, &zone_hour))
            return 0;
        if (p < end) { /* minutes, with or without a colon, or nothing at all */
            if (*p == ':')
                p++;
            if (!read_digits(&p, end, 2, &zone_minute))
                return 0;
        }
    }
    if (p != end)
        return 0;
    if (year < 1 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month))
        return 0;
    if (hour > 23 || minute > 59 || second > 59 || zone_hour > 23 || zone_minute > 59)
        return 0;
    __int128 seconds = (__int128)days_from_civil(year, month, day) * 86400 +
                       hour * 3600 + minute * 60 + second;
    seconds -= (__int128)zone_sign * (zone_hour * 3600 + zone_minute * 60);
    __int128 ns = seconds * NS_PER_S + fraction;
    if (ns > (__int128)INT64_MAX || ns < (__int128)INT64_MIN)
        return 0;
    *out = (int64_t)ns;
    return 1;
}

/* A TEXT timestamp cell: digits, digits.digits or plain ISO-8601. */
static int
parse_instant_text(const char *p, size_t n, int64_t *out)
{
    const char *end = p + n;
    const char *q = p;
    uint64_t whole = 0;
    int digits = 0;
    while (q < end && (unsigned char)(*q - '0') <= 9) {
        if (++digits > 19)
            return 0;
        whole = whole * 10 + (uint64_t)(*q - '0');
        q++;
    }
    if (digits == 0)
        return 0;
    if (q == end)
        return epoch_ns(whole, 0, 0, out);
    if (*q == '.') {
        const char *f = q + 1;
        uint64_t fraction = 0;
        int fraction_digits = 0;
        while (f < end && (unsigned char)(*f - '0') <= 9) {
            if (++fraction_digits > 18)
                return 0;
            fraction = fraction * 10 + (uint64_t)(*f - '0');
            f++;
        }
        if (fraction_digits == 0 || f != end)
            return 0;
        return epoch_ns(whole, fraction, fraction_digits, out);
    }
    if (digits == 4 && *q == '-')
        return parse_iso_ns(p, end, out);
    return 0;
}

/* An INTEGER timestamp cell; negative ones are declined (the reference says None). */
static int
parse_instant_integer(int64_t value, int64_t *out)
{
    if (value < 0)
        return 0;
    return epoch_ns((uint64_t)value, 0, 0, out);
}

#endif
