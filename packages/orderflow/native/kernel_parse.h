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

/* The end of the run of ASCII digits at p (below end), its value folded into *value
 * (value * 10^len + run, wrapping past 19 digits: callers decline those). The one
 * digit loop of the number parser. (Eight bytes at a time with SWAR was measured:
 * more instructions, as recorded numbers run 1-5 digits.) */
static inline __attribute__((always_inline)) const char *
digit_run(const char *p, const char *end, uint64_t *value)
{
    uint64_t v = *value;
    unsigned d;
    while (p < end && (d = (unsigned char)*p - '0') <= 9) {
        v = v * 10 + d;
        p++;
    }
    *value = v;
    return p;
}

#if defined(__SSE2__)
#include <emmintrin.h>

/* Bytes a caller must leave after p for the wide path below: it loads 16 bytes at p
 * and 8 at the fraction, which starts at most 9 bytes in. */
#define WIDE_NUMBER_BYTES 24

/* The value of ``word``'s first (lowest-addressed) ``n`` digit bytes, 1 <= n <= 8,
 * already minus '0': the bytes after them are shifted out, so they may hold anything. */
static inline uint64_t
eight_digits(uint64_t word, unsigned n)
{
    word <<= 8 * (8 - n); /* leading zero digits in front */
    word = word * 10 + (word >> 8);
    word = (((word & UINT64_C(0x000000FF000000FF)) * UINT64_C(0x000F424000000064)) +
            (((word >> 16) & UINT64_C(0x000000FF000000FF)) * UINT64_C(0x0000271000000001))) >>
           32;
    return word & UINT64_C(0xFFFFFFFF);
}

/* '0' in every byte: subtracted from a word whose first n bytes are digits, it leaves
 * their values there (a borrow only runs towards later bytes, which are dropped). */
#define ASCII_ZEROS UINT64_C(0x3030303030303030)

/* Bit i set when p[i] (i < 16) is not an ASCII digit, and bit 16 always: the first
 * set bit is where the run of digits at p ends, or 16 when it may go on. */
static inline unsigned
digit_stops16(const char *p)
{
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                                  _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
    return (~(unsigned)_mm_movemask_epi8(digit) & 0xFFFFu) | 0x10000u;
}

/* The common short number at p (at least WIDE_NUMBER_BYTES readable): 1-8 integer
 * digits without a leading zero (or a lone 0), optionally '.' and 1-8 fraction digits,
 * ending within 16 bytes. The digits are found with one 16-byte compare and converted
 * eight at a time, which gives the mantissa and exponent the digit loop below gives,
 * so the same single rounding. At most 14 digits: the mantissa is below 2^53 and the
 * exponent -8..0. Returns the byte after it, which the caller must check is no
 * exponent; NULL: not this form (the digit loop then decides, and may accept it). */
static inline __attribute__((always_inline)) const char *
short_number(const char *p, double *out)
{
    unsigned stops = digit_stops16(p);
    unsigned whole = (unsigned)__builtin_ctz(stops);
    if (whole - 1 > 7 || (whole > 1 && p[0] == '0')) /* 1..8 digits, no leading zero */
        return NULL;
    uint64_t word;
    memcpy(&word, p, 8);
    if (p[whole] != '.') {
        *out = (double)(int64_t)eight_digits(word - ASCII_ZEROS, whole);
        return p + whole;
    }
    unsigned end = whole + 1 + (unsigned)__builtin_ctz(stops >> (whole + 1));
    if (end == whole + 1 || end >= 16) /* no fraction digit, or a run that may go on */
        return NULL;
    unsigned fraction = end - whole - 1, digits = end - 1;
    uint64_t mantissa;
    if (digits <= 7) { /* the point dropped from the word: its bytes after move down one */
        uint64_t low = (UINT64_C(1) << (8 * whole)) - 1;
        mantissa = eight_digits(((word & low) | ((word >> 8) & ~low)) - ASCII_ZEROS, digits);
    } else {
        static const uint64_t scale[9] = {1,      10,      100,      1000,     10000,
                                          100000, 1000000, 10000000, 100000000};
        if (fraction > 8)
            return NULL;
        uint64_t tail;
        memcpy(&tail, p + whole + 1, 8);
        mantissa = eight_digits(word - ASCII_ZEROS, whole) * scale[fraction] +
                   eight_digits(tail - ASCII_ZEROS, fraction);
    }
    *out = (double)(int64_t)mantissa / EXACT_POW10[fraction];
    return p + end;
}

/* short_number, when no exponent follows it. */
static inline __attribute__((always_inline)) const char *
parse_short_number(const char *p, double *out)
{
    const char *after = short_number(p, out);
    return after != NULL && (*after | 0x20) != 'e' ? after : NULL;
}
#endif

