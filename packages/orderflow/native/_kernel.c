/* The compiled shard kernel (issue 10): reads a shard's rows through the SQLite C API
 * and turns them into columns (raw little-endian arrays) without a Python object per
 * row or per level.
 *
 * The Python reference (orderflow.core.calculator, orderflow.core.timestamps) stays
 * the definition. The kernel computes a row only when it is sure to get the
 * reference's exact answer (kernel_parse.h says when); any other row is marked
 * DECLINED and the Python wrapper (orderflow.native.shard) runs the reference on it,
 * so results and reject reasons are identical. The GIL is released while SQLite is
 * stepped and rows are parsed, so a worker can heartbeat from another thread. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <sqlite3.h>

#include "kernel_heatmap.h"
#include "kernel_parse.h"
#include "kernel_reduce.h"

enum { ROW_COMPUTED = 0, ROW_OUTSIDE = 1, ROW_DECLINED = 2 };

/* ---- growable byte buffers (filled with the GIL released: plain malloc) ---- */

typedef struct {
    char *data;
    size_t len;
    size_t cap;
} Buf;

static int
buf_grow(Buf *b, size_t extra)
{
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra)
        cap *= 2;
    char *grown = realloc(b->data, cap);
    if (grown == NULL)
        return 0;
    b->data = grown;
    b->cap = cap;
    return 1;
}

/* Inlined, so the fixed-size appends of a row compile to plain stores. */
static inline __attribute__((always_inline)) int
buf_put(Buf *b, const void *src, size_t n)
{
    if (n == 0)
        return 1; /* b->data may still be NULL: memcpy must not see it */
    if (b->len + n > b->cap && !buf_grow(b, n))
        return 0;
    memcpy(b->data + b->len, src, n);
    b->len += n;
    return 1;
}

static void
buf_free(Buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static PyObject *
buf_bytes(const Buf *b)
{
    return PyBytes_FromStringAndSize(b->data ? b->data : "", (Py_ssize_t)b->len);
}

/* ---- instrument names -> small integer codes ---- */

typedef struct {
    char **names;
    size_t *lengths;
    size_t n, cap;
    int32_t *slots; /* open addressing: code + 1, 0 = empty */
    size_t n_slots;
    int32_t last;   /* most recent hit: rows of one instrument come in runs */
    int32_t plain_recent[2]; /* the two latest codes cell_instrument found plain (-1: none) */
} Names;

static uint64_t
hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static void
names_free(Names *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->names[i]);
    free(t->names);
    free(t->lengths);
    free(t->slots);
    memset(t, 0, sizeof(*t));
    t->last = -1;
    t->plain_recent[0] = t->plain_recent[1] = -1;
}

static int
names_rehash(Names *t, size_t n_slots)
{
    int32_t *slots = calloc(n_slots, sizeof(int32_t));
    if (slots == NULL)
        return 0;
    for (size_t code = 0; code < t->n; code++) {
        size_t i = hash_bytes(t->names[code], t->lengths[code]) & (n_slots - 1);
        while (slots[i])
            i = (i + 1) & (n_slots - 1);
        slots[i] = (int32_t)code + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->n_slots = n_slots;
    return 1;
}

/* Code of a name, added when new; -1 when out of memory. */
static int32_t
names_code(Names *t, const char *s, size_t n)
{
    if (t->last >= 0 && (size_t)t->last < t->n && t->lengths[t->last] == n && memcmp(t->names[t->last], s, n) == 0)
        return t->last;
    if (t->n_slots == 0 && !names_rehash(t, 64))
        return -1;
    uint64_t h = hash_bytes(s, n);
    size_t i = h & (t->n_slots - 1);
    while (t->slots[i]) {
        int32_t code = t->slots[i] - 1;
        if (t->lengths[code] == n && memcmp(t->names[code], s, n) == 0)
            return t->last = code;
        i = (i + 1) & (t->n_slots - 1);
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **names = realloc(t->names, cap * sizeof(char *));
        if (names == NULL)
            return -1;
        t->names = names;
        size_t *lengths = realloc(t->lengths, cap * sizeof(size_t));
        if (lengths == NULL)
            return -1;
        t->lengths = lengths;
        t->cap = cap;
    }
    char *copy = malloc(n ? n : 1);
    if (copy == NULL)
        return -1;
    memcpy(copy, s, n);
    int32_t code = (int32_t)t->n;
    t->names[t->n] = copy;
    t->lengths[t->n] = n;
    t->n++;
    t->slots[i] = code + 1;
    if (t->n * 2 > t->n_slots && !names_rehash(t, t->n_slots * 2))
        return -1;
    return t->last = code;
}

/* Printable ASCII only: anything else (NUL, control bytes, UTF-8 the Python sqlite3
 * module might refuse to decode) is declined to the reference. */
static int
plain_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f)
            return 0;
    }
    return 1;
}

/* ---- the depth heatmap's accumulator (kernel_heatmap.h) as a Python object ---- */

typedef struct {
    PyObject_HEAD
    Heat heat;
    int ready;
    int busy; /* a book() call is adding to it with the GIL released */
} Heatmap;

static PyTypeObject HeatmapType;
static PyObject *KernelError;

static int get_buffer(PyObject *obj, Py_buffer *view, Py_ssize_t item, const char *what);

static void
Heatmap_dealloc(Heatmap *h)
{
    heat_free(&h->heat);
    Py_TYPE(h)->tp_free((PyObject *)h);
}

static int
Heatmap_init(Heatmap *h, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"ticks", "bucket_ns", NULL};
    PyObject *ticks_obj;
    long long bucket_ns;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OL", kwlist, &ticks_obj, &bucket_ns))
        return -1;
    if (h->busy) {
        PyErr_SetString(KernelError, "the heatmap is in use by another thread");
        return -1;
    }
    if (bucket_ns <= 0) {
        PyErr_SetString(PyExc_ValueError, "bucket_ns must be positive");
        return -1;
    }
    Py_buffer ticks;
    if (!get_buffer(ticks_obj, &ticks, 8, "ticks"))
        return -1;
    if (ticks.len / 8 > INT32_MAX) {
        PyBuffer_Release(&ticks);
        PyErr_SetString(PyExc_ValueError, "too many instrument codes");
        return -1;
    }
    heat_free(&h->heat);
    h->ready = heat_init(&h->heat, ticks.buf, (int32_t)(ticks.len / 8), bucket_ns);
    PyBuffer_Release(&ticks);
    if (!h->ready) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static int
