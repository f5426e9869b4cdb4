/* The depth heatmap's partial cells (metrics.md "Aggregates over time"), accumulated in
 * the kernel's pass, as orderflow.core.heatmap.HeatmapAccumulator.partials() gives them.
 *
 * A snapshot of an instrument with a tick adds its aggregated levels to the open row
 * of its (instrument, bucket). A few rows per instrument stay open (ids are nearly in
 * time order, so a snapshot almost always lands in one of the newest buckets); opening
 * one more closes the oldest. Each side of an open row sums its levels straight into a
 * window of bins around the prices seen (one sequential float sum per cell from 0.0,
 * in the order the levels came: what the reference's bincount does), and closing the
 * row keeps the bins that were met, ascending. The window stays with the row slot, so
 * the next bucket of the same prices reuses it. Bins spread wider than DENSE_MAX_BINS
 * (a sparse book over a huge price range) turn that side of the row into a list of
 * (bin, size) pairs, the window's sums so far first, summed per bin at closing in the
 * same order, so every cell is the same sequential sum either way. A bucket met again
 * after its row was closed opens a second part; the end merges the parts of equal
 * (instrument, bucket) by adding their snapshot counts and their sums bin by bin, as
 * merge_partials does. So the memory held is the closed cells, never every level of
 * the range, and only revisited buckets cost a merge.
 *
 * Binning is price_bins exactly: floor(q + |q| * 1e-12) with q = price / tick, each
 * operation rounded on its own (no fused multiply-add), so every bin equals numpy's.
 * A quotient whose floor is not an int64 well inside range (or NaN) makes the whole
 * snapshot decline; the caller then hands it to the Python reference. */
#ifndef ORDERFLOW_KERNEL_HEATMAP_H
#define ORDERFLOW_KERNEL_HEATMAP_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HM_OPEN_PER_CODE 4
#define HM_NUDGE 1e-12
#define HM_MAX_NUDGE 0.25 /* core/heatmap.py: the nudge never moves a price a whole bin */
#define HM_BIN_LIMIT 4611686018427387904.0 /* 2^62: spans of two bins fit an int64 */

typedef struct {
    int64_t *bin;
    double *value;
    size_t n, cap;
} BinList;

static int
binlist_reserve(BinList *l, size_t extra)
{
    if (l->n + extra <= l->cap)
        return 1;
    size_t cap = l->cap ? l->cap : 64;
    while (cap < l->n + extra)
        cap *= 2;
    int64_t *bin = realloc(l->bin, cap * sizeof(int64_t));
    if (bin == NULL)
        return 0;
    l->bin = bin;
    double *value = realloc(l->value, cap * sizeof(double));
    if (value == NULL)
        return 0;
    l->value = value;
    l->cap = cap;
    return 1;
}

/* Appends n pairs (none: no pointer is touched, the arrays may not exist yet). */
static int
binlist_append(BinList *l, const int64_t *bin, const double *value, size_t n)
{
    if (n == 0)
        return 1;
    if (!binlist_reserve(l, n))
        return 0;
    memcpy(l->bin + l->n, bin, n * sizeof(int64_t));
    memcpy(l->value + l->n, value, n * sizeof(double));
    l->n += n;
    return 1;
}

static void
binlist_free(BinList *l)
{
    free(l->bin);
    free(l->value);
    memset(l, 0, sizeof(*l));
}

#define DENSE_MAX_BINS 4096 /* the widest window of one side of an open row */

/* One side of an open row: the sums of its bins in a window, or (sparse) as pairs. */
typedef struct {
    int64_t lo;          /* the bin of sum[0] */
    size_t cap;          /* bins in the window; 0: no window yet */
    double *sum;         /* per bin of the window, 0.0 where nothing was added */
    unsigned char *hit;  /* whether a level was added there */
    int64_t first, last; /* bins met since the row opened (first > last: none) */
    int sparse;          /* pairs holds this side, the window is empty */
    BinList pairs;
} RowSide;

typedef struct {
    int used;
    int64_t bucket;
    int64_t snapshots;
    int64_t opened; /* order of opening: the oldest closes first */
    RowSide side[2];
} OpenRow;

