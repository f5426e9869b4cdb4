/*
 * orderflow.native._sqlite_writer: write columns into a table with one
 * INSERT ... SELECT, on the caller's Python sqlite3 connection and transaction.
 *
 * The coordinator is the only writer and its writes are the serial part of a
 * sharded run; in Python every value becomes an object and every row a tuple
 * before sqlite3 binds them one by one. Here the result's arrays (int64,
 * float64 with NaN = NULL, text as one blob plus offsets, instrument names by
 * index) are a table to SQLite: the table-valued function orderflow_rows(?)
 * (an eponymous virtual table, registered on the connection for the call)
 * yields row k's value c straight from column c's array, and
 * "INSERT INTO t (...) SELECT c0, c1, ... FROM orderflow_rows(?)" writes them
 * all in one statement. That avoids a sqlite3_bind_* call per value (each
 * locks the connection's mutex: about 4k instructions of a 19-column row) and
 * preparing a 1,216-parameter statement per call, and SQLite's per-statement
 * work (AUTOINCREMENT bookkeeping) runs once per call. Integer and blob columns
 * may carry a uint8 mask of NULL rows (the heatmap's empty rows have no first
 * bin, its dense rows no offsets).
 *
 * The sqlite3 handle is read from the Python connection object: its first
 * field after the object header, in every CPython from 3.8 to 3.13. That is only
 * safe when this module and Python's _sqlite3 use the same SQLite library (the
 * system's libsqlite3.so.0); the Python wrapper checks the versions match and
 * otherwise uses its Python path. The GIL stays held: the connection is the
 * caller's, and nothing else may use it meanwhile.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <sqlite3.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    PyObject_HEAD
    sqlite3 *db;
} ConnectionHead;

static PyObject *connection_type;   /* sqlite3.Connection */
static PyObject *operational_error; /* sqlite3.OperationalError */
static PyObject *integrity_error;   /* sqlite3.IntegrityError: what sqlite3 raises too */
static PyObject *programming_error; /* sqlite3.ProgrammingError: a closed connection */

enum kind { K_INT64, K_FLOAT64, K_TEXT, K_BLOB, K_NAME };

typedef struct {
    enum kind kind;
    Py_buffer data;    /* int64 / float64 / blob / int32 codes */
    Py_buffer offsets; /* K_TEXT, K_BLOB: int64, rows + 1 */
    Py_buffer nulls;   /* K_INT64, K_BLOB, optional: uint8 per row, nonzero = NULL */
    const char **names;
    Py_ssize_t *name_lengths;
    Py_ssize_t name_count;
    int has_data, has_offsets, has_nulls;
} Column;

static void release(Column *cols, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        if (cols[i].has_data) PyBuffer_Release(&cols[i].data);
        if (cols[i].has_offsets) PyBuffer_Release(&cols[i].offsets);
        if (cols[i].has_nulls) PyBuffer_Release(&cols[i].nulls);
        PyMem_Free(cols[i].names);
        PyMem_Free(cols[i].name_lengths);
    }
    PyMem_Free(cols);
}