heatmap_claim(Heatmap *h)
{
    if (!h->ready) {
        PyErr_SetString(KernelError, "the heatmap was not initialised");
        return 0;
    }
    if (h->busy) {
        PyErr_SetString(KernelError, "the heatmap is in use by another thread");
        return 0;
    }
    h->busy = 1;
    return 1;
}

/* add_many(codes, ns, bid_counts, bid_prices, bid_sizes, ask_counts, ask_prices,
 * ask_sizes): HeatmapAccumulator.add_many's rows (codes index the ticks), levels as
 * given (no aggregation). */
static PyObject *
Heatmap_add_many(Heatmap *h, PyObject *args)
{
    PyObject *objs[8];
    if (!PyArg_ParseTuple(args, "OOOOOOOO", &objs[0], &objs[1], &objs[2], &objs[3], &objs[4],
                          &objs[5], &objs[6], &objs[7]))
        return NULL;
    static const Py_ssize_t items[8] = {4, 8, 8, 8, 8, 8, 8, 8};
    static const char *what[8] = {"codes",     "ns",         "bid counts", "bid prices",
                                  "bid sizes", "ask counts", "ask prices", "ask sizes"};
    Py_buffer v[8];
    int got = 0;
    PyObject *result = NULL;
    for (; got < 8; got++)
        if (!get_buffer(objs[got], &v[got], items[got], what[got]))
            goto done;
    Py_ssize_t rows = v[0].len / 4;
    if (v[1].len / 8 != rows || v[2].len / 8 != rows || v[5].len / 8 != rows ||
        v[3].len != v[4].len || v[6].len != v[7].len) {
        PyErr_SetString(PyExc_ValueError, "columns of different lengths");
        goto done;
    }
    const int32_t *code = v[0].buf;
    const int64_t *ns = v[1].buf;
    const int64_t *count[2] = {v[2].buf, v[5].buf};
    const double *price[2] = {v[3].buf, v[6].buf}, *size[2] = {v[4].buf, v[7].buf};
    const Py_ssize_t total[2] = {v[3].len / 8, v[6].len / 8};
    Py_ssize_t start[2] = {0, 0};
    for (Py_ssize_t r = 0; r < rows; r++) {
        if (code[r] < 0) {
            PyErr_SetString(PyExc_ValueError, "negative instrument code");
            goto done;
        }
        for (int s = 0; s < 2; s++) {
            if (count[s][r] < 0 || count[s][r] > total[s] - start[s]) {
                PyErr_SetString(PyExc_ValueError, "level counts do not match the levels");
                goto done;
            }
            start[s] += count[s][r];
        }
    }
    if (start[0] != total[0] || start[1] != total[1]) {
        PyErr_SetString(PyExc_ValueError, "level counts do not match the levels");
        goto done;
    }
    if (!heatmap_claim(h))
        goto done;
    int status = HEAT_ADDED;
    Py_ssize_t r = 0;
    start[0] = start[1] = 0;
    for (; r < rows && status == HEAT_ADDED; r++) {
        if (heat_wants(&h->heat, code[r])) {
            for (int s = 0; s < 2 && status == HEAT_ADDED; s++)
                status = heat_stage(&h->heat, code[r], s, price[s] + start[s], size[s] + start[s],
                                    (size_t)count[s][r], 0);
            if (status == HEAT_ADDED)
                status = heat_commit(&h->heat, code[r], ns[r]);
        }
        start[0] += count[0][r];
        start[1] += count[1][r];
    }
    h->busy = 0;
    if (status == HEAT_NO_MEMORY)
        PyErr_NoMemory();
    else if (status == HEAT_DECLINED)
        PyErr_Format(PyExc_ValueError, "row %zd: a price's bin is not an int64 well in range",
                     r - 1);
    else
        result = Py_NewRef(Py_None);
done:
    for (int i = 0; i < got; i++)
        PyBuffer_Release(&v[i]);
    return result;
}

static PyObject *
bytes_of(const void *data, size_t n)
{
    return PyBytes_FromStringAndSize(n ? (const char *)data : "", (Py_ssize_t)n);
}

/* partials(rank) -> (codes, row_instrument, row_bucket, row_side, row_snapshots, ends,
 * bins, sums); rank (int32 per code) orders the instruments. */
static PyObject *
Heatmap_partials(Heatmap *h, PyObject *rank_obj)
{
    Py_buffer rank;
    if (!get_buffer(rank_obj, &rank, 4, "rank"))
        return NULL;
    PyObject *result = NULL;
    if (rank.len / 4 != h->heat.n_codes) {
        PyErr_SetString(PyExc_ValueError, "one rank per instrument code");
        goto done;
    }
    const int32_t *rk = rank.buf;
    for (int32_t i = 0; i < h->heat.n_codes; i++)
        for (int32_t j = 0; j < i; j++) /* a handful of codes: quadratic is fine */
            if (rk[i] == rk[j]) {
                PyErr_SetString(PyExc_ValueError, "ranks must be distinct");
                goto done;
            }
    if (!heatmap_claim(h))
        goto done;
    HeatOut o;
    int ok = heat_finish(&h->heat, rk, &o);
    h->busy = 0;
    if (!ok) {
        heat_out_free(&o);
        PyErr_NoMemory();
        goto done;
    }
    PyObject *codes = PyList_New((Py_ssize_t)o.n_codes);
    for (size_t i = 0; codes != NULL && i < o.n_codes; i++) {
        PyObject *c = PyLong_FromLong(o.codes[i]);
        if (c == NULL)
            Py_CLEAR(codes);
        else
            PyList_SET_ITEM(codes, (Py_ssize_t)i, c);
    }
    if (codes != NULL)
        result = Py_BuildValue(
            "(NNNNNNNN)", codes, bytes_of(o.row_instrument, o.n_rows * 4),
            bytes_of(o.row_bucket, o.n_rows * 8), bytes_of(o.row_side, o.n_rows),
            bytes_of(o.row_snapshots, o.n_rows * 8), bytes_of(o.ends, o.n_rows * 8),
            bytes_of(o.cells.bin, o.cells.n * 8), bytes_of(o.cells.value, o.cells.n * 8));
    heat_out_free(&o);
done:
    PyBuffer_Release(&rank);
    return result;
}

