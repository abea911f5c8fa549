/* Shared by the C request loop (_speedups.c) and the scripts' C path
 * (_scripting.c): the few value helpers both use when they do call()'s
 * bookkeeping on Python objects, in one place so the two paths count,
 * time and test flags the same way. */

#ifndef PYREDIS_PYATTR_H
#define PYREDIS_PYATTR_H

#include <Python.h>
#include <time.h>

/* The clock call() times commands with (time.monotonic_ns). */
static inline long long monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* v's truthiness, the common constants without a call; -1 on error. */
static inline int truth(PyObject *v)
{
    return v == Py_True ? 1 : v == Py_False || v == Py_None ? 0 : PyObject_IsTrue(v);
}

/* v + n as a new reference (v is an int counter); NULL on error. */
static inline PyObject *int_plus(PyObject *v, long long n)
{
    PyObject *add = PyLong_FromLongLong(n);
    if (add == NULL)
        return NULL;
    PyObject *sum = PyNumber_Add(v, add);
    Py_DECREF(add);
    return sum;
}

#endif