static int get_buffer(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, Py_ssize_t items,
                      const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS) < 0) return -1;
    if (items >= 0 && view->len != itemsize * items) {
        PyErr_Format(PyExc_ValueError, "%s holds %zd bytes, not %zd", what, view->len,
                     itemsize * items);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* Offsets (int64, rows + 1) that cut col->data into rows, ascending and inside it. */
static int get_offsets(PyObject *obj, Column *col, Py_ssize_t rows, const char *what) {
    if (get_buffer(obj, &col->offsets, 8, rows + 1, what) < 0) return -1;
    col->has_offsets = 1;
    const int64_t *o = col->offsets.buf;
    for (Py_ssize_t r = 0; r < rows; r++) {
        if (o[r] < 0 || o[r] > o[r + 1] || o[r + 1] > col->data.len) {
            PyErr_Format(PyExc_ValueError, "%s out of range", what);
            return -1;
        }
    }
    return 0;
}

/* An optional NULL mask (None or uint8 per row) at spec[index]. */
static int get_nulls(PyObject *spec, Py_ssize_t index, Column *col, Py_ssize_t rows) {
    if (PyTuple_GET_SIZE(spec) <= index || PyTuple_GET_ITEM(spec, index) == Py_None) return 0;
    if (get_buffer(PyTuple_GET_ITEM(spec, index), &col->nulls, 1, rows, "a NULL mask") < 0)
        return -1;
    col->has_nulls = 1;
    return 0;
}

/* One column spec: ("i", buf[, nulls]) | ("f", buf) | ("t", text, offsets)
 * | ("b", blob, offsets[, nulls]) | ("c", codes, names). */
static int parse_column(PyObject *spec, Column *col, Py_ssize_t rows) {
    memset(col, 0, sizeof(*col));
    if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) < 2) {
        PyErr_SetString(PyExc_TypeError, "a column is a tuple (kind, data, ...)");
        return -1;
    }
    const char *kind = PyUnicode_AsUTF8(PyTuple_GET_ITEM(spec, 0));
    if (kind == NULL) return -1;
    Py_ssize_t size = PyTuple_GET_SIZE(spec);
    PyObject *data = PyTuple_GET_ITEM(spec, 1);
    if ((strcmp(kind, "i") == 0 && size <= 3) || (strcmp(kind, "f") == 0 && size == 2)) {
        col->kind = kind[0] == 'i' ? K_INT64 : K_FLOAT64;
        if (get_buffer(data, &col->data, 8, rows, "a numeric column") < 0) return -1;
        col->has_data = 1;
        return get_nulls(spec, 2, col, rows);
    }
    if ((strcmp(kind, "t") == 0 && size == 3) || (strcmp(kind, "b") == 0 && size <= 4 && size >= 3)) {
        col->kind = kind[0] == 't' ? K_TEXT : K_BLOB;
        if (get_buffer(data, &col->data, 1, -1, "a text or blob column") < 0) return -1;
        col->has_data = 1;
        if (get_offsets(PyTuple_GET_ITEM(spec, 2), col, rows, "text or blob offsets") < 0)
            return -1;
        return get_nulls(spec, 3, col, rows);
    }
    if (strcmp(kind, "c") == 0 && size == 3) {
        col->kind = K_NAME;
        if (get_buffer(data, &col->data, 4, rows, "an instrument index") < 0) return -1;
        col->has_data = 1;
        PyObject *names = PyTuple_GET_ITEM(spec, 2);
        if (!PyList_Check(names)) {
            PyErr_SetString(PyExc_TypeError, "instrument names must be a list");
            return -1;
        }
        col->name_count = PyList_GET_SIZE(names);
        col->names = PyMem_Calloc(col->name_count + 1, sizeof(char *));
        col->name_lengths = PyMem_Calloc(col->name_count + 1, sizeof(Py_ssize_t));
        if (col->names == NULL || col->name_lengths == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t i = 0; i < col->name_count; i++) {
            col->names[i] = PyUnicode_AsUTF8AndSize(PyList_GET_ITEM(names, i), &col->name_lengths[i]);
            if (col->names[i] == NULL) return -1;
        }
        const int32_t *codes = col->data.buf;
        for (Py_ssize_t r = 0; r < rows; r++) {
            if (codes[r] < 0 || codes[r] >= col->name_count) {
                PyErr_SetString(PyExc_ValueError, "instrument index out of range");
                return -1;
            }
        }
        return 0;
    }
    PyErr_Format(PyExc_ValueError, "unknown column kind %s", kind);
    return -1;
}

static void result_value(sqlite3_context *ctx, const Column *col, Py_ssize_t row) {
    if (col->has_nulls && ((const uint8_t *)col->nulls.buf)[row]) {
        sqlite3_result_null(ctx);
        return;
    }
    switch (col->kind) {
    case K_INT64:
        sqlite3_result_int64(ctx, ((const int64_t *)col->data.buf)[row]);
        return;
    case K_FLOAT64: {
        double v = ((const double *)col->data.buf)[row];
        if (v != v)
            sqlite3_result_null(ctx);
        else
            sqlite3_result_double(ctx, v);
        return;
    }
    case K_TEXT: {
        const int64_t *o = col->offsets.buf;
        sqlite3_result_text(ctx, (const char *)col->data.buf + o[row], (int)(o[row + 1] - o[row]),
                            SQLITE_STATIC);
        return;
    }
    case K_BLOB: {
        /* A NULL pointer would be NULL: an empty blob is a zero-length blob. */
        const int64_t *o = col->offsets.buf;
        int64_t n = o[row + 1] - o[row];
        if (n)
            sqlite3_result_blob(ctx, (const char *)col->data.buf + o[row], (int)n, SQLITE_STATIC);
        else
            sqlite3_result_zeroblob(ctx, 0);
        return;
    }
    case K_NAME: {
        int32_t c = ((const int32_t *)col->data.buf)[row];
        sqlite3_result_text(ctx, col->names[c], (int)col->name_lengths[c], SQLITE_STATIC);
        return;
    }
    }
}

/* --- orderflow_rows(?): the columns as an eponymous table-valued function */

#define MAX_COLUMNS 64 /* the declared columns c0 .. c63; the module exports it */
#define ROWS_POINTER "orderflow_rows"

typedef struct {
    const Column *cols;
    Py_ssize_t ncols;
    const int64_t *order; /* NULL: rows 0 .. count - 1 */
    Py_ssize_t count;
} Rows;

typedef struct {
    sqlite3_vtab base;
} RowsTable;