static PyMethodDef Heatmap_methods[] = {
    {"add_many", (PyCFunction)Heatmap_add_many, METH_VARARGS,
     "add_many(codes_i32, ns_i64, bid_counts_i64, bid_prices_f64, bid_sizes_f64, "
     "ask_counts_i64, ask_prices_f64, ask_sizes_f64): snapshots in row order, levels as "
     "given; codes without a tick are skipped. ValueError when a bin is out of range."},
    {"partials", (PyCFunction)Heatmap_partials, METH_O,
     "partials(rank_i32) -> (codes, row_instrument, row_bucket, row_side, row_snapshots, "
     "ends, bins, sums): HeatmapPartials' columns, instruments ordered by rank[code]; "
     "the accumulator is empty afterwards."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject HeatmapType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "orderflow.native._kernel.Heatmap",
    .tp_doc = PyDoc_STR("Heatmap(ticks_f64, bucket_ns): the depth heatmap's partial cells "
                        "(orderflow.core.heatmap), ticks per instrument code (<= 0: none). "
                        "Reader.book(heatmap=...) adds each computed snapshot in its pass."),
    .tp_basicsize = sizeof(Heatmap),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Heatmap_init,
    .tp_dealloc = (destructor)Heatmap_dealloc,
    .tp_methods = Heatmap_methods,
};

/* ---- the Reader: one read-only connection and its prepared statements ---- */

typedef struct {
    PyObject_HEAD
    sqlite3 *db;
    sqlite3_stmt *book;
    sqlite3_stmt *trades;
    Names names;
    Work work;
    int busy;
} Reader;

static void
reader_close_db(Reader *r)
{
    sqlite3_finalize(r->book);
    sqlite3_finalize(r->trades);
    sqlite3_close(r->db);
    r->book = r->trades = NULL;
    r->db = NULL;
}

static void
Reader_dealloc(Reader *r)
{
    reader_close_db(r);
    names_free(&r->names);
    work_free(&r->work);
    Py_TYPE(r)->tp_free((PyObject *)r);
}

static int
Reader_init(Reader *r, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"path", "busy_timeout_ms", NULL};
    PyObject *path_obj;
    int busy_timeout_ms = 5000;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O&|i", kwlist, PyUnicode_FSConverter,
                                     &path_obj, &busy_timeout_ms))
        return -1;
    reader_close_db(r);
    names_free(&r->names);
    const char *path = PyBytes_AS_STRING(path_obj);
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_busy_timeout(r->db, busy_timeout_ms);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(
            r->db,
            "SELECT id, instrument, bids, asks, timestamp FROM book"
            " WHERE id BETWEEN ?1 AND ?2 ORDER BY id",
            -1, &r->book, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(
            r->db,
            "SELECT id, instrument, price, size, side, timestamp FROM trades"
            " WHERE id BETWEEN ?1 AND ?2 ORDER BY id",
            -1, &r->trades, NULL);
    Py_END_ALLOW_THREADS
    if (rc != SQLITE_OK) {
        PyErr_Format(KernelError, "%s: %s", path,
                     r->db ? sqlite3_errmsg(r->db) : sqlite3_errstr(rc));
        Py_DECREF(path_obj);
        reader_close_db(r);
        return -1;
    }
    Py_DECREF(path_obj);
    return 0;
}

static int
reader_claim(Reader *r)
{
    if (r->db == NULL) {
        PyErr_SetString(KernelError, "the reader is closed");
        return 0;
    }
    if (r->busy) {
        PyErr_SetString(KernelError, "the reader is in use by another thread");
        return 0;
    }
    r->busy = 1;
    return 1;
}

/* Timestamp of column ``col``: 1 and *ns when the kernel parses it, 0 to decline. */
static int
cell_instant(sqlite3_stmt *st, int col, int64_t *ns)
{
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_INTEGER:
        return parse_instant_integer(sqlite3_column_int64(st, col), ns);
    case SQLITE_TEXT: {
        const char *s = (const char *)sqlite3_column_text(st, col);
        int n = sqlite3_column_bytes(st, col);
        return s != NULL && parse_instant_text(s, (size_t)n, ns);
    }
    default:
        return 0;
    }
}

/* Instrument code of column ``col``, or -1 (declined: not plain text); -2 on no memory. */
static int32_t
cell_instrument(Names *names, sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) != SQLITE_TEXT)
        return -1;
    const char *s = (const char *)sqlite3_column_text(st, col);
    int n = sqlite3_column_bytes(st, col);
    if (s == NULL)
        return -1;
    /* Rows of a few instruments interleave: the latest two plain names settle most
     * rows with one compare, before the ASCII check and the hash. */
    for (int i = 0; i < 2; i++) {
        int32_t c = names->plain_recent[i];
        if (c >= 0 && (size_t)c < names->n && names->lengths[c] == (size_t)n &&
            memcmp(names->names[c], s, (size_t)n) == 0)
            return c;
    }
    if (!plain_ascii(s, (size_t)n))
        return -1;
    int32_t code = names_code(names, s, (size_t)n);
    if (code < 0)
        return -2;
    if (code != names->plain_recent[0]) {
        names->plain_recent[1] = names->plain_recent[0];
        names->plain_recent[0] = code;
    }
    return code;
}

typedef struct {
    Buf id, ns, status, instrument, values[N_VALUES], levels, counts, ts_blob, ts_offsets;
} BookColumns;

static const char *VALUE_NAMES[N_VALUES] = {
    "best_bid",     "best_ask",   "obi",        "spread", "mid",    "weighted_mid",
    "bid_size_1",   "ask_size_1", "obi_l1",     "obi_l5", "obi_l10",
};

static void
book_columns_free(BookColumns *c)
{
    Buf *all = (Buf *)c;
    for (size_t i = 0; i < sizeof(*c) / sizeof(Buf); i++)
        buf_free(&all[i]);
}

typedef struct {
    int64_t id_lo, id_hi, start_ns, end_ns;
    long depth;
    int ofi_levels;
    long limit;
    int timestamps;
    long long byte_budget; /* stop after this much side text too: huge books still tick */
    Heat *heat;            /* the depth heatmap's accumulator, or NULL */
} BookArgs;

