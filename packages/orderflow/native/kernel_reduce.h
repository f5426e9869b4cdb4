/* Per-snapshot values of metrics.md from parsed sides: best prices, OBI (all levels or
 * a depth cut, as orderflow.core.calculator sums them) and the order-flow family
 * (spread, mid, weighted mid, sizes at the best, obi_l1/5/10) plus the top
 * aggregated levels OFI/MLOFI compare between snapshots.
 *
 * Sums run in the reference's order so results are bit-identical to Python 3.11's
 * sequential float sum(): all sizes in stored order for the depth-less OBI, the
 * stably sorted order for a depth cut and for equal prices merged into one level. */
#ifndef ORDERFLOW_KERNEL_REDUCE_H
#define ORDERFLOW_KERNEL_REDUCE_H

#include <math.h>

#include "kernel_parse.h"

#define MAX_OFI_LEVELS 32
#define TOP_KEEP 32 /* aggregated levels kept per side: max(10, MAX_OFI_LEVELS) */

enum {
    V_BEST_BID,
    V_BEST_ASK,
    V_OBI,
    V_SPREAD,
    V_MID,
    V_WEIGHTED_MID,
    V_BID_SIZE_1,
    V_ASK_SIZE_1,
    V_OBI_L1,
    V_OBI_L5,
    V_OBI_L10,
    N_VALUES
};

typedef struct {
    double price[TOP_KEEP];
    double size[TOP_KEEP];
    int n;             /* aggregated levels kept (<= TOP_KEEP) */
    double best;       /* NAN when no level counts */
    double obi_total;  /* the legacy OBI's B or A */
} SideTop;

typedef struct {
    Levels bids, asks;
    double *price; /* counted levels, then stably sorted */
    double *size;
    double *tmp_price;
    double *tmp_size;
    size_t cap;
    size_t counted; /* levels in price/size after the last reduce_side */
} Work;

static void
work_free(Work *w)
{
    levels_free(&w->bids);
    levels_free(&w->asks);
    free(w->price);
    free(w->size);
    free(w->tmp_price);
    free(w->tmp_size);
    memset(w, 0, sizeof(*w));
}

static int
work_reserve(Work *w, size_t n)
{
    if (n <= w->cap)
        return 1;
    size_t cap = w->cap ? w->cap : 64;
    while (cap < n)
        cap *= 2;
    double **arrays[4] = {&w->price, &w->size, &w->tmp_price, &w->tmp_size};
    for (int i = 0; i < 4; i++) {
        double *grown = realloc(*arrays[i], cap * sizeof(double));
        if (grown == NULL)
            return 0;
        *arrays[i] = grown;
    }
    w->cap = cap;
    return 1;
}

/* a goes strictly before b: bids by descending price, asks by ascending price. */
static inline int
ranks_before(double a, double b, int is_bid)
{
    return is_bid ? a > b : a < b;
}

/* Stable merge sort of (price, size) pairs, as Python's sorted(key=price, reverse=is_bid). */
static void
stable_sort(double *price, double *size, double *tp, double *ts, size_t n, int is_bid)
{
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                if (ranks_before(price[j], price[i], is_bid)) {
                    tp[k] = price[j];
                    ts[k++] = size[j++];
                } else {
                    tp[k] = price[i];
                    ts[k++] = size[i++];
                }
            }
            while (i < mid) {
                tp[k] = price[i];
                ts[k++] = size[i++];
            }
            while (j < hi) {
                tp[k] = price[j];
                ts[k++] = size[j++];
            }
        }
        memcpy(price, tp, n * sizeof(double));
        memcpy(size, ts, n * sizeof(double));
    }
}

/* depth < 0: no depth cut. Returns 0 only when out of memory. */
static int
reduce_side(Work *w, const Levels *lv, int is_bid, long depth, SideTop *out)
{
    double total = 0.0;
    size_t counted = 0;
    if (!work_reserve(w, lv->n))
        return 0;
    for (size_t i = 0; i < lv->n; i++) {
        total += lv->size[i];
        if (lv->size[i] > 0) {
            w->price[counted] = lv->price[i];
            w->size[counted] = lv->size[i];
            counted++;
        }
    }
    w->counted = counted;
    out->n = 0;
    out->best = NAN;
    out->obi_total = depth < 0 ? total : 0.0;
    if (counted == 0)
        return 1;
    int sorted = 1;
    for (size_t i = 1; i < counted; i++) {
        if (ranks_before(w->price[i], w->price[i - 1], is_bid)) {
            sorted = 0;
            break;
        }
    }
    if (!sorted)
        stable_sort(w->price, w->size, w->tmp_price, w->tmp_size, counted, is_bid);
    out->best = w->price[0];
    if (depth >= 0) {
        /* The cut is by price: equal prices (adjacent once sorted) are one level. */
        double cut = 0.0;
        long prices = 0;
        for (size_t i = 0; i < counted; i++) {
            if ((i == 0 || w->price[i] != w->price[i - 1]) && ++prices > depth)
                break;
            cut += w->size[i];
        }
        out->obi_total = cut;
    }
    int n = -1;
    for (size_t i = 0; i < counted; i++) {
        if (n >= 0 && w->price[i] == out->price[n]) {
            out->size[n] += w->size[i];
            continue;
        }
        if (n + 1 == TOP_KEEP)
            break;
        n++;
        out->price[n] = w->price[i];
        out->size[n] = w->size[i];
    }
    out->n = n + 1;
    return 1;
}