typedef struct {
    sqlite3_vtab_cursor base;
    const Rows *rows;
    Py_ssize_t k;
} RowsCursor;

static int rows_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                        sqlite3_vtab **out, char **err) {
    char schema[64 + 8 * MAX_COLUMNS] = "CREATE TABLE x(";
    size_t used = strlen(schema);
    for (int c = 0; c < MAX_COLUMNS; c++)
        used += (size_t)snprintf(schema + used, sizeof(schema) - used, "c%d, ", c);
    snprintf(schema + used, sizeof(schema) - used, "rows HIDDEN)");
    int rc = sqlite3_declare_vtab(db, schema);
    if (rc != SQLITE_OK) return rc;
    RowsTable *table = sqlite3_malloc(sizeof(*table));
    if (table == NULL) return SQLITE_NOMEM;
    memset(table, 0, sizeof(*table));
    *out = &table->base;
    return SQLITE_OK;
}

static int rows_disconnect(sqlite3_vtab *vtab) {
    sqlite3_free(vtab);
    return SQLITE_OK;
}

/* Only a plan with the hidden argument (orderflow_rows(?) = rows = ?) is usable. */
static int rows_best_index(sqlite3_vtab *vtab, sqlite3_index_info *info) {
    for (int i = 0; i < info->nConstraint; i++) {
        const struct sqlite3_index_constraint *c = &info->aConstraint[i];
        if (c->iColumn == MAX_COLUMNS && c->op == SQLITE_INDEX_CONSTRAINT_EQ && c->usable) {
            info->aConstraintUsage[i].argvIndex = 1;
            info->aConstraintUsage[i].omit = 1;
            info->estimatedCost = 1;
            info->idxNum = 1;
            return SQLITE_OK;
        }
    }
    return SQLITE_CONSTRAINT;
}

static int rows_open(sqlite3_vtab *vtab, sqlite3_vtab_cursor **out) {
    RowsCursor *cursor = sqlite3_malloc(sizeof(*cursor));
    if (cursor == NULL) return SQLITE_NOMEM;
    memset(cursor, 0, sizeof(*cursor));
    *out = &cursor->base;
    return SQLITE_OK;
}

static int rows_close(sqlite3_vtab_cursor *cur) {
    sqlite3_free(cur);
    return SQLITE_OK;
}

static int rows_filter(sqlite3_vtab_cursor *cur, int idx_num, const char *idx_str, int argc,
                       sqlite3_value **argv) {
    RowsCursor *cursor = (RowsCursor *)cur;
    cursor->rows = argc == 1 ? sqlite3_value_pointer(argv[0], ROWS_POINTER) : NULL;
    cursor->k = 0;
    return SQLITE_OK;
}

static int rows_next(sqlite3_vtab_cursor *cur) {
    ((RowsCursor *)cur)->k++;
    return SQLITE_OK;
}

static int rows_eof(sqlite3_vtab_cursor *cur) {
    RowsCursor *cursor = (RowsCursor *)cur;
    return cursor->rows == NULL || cursor->k >= cursor->rows->count;
}

static int rows_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int c) {
    RowsCursor *cursor = (RowsCursor *)cur;
    const Rows *rows = cursor->rows;
    if (c >= rows->ncols) {
        sqlite3_result_null(ctx);
        return SQLITE_OK;
    }
    Py_ssize_t row = rows->order ? (Py_ssize_t)rows->order[cursor->k] : cursor->k;
    result_value(ctx, &rows->cols[c], row);
    return SQLITE_OK;
}

static int rows_rowid(sqlite3_vtab_cursor *cur, sqlite_int64 *rowid) {
    *rowid = ((RowsCursor *)cur)->k;
    return SQLITE_OK;
}

static sqlite3_module rows_module = {
    .iVersion = 0,
    .xCreate = NULL, /* eponymous only: orderflow_rows(?) in a FROM clause */
    .xConnect = rows_connect,
    .xBestIndex = rows_best_index,
    .xDisconnect = rows_disconnect,
    .xOpen = rows_open,
    .xClose = rows_close,
    .xFilter = rows_filter,
    .xNext = rows_next,
    .xEof = rows_eof,
    .xColumn = rows_column,
    .xRowid = rows_rowid,
};