/* Steps the book rows; returns an SQLite code (SQLITE_DONE or SQLITE_ROW when the
 * limit stopped it), SQLITE_NOMEM for an allocation failure. */
static int
step_book(Reader *r, const BookArgs *a, BookColumns *c, int64_t *last_id, long *rows)
{
    sqlite3_stmt *st = r->book;
    const int m = a->ofi_levels;
    double values[N_VALUES];
    double level_row[4 * MAX_OFI_LEVELS];
    unsigned char counts[2];
    int rc;
    int64_t offset = 0;
    long long side_bytes = 0;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, a->id_lo);
    sqlite3_bind_int64(st, 2, a->id_hi);
    if (a->timestamps && !buf_put(&c->ts_offsets, &offset, sizeof(offset)))
        return SQLITE_NOMEM;
    *rows = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0), ns = INT64_MIN;
        unsigned char status = ROW_DECLINED;
        int32_t code = -1;
        SideTop bid, ask;
        int ok = sqlite3_column_type(st, 0) == SQLITE_INTEGER && cell_instant(st, 4, &ns);
        if (ok) {
            code = cell_instrument(&r->names, st, 1);
            if (code == -2)
                return SQLITE_NOMEM;
            ok = code >= 0;
        }
        if (ok && (ns < a->start_ns || ns >= a->end_ns)) {
            status = ROW_OUTSIDE;
        } else if (ok && sqlite3_column_type(st, 2) == SQLITE_TEXT &&
                   sqlite3_column_type(st, 3) == SQLITE_TEXT) {
            const char *b = (const char *)sqlite3_column_text(st, 2);
            size_t nb = (size_t)sqlite3_column_bytes(st, 2);
            const char *s = (const char *)sqlite3_column_text(st, 3);
            size_t ns_ = (size_t)sqlite3_column_bytes(st, 3);
            side_bytes += (long long)(nb + ns_);
            int bids = b ? parse_side(b, nb, &r->work.bids) : SIDE_DECLINED;
            int asks = bids == SIDE_OK && s ? parse_side(s, ns_, &r->work.asks) : SIDE_DECLINED;
            if (bids == SIDE_NO_MEMORY || asks == SIDE_NO_MEMORY)
                return SQLITE_NOMEM;
            if (bids == SIDE_OK && asks == SIDE_OK) {
                /* The heatmap's levels are staged per side (the asks' reduce reuses
                 * the bids' scratch) and count only once the snapshot surely does. */
                int heat = a->heat != NULL && heat_wants(a->heat, code);
                int staged = HEAT_ADDED;
                if (!reduce_side(&r->work, &r->work.bids, 1, a->depth, &bid))
                    return SQLITE_NOMEM;
                if (heat)
                    staged = heat_stage(a->heat, code, 0, r->work.price, r->work.size,
                                        r->work.counted, 1);
                if (staged == HEAT_ADDED &&
                    !reduce_side(&r->work, &r->work.asks, 0, a->depth, &ask))
                    return SQLITE_NOMEM;
                if (heat && staged == HEAT_ADDED)
                    staged = heat_stage(a->heat, code, 1, r->work.price, r->work.size,
                                        r->work.counted, 1);
                if (heat && staged == HEAT_ADDED)
                    staged = heat_commit(a->heat, code, ns);
                if (staged == HEAT_NO_MEMORY)
                    return SQLITE_NOMEM;
                status = staged == HEAT_ADDED ? ROW_COMPUTED : ROW_DECLINED;
            }
        }
        if (status == ROW_COMPUTED) {
            snapshot_values(&bid, &ask, values);
            top_levels(&bid, &ask, m, level_row, counts);
        } else {
            for (int i = 0; i < N_VALUES; i++)
                values[i] = NAN;
            memset(level_row, 0, sizeof(level_row));
            counts[0] = counts[1] = 0;
        }
        if (!buf_put(&c->id, &id, 8) || !buf_put(&c->ns, &ns, 8) ||
            !buf_put(&c->status, &status, 1) || !buf_put(&c->instrument, &code, 4) ||
            !buf_put(&c->levels, level_row, 4 * (size_t)m * sizeof(double)) ||
            !buf_put(&c->counts, counts, 2))
            return SQLITE_NOMEM;
        for (int i = 0; i < N_VALUES; i++)
            if (!buf_put(&c->values[i], &values[i], 8))
                return SQLITE_NOMEM;
        if (a->timestamps) {
            /* The raw cell as the metrics row stores it (TEXT, or an INTEGER's digits). */
            const char *t = (const char *)sqlite3_column_text(st, 4);
            int tn = sqlite3_column_bytes(st, 4);
            if (t != NULL && !buf_put(&c->ts_blob, t, (size_t)tn))
                return SQLITE_NOMEM;
            offset = (int64_t)c->ts_blob.len;
            if (!buf_put(&c->ts_offsets, &offset, sizeof(offset)))
                return SQLITE_NOMEM;
        }
        *last_id = id;
        if (++*rows >= a->limit || side_bytes >= a->byte_budget)
            break;
    }
    return rc;
}

static PyObject *
columns_dict(const char **names, Buf **bufs, int n)
{
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    for (int i = 0; i < n; i++) {
        PyObject *b = buf_bytes(bufs[i]);
        if (b == NULL || PyDict_SetItemString(d, names[i], b) < 0) {
            Py_XDECREF(b);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(b);
    }
    return d;
}

static PyObject *
finish_step(Reader *r, int rc, int64_t last_id, long rows, PyObject *columns)
{
    if (columns == NULL)
        return NULL;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        Py_DECREF(columns);
        if (rc == SQLITE_NOMEM)
            return PyErr_NoMemory();
        return PyErr_Format(KernelError, "reading rows: %s", sqlite3_errmsg(r->db));
    }
    /* SQLITE_ROW: the limit stopped the scan; the caller goes on after last_id. */
    PyObject *more = rc == SQLITE_ROW ? PyLong_FromLongLong(last_id) : Py_NewRef(Py_None);
    return Py_BuildValue("(NlN)", more, rows, columns);
}