typedef struct {
    int32_t code;
    int32_t rank;        /* the instrument's place by name, set by heat_finish */
    int64_t bucket;
    int64_t snapshots;
    int64_t seq;         /* order of closing: parts of a row merge in this order */
    size_t start[2];     /* into Heat.cells */
    size_t count[2];
} ClosedRow;

typedef struct {
    double *tick;        /* per instrument code; <= 0 or NaN: not accumulated */
    int32_t n_codes;
    int64_t bucket_ns;
    OpenRow *open;       /* n_codes * HM_OPEN_PER_CODE */
    int64_t opened;
    ClosedRow *rows;
    size_t n_rows, cap_rows;
    BinList cells;       /* every closed row's distinct bins and sums */
    BinList scratch[2];  /* one snapshot's bins and sizes per side, before they count */
    int64_t lo[2], hi[2]; /* the smallest and largest bin in each scratch (when any) */
    BinList merge;       /* a merged row's parts */
    int64_t *order;      /* sort scratch */
    size_t cap_order;
    double *dense;       /* dense sums over a span of bins, all 0 between uses */
    unsigned char *hit;  /* and whether a bin was met, all 0 between uses */
    size_t cap_dense;
} Heat;

static void
heat_free(Heat *h)
{
    if (h->open != NULL)
        for (size_t i = 0; i < (size_t)h->n_codes * HM_OPEN_PER_CODE; i++)
            for (int s = 0; s < 2; s++) {
                free(h->open[i].side[s].sum);
                free(h->open[i].side[s].hit);
                binlist_free(&h->open[i].side[s].pairs);
            }
    free(h->open);
    free(h->tick);
    free(h->rows);
    binlist_free(&h->cells);
    binlist_free(&h->scratch[0]);
    binlist_free(&h->scratch[1]);
    binlist_free(&h->merge);
    free(h->order);
    free(h->dense);
    free(h->hit);
    memset(h, 0, sizeof(*h));
}

/* ``tick`` (n_codes values) is copied. Returns 0 when out of memory. */
static int
heat_init(Heat *h, const double *tick, int32_t n_codes, int64_t bucket_ns)
{
    memset(h, 0, sizeof(*h));
    h->bucket_ns = bucket_ns;
    h->n_codes = n_codes;
    h->tick = malloc((n_codes ? (size_t)n_codes : 1) * sizeof(double));
    h->open = calloc((n_codes ? (size_t)n_codes : 1) * HM_OPEN_PER_CODE, sizeof(OpenRow));
    if (h->tick == NULL || h->open == NULL) {
        heat_free(h);
        return 0;
    }
    for (int32_t i = 0; i < n_codes; i++)
        h->tick[i] = tick[i] > 0 ? tick[i] : 0.0; /* NaN compares false: none */
    for (size_t i = 0; i < (size_t)n_codes * HM_OPEN_PER_CODE; i++)
        for (int s = 0; s < 2; s++) {
            h->open[i].side[s].first = INT64_MAX;
            h->open[i].side[s].last = INT64_MIN;
        }
    return 1;
}

/* Whether ``code``'s snapshots are accumulated. */
static inline int
heat_wants(const Heat *h, int32_t code)
{
    return code >= 0 && code < h->n_codes && h->tick[code] > 0;
}

/* price_bins for one price: 0 when the bin is not a sure int64 (the snapshot declines). */
static inline int
heat_bin(double price, double tick, int64_t *bin)
{
    double q = price / tick;
    double nudge = fabs(q) * HM_NUDGE;
    __asm__("" : "+x"(nudge)); /* rounded on its own: no fused multiply-add below */
    if (nudge > HM_MAX_NUDGE)
        nudge = HM_MAX_NUDGE;
    /* floor(x) as an int64 without a libm call: no double lies strictly between
     * -2^62 and -2^62 + 1, so x is in range exactly when floor(x) is, and within it
     * the truncation is exact and (double)t compares exactly with x. */
    double x = q + nudge;
    if (!(x > -HM_BIN_LIMIT && x < HM_BIN_LIMIT))
        return 0;
    int64_t t = (int64_t)x;
    *bin = t - ((double)t > x);
    return 1;
}