static double
top_total(const SideTop *side, int levels)
{
    double total = 0.0;
    for (int i = 0; i < side->n && i < levels; i++)
        total += side->size[i];
    return total;
}

static double
imbalance(double b, double a)
{
    double denominator = b + a;
    return denominator == 0 ? NAN : (b - a) / denominator;
}

static void
snapshot_values(const SideTop *bid, const SideTop *ask, double *v)
{
    v[V_BEST_BID] = bid->best;
    v[V_BEST_ASK] = ask->best;
    v[V_OBI] = imbalance(bid->obi_total, ask->obi_total);
    v[V_BID_SIZE_1] = bid->n ? bid->size[0] : NAN;
    v[V_ASK_SIZE_1] = ask->n ? ask->size[0] : NAN;
    if (bid->n && ask->n) {
        double pb = bid->price[0], pa = ask->price[0];
        double qb = bid->size[0], qa = ask->size[0];
        v[V_SPREAD] = pa - pb;
        v[V_MID] = (pb + pa) / 2;
        v[V_WEIGHTED_MID] = (pb * qa + pa * qb) / (qb + qa);
    } else {
        v[V_SPREAD] = v[V_MID] = v[V_WEIGHTED_MID] = NAN;
    }
    v[V_OBI_L1] = imbalance(top_total(bid, 1), top_total(ask, 1));
    v[V_OBI_L5] = imbalance(top_total(bid, 5), top_total(ask, 5));
    v[V_OBI_L10] = imbalance(top_total(bid, 10), top_total(ask, 10));
}

/* The top ``m`` aggregated levels of both sides, as one row of the levels matrix:
 * bid prices, bid sizes, ask prices, ask sizes (m each, unused slots 0), and the
 * level counts. */
static void
top_levels(const SideTop *bid, const SideTop *ask, int m, double *row, unsigned char *counts)
{
    memset(row, 0, 4 * (size_t)m * sizeof(double));
    for (int i = 0; i < m && i < bid->n; i++) {
        row[i] = bid->price[i];
        row[m + i] = bid->size[i];
    }
    for (int i = 0; i < m && i < ask->n; i++) {
        row[2 * m + i] = ask->price[i];
        row[3 * m + i] = ask->size[i];
    }
    counts[0] = (unsigned char)(bid->n < m ? bid->n : m);
    counts[1] = (unsigned char)(ask->n < m ? ask->n : m);
}

/* OFI (e_1) and MLOFI between two snapshots' level rows (metrics.md); NAN when
 * either lacks a side. */
static void
order_flow(const double *prev, const unsigned char *prev_counts, const double *cur,
           const unsigned char *cur_counts, int m, double *ofi, double *mlofi)
{
    if (!prev_counts[0] || !prev_counts[1] || !cur_counts[0] || !cur_counts[1]) {
        *ofi = *mlofi = NAN;
        return;
    }
    /* Levels present on a side in both snapshots; past them a side's term is 0, and
     * levels past both sides add nothing (not even 0.0, as order_flow.ofi_pair). */
    int n_bid = prev_counts[0] < cur_counts[0] ? prev_counts[0] : cur_counts[0];
    int n_ask = prev_counts[1] < cur_counts[1] ? prev_counts[1] : cur_counts[1];
    int n = n_bid > n_ask ? n_bid : n_ask;
    double total = 0.0;
    for (int i = 0; i < n && i < m; i++) {
        double dw = 0.0, dv = 0.0;
        if (i < n_bid) {
            double p = cur[i], p0 = prev[i], r = cur[m + i], r0 = prev[m + i];
            dw = p > p0 ? r : (p == p0 ? r - r0 : -r0);
        }
        if (i < n_ask) {
            double p = cur[2 * m + i], p0 = prev[2 * m + i];
            double q = cur[3 * m + i], q0 = prev[3 * m + i];
            dv = p > p0 ? -q0 : (p == p0 ? q - q0 : q);
        }
        double e = dw - dv;
        if (i == 0)
            *ofi = e;
        total += e;
    }
    *mlofi = total;
}

#endif