static PyObject *
Reader_book(Reader *r, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"id_lo",      "id_hi", "start_ns",   "end_ns",      "depth",
                             "ofi_levels", "limit", "timestamps", "byte_budget", "heatmap",
                             NULL};
    BookArgs a = {.depth = -1,
                  .ofi_levels = 5,
                  .limit = LONG_MAX,
                  .timestamps = 1,
                  .byte_budget = LLONG_MAX,
                  .heat = NULL};
    PyObject *depth_obj = Py_None, *heat_obj = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "LLLL|OilpLO", kwlist, &a.id_lo, &a.id_hi,
                                     &a.start_ns, &a.end_ns, &depth_obj, &a.ofi_levels,
                                     &a.limit, &a.timestamps, &a.byte_budget, &heat_obj))
        return NULL;
    if (heat_obj != Py_None && !PyObject_TypeCheck(heat_obj, &HeatmapType)) {
        PyErr_SetString(PyExc_TypeError, "heatmap must be a Heatmap or None");
        return NULL;
    }
    if (depth_obj != Py_None) {
        a.depth = PyLong_AsLong(depth_obj);
        if (a.depth == -1 && PyErr_Occurred())
            return NULL;
        if (a.depth < 1) {
            PyErr_SetString(PyExc_ValueError, "depth must be None or at least 1");
            return NULL;
        }
    }
    if (a.ofi_levels < 1 || a.ofi_levels > MAX_OFI_LEVELS) {
        PyErr_Format(PyExc_ValueError, "ofi_levels must be within 1..%d", MAX_OFI_LEVELS);
        return NULL;
    }
    if (a.limit < 1) {
        PyErr_SetString(PyExc_ValueError, "limit must be at least 1");
        return NULL;
    }
    Heatmap *heat = heat_obj != Py_None ? (Heatmap *)heat_obj : NULL;
    if (heat != NULL && !heatmap_claim(heat))
        return NULL;
    if (!reader_claim(r)) {
        if (heat != NULL)
            heat->busy = 0;
        return NULL;
    }
    a.heat = heat != NULL ? &heat->heat : NULL;
    BookColumns c;
    memset(&c, 0, sizeof(c));
    int64_t last_id = 0;
    long rows = 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = step_book(r, &a, &c, &last_id, &rows);
    sqlite3_reset(r->book);
    Py_END_ALLOW_THREADS
    r->busy = 0;
    if (heat != NULL)
        heat->busy = 0;
    const char *names[4 + N_VALUES + 4] = {"id", "ns", "status", "instrument"};
    Buf *bufs[4 + N_VALUES + 4] = {&c.id, &c.ns, &c.status, &c.instrument};
    int n = 4;
    for (int i = 0; i < N_VALUES; i++) {
        names[n] = VALUE_NAMES[i];
        bufs[n++] = &c.values[i];
    }
    names[n] = "levels";
    bufs[n++] = &c.levels;
    names[n] = "counts";
    bufs[n++] = &c.counts;
    if (a.timestamps) {
        names[n] = "ts_blob";
        bufs[n++] = &c.ts_blob;
        names[n] = "ts_offsets";
        bufs[n++] = &c.ts_offsets;
    }
    PyObject *columns = columns_dict(names, bufs, n);
    book_columns_free(&c);
    return finish_step(r, rc, last_id, rows, columns);
}

/* A trade's price or size: REAL or INTEGER >= 0 and finite, or plain number text. */
static int
cell_amount(sqlite3_stmt *st, int col, double *out)
{
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_FLOAT: {
        double v = sqlite3_column_double(st, col);
        *out = v;
        return v >= 0.0 && v < INFINITY;
    }
    case SQLITE_INTEGER: {
        sqlite3_int64 v = sqlite3_column_int64(st, col);
        *out = (double)v;
        return v >= 0;
    }
    case SQLITE_TEXT: {
        const char *s = (const char *)sqlite3_column_text(st, col);
        int n = sqlite3_column_bytes(st, col);
        return s != NULL && parse_number_text(s, (size_t)n, out);
    }
    default:
        return 0;
    }
}

/* +1 buy, -1 sell (ASCII letters in any case), 0: declined. */
static int
cell_side(sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) != SQLITE_TEXT)
        return 0;
    const char *s = (const char *)sqlite3_column_text(st, col);
    int n = sqlite3_column_bytes(st, col);
    if (s == NULL)
        return 0;
    if (n == 3 && (s[0] | 0x20) == 'b' && (s[1] | 0x20) == 'u' && (s[2] | 0x20) == 'y')
        return 1;
    if (n == 4 && (s[0] | 0x20) == 's' && (s[1] | 0x20) == 'e' && (s[2] | 0x20) == 'l' &&
        (s[3] | 0x20) == 'l')
        return -1;
    return 0;
}

typedef struct {
    Buf id, ns, status, instrument, signed_size;
} TradeColumns;

static int
step_trades(Reader *r, int64_t id_lo, int64_t id_hi, int64_t start_ns, int64_t end_ns,
            long limit, TradeColumns *c, int64_t *last_id, long *rows)
{
    sqlite3_stmt *st = r->trades;
    int rc;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, id_lo);
    sqlite3_bind_int64(st, 2, id_hi);
    *rows = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0), ns = INT64_MIN;
        unsigned char status = ROW_DECLINED;
        int32_t code = -1;
        double price, size, signed_size = NAN;
        int ok = sqlite3_column_type(st, 0) == SQLITE_INTEGER && cell_instant(st, 5, &ns);
        if (ok) {
            code = cell_instrument(&r->names, st, 1);
            if (code == -2)
                return SQLITE_NOMEM;
            ok = code >= 0;
        }
        if (ok && (ns < start_ns || ns >= end_ns)) {
            status = ROW_OUTSIDE;
        } else if (ok) {
            int sign = cell_side(st, 4);
            if (sign != 0 && cell_amount(st, 2, &price) && cell_amount(st, 3, &size)) {
                signed_size = sign > 0 ? size : -size;
                status = ROW_COMPUTED;
            }
        }
        if (!buf_put(&c->id, &id, 8) || !buf_put(&c->ns, &ns, 8) ||
            !buf_put(&c->status, &status, 1) || !buf_put(&c->instrument, &code, 4) ||
            !buf_put(&c->signed_size, &signed_size, 8))
            return SQLITE_NOMEM;
        *last_id = id;
        if (++*rows >= limit)
            break;
    }
    return rc;
}