static inline int64_t
floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int
heat_reserve_order(Heat *h, size_t n)
{
    if (n <= h->cap_order)
        return 1;
    size_t cap = h->cap_order ? h->cap_order : 256;
    while (cap < n)
        cap *= 2;
    int64_t *order = realloc(h->order, 2 * cap * sizeof(int64_t));
    if (order == NULL)
        return 0;
    h->order = order;
    h->cap_order = cap;
    return 1;
}

/* Stable merge sort of indices 0..n-1 by bin[index]. */
static int64_t *
sort_by_bin(Heat *h, const int64_t *bin, size_t n)
{
    int64_t *a = h->order, *b = h->order + h->cap_order;
    for (size_t i = 0; i < n; i++)
        a[i] = (int64_t)i;
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                b[k++] = bin[a[j]] < bin[a[i]] ? a[j++] : a[i++];
            while (i < mid)
                b[k++] = a[i++];
            while (j < hi)
                b[k++] = a[j++];
        }
        int64_t *t = a;
        a = b;
        b = t;
    }
    return a;
}

/* The distinct bins of (bin, value) pairs ascending, each with the sum of its values
 * in the order given (from 0.0), appended to ``out``. Dense bins (a book's cluster
 * near the price) are summed in a scratch span; scattered ones are sorted stably.
 * Returns 0 when out of memory. */
static int
sum_cells(Heat *h, const int64_t *bin, const double *value, size_t n, BinList *out)
{
    if (n == 0)
        return 1;
    int64_t lo = bin[0], hi = bin[0];
    for (size_t i = 1; i < n; i++) {
        if (bin[i] < lo)
            lo = bin[i];
        if (bin[i] > hi)
            hi = bin[i];
    }
    uint64_t span = (uint64_t)hi - (uint64_t)lo + 1; /* bins lie within +-2^62 */
    if (span <= 4 * (uint64_t)n + 1024) {
        if (span > h->cap_dense) {
            size_t cap = h->cap_dense ? h->cap_dense : 1024;
            while (cap < span)
                cap *= 2;
            double *dense = realloc(h->dense, cap * sizeof(double));
            if (dense == NULL)
                return 0;
            h->dense = dense;
            unsigned char *hit = realloc(h->hit, cap);
            if (hit == NULL)
                return 0;
            h->hit = hit;
            memset(h->dense + h->cap_dense, 0, (cap - h->cap_dense) * sizeof(double));
            memset(h->hit + h->cap_dense, 0, cap - h->cap_dense);
            h->cap_dense = cap;
        }
        double *dense = h->dense;
        unsigned char *hit = h->hit;
        size_t distinct = 0;
        for (size_t i = 0; i < n; i++) {
            size_t k = (size_t)(bin[i] - lo);
            distinct += !hit[k];
            hit[k] = 1;
            dense[k] += value[i];
        }
        if (!binlist_reserve(out, distinct))
            return 0;
        int64_t *ob = out->bin + out->n;
        double *ov = out->value + out->n;
        size_t m = 0;
        for (size_t k = 0; m < distinct; k++) {
            if (hit[k]) {
                ob[m] = lo + (int64_t)k;
                ov[m++] = dense[k];
                dense[k] = 0.0;
                hit[k] = 0;
            }
        }
        out->n += distinct;
        return 1;
    }
    if (!heat_reserve_order(h, n) || !binlist_reserve(out, n))
        return 0;
    const int64_t *order = sort_by_bin(h, bin, n);
    size_t m = out->n;
    for (size_t i = 0; i < n; i++) {
        int64_t b = bin[order[i]];
        if (i == 0 || b != out->bin[m - 1]) {
            out->bin[m] = b;
            out->value[m++] = 0.0 + value[order[i]];
        } else {
            out->value[m - 1] += value[order[i]];
        }
    }
    out->n = m;
    return 1;
}

/* The side's window covers bins lo..hi (and the bins met so far), grown and moved
 * when needed; past DENSE_MAX_BINS the side turns sparse, its sums so far becoming
 * its first pairs. Returns 0 when out of memory. */