/* A JSON number without a minus sign: 0 | [1-9][0-9]*, optional .[0-9]+, optional
 * [eE][+-]?[0-9]{1,4}. Returns the end of the number, or NULL (declined) when the
 * text is not that grammar or not on the exact fast path (Clinger): at most 19
 * significant digits (a fraction's zeros before the first nonzero digit of a number
 * below 1 are not significant), a mantissa below 2^53 and a decimal exponent within
 * +-22, so that one correctly rounded multiply or divide by an exact power of ten
 * gives the double msgspec and float() give. Past 19 significant digits the
 * mantissa may wrap, but the number is declined then. */
static inline __attribute__((always_inline)) const char *
parse_plain_number(const char *p, const char *end, double *out)
{
    uint64_t mantissa = 0;
    unsigned d;
#if defined(__SSE2__)
    if (end - p >= WIDE_NUMBER_BYTES) {
        const char *after = parse_short_number(p, out);
        if (after != NULL)
            return after;
    }
#endif
    if (p >= end || (d = (unsigned char)*p - '0') > 9)
        return NULL;
    const char *first = p++;
    ptrdiff_t significant = 0;
    if (d != 0) {
        mantissa = d;
        p = digit_run(p, end, &mantissa);
        significant = p - first;
    }
    ptrdiff_t exponent = 0;
    if (p < end && *p == '.') {
        const char *fraction = ++p;
        if (mantissa == 0)
            while (p < end && *p == '0')
                p++;
        const char *digits = p;
        p = digit_run(p, end, &mantissa);
        if (p == fraction)
            return NULL;
        exponent = fraction - p;
        significant += p - digits;
    }
    if (significant > 19)
        return NULL;
    if (p < end && (*p == 'e' || *p == 'E')) {
        int negative = 0, written = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-')) {
            negative = *p == '-';
            p++;
        }
        const char *digits = p;
        while (p < end && (d = (unsigned char)*p - '0') <= 9) {
            if (p - digits == 4)
                return NULL;
            written = written * 10 + (int)d;
            p++;
        }
        if (p == digits)
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
    char *text;      /* the side being parsed, copied with TEXT_PAD zero bytes after it */
    size_t text_cap;
} Levels;

/* Zero bytes after a copied side: the wide reads of the level fast path (at most
 * WIDE_NUMBER_BYTES from any byte of the side) stay inside the copy, and read only
 * zeros past the side's end, which no grammar token matches. */
#define TEXT_PAD 64

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
    free(lv->text);
    lv->price = lv->size = NULL;
    lv->text = NULL;
    lv->n = lv->cap = lv->text_cap = 0;
}


/* liq_count / order_count: only whether the reference accepts them matters, not
 * their value, and any JSON integer of at most 19 digits is accepted (as a float, or
 * as an int by the calculator's fast path). Such a count, followed by its closing
 * quote or (unquoted) by the next separator, is skipped; anything else is parsed in
 * full, which accepts or declines it. */
static inline __attribute__((always_inline)) const char *
skip_count(const char *p, const char *end)
{
    int quoted = p < end && *p == '"';
    const char *first = p + quoted, *q = first;
#if defined(__SSE2__)
    if (end - first >= 17) { /* 16 bytes loaded, and the byte after a 15-digit run */
        unsigned digits = (unsigned)__builtin_ctz(digit_stops16(first));
        q = first + digits;
        if (digits >= 1 && digits < 16 && (digits == 1 || *first != '0') &&
            (quoted ? *q == '"' : (*q == ',' || *q == ']')))
            return q + quoted;
        q = first;
    }
#endif
    while (q < end && (unsigned char)(*q - '0') <= 9)
        q++;
    ptrdiff_t digits = q - first;
    if (digits >= 1 && digits <= 19 && (digits == 1 || *first != '0') && q < end &&
        (quoted ? *q == '"' : (*q == ',' || *q == ']')))
        return q + quoted;
    double ignored;
    return parse_element(p, end, &ignored);
}

#define SKIP_WS(p, end)                                                                    \
    do {                                                                                   \
        if ((p) < (end) && (unsigned char)*(p) <= ' ')                                     \
            (p) = skip_ws((p), (end));                                                     \
    } while (0)

enum { SIDE_OK = 1, SIDE_DECLINED = 0, SIDE_NO_MEMORY = -1 };

/* Past ``ch`` at p or after whitespace; NULL when another byte comes first. Most
 * recorders write no whitespace: the first comparison usually settles it. */
static inline __attribute__((always_inline)) const char *
expect_byte(const char *p, const char *end, char ch)
{
    if (p < end && *p == ch)
        return p + 1;
    p = skip_ws(p, end);
    return p < end && *p == ch ? p + 1 : NULL;
}

#if defined(__SSE2__)
/* An element of the level fast path: a short number (short_number), in quotes or
 * bare and followed by the level's next separator (so by no exponent either way).
 * NULL: not that form. */
static inline __attribute__((always_inline)) const char *
fast_element(const char *p, double *out)
{
    if (*p == '"') {
        p = short_number(p + 1, out);
        return p != NULL && *p == '"' ? p + 1 : NULL;
    }
    p = short_number(p, out);
    return p != NULL && (*p == ',' || *p == ']') ? p : NULL;
}