static PyObject *
Reader_trades(Reader *r, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"id_lo", "id_hi", "start_ns", "end_ns", "limit", NULL};
    int64_t id_lo, id_hi, start_ns, end_ns;
    long limit = LONG_MAX;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "LLLL|l", kwlist, &id_lo, &id_hi, &start_ns,
                                     &end_ns, &limit))
        return NULL;
    if (limit < 1) {
        PyErr_SetString(PyExc_ValueError, "limit must be at least 1");
        return NULL;
    }
    if (!reader_claim(r))
        return NULL;
    TradeColumns c;
    memset(&c, 0, sizeof(c));
    int64_t last_id = 0;
    long rows = 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = step_trades(r, id_lo, id_hi, start_ns, end_ns, limit, &c, &last_id, &rows);
    sqlite3_reset(r->trades);
    Py_END_ALLOW_THREADS
    r->busy = 0;
    const char *names[5] = {"id", "ns", "status", "instrument", "signed_size"};
    Buf *bufs[5] = {&c.id, &c.ns, &c.status, &c.instrument, &c.signed_size};
    PyObject *columns = columns_dict(names, bufs, 5);
    for (int i = 0; i < 5; i++)
        buf_free(bufs[i]);
    return finish_step(r, rc, last_id, rows, columns);
}

static PyObject *
Reader_instruments(Reader *r, PyObject *unused)
{
    PyObject *list = PyList_New((Py_ssize_t)r->names.n);
    if (list == NULL)
        return NULL;
    for (size_t i = 0; i < r->names.n; i++) {
        PyObject *s = PyUnicode_DecodeUTF8(r->names.names[i], (Py_ssize_t)r->names.lengths[i],
                                           "surrogatepass");
        if (s == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, s);
    }
    return list;
}

static PyObject *
Reader_code(Reader *r, PyObject *name)
{
    Py_ssize_t n;
    const char *s = PyUnicode_Check(name) ? PyUnicode_AsUTF8AndSize(name, &n) : NULL;
    if (s == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "an instrument name is a str");
        return NULL;
    }
    if (r->busy) {
        PyErr_SetString(KernelError, "the reader is in use by another thread");
        return NULL;
    }
    int32_t code = names_code(&r->names, s, (size_t)n);
    if (code < 0)
        return PyErr_NoMemory();
    return PyLong_FromLong(code);
}

static PyObject *
Reader_close(Reader *r, PyObject *unused)
{
    if (r->busy) {
        PyErr_SetString(KernelError, "the reader is in use by another thread");
        return NULL;
    }
    reader_close_db(r);
    Py_RETURN_NONE;
}

static PyMethodDef Reader_methods[] = {
    {"book", (PyCFunction)(void (*)(void))Reader_book, METH_VARARGS | METH_KEYWORDS,
     "book(id_lo, id_hi, start_ns, end_ns, depth=None, ofi_levels=5, limit=..., "
     "timestamps=True, byte_budget=..., heatmap=None) -> (next_after_id or None, rows, columns)\n\n"
     "Book rows with id_lo <= id <= id_hi in id order, as raw column bytes. status per "
     "row: 0 computed, 1 instant outside [start_ns, end_ns), 2 declined to Python. "
     "heatmap: a Heatmap that each computed snapshot of an instrument with a tick is "
     "added to (a snapshot whose bins are out of range is declined instead)."},
    {"trades", (PyCFunction)(void (*)(void))Reader_trades, METH_VARARGS | METH_KEYWORDS,
     "trades(id_lo, id_hi, start_ns, end_ns, limit=...) -> (next_after_id or None, rows, "
     "columns)\n\nTrade rows as raw column bytes; status as for book()."},
    {"instruments", (PyCFunction)Reader_instruments, METH_NOARGS,
     "Instrument names by code (the instrument columns index this list)."},
    {"code", (PyCFunction)Reader_code, METH_O,
     "The code of an instrument name (added when new): rows the kernel declined join "
     "the same numbering."},
    {"close", (PyCFunction)Reader_close, METH_NOARGS, "Close the connection."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ReaderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "orderflow.native._kernel.Reader",
    .tp_doc = PyDoc_STR("Reader(path, busy_timeout_ms=5000): a read-only SQLite connection "
                        "(SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX) for one thread at a "
                        "time, stepping book and trades rows into columns."),
    .tp_basicsize = sizeof(Reader),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Reader_init,
    .tp_dealloc = (destructor)Reader_dealloc,
    .tp_methods = Reader_methods,
};

/* ---- array functions over columns the wrapper has put in (instant, id) order ---- */

static int
get_buffer(PyObject *obj, Py_buffer *view, Py_ssize_t item, const char *what)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS) < 0)
        return 0;
    if (view->len % item != 0) {
        PyErr_Format(PyExc_ValueError, "%s: buffer length is not a multiple of %zd", what,
                     item);
        PyBuffer_Release(view);
        return 0;
    }
    return 1;
}