static int
side_cover(RowSide *rs, int64_t lo, int64_t hi)
{
    if (rs->first <= rs->last) {
        lo = rs->first < lo ? rs->first : lo;
        hi = rs->last > hi ? rs->last : hi;
    }
    uint64_t span = (uint64_t)hi - (uint64_t)lo + 1; /* bins lie within +-2^62 */
    if (span > DENSE_MAX_BINS) {
        for (int64_t b = rs->first; b <= rs->last; b++) {
            size_t k = (size_t)(b - rs->lo);
            if (rs->hit[k] && !binlist_append(&rs->pairs, &b, &rs->sum[k], 1))
                return 0;
            rs->sum[k] = 0.0;
            rs->hit[k] = 0;
        }
        rs->first = INT64_MAX;
        rs->last = INT64_MIN;
        rs->sparse = 1;
        return 1;
    }
    size_t cap = 2 * (size_t)span + 64;
    if (cap > DENSE_MAX_BINS)
        cap = DENSE_MAX_BINS;
    int64_t new_lo = lo - (int64_t)((cap - (size_t)span) / 2);
    double *sum = calloc(cap, sizeof(double));
    unsigned char *hit = calloc(cap, 1);
    if (sum == NULL || hit == NULL) {
        free(sum);
        free(hit);
        return 0;
    }
    if (rs->first <= rs->last) {
        size_t from = (size_t)(rs->first - rs->lo), to = (size_t)(rs->first - new_lo);
        size_t n = (size_t)(rs->last - rs->first) + 1;
        memcpy(sum + to, rs->sum + from, n * sizeof(double));
        memcpy(hit + to, rs->hit + from, n);
    }
    free(rs->sum);
    free(rs->hit);
    rs->sum = sum;
    rs->hit = hit;
    rs->lo = new_lo;
    rs->cap = cap;
    return 1;
}

/* Adds a snapshot's staged side, whose bins lie in lo..hi, to its open row side.
 * Returns 0 when out of memory. */
static int
side_add(RowSide *rs, const BinList *staged, int64_t lo, int64_t hi)
{
    size_t n = staged->n;
    if (n == 0)
        return 1;
    const int64_t *bin = staged->bin;
    const double *value = staged->value;
    if (!rs->sparse) {
        if ((rs->cap == 0 || lo < rs->lo || (uint64_t)hi - (uint64_t)rs->lo >= rs->cap) &&
            !side_cover(rs, lo, hi))
            return 0;
        if (!rs->sparse) {
            double *sum = rs->sum;
            unsigned char *hit = rs->hit;
            uint64_t origin = (uint64_t)rs->lo;
            for (size_t i = 0; i < n; i++) {
                size_t k = (size_t)((uint64_t)bin[i] - origin);
                sum[k] += value[i];
                hit[k] = 1;
            }
            rs->first = lo < rs->first ? lo : rs->first;
            rs->last = hi > rs->last ? hi : rs->last;
            return 1;
        }
    }
    return binlist_append(&rs->pairs, bin, value, n);
}

/* The side's distinct bins ascending with their sums, appended to ``out``; the side
 * is left empty (its window kept). Returns 0 when out of memory. */
static int
side_close(Heat *h, RowSide *rs, BinList *out)
{
    if (rs->sparse) {
        rs->sparse = 0;
        int ok = sum_cells(h, rs->pairs.bin, rs->pairs.value, rs->pairs.n, out);
        rs->pairs.n = 0;
        return ok;
    }
    if (rs->first > rs->last)
        return 1;
    if (!binlist_reserve(out, (size_t)(rs->last - rs->first) + 1))
        return 0;
    size_t m = out->n;
    for (int64_t b = rs->first; b <= rs->last; b++) {
        size_t k = (size_t)(b - rs->lo);
        if (rs->hit[k]) {
            out->bin[m] = b;
            out->value[m++] = rs->sum[k];
            rs->sum[k] = 0.0;
            rs->hit[k] = 0;
        }
    }
    out->n = m;
    rs->first = INT64_MAX;
    rs->last = INT64_MIN;
    return 1;
}

