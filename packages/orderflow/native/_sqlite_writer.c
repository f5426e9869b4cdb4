/*
 * orderflow.native._sqlite_writer: write columns into a table through a prepared
 * multi-row INSERT, on the caller's Python sqlite3 connection and transaction.
 *
 * The coordinator is the only writer and its writes are the serial part of a
 * sharded run; in Python every value becomes an object and every row a tuple
 * before sqlite3 binds them one by one. Here each row's values are bound
 * straight from the result's arrays (int64, float64 with NaN = NULL, text as
 * one blob plus offsets, instrument names by index), ROWS_PER_INSERT rows per
 * statement, so SQLite's per-statement work (AUTOINCREMENT bookkeeping) runs
 * once per statement too. Integer and blob columns may carry a uint8 mask of
 * NULL rows (the heatmap's empty rows have no first bin, its dense rows no
 * offsets).
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

static int bind_value(sqlite3_stmt *stmt, int param, const Column *col, Py_ssize_t row) {
    if (col->has_nulls && ((const uint8_t *)col->nulls.buf)[row]) return sqlite3_bind_null(stmt, param);
    switch (col->kind) {
    case K_INT64:
        return sqlite3_bind_int64(stmt, param, ((const int64_t *)col->data.buf)[row]);
    case K_FLOAT64: {
        double v = ((const double *)col->data.buf)[row];
        return v != v ? sqlite3_bind_null(stmt, param) : sqlite3_bind_double(stmt, param, v);
    }
    case K_TEXT: {
        const int64_t *o = col->offsets.buf;
        return sqlite3_bind_text(stmt, param, (const char *)col->data.buf + o[row],
                                 (int)(o[row + 1] - o[row]), SQLITE_STATIC);
    }
    case K_BLOB: {
        /* A NULL pointer would bind NULL: an empty blob is a zero-length blob. */
        const int64_t *o = col->offsets.buf;
        int64_t n = o[row + 1] - o[row];
        return n ? sqlite3_bind_blob(stmt, param, (const char *)col->data.buf + o[row], (int)n,
                                     SQLITE_STATIC)
                 : sqlite3_bind_zeroblob(stmt, param, 0);
    }
    case K_NAME: {
        int32_t c = ((const int32_t *)col->data.buf)[row];
        return sqlite3_bind_text(stmt, param, col->names[c], (int)col->name_lengths[c],
                                 SQLITE_STATIC);
    }
    }
    return SQLITE_MISUSE;
}

/* Bind rows [first, first + count) (of order, when given) to stmt and run it once. */
static int run_rows(sqlite3_stmt *stmt, const Column *cols, Py_ssize_t ncols, const int64_t *order,
                    Py_ssize_t first, Py_ssize_t count) {
    int param = 1;
    for (Py_ssize_t k = first; k < first + count; k++) {
        Py_ssize_t r = order ? (Py_ssize_t)order[k] : k;
        for (Py_ssize_t c = 0; c < ncols; c++) {
            int rc = bind_value(stmt, param++, &cols[c], r);
            if (rc != SQLITE_OK) return rc;
        }
    }
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static PyObject *insert(PyObject *self, PyObject *args) {
    PyObject *conn, *specs, *order_obj = Py_None;
    const char *sql_many, *sql_one;
    Py_ssize_t rows_per, rows;
    if (!PyArg_ParseTuple(args, "OssnnO!|O", &conn, &sql_many, &sql_one, &rows_per, &rows,
                          &PyTuple_Type, &specs, &order_obj))
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
    if (rows_per < 1 || rows < 0) {
        PyErr_SetString(PyExc_ValueError, "rows_per must be >= 1 and rows >= 0");
        return NULL;
    }
    Py_ssize_t ncols = PyTuple_GET_SIZE(specs);
    Column *cols = PyMem_Calloc(ncols ? ncols : 1, sizeof(Column));
    if (cols == NULL) return PyErr_NoMemory();
    for (Py_ssize_t c = 0; c < ncols; c++) {
        if (parse_column(PyTuple_GET_ITEM(specs, c), &cols[c], rows) < 0) {
            release(cols, c + 1);
            return NULL;
        }
    }
    /* The rows to write, in this order (a selection of the columns' rows), or all. */
    Py_buffer order_view;
    const int64_t *order = NULL;
    Py_ssize_t count = rows;
    if (order_obj != Py_None) {
        if (get_buffer(order_obj, &order_view, 8, -1, "an order") < 0) {
            release(cols, ncols);
            return NULL;
        }
        order = order_view.buf;
        count = order_view.len / 8;
        for (Py_ssize_t k = 0; k < count; k++) {
            if (order[k] < 0 || order[k] >= rows) {
                PyErr_SetString(PyExc_ValueError, "a row in the order out of range");
                PyBuffer_Release(&order_view);
                release(cols, ncols);
                return NULL;
            }
        }
    }
    sqlite3_stmt *many = NULL, *one = NULL;
    int rc = SQLITE_OK;
    Py_ssize_t whole = count - count % rows_per;
    if (whole) rc = sqlite3_prepare_v2(db, sql_many, -1, &many, NULL);
    if (rc == SQLITE_OK && whole < count) rc = sqlite3_prepare_v2(db, sql_one, -1, &one, NULL);
    if (rc == SQLITE_OK && many != NULL && sqlite3_bind_parameter_count(many) != rows_per * ncols)
        rc = SQLITE_RANGE;
    if (rc == SQLITE_OK && one != NULL && sqlite3_bind_parameter_count(one) != ncols)
        rc = SQLITE_RANGE;
    for (Py_ssize_t k = 0; rc == SQLITE_OK && k < whole; k += rows_per)
        rc = run_rows(many, cols, ncols, order, k, rows_per);
    for (Py_ssize_t k = whole; rc == SQLITE_OK && k < count; k++)
        rc = run_rows(one, cols, ncols, order, k, 1);
    PyObject *result = Py_None;
    if (rc != SQLITE_OK) {
        if (rc == SQLITE_RANGE)
            PyErr_SetString(PyExc_ValueError, "the INSERT's placeholders do not match the columns");
        else
            PyErr_Format((rc & 0xff) == SQLITE_CONSTRAINT ? integrity_error : operational_error,
                         "%s", sqlite3_errmsg(db));
        result = NULL;
    }
    sqlite3_finalize(many);
    sqlite3_finalize(one);
    if (order != NULL) PyBuffer_Release(&order_view);
    release(cols, ncols);
    Py_XINCREF(result);
    return result;
}

static PyObject *library_version(PyObject *self, PyObject *unused) {
    return PyUnicode_FromString(sqlite3_libversion());
}

static PyMethodDef methods[] = {
    {"insert", insert, METH_VARARGS,
     "insert(conn, sql_many, sql_one, rows_per, rows, columns[, order]): bind each row of\n"
     "the columns ((kind, data[, extra]) tuples in placeholder order, rows long) into\n"
     "sql_many, rows_per rows a statement, the remainder one row at a time into sql_one;\n"
     "with order (int64 row numbers), only those rows, in that order."},
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
    return PyModule_Create(&module);
}