/* A count of the level fast path: 1-15 digits without a leading zero, bare or in
 * quotes (skip_count accepts every one of them). One or two digits, what recorders
 * write, are settled byte by byte. NULL: not that form. */
static inline __attribute__((always_inline)) const char *
fast_count(const char *p)
{
    int quoted = *p == '"';
    p += quoted;
    unsigned d0 = (unsigned char)p[0] - '0', d1 = (unsigned char)p[1] - '0';
    if (d0 <= 9 && d1 > 9) {
        p += 1;
    } else if (d0 - 1 <= 8 && d1 <= 9 && (unsigned)((unsigned char)p[2] - '0') > 9) {
        p += 2;
    } else {
        unsigned digits = (unsigned)__builtin_ctz(digit_stops16(p));
        if (digits - 1 > 14 || (digits > 1 && *p == '0'))
            return NULL;
        p += digits;
    }
    if (quoted && *p != '"')
        return NULL;
    return p + quoted;
}

/* The level at p in the form recorders write, `["43250.1","0.5","0","3"]` (2-4
 * elements, short numbers, bare or quoted, at most one space after each comma), past
 * its closing bracket; NULL for anything else, which the general parser then reads
 * from p, so this only ever accepts what that accepts, with the same numbers. p lies
 * in a padded copy (TEXT_PAD). */
static inline __attribute__((always_inline)) const char *
fast_level(const char *p, double *price, double *size)
{
    if (*p != '[' || (p = fast_element(p + 1, price)) == NULL || *p != ',')
        return NULL;
    p += 1 + (p[1] == ' ');
    if ((p = fast_element(p, size)) == NULL)
        return NULL;
    for (int count = 0; count < 2 && *p == ','; count++) {
        p += 1 + (p[1] == ' ');
        if ((p = fast_count(p)) == NULL)
            return NULL;
    }
    return *p == ']' ? p + 1 : NULL;
}
#endif

/* A side as the reference decodes it (list of [price, size(, liq_count(, order_count))]),
 * restricted to plain non-negative numbers; anything else (other shapes, nesting,
 * escapes, signs, NaN text, more digits) is declined. Levels go to ``lv`` (reset).
 * Whitespace is skipped only where present: recorders rarely write any. */
static int
parse_side(const char *text, size_t n, Levels *lv)
{
    lv->n = 0;
#if defined(__SSE2__)
    if (n + TEXT_PAD > lv->text_cap) {
        size_t cap = lv->text_cap ? lv->text_cap : 4096;
        while (cap < n + TEXT_PAD)
            cap *= 2;
        char *copy = realloc(lv->text, cap);
        if (copy == NULL)
            return SIDE_NO_MEMORY;
        lv->text = copy;
        lv->text_cap = cap;
    }
    memcpy(lv->text, text, n);
    memset(lv->text + n, 0, TEXT_PAD);
    text = lv->text;
#endif
    const char *p = text, *end = text + n;
    p = expect_byte(p, end, '[');
    if (p == NULL)
        return SIDE_DECLINED;
    SKIP_WS(p, end);
    if (p < end && *p == ']') {
        p = skip_ws(p + 1, end);
        return p == end ? SIDE_OK : SIDE_DECLINED;
    }
    for (;;) {
        double price, size;
#if defined(__SSE2__)
        const char *next = fast_level(p, &price, &size);
        if (next != NULL) {
            if (!levels_push(lv, price, size))
                return SIDE_NO_MEMORY;
            p = next;
            goto separator;
        }
#endif
        if (p >= end || *p != '[')
            return SIDE_DECLINED;
        p++;
        SKIP_WS(p, end);
        if ((p = parse_element(p, end, &price)) == NULL || (p = expect_byte(p, end, ',')) == NULL)
            return SIDE_DECLINED;
        SKIP_WS(p, end);
        if ((p = parse_element(p, end, &size)) == NULL)
            return SIDE_DECLINED;
        for (int count = 0;; count++) { /* ] or up to two counts, then ] */
            SKIP_WS(p, end);
            if (p < end && *p == ']')
                break;
            if (count == 2 || p >= end || *p != ',')
                return SIDE_DECLINED; /* a fifth element: the reference rejects it */
            p++;
            SKIP_WS(p, end);
            if ((p = skip_count(p, end)) == NULL)
                return SIDE_DECLINED;
        }
        if (!levels_push(lv, price, size))
            return SIDE_NO_MEMORY;
        p++;
#if defined(__SSE2__)
    separator:
#endif
        if (p < end && *p == ',') {
            p++;
            SKIP_WS(p, end);
            continue;
        }
        SKIP_WS(p, end);
        if (p < end && *p == ',') {
            p++;
            SKIP_WS(p, end);
            continue;
        }
        if (p < end && *p == ']') {
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