/* Sums an open row's levels into closed cells and frees the slot for reuse. */
static int
heat_close(Heat *h, int32_t code, OpenRow *row)
{
    if (h->n_rows == h->cap_rows) {
        size_t cap = h->cap_rows ? h->cap_rows * 2 : 256;
        ClosedRow *rows = realloc(h->rows, cap * sizeof(ClosedRow));
        if (rows == NULL)
            return 0;
        h->rows = rows;
        h->cap_rows = cap;
    }
    ClosedRow *c = &h->rows[h->n_rows];
    c->code = code;
    c->bucket = row->bucket;
    c->snapshots = row->snapshots;
    c->seq = (int64_t)h->n_rows;
    for (int s = 0; s < 2; s++) {
        c->start[s] = h->cells.n;
        if (!side_close(h, &row->side[s], &h->cells))
            return 0;
        c->count[s] = h->cells.n - c->start[s];
    }
    h->n_rows++;
    row->used = 0;
    return 1;
}

enum { HEAT_ADDED = 1, HEAT_DECLINED = 0, HEAT_NO_MEMORY = -1 };

/* Side ``s`` of the next snapshot (whose instrument heat_wants()): the bins and sizes
 * of its levels, held until heat_commit. With ``aggregate``, the levels are a side's
 * counted levels sorted best first and equal prices (adjacent) count as one level
 * whose size is their sum in recorded order, as order_flow.aggregate_side makes them.
 * DECLINED: a bin out of range; nothing of the snapshot may count then. */
static int
heat_stage(Heat *h, int32_t code, int s, const double *price, const double *size, size_t n,
           int aggregate)
{
    double tick = h->tick[code];
    BinList *l = &h->scratch[s];
    l->n = 0;
    if (!binlist_reserve(l, n))
        return HEAT_NO_MEMORY;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        double p = price[i], total = size[i];
        i++;
        if (aggregate)
            for (; i < n && price[i] == p; i++)
                total += size[i];
        if (!heat_bin(p, tick, &l->bin[k]))
            return HEAT_DECLINED;
        l->value[k++] = total;
    }
    l->n = k;
    if (k == 0)
        return HEAT_ADDED;
    int64_t *bin = l->bin, lo = bin[0], hi = bin[k - 1];
    if (aggregate) { /* sorted by price, and bins are monotone in the price */
        if (lo > hi) {
            int64_t t = lo;
            lo = hi;
            hi = t;
        }
    } else {
        hi = lo;
        for (size_t i = 1; i < k; i++) {
            lo = bin[i] < lo ? bin[i] : lo;
            hi = bin[i] > hi ? bin[i] : hi;
        }
    }
    h->lo[s] = lo;
    h->hi[s] = hi;
    return HEAT_ADDED;
}

/* The staged snapshot counts for ``code`` at ``ns`` (both sides staged). */
static int
heat_commit(Heat *h, int32_t code, int64_t ns)
{
    int64_t bucket = floor_div(ns, h->bucket_ns);
    OpenRow *slots = &h->open[(size_t)code * HM_OPEN_PER_CODE];
    OpenRow *row = NULL, *free_slot = NULL, *oldest = NULL;
    for (int i = 0; i < HM_OPEN_PER_CODE; i++) {
        OpenRow *r = &slots[i];
        if (!r->used) {
            if (free_slot == NULL)
                free_slot = r;
        } else if (r->bucket == bucket) {
            row = r;
            break;
        } else if (oldest == NULL || r->opened < oldest->opened) {
            oldest = r;
        }
    }
    if (row == NULL) {
        if (free_slot == NULL) {
            if (!heat_close(h, code, oldest))
                return HEAT_NO_MEMORY;
            free_slot = oldest;
        }
        row = free_slot;
        row->used = 1;
        row->bucket = bucket;
        row->snapshots = 0;
        row->opened = h->opened++;
    }
    row->snapshots++;
    for (int s = 0; s < 2; s++)
        if (!side_add(&row->side[s], &h->scratch[s], h->lo[s], h->hi[s]))
            return HEAT_NO_MEMORY;
    return HEAT_ADDED;
}