static PyObject *
kernel_order_flow(PyObject *self, PyObject *args)
{
    PyObject *inst_obj, *levels_obj, *counts_obj;
    int m;
    if (!PyArg_ParseTuple(args, "OOOi", &inst_obj, &levels_obj, &counts_obj, &m))
        return NULL;
    if (m < 1 || m > MAX_OFI_LEVELS) {
        PyErr_Format(PyExc_ValueError, "ofi_levels must be within 1..%d", MAX_OFI_LEVELS);
        return NULL;
    }
    Py_buffer inst, levels, counts;
    if (!get_buffer(inst_obj, &inst, 4, "instrument"))
        return NULL;
    if (!get_buffer(levels_obj, &levels, 4 * m * 8, "levels")) {
        PyBuffer_Release(&inst);
        return NULL;
    }
    if (!get_buffer(counts_obj, &counts, 2, "counts")) {
        PyBuffer_Release(&inst);
        PyBuffer_Release(&levels);
        return NULL;
    }
    Py_ssize_t n = inst.len / 4;
    PyObject *result = NULL;
    if (levels.len / (4 * m * 8) != n || counts.len / 2 != n) {
        PyErr_SetString(PyExc_ValueError, "columns of different lengths");
        goto done;
    }
    const int32_t *code = inst.buf;
    int32_t max_code = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (code[i] < 0) {
            PyErr_SetString(PyExc_ValueError, "negative instrument code");
            goto done;
        }
        if (code[i] > max_code)
            max_code = code[i];
    }
    PyObject *ofi = PyBytes_FromStringAndSize(NULL, n * 8);
    PyObject *mlofi = PyBytes_FromStringAndSize(NULL, n * 8);
    Py_ssize_t *previous = PyMem_Malloc(((size_t)max_code + 1) * sizeof(Py_ssize_t) + 1);
    if (ofi == NULL || mlofi == NULL || previous == NULL) {
        Py_XDECREF(ofi);
        Py_XDECREF(mlofi);
        PyMem_Free(previous);
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        goto done;
    }
    double *o = (double *)PyBytes_AS_STRING(ofi), *ml = (double *)PyBytes_AS_STRING(mlofi);
    const double *lv = levels.buf;
    const unsigned char *cn = counts.buf;
    for (int32_t i = 0; i <= max_code; i++)
        previous[i] = -1;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t p = previous[code[i]];
        if (p < 0)
            o[i] = ml[i] = NAN; /* first snapshot of its instrument here */
        else
            order_flow(lv + p * 4 * m, cn + p * 2, lv + i * 4 * m, cn + i * 2, m, &o[i], &ml[i]);
        previous[code[i]] = i;
    }
    Py_END_ALLOW_THREADS
    PyMem_Free(previous);
    result = Py_BuildValue("(NN)", ofi, mlofi);
done:
    PyBuffer_Release(&inst);
    PyBuffer_Release(&levels);
    PyBuffer_Release(&counts);
    return result;
}

static PyObject *
kernel_cvd(PyObject *self, PyObject *args)
{
    PyObject *objs[5];
    int n_codes;
    if (!PyArg_ParseTuple(args, "OOOOOi", &objs[0], &objs[1], &objs[2], &objs[3], &objs[4],
                          &n_codes))
        return NULL;
    static const Py_ssize_t items[5] = {8, 4, 8, 4, 8};
    static const char *what[5] = {"snapshot ns", "snapshot instrument", "trade ns",
                                  "trade instrument", "trade signed size"};
    Py_buffer views[5];
    int got = 0;
    PyObject *result = NULL;
    for (; got < 5; got++)
        if (!get_buffer(objs[got], &views[got], items[got], what[got]))
            goto done;
    Py_ssize_t ns_snap = views[0].len / 8, ns_trade = views[2].len / 8;
    if (views[1].len / 4 != ns_snap || views[3].len / 4 != ns_trade ||
        views[4].len / 8 != ns_trade || n_codes < 0) {
        PyErr_SetString(PyExc_ValueError, "columns of different lengths");
        goto done;
    }
    const int64_t *snap_ns = views[0].buf, *trade_ns = views[2].buf;
    const int32_t *snap_code = views[1].buf, *trade_code = views[3].buf;
    const double *signed_size = views[4].buf;
    for (Py_ssize_t i = 0; i < ns_snap; i++)
        if (snap_code[i] < 0 || snap_code[i] >= n_codes)
            goto bad_code;
    for (Py_ssize_t i = 0; i < ns_trade; i++)
        if (trade_code[i] < 0 || trade_code[i] >= n_codes)
            goto bad_code;
    PyObject *cvd = PyBytes_FromStringAndSize(NULL, ns_snap * 8);
    PyObject *total = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n_codes * 8);
    PyObject *traded = PyBytes_FromStringAndSize(NULL, n_codes);
    if (cvd == NULL || total == NULL || traded == NULL) {
        Py_XDECREF(cvd);
        Py_XDECREF(total);
        Py_XDECREF(traded);
        goto done;
    }
    double *c = (double *)PyBytes_AS_STRING(cvd), *t = (double *)PyBytes_AS_STRING(total);
    char *seen = PyBytes_AS_STRING(traded);
    memset(t, 0, (size_t)n_codes * 8);
    memset(seen, 0, (size_t)n_codes);
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t j = 0;
    for (Py_ssize_t i = 0; i < ns_snap; i++) {
        for (; j < ns_trade && trade_ns[j] <= snap_ns[i]; j++) {
            t[trade_code[j]] += signed_size[j];
            seen[trade_code[j]] = 1;
        }
        c[i] = t[snap_code[i]];
    }
    for (; j < ns_trade; j++) {
        t[trade_code[j]] += signed_size[j];
        seen[trade_code[j]] = 1;
    }
    Py_END_ALLOW_THREADS
    result = Py_BuildValue("(NNN)", cvd, total, traded);
    goto done;
bad_code:
    PyErr_SetString(PyExc_ValueError, "instrument code out of range");
done:
    for (int i = 0; i < got; i++)
        PyBuffer_Release(&views[i]);
    return result;
}

/* ---- single values, for the differential tests and the fuzz harness ---- */

static int
text_arg(PyObject *obj, const char **s, Py_ssize_t *n)
{
    if (PyUnicode_Check(obj)) {
        *s = PyUnicode_AsUTF8AndSize(obj, n);
        return *s != NULL;
    }
    if (PyBytes_Check(obj)) {
        *s = PyBytes_AS_STRING(obj);
        *n = PyBytes_GET_SIZE(obj);
        return 1;
    }
    PyErr_SetString(PyExc_TypeError, "expected str or bytes");
    return 0;
}

static PyObject *
float_or_none(double v)
{
    return isnan(v) ? Py_NewRef(Py_None) : PyFloat_FromDouble(v);
}

static PyObject *
kernel_parse_number(PyObject *self, PyObject *arg)
{
    const char *s;
    Py_ssize_t n;
    double v;
    if (!text_arg(arg, &s, &n))
        return NULL;
    if (!parse_number_text(s, (size_t)n, &v))
        Py_RETURN_NONE;
    return PyFloat_FromDouble(v);
}