/* "head SELECT c0, ..., c{ncols-1} FROM orderflow_rows(?1)", or NULL (a Python error set). */
static char *select_sql(const char *head, Py_ssize_t ncols) {
    size_t size = strlen(head) + 64 + 6 * (size_t)ncols;
    char *sql = PyMem_Malloc(size);
    if (sql == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    size_t used = (size_t)snprintf(sql, size, "%s SELECT ", head);
    for (Py_ssize_t c = 0; c < ncols; c++)
        used += (size_t)snprintf(sql + used, size - used, c ? ", c%zd" : "c%zd", c);
    snprintf(sql + used, size - used, " FROM " ROWS_POINTER "(?1)");
    return sql;
}

static PyObject *insert(PyObject *self, PyObject *args) {
    PyObject *conn, *specs, *order_obj = Py_None;
    const char *head;
    Py_ssize_t rows;
    if (!PyArg_ParseTuple(args, "OsnO!|O", &conn, &head, &rows, &PyTuple_Type, &specs, &order_obj))
        return NULL;
    int is_conn = PyObject_IsInstance(conn, connection_type);
    if (is_conn < 0) return NULL;
    if (!is_conn) {
        PyErr_SetString(PyExc_TypeError, "conn must be a sqlite3.Connection");
        return NULL;
    }
    sqlite3 *db = ((ConnectionHead *)conn)->db;
    if (db == NULL) {
        PyErr_SetString(programming_error, "Cannot operate on a closed database.");
        return NULL;
    }
    if (rows < 0) {
        PyErr_SetString(PyExc_ValueError, "rows must be >= 0");
        return NULL;
    }
    Py_ssize_t ncols = PyTuple_GET_SIZE(specs);
    if (ncols < 1 || ncols > MAX_COLUMNS) {
        PyErr_Format(PyExc_ValueError, "from 1 to %d columns, not %zd", MAX_COLUMNS, ncols);
        return NULL;
    }
    Column *cols = PyMem_Calloc(ncols, sizeof(Column));
    if (cols == NULL) return PyErr_NoMemory();
    for (Py_ssize_t c = 0; c < ncols; c++) {
        if (parse_column(PyTuple_GET_ITEM(specs, c), &cols[c], rows) < 0) {
            release(cols, c + 1);
            return NULL;
        }
    }
    /* The rows to write, in this order (a selection of the columns' rows), or all. */
    Rows data = {cols, ncols, NULL, rows};
    Py_buffer order_view;
    if (order_obj != Py_None) {
        if (get_buffer(order_obj, &order_view, 8, -1, "an order") < 0) {
            release(cols, ncols);
            return NULL;
        }
        data.order = order_view.buf;
        data.count = order_view.len / 8;
        for (Py_ssize_t k = 0; k < data.count; k++) {
            if (data.order[k] < 0 || data.order[k] >= rows) {
                PyErr_SetString(PyExc_ValueError, "a row in the order out of range");
                PyBuffer_Release(&order_view);
                release(cols, ncols);
                return NULL;
            }
        }
    }
    PyObject *result = Py_None;
    char *sql = select_sql(head, ncols);
    if (sql == NULL) {
        result = NULL;
    } else if (data.count) {
        sqlite3_stmt *stmt = NULL;
        int rc = sqlite3_create_module_v2(db, ROWS_POINTER, &rows_module, NULL, NULL);
        if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
        if (rc == SQLITE_OK) rc = sqlite3_bind_pointer(stmt, 1, &data, ROWS_POINTER, NULL);
        if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
        if (rc != SQLITE_DONE) {
            PyErr_Format((rc & 0xff) == SQLITE_CONSTRAINT ? integrity_error : operational_error,
                         "%s", sqlite3_errmsg(db));
            result = NULL;
        }
        sqlite3_finalize(stmt);
    }
    PyMem_Free(sql);
    if (data.order != NULL) PyBuffer_Release(&order_view);
    release(cols, ncols);
    Py_XINCREF(result);
    return result;
}

static PyObject *library_version(PyObject *self, PyObject *unused) {
    return PyUnicode_FromString(sqlite3_libversion());
}

static PyMethodDef methods[] = {
    {"insert", insert, METH_VARARGS,
     "insert(conn, head, rows, columns[, order]): run head (\"INSERT INTO t (a, b)\")\n"
     "followed by a SELECT of the columns ((kind, data[, extra]) tuples in the order of\n"
     "head's names, rows long); with order (int64 row numbers), only those rows, in that\n"
     "order."},
    {"library_version", library_version, METH_NOARGS,
     "The SQLite version this module calls (must equal sqlite3.sqlite_version)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_sqlite_writer", NULL, -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__sqlite_writer(void) {
    PyObject *sqlite3_module = PyImport_ImportModule("sqlite3");
    if (sqlite3_module == NULL) return NULL;
    connection_type = PyObject_GetAttrString(sqlite3_module, "Connection");
    operational_error = PyObject_GetAttrString(sqlite3_module, "OperationalError");
    integrity_error = PyObject_GetAttrString(sqlite3_module, "IntegrityError");
    programming_error = PyObject_GetAttrString(sqlite3_module, "ProgrammingError");
    Py_DECREF(sqlite3_module);
    if (connection_type == NULL || operational_error == NULL || integrity_error == NULL ||
        programming_error == NULL)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddIntConstant(m, "MAX_COLUMNS", MAX_COLUMNS) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