/* The output of heat_finish: rows by (instrument rank, bucket, side). */
typedef struct {
    int32_t *codes;      /* instruments present, by rank; row_instrument indexes it */
    size_t n_codes;
    int32_t *row_instrument;
    int64_t *row_bucket;
    int8_t *row_side;
    int64_t *row_snapshots;
    int64_t *ends;
    size_t n_rows;
    BinList cells;
} HeatOut;

static void
heat_out_free(HeatOut *o)
{
    free(o->codes);
    free(o->row_instrument);
    free(o->row_bucket);
    free(o->row_side);
    free(o->row_snapshots);
    free(o->ends);
    binlist_free(&o->cells);
    memset(o, 0, sizeof(*o));
}

static int
closed_row_cmp(const void *pa, const void *pb)
{
    const ClosedRow *a = pa, *b = pb;
    if (a->rank != b->rank)
        return a->rank < b->rank ? -1 : 1;
    if (a->bucket != b->bucket)
        return a->bucket < b->bucket ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Closes every open row and writes the partial cells to ``o``; ``rank`` orders the
 * instrument codes (their names' order). Leaves the accumulator empty. */
static int
heat_finish(Heat *h, const int32_t *rank, HeatOut *o)
{
    memset(o, 0, sizeof(*o));
    for (int32_t code = 0; code < h->n_codes; code++)
        for (int i = 0; i < HM_OPEN_PER_CODE; i++) {
            OpenRow *r = &h->open[(size_t)code * HM_OPEN_PER_CODE + i];
            if (r->used && !heat_close(h, code, r))
                return 0;
        }
    for (size_t i = 0; i < h->n_rows; i++)
        h->rows[i].rank = rank[h->rows[i].code];
    if (h->n_rows > 1)
        qsort(h->rows, h->n_rows, sizeof(ClosedRow), closed_row_cmp);
    size_t n = h->n_rows, cap = 2 * (n ? n : 1);
    o->codes = malloc((size_t)(h->n_codes ? h->n_codes : 1) * sizeof(int32_t));
    o->row_instrument = malloc(cap * sizeof(int32_t));
    o->row_bucket = malloc(cap * sizeof(int64_t));
    o->row_side = malloc(cap);
    o->row_snapshots = malloc(cap * sizeof(int64_t));
    o->ends = malloc(cap * sizeof(int64_t));
    if (!o->codes || !o->row_instrument || !o->row_bucket || !o->row_side ||
        !o->row_snapshots || !o->ends || !binlist_reserve(&o->cells, h->cells.n))
        return 0;
    size_t out_rows = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        int64_t snapshots = h->rows[i].snapshots;
        while (j < n && h->rows[j].code == h->rows[i].code &&
               h->rows[j].bucket == h->rows[i].bucket)
            snapshots += h->rows[j++].snapshots;
        if (o->n_codes == 0 || o->codes[o->n_codes - 1] != h->rows[i].code)
            o->codes[o->n_codes++] = h->rows[i].code;
        for (int s = 0; s < 2; s++) {
            if (j == i + 1) {
                const ClosedRow *c = &h->rows[i];
                if (!binlist_append(&o->cells, h->cells.bin + c->start[s],
                                    h->cells.value + c->start[s], c->count[s]))
                    return 0;
            } else {
                h->merge.n = 0;
                for (size_t k = i; k < j; k++) {
                    const ClosedRow *c = &h->rows[k];
                    if (!binlist_append(&h->merge, h->cells.bin + c->start[s],
                                        h->cells.value + c->start[s], c->count[s]))
                        return 0;
                }
                if (!sum_cells(h, h->merge.bin, h->merge.value, h->merge.n, &o->cells))
                    return 0;
            }
            o->row_instrument[out_rows] = (int32_t)(o->n_codes - 1);
            o->row_bucket[out_rows] = h->rows[i].bucket;
            o->row_side[out_rows] = (int8_t)s;
            o->row_snapshots[out_rows] = snapshots;
            o->ends[out_rows] = (int64_t)o->cells.n;
            out_rows++;
        }
        i = j;
    }
    o->n_rows = out_rows;
    h->n_rows = 0;
    h->cells.n = 0;
    h->opened = 0;
    return 1;
}

#endif