static PyObject *
kernel_parse_instant(PyObject *self, PyObject *arg)
{
    int64_t ns;
    if (PyLong_CheckExact(arg)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(arg, &overflow);
        if (v == -1 && PyErr_Occurred())
            return NULL;
        if (overflow || !parse_instant_integer(v, &ns))
            Py_RETURN_NONE;
        return PyLong_FromLongLong(ns);
    }
    const char *s;
    Py_ssize_t n;
    if (!text_arg(arg, &s, &n))
        return NULL;
    if (!parse_instant_text(s, (size_t)n, &ns))
        Py_RETURN_NONE;
    return PyLong_FromLongLong(ns);
}

static PyObject *
side_levels(const SideTop *side, int m)
{
    PyObject *list = PyList_New(0);
    for (int i = 0; list != NULL && i < side->n && i < m; i++) {
        PyObject *pair = Py_BuildValue("(dd)", side->price[i], side->size[i]);
        if (pair == NULL || PyList_Append(list, pair) < 0) {
            Py_XDECREF(pair);
            Py_CLEAR(list);
            break;
        }
        Py_DECREF(pair);
    }
    return list;
}

static PyObject *
kernel_reduce_sides(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"bids", "asks", "depth", "ofi_levels", NULL};
    PyObject *bids_obj, *asks_obj, *depth_obj = Py_None;
    int m = 5;
    long depth = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|Oi", kwlist, &bids_obj, &asks_obj,
                                     &depth_obj, &m))
        return NULL;
    if (depth_obj != Py_None) {
        depth = PyLong_AsLong(depth_obj);
        if (depth == -1 && PyErr_Occurred())
            return NULL;
        if (depth < 1) {
            PyErr_SetString(PyExc_ValueError, "depth must be None or at least 1");
            return NULL;
        }
    }
    if (m < 1 || m > MAX_OFI_LEVELS) {
        PyErr_Format(PyExc_ValueError, "ofi_levels must be within 1..%d", MAX_OFI_LEVELS);
        return NULL;
    }
    const char *b, *a;
    Py_ssize_t nb, na;
    if (!text_arg(bids_obj, &b, &nb) || !text_arg(asks_obj, &a, &na))
        return NULL;
    Work w;
    memset(&w, 0, sizeof(w));
    SideTop bid, ask;
    int rb = parse_side(b, (size_t)nb, &w.bids);
    int ra = rb == SIDE_OK ? parse_side(a, (size_t)na, &w.asks) : SIDE_DECLINED;
    if (rb == SIDE_NO_MEMORY || ra == SIDE_NO_MEMORY) {
        work_free(&w);
        return PyErr_NoMemory();
    }
    if (rb != SIDE_OK || ra != SIDE_OK) {
        work_free(&w);
        Py_RETURN_NONE;
    }
    if (!reduce_side(&w, &w.bids, 1, depth, &bid) || !reduce_side(&w, &w.asks, 0, depth, &ask)) {
        work_free(&w);
        return PyErr_NoMemory();
    }
    work_free(&w);
    double v[N_VALUES];
    snapshot_values(&bid, &ask, v);
    PyObject *d = PyDict_New();
    for (int i = 0; d != NULL && i < N_VALUES; i++) {
        PyObject *x = float_or_none(v[i]);
        if (x == NULL || PyDict_SetItemString(d, VALUE_NAMES[i], x) < 0)
            Py_CLEAR(d);
        Py_XDECREF(x);
    }
    PyObject *bl = d ? side_levels(&bid, m) : NULL, *al = d ? side_levels(&ask, m) : NULL;
    if (bl == NULL || al == NULL || PyDict_SetItemString(d, "bid_levels", bl) < 0 ||
        PyDict_SetItemString(d, "ask_levels", al) < 0)
        Py_CLEAR(d);
    Py_XDECREF(bl);
    Py_XDECREF(al);
    return d;
}

static PyObject *
sqlite_version(PyObject *self, PyObject *unused)
{
    return PyUnicode_FromString(sqlite3_libversion());
}

static PyMethodDef kernel_methods[] = {
    {"sqlite_version", sqlite_version, METH_NOARGS,
     "Version of the SQLite library the kernel is linked against."},
    {"parse_number", kernel_parse_number, METH_O,
     "The float of a plain number text, or None when the kernel declines it."},
    {"parse_instant", kernel_parse_instant, METH_O,
     "ns since the epoch of a timestamp cell (str, bytes or int), or None (declined)."},
    {"reduce_sides", (PyCFunction)(void (*)(void))kernel_reduce_sides,
     METH_VARARGS | METH_KEYWORDS,
     "reduce_sides(bids, asks, depth=None, ofi_levels=5) -> dict of the snapshot's values "
     "(None = SQL NULL) and top levels, or None when declined."},
    {"order_flow", kernel_order_flow, METH_VARARGS,
     "order_flow(instrument_i32, levels_f64, counts_u8, ofi_levels) -> (ofi, mlofi) bytes; "
     "rows in (instant, id) order, NaN at each instrument's first row."},
    {"cvd", kernel_cvd, METH_VARARGS,
     "cvd(snap_ns, snap_code, trade_ns, trade_code, trade_signed, n_codes) -> (cvd, "
     "signed_volume, traded) bytes; both streams in (instant, id) order."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef kernel_module = {
    PyModuleDef_HEAD_INIT, "_kernel",
    "Compiled shard kernel: parse and reduce stored order-book snapshots.", -1,
    kernel_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__kernel(void)
{
    if (PyType_Ready(&ReaderType) < 0 || PyType_Ready(&HeatmapType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&kernel_module);
    if (m == NULL)
        return NULL;
    KernelError = PyErr_NewException("orderflow.native._kernel.KernelError", PyExc_RuntimeError,
                                     NULL);
    if (KernelError == NULL || PyModule_AddObjectRef(m, "KernelError", KernelError) < 0 ||
        PyModule_AddObjectRef(m, "Reader", (PyObject *)&ReaderType) < 0 ||
        PyModule_AddObjectRef(m, "Heatmap", (PyObject *)&HeatmapType) < 0 ||
        PyModule_AddIntConstant(m, "MAX_OFI_LEVELS", MAX_OFI_LEVELS) < 0 ||
        PyModule_AddIntConstant(m, "ROW_COMPUTED", ROW_COMPUTED) < 0 ||
        PyModule_AddIntConstant(m, "ROW_OUTSIDE", ROW_OUTSIDE) < 0 ||
        PyModule_AddIntConstant(m, "ROW_DECLINED", ROW_DECLINED) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
