/* A script's common case in C (pyredis/scripting/host.py): the run of a
 * plain EVAL script and its plain redis.call()s.
 *
 * Caller.run is ScriptHost.run for an EVAL script without a shebang, not
 * *_RO, when nothing is checked before a run (no maxmemory, not a replica,
 * not a cluster node: EVALSHA and run_script decide): the RunContext, the
 * script client in the caller's database, in_exec (the effects are queued
 * as in EXEC), db.py's clock frozen, the script, everything put back
 * however it ended, and the reply of a result that is not a table (a
 * string, a number, nil, a boolean: emit's rules). The script is
 * called through Lua's C API, as luaCallFunction does: KEYS and ARGV
 * filled from the request, the function called with the state's error
 * handler (run_lua). lupa would convert every argument and the result and
 * give the GIL back and take it again for the call; here the GIL stays
 * held (a script is a command: the count hook's Python calls let other
 * threads in), and only a table result or an error goes back through
 * lupa (LuaState.finish_boxed).
 *
 * Caller itself is redis.call as a Python callable (what redis.pcall
 * calls); the Lua states get as redis.call a C function of this module
 * (lua_redis_call) that does the same without lupa's crossing. A call
 * costs the work of luaRedisGenericCommand + scriptCall + call().
 * For the common call - a plain command (no container, not noscript,
 * already looked up by ScriptHost._checked once: host.plain), with the
 * right arity, in a run nothing restricts (ctx.guarded: read-only, stale,
 * OOM at start, restricted user, cluster), REPL_ALL, no MONITOR, no client
 * tracking, the script client replying normally - this file does that work
 * without a Python frame, as _speedups.run_requests does for a client's
 * requests. Anything else, and every refusal, goes to ScriptHost.lua_call,
 * the general path in Python, in full (nothing is done here before the
 * decision), so the two cannot disagree on an error's text or order.
 *
 * What call() does for a command is all done here for the common call: the
 * handler, CommandError's reply, a handler bug's reply (Server._internal_error),
 * the duration and the counters, latency-tracking (hdr.record), the slow log
 * (Server.slow_call), error statistics (Server.error_replied, failed_calls),
 * propagation (Server.after_call, which queues the effects: the script runs
 * with in_exec set) and last_cmd. The reply is converted for Lua as lua_call
 * converts it: a bulk string cut out, a null bulk as false, an integer; any
 * other reply goes to ScriptHost.lua_reply (redisProtocolToLuaType, and the
 * raise of an error reply).
 *
 * Why C: the cost here is attribute traffic, which Python's specialized
 * bytecode does faster than C's generic attribute protocol; what makes C
 * pay is reading and writing the objects' __slots__ at their offsets
 * (Command, Client, RunContext, ScriptHost, the frozen clock), found once
 * from the classes' member descriptors.
 *
 * EvalSha is EVALSHA's handler: commands/scripting.py's evalsha without a
 * Python frame for the common request, which it starts with the C run.
 *
 * The Lua C API is lupa's own copy of Lua (lupa.lua51 exports it; bind_lua
 * looks it up there), so this module works on the very states lupa made.
 *
 * The module is optional: without it, redis.call is ScriptHost.lua_call and
 * every run ScriptHost.run. tests/test_scripting_fast.py runs the same
 * scripts through both.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "pyattr.h"
#include <structmember.h>
#include <math.h>
#include <string.h>
#include <time.h>
#include <dlfcn.h>

/* The Lua 5.1 C API, as lupa's lupa.lua51 module exports it (bind_lua
 * finds it there: the module is loaded with RTLD_LOCAL, so the names are
 * looked up in its handle). Lua 5.1's types and constants, from lua.h. */
typedef struct lua_State lua_State;
typedef int (*lua_CFunction)(lua_State *L);
#define LUA_REGISTRYINDEX (-10000)
#define LUA_GLOBALSINDEX (-10002)
#define lua_upvalueindex(i) (LUA_GLOBALSINDEX - (i))
#define LUA_MULTRET (-1)
#define LUA_TNIL 0
#define LUA_TBOOLEAN 1
#define LUA_TNUMBER 3
#define LUA_TSTRING 4
#define LUA_TTABLE 5

static struct {
    int (*gettop)(lua_State *);
    void (*settop)(lua_State *, int);
    void (*pushvalue)(lua_State *, int);
    void (*insert)(lua_State *, int);
    void (*replace)(lua_State *, int);
    int (*checkstack)(lua_State *, int);
    int (*type)(lua_State *, int);
    double (*tonumber)(lua_State *, int);
    int (*toboolean)(lua_State *, int);
    const char *(*tolstring)(lua_State *, int, size_t *);
    void *(*touserdata)(lua_State *, int);
    void (*pushnil)(lua_State *);
    void (*pushnumber)(lua_State *, double);
    void (*pushlstring)(lua_State *, const char *, size_t);
    void (*pushboolean)(lua_State *, int);
    void (*pushlightuserdata)(lua_State *, void *);
    void (*pushcclosure)(lua_State *, lua_CFunction, int);
    void (*rawgeti)(lua_State *, int, int);
    void (*rawset)(lua_State *, int);
    void (*rawseti)(lua_State *, int, int);
    void (*createtable)(lua_State *, int, int);
    void (*call)(lua_State *, int, int);
    int (*pcall)(lua_State *, int, int, int);
    int (*ref)(lua_State *, int);
    int (*error)(lua_State *);
} lua;
static int lua_bound;

static PyObject *s_reply, *s_internal_error, *s_slow_call, *s_error_replied, *s_after_call,
                *s_end_run, *s_binding, *s_finish_boxed, *three, *two;

/* An attribute read or written for every call. Command and Client keep
 * theirs in __slots__: those are read at their offsets (as _speedups does
 * for the client's gate), the rest (the server's, the run context's)
 * through the attribute protocol. */
typedef struct {
    PyObject *name;
    PyTypeObject *type;     /* the class whose slot it is, or NULL */
    Py_ssize_t offset;
} Attr;

static Attr a_ctx, a_guarded, a_repl, a_min_args, a_max_args, a_is_write, a_write_dirty,
            a_masterhost, a_write_denied_reason, a_extra_gate, a_monitors, a_tracking_on, a_client,
            a_reply_mode, a_propagate_targets, a_dirty, a_propagate_argv, a_proc,
            a_duration, a_calls, a_latency_tracking, a_slow_ns, a_failed_calls, a_out,
            a_also_propagated, a_last_cmd, a_db, a_resp, a_user, a_restricted, a_in_exec,
            a_state, a_now, a_time, a_clock, a_caller, a_funcname, a_read_only, a_eval_mode,
            a_argv, a_start, a_killed, a_timedout, a_stale, a_allow_oom, a_script_oom,
            a_cluster, a_allow_cross_slot;

static PyObject *get(PyObject *obj, Attr *a)
{
    if (a->type != NULL && PyObject_TypeCheck(obj, a->type)) {
        PyObject *v = *(PyObject **)((char *)obj + a->offset);
        if (v != NULL) {
            Py_INCREF(v);
            return v;
        }
    }
    return PyObject_GetAttr(obj, a->name);
}

static int set(PyObject *obj, Attr *a, PyObject *v)
{
    if (a->type != NULL && PyObject_TypeCheck(obj, a->type)) {
        PyObject **p = (PyObject **)((char *)obj + a->offset);
        Py_INCREF(v);
        Py_XSETREF(*p, v);
        return 0;
    }
    return PyObject_SetAttr(obj, a->name, v);
}

/* A's slot in ``type`` (a member descriptor of an object slot), if it is one. */
static int find_slot(Attr *a, PyTypeObject *type)
{
    PyObject *descr = PyObject_GetAttr((PyObject *)type, a->name);
    if (descr == NULL)
        return -1;
    if (Py_IS_TYPE(descr, &PyMemberDescr_Type)
            && ((PyMemberDescrObject *)descr)->d_member->type == T_OBJECT_EX) {
        a->offset = ((PyMemberDescrObject *)descr)->d_member->offset;
        Py_INCREF(type);
        Py_XSETREF(a->type, type);
    }
    Py_DECREF(descr);
    return 0;
}

/* obj.name truthiness; -1 on error. */
static int attr_true(PyObject *obj, Attr *name)
{
    PyObject *v = get(obj, name);
    if (v == NULL)
        return -1;
    int r = truth(v);
    Py_DECREF(v);
    return r;
}

/* obj.name is None; -1 on error. */
static int attr_none(PyObject *obj, Attr *name)
{
    PyObject *v = get(obj, name);
    if (v == NULL)
        return -1;
    int r = v == Py_None;
    Py_DECREF(v);
    return r;
}

/* obj.name as a C long long (an int attribute); -1 with an error set on error. */
static long long attr_ll(PyObject *obj, Attr *name, int *overflow)
{
    PyObject *v = get(obj, name);
    if (v == NULL)
        return -1;
    long long r = PyLong_AsLongLongAndOverflow(v, overflow);
    Py_DECREF(v);
    return r;
}

/* obj.name += n for a Python integer attribute. */
static int attr_add(PyObject *obj, Attr *name, long long n)
{
    PyObject *v = get(obj, name);
    if (v == NULL)
        return -1;
    PyObject *sum = int_plus(v, n);
    Py_DECREF(v);
    if (sum == NULL)
        return -1;
    int r = set(obj, name, sum);
    Py_DECREF(sum);
    return r;
}

typedef struct {
    PyObject_HEAD
    PyObject *host;         /* the ScriptHost */
    PyObject *server;
    PyObject *plain;        /* host.plain: name as scripts spell it -> Command */
    PyObject *general;      /* host.lua_call */
    PyObject *convert;      /* host.lua_reply */
    PyObject *command_error;    /* resp.CommandError */
    PyObject *record;       /* hdr.record */
    /* run's (setup_run): */
    PyTypeObject *run_context;  /* engine.RunContext */
    PyObject *frozen;       /* the host's frozen clock */
    PyObject *db_module;    /* pyredis.db, whose clock is frozen for a run */
    PyObject *clock_module; /* pyredis.clock */
    /* An error of the C redis.call, until reraise() raises it for lupa. */
    PyObject *exc_type, *exc_value, *exc_tb;
} Caller;

static int caller_traverse(Caller *self, visitproc visit, void *arg)
{
    Py_VISIT(self->host);
    Py_VISIT(self->server);
    Py_VISIT(self->plain);
    Py_VISIT(self->general);
    Py_VISIT(self->convert);
    Py_VISIT(self->command_error);
    Py_VISIT(self->record);
    Py_VISIT(self->run_context);
    Py_VISIT(self->frozen);
    Py_VISIT(self->db_module);
    Py_VISIT(self->clock_module);
    Py_VISIT(self->exc_type);
    Py_VISIT(self->exc_value);
    Py_VISIT(self->exc_tb);
    return 0;
}

static int caller_clear(Caller *self)
{
    Py_CLEAR(self->host);
    Py_CLEAR(self->server);
    Py_CLEAR(self->plain);
    Py_CLEAR(self->general);
    Py_CLEAR(self->convert);
    Py_CLEAR(self->command_error);
    Py_CLEAR(self->record);
    Py_CLEAR(self->run_context);
    Py_CLEAR(self->frozen);
    Py_CLEAR(self->db_module);
    Py_CLEAR(self->clock_module);
    Py_CLEAR(self->exc_type);
    Py_CLEAR(self->exc_value);
    Py_CLEAR(self->exc_tb);
    return 0;
}

static void caller_dealloc(Caller *self)
{
    PyObject_GC_UnTrack(self);
    caller_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int caller_init(Caller *self, PyObject *args, PyObject *kwds)
{
    PyObject *host, *server, *plain, *general, *convert, *command_error, *record;
    PyTypeObject *command_type, *client_type;
    if (!PyArg_ParseTuple(args, "OOO!OOOOO!O!:Caller", &host, &server, &PyDict_Type, &plain,
                          &general, &convert, &command_error, &record, &PyType_Type,
                          &command_type, &PyType_Type, &client_type))
        return -1;
    Attr *of_command[] = {&a_min_args, &a_max_args, &a_is_write, &a_proc, &a_duration,
                          &a_calls, &a_failed_calls};
    Attr *of_client[] = {&a_reply_mode, &a_propagate_argv, &a_out, &a_last_cmd, &a_db,
                         &a_resp, &a_user};
    for (size_t i = 0; i < sizeof of_command / sizeof *of_command; i++)
        if (find_slot(of_command[i], command_type) < 0)
            return -1;
    for (size_t i = 0; i < sizeof of_client / sizeof *of_client; i++)
        if (find_slot(of_client[i], client_type) < 0)
            return -1;
#define SET(field, v) Py_INCREF(v); Py_XSETREF(self->field, v)
    SET(host, host); SET(server, server); SET(plain, plain); SET(general, general);
    SET(convert, convert); SET(command_error, command_error); SET(record, record);
#undef SET
    return 0;
}

/* A number argument as luaArgsToRedisArgv writes it: %.17g
 * (PyOS_double_to_string is what Python's b'%.17g' uses). */
static PyObject *number_arg(double d)
{
    if (fabs(d) < 1e15 && d == trunc(d) && !(d == 0 && signbit(d))) {
        /* An integer (EXPIRE's 60): %.17g writes its digits alone. */
        char buf[24], *p = buf + sizeof buf;
        long long v = (long long)d;
        unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
        do {
            *--p = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (v < 0)
            *--p = '-';
        return PyBytes_FromStringAndSize(p, buf + sizeof buf - p);
    }
    char *s = PyOS_double_to_string(d, 'g', 17, 0, NULL);
    if (s == NULL)
        return NULL;
    PyObject *b = PyBytes_FromString(s);
    PyMem_Free(s);
    return b;
}

/* luaArgsToRedisArgv: strings as they are, numbers as %.17g (Lua numbers
 * are doubles, which lupa hands over as ints when they are integral). A
 * new list, or NULL without an error set when an argument needs the
 * general path (another type, a number that is not finite). */
static PyObject *lua_argv(PyObject *args)
{
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    PyObject *argv = PyList_New(n);
    if (argv == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *a = PyTuple_GET_ITEM(args, i);
        if (PyBytes_CheckExact(a)) {
            Py_INCREF(a);
            PyList_SET_ITEM(argv, i, a);
            continue;
        }
        double d;
        if (PyLong_CheckExact(a)) {
            d = PyLong_AsDouble(a);
            if (d == -1.0 && PyErr_Occurred()) {
                PyErr_Clear();
                Py_DECREF(argv);
                return NULL;
            }
        } else if (PyFloat_CheckExact(a)) {
            d = PyFloat_AS_DOUBLE(a);
        } else {
            Py_DECREF(argv);
            return NULL;
        }
        if (!isfinite(d)) {
            Py_DECREF(argv);
            return NULL;
        }
        PyObject *b = number_arg(d);
        if (b == NULL) {
            Py_DECREF(argv);
            return NULL;
        }
        PyList_SET_ITEM(argv, i, b);
    }
    return argv;
}

/* lua_argv for the arguments on a Lua stack (1..n), read in place. */
static PyObject *lua_stack_argv(lua_State *L, int n)
{
    PyObject *argv = PyList_New(n);
    if (argv == NULL)
        return NULL;
    for (int i = 0; i < n; i++) {
        PyObject *b;
        int t = lua.type(L, i + 1);
        if (t == LUA_TSTRING) {
            size_t len;
            const char *p = lua.tolstring(L, i + 1, &len);
            b = PyBytes_FromStringAndSize(p, (Py_ssize_t)len);
        } else if (t == LUA_TNUMBER && isfinite(lua.tonumber(L, i + 1))) {
            b = number_arg(lua.tonumber(L, i + 1));
        } else {
            Py_DECREF(argv);
            return NULL;
        }
        if (b == NULL) {
            Py_DECREF(argv);
            return NULL;
        }
        PyList_SET_ITEM(argv, i, b);
    }
    return argv;
}

/* Whether the call can take the fast path: 1 yes (and ``*cmdp`` is the
 * command, ``*scp`` the script client, new references), 0 no, -1 error.
 * Nothing is changed before the answer is yes, but ctx.write_dirty for a
 * first write (after every check, as lua_call). */
static int fast_call_ok(Caller *self, PyObject *ctx, PyObject *argv, PyObject **cmdp,
                        PyObject **scp)
{
    PyObject *cmd = PyDict_GetItemWithError(self->plain, PyList_GET_ITEM(argv, 0));
    if (cmd == NULL)
        return PyErr_Occurred() ? -1 : 0;
    int r = attr_true(ctx, &a_guarded);
    if (r != 0)
        return r < 0 ? -1 : 0;
    int overflow = 0;
    long long repl = attr_ll(ctx, &a_repl, &overflow);
    if (repl == -1 && PyErr_Occurred())
        return -1;
    if (repl != 3 || overflow)
        return 0;
    Py_ssize_t n = PyList_GET_SIZE(argv);
    long long lo = attr_ll(cmd, &a_min_args, &overflow);
    if (lo == -1 && PyErr_Occurred())
        return -1;
    long long hi = attr_ll(cmd, &a_max_args, &overflow);
    if (hi == -1 && PyErr_Occurred())
        return -1;
    if (n < lo || n > hi || overflow)
        return 0;
    PyObject *server = self->server;
    if ((r = attr_true(server, &a_monitors)) != 0)
        return r < 0 ? -1 : 0;
    if ((r = attr_true(server, &a_tracking_on)) != 0)
        return r < 0 ? -1 : 0;
    PyObject *sc = get(self->host, &a_client);
    if (sc == NULL)
        return -1;
    if (sc == Py_None) {
        Py_DECREF(sc);
        return 0;
    }
    long long mode = attr_ll(sc, &a_reply_mode, &overflow);
    if (mode != 0 || overflow) {
        Py_DECREF(sc);
        return mode == -1 && PyErr_Occurred() ? -1 : 0;
    }
    int write = attr_true(cmd, &a_is_write);
    if (write < 0) {
        Py_DECREF(sc);
        return -1;
    }
    if (write) {
        int dirty = attr_true(ctx, &a_write_dirty);
        if (dirty < 0) {
            Py_DECREF(sc);
            return -1;
        }
        if (!dirty) {
            /* A first write: refused on a read-only replica, under
             * MISCONF or without min-replicas-to-write's good replicas
             * (a gate of the replication's: lua_call says so); none of
             * them here. */
            int a = attr_none(server, &a_masterhost);
            int b = a > 0 ? attr_none(server, &a_write_denied_reason) : a;
            int g = b > 0 ? attr_none(server, &a_extra_gate) : b;
            if (g <= 0) {
                Py_DECREF(sc);
                return g < 0 ? -1 : 0;
            }
            if (set(ctx, &a_write_dirty, Py_True) < 0) {
                Py_DECREF(sc);
                return -1;
            }
        }
    }
    Py_INCREF(cmd);
    *cmdp = cmd;
    *scp = sc;
    return 1;
}

/* The handler's run, as call() does it: the reply (a new reference, maybe
 * None) or NULL on an error that is not the command's. */
static PyObject *run_handler(Caller *self, PyObject *sc, PyObject *cmd, PyObject *argv)
{
    PyObject *proc = get(cmd, &a_proc);
    if (proc == NULL)
        return NULL;
    PyObject *callargs[2] = {sc, argv};
    PyObject *reply = PyObject_Vectorcall(proc, callargs, 2, NULL);
    Py_DECREF(proc);
    if (reply != NULL)
        return reply;
    if (PyErr_ExceptionMatches(self->command_error)) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyErr_NormalizeException(&type, &value, &tb);
        reply = value ? PyObject_GetAttr(value, s_reply) : NULL;
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        return reply;
    }
    if (!PyErr_ExceptionMatches(PyExc_Exception))
        return NULL;
    /* A handler bug must not take the server down (call()'s except). */
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL)
        PyException_SetTraceback(value, tb);
#if PY_VERSION_HEX >= 0x030B0000
    /* Being handled, as in an except clause: the log shows its traceback. */
    PyObject *outer = PyErr_GetHandledException();
    PyErr_SetHandledException(value);
#endif
    reply = value ? PyObject_CallMethodObjArgs(self->server, s_internal_error, sc, cmd, value,
                                               NULL) : NULL;
#if PY_VERSION_HEX >= 0x030B0000
    PyErr_SetHandledException(outer);
    Py_XDECREF(outer);
#endif
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return reply;
}

/* call()'s bookkeeping after the handler ran for ``d`` ns. 0 or -1. */
static int after_handler(Caller *self, PyObject *sc, PyObject *cmd, PyObject *argv,
                         PyObject *reply, long long d)
{
    PyObject *server = self->server;
    if (attr_add(cmd, &a_duration, d) < 0 || attr_add(cmd, &a_calls, 1) < 0)
        return -1;
    int r = attr_true(server, &a_latency_tracking);
    if (r < 0)
        return -1;
    if (r) {
        PyObject *us = PyLong_FromLongLong(d / 1000);
        if (us == NULL)
            return -1;
        PyObject *rargs[2] = {cmd, us};
        PyObject *res = PyObject_Vectorcall(self->record, rargs, 2, NULL);
        Py_DECREF(us);
        if (res == NULL)
            return -1;
        Py_DECREF(res);
    }
    int overflow = 0;
    long long slow_ns = attr_ll(server, &a_slow_ns, &overflow);
    if (slow_ns == -1 && PyErr_Occurred())
        return -1;
    if (!overflow && d >= slow_ns) {
        PyObject *dd = PyLong_FromLongLong(d);
        if (dd == NULL)
            return -1;
        PyObject *res = PyObject_CallMethodObjArgs(server, s_slow_call, sc, cmd, argv, dd, NULL);
        Py_DECREF(dd);
        if (res == NULL)
            return -1;
        Py_DECREF(res);
    }
    int err = 0;
    if (PyBytes_Check(reply))
        err = PyBytes_GET_SIZE(reply) > 0 && PyBytes_AS_STRING(reply)[0] == '-';
    else if (PyByteArray_Check(reply))
        err = PyByteArray_GET_SIZE(reply) > 0 && PyByteArray_AS_STRING(reply)[0] == '-';
    if (err) {
        PyObject *res = PyObject_CallMethodOneArg(server, s_error_replied, reply);
        if (res == NULL)
            return -1;
        Py_DECREF(res);
        if (attr_add(cmd, &a_failed_calls, 1) < 0)
            return -1;
    }
    return 0;
}

/* The common replies' Lua values: a bulk string's contents (*p, *len),
 * false for a null bulk, an integer (*v). Anything else is lua_reply's. */
enum { R_OTHER, R_FALSE, R_BULK, R_INT };

static int simple_reply(PyObject *reply, const char **p, Py_ssize_t *len, long long *v)
{
    const char *s = PyBytes_AS_STRING(reply);
    Py_ssize_t n = PyBytes_GET_SIZE(reply);
    if (n >= 4 && s[0] == '$') {
        if (s[1] == '-')
            return R_FALSE;
        const char *nl = memchr(s, '\n', n);
        if (nl != NULL && nl - s + 1 <= n - 2) {
            *p = nl + 1;
            *len = n - 2 - (nl + 1 - s);
            return R_BULK;
        }
    } else if (n >= 4 && n <= 23 && s[0] == ':') {
        /* (At most 19 digits and a sign: no overflow.) */
        const char *q = s + 1, *end = s + n - 2;
        int neg = *q == '-';
        if (neg)
            q++;
        long long x = 0;
        if (q < end) {
            for (; q < end && *q >= '0' && *q <= '9'; q++)
                x = x * 10 + (*q - '0');
            if (q == end && (end - s - 1 - neg) <= 18) {
                *v = neg ? -x : x;
                return R_INT;
            }
        }
    }
    return R_OTHER;
}

/* The reply as a Lua value for lupa: a bulk string's contents, false for a
 * null bulk, an integer; the rest through host.lua_reply. */
static PyObject *to_lua(Caller *self, PyObject *reply)
{
    const char *p = NULL;
    Py_ssize_t len = 0;
    long long v = 0;
    switch (simple_reply(reply, &p, &len, &v)) {
    case R_FALSE:
        Py_RETURN_FALSE;
    case R_BULK:
        return PyBytes_FromStringAndSize(p, len);
    case R_INT:
        return PyLong_FromLongLong(v);
    }
    return PyObject_CallOneArg(self->convert, reply);
}

/* The common call, once fast_call_ok said yes: call()'s work for it. The
 * reply (bytes, or None when there is none) or NULL on an error. */
static PyObject *run_call(Caller *self, PyObject *sc, PyObject *cmd, PyObject *argv)
{
    PyObject *server = self->server, *dirty = NULL, *reply = NULL, *out = NULL;
    PyObject *result = NULL;
    int has_targets = attr_true(server, &a_propagate_targets);
    if (has_targets < 0)
        goto done;
    if (has_targets && (dirty = get(server, &a_dirty)) == NULL)
        goto done;
    if (set(sc, &a_propagate_argv, Py_None) < 0)
        goto done;
    long long start = monotonic_ns();
    reply = run_handler(self, sc, cmd, argv);
    long long d = monotonic_ns() - start;
    if (reply == NULL || after_handler(self, sc, cmd, argv, reply, d) < 0)
        goto done;
    /* The reply: the handler's, after whatever it queued itself. */
    out = get(sc, &a_out);
    if (out == NULL)
        goto done;
    if (!PyList_Check(out)) {
        PyErr_SetString(PyExc_TypeError, "the script client's out must be a list");
        goto done;
    }
    if (PyList_GET_SIZE(out) || !(reply == Py_None || PyBytes_CheckExact(reply))) {
        if (reply != Py_None && PyList_Append(out, reply) < 0)
            goto done;
        Py_SETREF(reply, Py_None);
        Py_INCREF(Py_None);
        if (PyList_GET_SIZE(out)) {
            PyObject *empty = PyBytes_FromStringAndSize(NULL, 0);
            if (empty == NULL)
                goto done;
            PyObject *joined = PyObject_CallMethod(empty, "join", "O", out);
            Py_DECREF(empty);
            if (joined == NULL || PyList_SetSlice(out, 0, PyList_GET_SIZE(out), NULL) < 0) {
                Py_XDECREF(joined);
                goto done;
            }
            Py_SETREF(reply, joined);
        }
    }
    if (has_targets) {
        PyObject *now = get(server, &a_dirty);
        if (now == NULL)
            goto done;
        int changed = PyObject_RichCompareBool(now, dirty, Py_NE);
        Py_DECREF(now);
        if (changed == 0)
            changed = attr_true(server, &a_also_propagated);
        if (changed < 0)
            goto done;
        if (changed) {
            PyObject *res = PyObject_CallMethodObjArgs(server, s_after_call, sc, cmd, argv,
                                                       dirty, NULL);
            if (res == NULL)
                goto done;
            Py_DECREF(res);
        }
    }
    if (set(sc, &a_last_cmd, cmd) < 0)
        goto done;
    result = reply;
    reply = NULL;
done:
    Py_XDECREF(reply);
    Py_XDECREF(out);
    Py_XDECREF(dirty);
    return result;
}

/* redis.call as a Python callable (lupa's crossing): what redis.pcall
 * calls, and redis.call without the Lua C API. */
static PyObject *caller_call(Caller *self, PyObject *args, PyObject *kwargs)
{
    if ((kwargs != NULL && PyDict_GET_SIZE(kwargs)) || PyTuple_GET_SIZE(args) == 0)
        return PyObject_Call(self->general, args, kwargs);
    PyObject *ctx = get(self->host, &a_ctx);
    if (ctx == NULL)
        return NULL;
    if (ctx == Py_None) {
        Py_DECREF(ctx);
        return PyObject_Call(self->general, args, NULL);
    }
    PyObject *argv = lua_argv(args);
    if (argv == NULL) {
        Py_DECREF(ctx);
        return PyErr_Occurred() ? NULL : PyObject_Call(self->general, args, NULL);
    }
    PyObject *cmd = NULL, *sc = NULL;
    int ok = fast_call_ok(self, ctx, argv, &cmd, &sc);
    Py_DECREF(ctx);
    if (ok <= 0) {
        Py_DECREF(argv);
        return ok < 0 ? NULL : PyObject_Call(self->general, args, NULL);
    }
    PyObject *reply = run_call(self, sc, cmd, argv);
    Py_DECREF(argv);
    Py_DECREF(cmd);
    Py_DECREF(sc);
    if (reply == NULL || reply == Py_None)
        return reply;
    PyObject *result = Py_None;
    if (PyBytes_GET_SIZE(reply) > 0)
        result = to_lua(self, reply);
    else
        Py_INCREF(result);
    Py_DECREF(reply);
    return result;
}

/* -- redis.call as a Lua C function ------------------------------------------
 *
 * A call through lupa costs a crossing: the arguments made Python objects
 * and a tuple, the runtime's lock, the GIL given back and taken again, the
 * result converted back. The Lua states get instead, as redis.call, a C
 * closure of this module (pyredis_lua_open makes it; Lua loads it with
 * package.loadlib, as it loads any C library): it reads its arguments off
 * the Lua stack and pushes the common replies onto it. Everything else
 * goes to the Python callables through lupa, by a Lua call from here, with
 * the arguments as they came: the general path (ScriptHost.lua_call) for a
 * call the fast path does not take, lua_reply for a reply that is not a
 * bulk string, a null or an integer, and reraise for a Python error. A
 * Lua error raised there unwinds through this function, so nothing Python
 * is held when it calls (err_handler skips its frame to find the
 * script's line). */

/* What the C run needs of one Lua state (LuaState.binding): the state and
 * the registry references of what fast.open was given. */
typedef struct {
    PyObject_HEAD
    lua_State *L;
    int sg, errh, running, fns, box;
} Binding;

static PyTypeObject BindingType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pyredis._scripting.Binding",
    .tp_doc = "A Lua state as the C run sees it (made by Caller.open_lua)",
    .tp_basicsize = sizeof(Binding),
    .tp_flags = Py_TPFLAGS_DEFAULT,
};

/* Between open_lua and the bootstrap's fast.open, which runs on the same
 * thread while lupa has let the GIL go: per thread, so that servers of
 * other threads (embed.py) making their states at the same time cannot
 * swap them. */
static _Thread_local Caller *opening;
static _Thread_local Binding opened;
static _Thread_local int opened_ok;

enum { HAND_OVER, DONE, CONVERT, RERAISE, RAISE };

/* An error reply as the Lua error redis.call raises (luaPushErrorBuff, then
 * luaError): the table {err = "CODE message", ignore_error_stats_update =
 * true} on the stack, the command having counted its error already. Made
 * here rather than raised from Python through lupa: lupa keeps an entry
 * of its Python references table for every Python exception that crosses
 * into Lua, and never frees it (about 20 bytes of Lua heap per error).
 * engine.reply_to_lua's _error_message is the same rule. */
static void push_error_reply(lua_State *L, const char *s, Py_ssize_t len)
{
    len -= 2;                       /* the reply without its CRLF */
    const char *sp = memchr(s, ' ', (size_t)len);
    const char *code = "ERR", *msg = s + 1;
    size_t code_len = 3, msg_len = (size_t)len - 1;
    if (sp != NULL) {
        code = s + 1;
        code_len = (size_t)(sp - s - 1);
        msg = sp + 1;
        msg_len = (size_t)(s + len - msg);
    }
    while (msg_len && (*msg == '\r' || *msg == '\n')) {
        msg++;
        msg_len--;
    }
    while (msg_len && (msg[msg_len - 1] == '\r' || msg[msg_len - 1] == '\n'))
        msg_len--;
    char small[256];
    size_t total = code_len + 1 + msg_len;
    char *buf = total <= sizeof small ? small : PyMem_Malloc(total);
    lua.createtable(L, 0, 2);
    lua.pushlstring(L, "err", 3);
    if (buf != NULL) {
        memcpy(buf, code, code_len);
        buf[code_len] = ' ';
        memcpy(buf + code_len + 1, msg, msg_len);
        lua.pushlstring(L, buf, total);
        if (buf != small)
            PyMem_Free(buf);
    } else {
        lua.pushlstring(L, "ERR out of memory", 17);
    }
    lua.rawset(L, -3);
    lua.pushlstring(L, "ignore_error_stats_update", 25);
    lua.pushboolean(L, 1);
    lua.rawset(L, -3);
}

/* upvalues: the Caller (light userdata), lua_call (general), lua_reply,
 * reraise, the Caller as lupa wraps it (which keeps it alive). */
static int lua_redis_call(lua_State *L)
{
    Caller *self = (Caller *)lua.touserdata(L, lua_upvalueindex(1));
    int n = lua.gettop(L), then = HAND_OVER, top = 0;
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *ctx = NULL, *argv = NULL, *cmd = NULL, *sc = NULL, *reply = NULL;
    if (n == 0)
        goto release;
    if ((ctx = get(self->host, &a_ctx)) == NULL)
        goto error;
    if (ctx == Py_None)
        goto release;
    if ((argv = lua_stack_argv(L, n)) == NULL) {
        if (PyErr_Occurred())
            goto error;
        goto release;
    }
    int ok = fast_call_ok(self, ctx, argv, &cmd, &sc);
    if (ok < 0)
        goto error;
    if (ok == 0)
        goto release;
    if ((reply = run_call(self, sc, cmd, argv)) == NULL)
        goto error;
    /* (The stack as the command left it: lupa empties the current frame's
     * stack when Python calls into Lua.) */
    top = lua.gettop(L);
    then = DONE;
    if (reply == Py_None || PyBytes_GET_SIZE(reply) == 0) {
        lua.pushnil(L);
    } else {
        const char *p = NULL;
        Py_ssize_t len = 0;
        long long v = 0;
        switch (simple_reply(reply, &p, &len, &v)) {
        case R_FALSE:
            lua.pushboolean(L, 0);
            break;
        case R_BULK:
            lua.pushlstring(L, p, (size_t)len);
            break;
        case R_INT:
            lua.pushnumber(L, (double)v);
            break;
        default:
            if (PyBytes_AS_STRING(reply)[0] == '-' && PyBytes_GET_SIZE(reply) >= 3) {
                push_error_reply(L, PyBytes_AS_STRING(reply), PyBytes_GET_SIZE(reply));
                then = RAISE;
                break;
            }
            lua.pushlstring(L, PyBytes_AS_STRING(reply), (size_t)PyBytes_GET_SIZE(reply));
            then = CONVERT;
        }
    }
    goto release;
error:
    then = RERAISE;
    Py_CLEAR(self->exc_type);
    Py_CLEAR(self->exc_value);
    Py_CLEAR(self->exc_tb);
    PyErr_Fetch(&self->exc_type, &self->exc_value, &self->exc_tb);
release:
    if (then == HAND_OVER && argv != NULL) {
        /* The arguments as they were read, numbers written out: lupa would
         * hand -0 over as the integer 0 (luaArgsToRedisArgv writes -0). */
        for (int i = 0; i < n; i++) {
            PyObject *a = PyList_GET_ITEM(argv, i);
            lua.pushlstring(L, PyBytes_AS_STRING(a), (size_t)PyBytes_GET_SIZE(a));
            lua.replace(L, i + 1);
        }
    }
    Py_XDECREF(ctx);
    Py_XDECREF(argv);
    Py_XDECREF(cmd);
    Py_XDECREF(sc);
    Py_XDECREF(reply);
    PyGILState_Release(gil);
    switch (then) {
    case DONE:
        return 1;
    case CONVERT:
        lua.pushvalue(L, lua_upvalueindex(3));
        lua.insert(L, -2);
        lua.call(L, 1, LUA_MULTRET);
        return lua.gettop(L) - top;
    case RERAISE:
        lua.pushvalue(L, lua_upvalueindex(4));
        lua.call(L, 0, 0);
        return 0;
    case RAISE:
        return lua.error(L);
    }
    lua.pushvalue(L, lua_upvalueindex(2));
    lua.insert(L, 1);
    lua.call(L, n, LUA_MULTRET);
    return lua.gettop(L);
}

/* fast.open(0.5, SG, err_handler, running, fns, box, general, convert,
 * reraise, caller), from the bootstrap chunk of the state open_lua is
 * making: the C redis.call, and the rest kept in the registry for the C
 * run. Nothing (the Python redis.call stays) when it is not called so.
 * No Python here: lupa runs Lua without the GIL. */
__attribute__((visibility("default"))) int pyredis_lua_open(lua_State *L)
{
    if (!lua_bound || opening == NULL || lua.gettop(L) != 10 || lua.type(L, 1) != LUA_TNUMBER
            || lua.tonumber(L, 1) != 0.5 || !lua.checkstack(L, 8))
        return 0;
    int refs[5];
    for (int i = 0; i < 5; i++) {
        lua.pushvalue(L, 2 + i);
        refs[i] = lua.ref(L, LUA_REGISTRYINDEX);
    }
    opened.L = L;
    opened.sg = refs[0];
    opened.errh = refs[1];
    opened.running = refs[2];
    opened.fns = refs[3];
    opened.box = refs[4];
    opened_ok = 1;
    lua.pushlightuserdata(L, opening);
    for (int i = 7; i <= 10; i++)
        lua.pushvalue(L, i);
    lua.pushcclosure(L, lua_redis_call, 5);
    return 1;
}

/* open_lua(boot, args): boot(*args) for a new Lua state whose bootstrap
 * calls fast.open; (its results, the state's Binding or None). */
static PyObject *caller_open_lua(Caller *self, PyObject *args)
{
    PyObject *boot, *bargs;
    if (!PyArg_ParseTuple(args, "OO!:open_lua", &boot, &PyTuple_Type, &bargs))
        return NULL;
    opening = self;
    opened_ok = 0;
    PyObject *res = PyObject_Call(boot, bargs, NULL);
    opening = NULL;
    if (res == NULL)
        return NULL;
    PyObject *binding = Py_None;
    Py_INCREF(binding);
    if (opened_ok) {
        Binding *b = PyObject_New(Binding, &BindingType);
        if (b == NULL) {
            Py_DECREF(res);
            return NULL;
        }
        b->L = opened.L;
        b->sg = opened.sg;
        b->errh = opened.errh;
        b->running = opened.running;
        b->fns = opened.fns;
        b->box = opened.box;
        Py_SETREF(binding, (PyObject *)b);
    }
    opened_ok = 0;
    return Py_BuildValue("(NN)", res, binding);
}

/* The error the C redis.call kept, raised (for lupa to hand to Lua). */
static PyObject *caller_reraise(Caller *self, PyObject *unused)
{
    if (self->exc_type == NULL) {
        PyErr_SetString(PyExc_SystemError, "no error to raise");
        return NULL;
    }
    PyErr_Restore(self->exc_type, self->exc_value, self->exc_tb);
    self->exc_type = self->exc_value = self->exc_tb = NULL;
    return NULL;
}

/* bind_lua(path of lupa.lua51): whether the Lua C API was found there. */
static PyObject *bind_lua(PyObject *module, PyObject *arg)
{
    PyObject *path;
    if (!PyUnicode_FSConverter(arg, &path))
        return NULL;
    void *h = dlopen(PyBytes_AS_STRING(path), RTLD_NOW | RTLD_NOLOAD);
    Py_DECREF(path);
    if (h == NULL)
        Py_RETURN_FALSE;
    int ok = 1;
#define SYM(field, name) if ((*(void **)&lua.field = dlsym(h, name)) == NULL) ok = 0
    SYM(gettop, "lua_gettop"); SYM(settop, "lua_settop"); SYM(pushvalue, "lua_pushvalue");
    SYM(insert, "lua_insert"); SYM(replace, "lua_replace"); SYM(checkstack, "lua_checkstack");
    SYM(type, "lua_type"); SYM(tonumber, "lua_tonumber"); SYM(tolstring, "lua_tolstring");
    SYM(toboolean, "lua_toboolean");
    SYM(touserdata, "lua_touserdata"); SYM(pushnil, "lua_pushnil");
    SYM(pushnumber, "lua_pushnumber"); SYM(pushlstring, "lua_pushlstring");
    SYM(pushboolean, "lua_pushboolean"); SYM(pushlightuserdata, "lua_pushlightuserdata");
    SYM(pushcclosure, "lua_pushcclosure"); SYM(rawgeti, "lua_rawgeti");
    SYM(rawset, "lua_rawset"); SYM(rawseti, "lua_rawseti");
    SYM(createtable, "lua_createtable"); SYM(call, "lua_call"); SYM(pcall, "lua_pcall");
    SYM(ref, "luaL_ref"); SYM(error, "lua_error");
#undef SYM
    /* (The handle stays open: lupa's module is never unloaded.) */
    lua_bound = ok;
    return PyBool_FromLong(ok);
}

/* "<type><v>\r\n" into buf (32 bytes): its length. (snprintf costs more
 * than the rest of a reply's making.) */
static int format_ll(char *buf, char type, long long v)
{
    char digits[24];
    int n = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    int len = 0;
    buf[len++] = type;
    if (v < 0)
        buf[len++] = '-';
    while (n)
        buf[len++] = digits[--n];
    buf[len++] = '\r';
    buf[len++] = '\n';
    return len;
}

/* The fields of a RunContext, in the order run fills them. */
static Attr *run_context_fields[] = {
    &a_caller, &a_funcname, &a_read_only, &a_eval_mode, &a_argv, &a_start, &a_guarded,
    &a_write_dirty, &a_repl, &a_killed, &a_timedout, &a_stale, &a_allow_oom, &a_script_oom,
    &a_cluster, &a_allow_cross_slot,
};
#define N_FIELDS (sizeof run_context_fields / sizeof *run_context_fields)

/* setup_run(RunContext, frozen clock, db module, clock module). */
static PyObject *caller_setup_run(Caller *self, PyObject *args)
{
    PyTypeObject *rc;
    PyObject *frozen, *dbm, *cm;
    if (!PyArg_ParseTuple(args, "O!OOO:setup_run", &PyType_Type, &rc, &frozen, &dbm, &cm))
        return NULL;
    for (size_t i = 0; i < N_FIELDS; i++) {
        if (find_slot(run_context_fields[i], rc) < 0)
            return NULL;
        if (run_context_fields[i]->type != rc) {
            PyErr_Format(PyExc_TypeError, "RunContext.%U is not a slot",
                         run_context_fields[i]->name);
            return NULL;
        }
    }
    if (find_slot(&a_now, Py_TYPE(frozen)) < 0 || find_slot(&a_ctx, Py_TYPE(self->host)) < 0
            || find_slot(&a_state, Py_TYPE(self->host)) < 0
            || find_slot(&a_client, Py_TYPE(self->host)) < 0)
        return NULL;
    Py_INCREF(rc);
    Py_XSETREF(self->run_context, rc);
    Py_INCREF(frozen);
    Py_XSETREF(self->frozen, frozen);
    Py_INCREF(dbm);
    Py_XSETREF(self->db_module, dbm);
    Py_INCREF(cm);
    Py_XSETREF(self->clock_module, cm);
    Py_RETURN_NONE;
}

/* KEYS or ARGV (name) in SG (at the top of L's stack): a new table of
 * argv[from:from + count], as Redis makes them for every run. */
static void set_array(lua_State *L, const char *name, PyObject *argv, Py_ssize_t from,
                      Py_ssize_t count)
{
    lua.pushlstring(L, name, 4);
    lua.createtable(L, (int)count, 0);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *a = PyList_GET_ITEM(argv, from + i);
        lua.pushlstring(L, PyBytes_AS_STRING(a), (size_t)PyBytes_GET_SIZE(a));
        lua.rawseti(L, -2, (int)(i + 1));
    }
    lua.rawset(L, -3);
}

/* running[1] = on: the count hook asks Python only while a script runs. */
static void set_running(lua_State *L, Binding *b, int on)
{
    lua.rawgeti(L, LUA_REGISTRYINDEX, b->running);
    lua.pushboolean(L, on);
    lua.rawseti(L, -2, 1);
    lua.settop(L, -2);
}

/* A bulk reply of s[:n]. */
static PyObject *bulk_reply(const char *s, Py_ssize_t n)
{
    char head[32];
    int h = format_ll(head, '$', n);
    PyObject *r = PyBytes_FromStringAndSize(NULL, h + n + 2);
    if (r != NULL) {
        char *p = PyBytes_AS_STRING(r);
        memcpy(p, head, h);
        memcpy(p + h, s, n);
        memcpy(p + h + n, "\r\n", 2);
    }
    return r;
}

/* A number result: an integer reply, as C converts a double to a long long
 * on x86-64 (NaN, the infinities and what is out of range give LLONG_MIN). */
static PyObject *number_reply(double d)
{
    long long v;
    d = trunc(d);
    if (!isfinite(d) || d >= 9223372036854775808.0 || d < -9223372036854775808.0)
        v = LLONG_MIN;
    else
        v = (long long)d;
    char buf[32];
    return PyBytes_FromStringAndSize(buf, format_ll(buf, ':', v));
}

/* What emit (engine.py) makes of a result that is not a string, a number
 * or a table: a boolean as the caller's RESP (resp) and the script's
 * (redis.setresp: sresp) say, anything else a null. */
static PyObject *scalar_reply(int t, int on, long resp, long sresp)
{
    const char *r;
    if (t != LUA_TBOOLEAN)
        r = resp == 3 ? "_\r\n" : "$-1\r\n";
    else if (sresp == 2)
        r = on ? ":1\r\n" : resp == 2 ? "$-1\r\n" : "_\r\n";
    else if (resp == 3)
        r = on ? "#t\r\n" : "#f\r\n";
    else
        r = on ? ":1\r\n" : ":0\r\n";
    return PyBytes_FromString(r);
}

/* The script itself, as the Lua run() of engine.py runs it, from C: KEYS
 * and ARGV set, the function called with err_handler (running set around
 * it). A result that is not a table is made the reply here (*made), as
 * finish would make it; a table, or an error, is left in box for
 * state.finish_boxed, whose result is returned. NULL with *made set, or on
 * an error. */
static PyObject *run_lua(Binding *b, PyObject *state, PyObject *c, PyObject *sc, int ref,
                         PyObject *argv, Py_ssize_t nkeys, PyObject **made)
{
    lua_State *L = b->L;
    int base = lua.gettop(L);
    if (!lua.checkstack(L, 8))
        return PyErr_NoMemory();
    Py_ssize_t nargs = PyList_GET_SIZE(argv) - 3;
    lua.rawgeti(L, LUA_REGISTRYINDEX, b->sg);
    set_array(L, "KEYS", argv, 3, nkeys);
    set_array(L, "ARGV", argv, 3 + nkeys, nargs - nkeys);
    lua.settop(L, base);
    lua.rawgeti(L, LUA_REGISTRYINDEX, b->errh);
    lua.rawgeti(L, LUA_REGISTRYINDEX, b->fns);
    lua.rawgeti(L, -1, ref);
    lua.replace(L, -2);
    set_running(L, b, 1);
    int status = lua.pcall(L, 0, 1, base + 1);
    set_running(L, b, 0);
    int t = lua.type(L, -1);
    if (status == 0 && t == LUA_TSTRING) {
        size_t len;
        const char *s = lua.tolstring(L, -1, &len);
        *made = bulk_reply(s, (Py_ssize_t)len);
        lua.settop(L, base);
        return NULL;
    }
    if (status == 0 && t == LUA_TNUMBER) {
        *made = number_reply(lua.tonumber(L, -1));
        lua.settop(L, base);
        return NULL;
    }
    if (status == 0 && t != LUA_TTABLE) {
        int on = t == LUA_TBOOLEAN && lua.toboolean(L, -1);
        lua.settop(L, base);
        int overflow = 0;
        long resp = (long)attr_ll(c, &a_resp, &overflow);
        long sresp = resp == -1 && PyErr_Occurred() ? -1 : (long)attr_ll(sc, &a_resp, &overflow);
        if (sresp == -1 && PyErr_Occurred())
            return NULL;
        *made = scalar_reply(t, on, resp, sresp);
        return NULL;
    }
    lua.rawgeti(L, LUA_REGISTRYINDEX, b->box);
    lua.pushvalue(L, -2);
    lua.rawseti(L, -2, 1);
    lua.settop(L, base);
    PyObject *fin = PyObject_GetAttr(state, s_finish_boxed);
    PyObject *resp = fin ? get(c, &a_resp) : NULL;
    PyObject *res = NULL;
    if (resp != NULL) {
        PyObject *fargs[2] = {resp, status == 0 ? Py_True : Py_False};
        res = PyObject_Vectorcall(fin, fargs, 2, NULL);
    }
    Py_XDECREF(fin);
    Py_XDECREF(resp);
    return res;
}

/* ScriptHost.run for an EVAL script without a shebang, not *_RO, when
 * nothing is checked before a run (no maxmemory, not a replica, not a
 * cluster node: the caller made sure), the script being number ``ref`` of
 * state.keep in a state that has a binding: the run's context, the script
 * client (``sc``) in the caller's database, the effects queued as in EXEC
 * (in_exec), db.py's clock frozen, the script run (run_lua), and all of it
 * put back however the run ended. A result that is not a table is the
 * reply, made here; any other result (a reply the Lua side encoded, an
 * error) is finish(c, argv, result, funcname)'s. Caller.run(c, sc, state,
 * ref, funcname, argv, numkeys, finish) from Python; EvalSha from C. */
static PyObject *run_plain(Caller *self, PyObject *c, PyObject *sc, PyObject *state,
                           Binding *binding, int ref, PyObject *funcname, PyObject *argv,
                           Py_ssize_t nkeys, PyObject *finish)
{
    PyObject *host = self->host, *server = self->server;
    PyObject *ctx = NULL, *prev_in_exec = NULL, *prev_state = NULL, *res = NULL;
    PyObject *result = NULL, *tmp = NULL, *user = NULL, *made = NULL;
    struct timespec ts;

    /* What run_lua takes for granted. */
    Py_ssize_t n = PyList_GET_SIZE(argv);
    if (nkeys < 0 || nkeys > n - 3) {
        PyErr_SetString(PyExc_ValueError, "run: numkeys out of range");
        return NULL;
    }
    for (Py_ssize_t i = 3; i < n; i++) {
        if (!PyBytes_Check(PyList_GET_ITEM(argv, i))) {
            PyErr_SetString(PyExc_TypeError, "run: the arguments must be bytes");
            return NULL;
        }
    }
    if ((user = get(c, &a_user)) == NULL)
        goto done;
    int restricted = attr_true(user, &a_restricted);
    Py_CLEAR(user);
    if (restricted < 0)
        goto done;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    PyObject *start = PyFloat_FromDouble((double)ts.tv_sec + ts.tv_nsec * 1e-9);
    if (start == NULL)
        goto done;
    ctx = self->run_context->tp_alloc(self->run_context, 0);
    if (ctx == NULL) {
        Py_DECREF(start);
        goto done;
    }
    {
        PyObject *values[N_FIELDS] = {
            c, funcname, Py_False, Py_True, argv, start, restricted ? Py_True : Py_False,
            Py_False, three, Py_False, Py_False, Py_False, Py_False, Py_False, Py_False,
            Py_False,
        };
        for (size_t i = 0; i < N_FIELDS; i++) {
            Py_INCREF(values[i]);
            *(PyObject **)((char *)ctx + run_context_fields[i]->offset) = values[i];
        }
        Py_DECREF(start);
    }
    if ((tmp = get(c, &a_db)) == NULL || set(sc, &a_db, tmp) < 0 || set(sc, &a_resp, two) < 0)
        goto done;
    Py_CLEAR(tmp);
    if ((prev_in_exec = get(server, &a_in_exec)) == NULL
            || (prev_state = get(host, &a_state)) == NULL)
        goto done;
    /* Time stands still for the run (keyIsExpired's scriptTimeSnapshot). */
    if ((tmp = PyObject_GetAttr(self->clock_module, a_time.name)) == NULL)
        goto done;
    Py_SETREF(tmp, PyObject_CallNoArgs(tmp));
    if (tmp == NULL || set(self->frozen, &a_now, tmp) < 0)
        goto done;
    Py_CLEAR(tmp);
    if (set(host, &a_ctx, ctx) < 0 || set(host, &a_state, state) < 0
            || set(server, &a_in_exec, Py_True) < 0
            || set(self->db_module, &a_clock, self->frozen) < 0)
        goto restore;
    res = run_lua(binding, state, c, sc, ref, argv, nkeys, &made);
    if (made != NULL) {
        res = Py_None;
        Py_INCREF(res);
    }
restore:
    {
        /* The finally clause: what the run changed is put back, and an
         * error of the run stays the one raised. */
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        int bad = set(self->db_module, &a_clock, self->clock_module) < 0
                  || set(server, &a_in_exec, prev_in_exec) < 0
                  || set(host, &a_ctx, Py_None) < 0
                  || set(host, &a_state, prev_state) < 0;
        if (!bad) {
            PyObject *killed = *(PyObject **)((char *)ctx + a_killed.offset);
            PyObject *timedout = *(PyObject **)((char *)ctx + a_timedout.offset);
            int k = killed == NULL ? 0 : PyObject_IsTrue(killed);
            if (k == 0)
                k = timedout == NULL ? 0 : PyObject_IsTrue(timedout);
            if (k > 0) {
                PyObject *r = PyObject_CallMethodObjArgs(host, s_end_run, ctx, state, NULL);
                bad = r == NULL;
                Py_XDECREF(r);
            } else if (k < 0) {
                bad = 1;
            }
        }
        if (type != NULL) {
            if (bad)
                PyErr_Clear();
            PyErr_Restore(type, value, tb);
            Py_CLEAR(res);
        } else if (bad) {
            Py_CLEAR(res);
        }
    }
    if (res == NULL)
        goto done;
    /* Never the EVAL itself: its effects were queued (preventCommandPropagation). */
    if ((tmp = PyList_New(0)) == NULL || set(c, &a_propagate_argv, tmp) < 0)
        goto done;
    Py_CLEAR(tmp);
    if (made != NULL) {
        result = made;
        made = NULL;
    } else {
        PyObject *fargs[4] = {c, argv, res, funcname};
        result = PyObject_Vectorcall(finish, fargs, 4, NULL);
    }
done:
    Py_XDECREF(tmp);
    Py_XDECREF(ctx);
    Py_XDECREF(prev_in_exec);
    Py_XDECREF(prev_state);
    Py_XDECREF(res);
    Py_XDECREF(made);
    return result;
}

static PyObject *caller_run(Caller *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 8 || !PyList_Check(args[5]) || !PyLong_Check(args[3])
            || !PyLong_Check(args[6]) || self->run_context == NULL) {
        PyErr_SetString(PyExc_TypeError,
                        "run(c, sc, state, ref, funcname, argv, numkeys, finish) after "
                        "setup_run()");
        return NULL;
    }
    int ref = PyLong_AsLong(args[3]);
    Py_ssize_t nkeys = PyLong_AsSsize_t(args[6]);
    if ((ref == -1 || nkeys == -1) && PyErr_Occurred())
        return NULL;
    PyObject *binding = PyObject_GetAttr(args[2], s_binding);
    if (binding == NULL)
        return NULL;
    PyObject *result = NULL;
    if (!Py_IS_TYPE(binding, &BindingType))
        PyErr_SetString(PyExc_TypeError, "run: the state has no binding");
    else
        result = run_plain(self, args[0], args[1], args[2], (Binding *)binding, ref, args[4],
                           args[5], nkeys, args[7]);
    Py_DECREF(binding);
    return result;
}

static PyMethodDef caller_methods[] = {
    {"setup_run", (PyCFunction)caller_setup_run, METH_VARARGS,
     "setup_run(RunContext, frozen clock, db module, clock module)"},
    {"run", (PyCFunction)(void (*)(void))caller_run, METH_FASTCALL,
     "run(c, sc, state, ref, funcname, argv, numkeys, finish): ScriptHost.run's plain case"},
    {"open_lua", (PyCFunction)caller_open_lua, METH_VARARGS,
     "open_lua(boot, args): (boot(*args), the new state's Binding or None)"},
    {"reraise", (PyCFunction)caller_reraise, METH_NOARGS,
     "raise the error the C redis.call kept"},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef caller_members[] = {
    {"general", T_OBJECT, offsetof(Caller, general), READONLY, "lua_call"},
    {"convert", T_OBJECT, offsetof(Caller, convert), READONLY, "lua_reply"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject CallerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pyredis._scripting.Caller",
    .tp_doc = "Caller(host, server, plain, lua_call, lua_reply, CommandError, hdr_record, "
              "Command, Client): redis.call with its common case in C",
    .tp_basicsize = sizeof(Caller),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)caller_init,
    .tp_dealloc = (destructor)caller_dealloc,
    .tp_traverse = (traverseproc)caller_traverse,
    .tp_clear = (inquiry)caller_clear,
    .tp_call = (ternaryfunc)caller_call,
    .tp_methods = caller_methods,
    .tp_members = caller_members,
};

/* -- EVALSHA's common case ---------------------------------------------------
 *
 * EvalSha(evalsha, finish_run, Script, ScriptHost, Client) is the handler
 * of EVALSHA in the command table: commands/scripting.py's evalsha without
 * a Python frame for the common request - numkeys 0 to 15 as SMALL_INTS
 * spells them, not more than the arguments, a lower-case SHA of a cached
 * script without a shebang, the plain case of run_script (no maxmemory, not
 * a replica, not a cluster node), the C run there (host.run_plain set, the
 * EVAL state bound). Every other request, every error reply included, is
 * evalsha's (the reference: it does all of it again), so the two cannot
 * disagree. It keeps a __dict__ for the command table's labels. */
typedef struct {
    PyObject_HEAD
    PyObject *dict;
    PyObject *fallback;     /* commands/scripting.py's evalsha */
    PyObject *finish;       /* finish_run */
    vectorcallfunc vectorcall;
} EvalSha;

static Attr a_server, a_scripting, a_redis_call, a_run_plain, a_scripts, a_eval_state,
            a_compat, a_ref, a_config, a_maxmemory;

static int evalsha_traverse(EvalSha *self, visitproc visit, void *arg)
{
    Py_VISIT(self->dict);
    Py_VISIT(self->fallback);
    Py_VISIT(self->finish);
    return 0;
}

static int evalsha_clear(EvalSha *self)
{
    Py_CLEAR(self->dict);
    Py_CLEAR(self->fallback);
    Py_CLEAR(self->finish);
    return 0;
}

static void evalsha_dealloc(EvalSha *self)
{
    PyObject_GC_UnTrack(self);
    evalsha_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *evalsha_vectorcall(EvalSha *self, PyObject *const *args, size_t nargsf,
                                    PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *server = NULL, *host = NULL, *caller = NULL, *run = NULL, *scripts = NULL;
    PyObject *state = NULL, *binding = NULL, *config = NULL, *sc = NULL, *ref = NULL;
    PyObject *cluster = NULL, *script = NULL, *result = NULL;
    if (nargs != 2 || kwnames != NULL || !PyList_CheckExact(args[1]))
        goto fallback;
    PyObject *c = args[0], *argv = args[1];
    Py_ssize_t n = PyList_GET_SIZE(argv);
    if (n < 3)
        goto fallback;
    PyObject *sha = PyList_GET_ITEM(argv, 1), *nk = PyList_GET_ITEM(argv, 2);
    if (!PyBytes_CheckExact(sha) || PyBytes_GET_SIZE(sha) != 40 || !PyBytes_CheckExact(nk))
        goto fallback;
    const char *k = PyBytes_AS_STRING(nk);
    long numkeys;
    if (PyBytes_GET_SIZE(nk) == 1 && k[0] >= '0' && k[0] <= '9')
        numkeys = k[0] - '0';
    else if (PyBytes_GET_SIZE(nk) == 2 && k[0] == '1' && k[1] >= '0' && k[1] <= '5')
        numkeys = 10 + k[1] - '0';
    else
        goto fallback;
    if (numkeys > n - 3)
        goto fallback;
    const char *h = PyBytes_AS_STRING(sha);
    for (int i = 0; i < 40; i++)
        if (h[i] >= 'A' && h[i] <= 'Z')
            goto fallback;
    int r;
    if ((server = get(c, &a_server)) == NULL || (host = get(server, &a_scripting)) == NULL
            || (caller = get(host, &a_redis_call)) == NULL
            || (run = get(host, &a_run_plain)) == NULL)
        goto done;
    if (!Py_IS_TYPE(caller, &CallerType) || run == Py_None
            || ((Caller *)caller)->run_context == NULL)
        goto fallback;
    if ((scripts = get(host, &a_scripts)) == NULL)
        goto done;
    if (!PyDict_CheckExact(scripts))
        goto fallback;
    script = PyDict_GetItemWithError(scripts, sha);
    if (script == NULL) {
        if (PyErr_Occurred())
            goto done;
        goto fallback;
    }
    Py_INCREF(script);
    if ((r = attr_true(script, &a_compat)) < 0)
        goto done;
    if (!r)
        goto fallback;
    if ((state = get(host, &a_eval_state)) == NULL || (sc = get(host, &a_client)) == NULL)
        goto done;
    if (state == Py_None || sc == Py_None)
        goto fallback;
    if ((binding = PyObject_GetAttr(state, s_binding)) == NULL)
        goto done;
    if (!Py_IS_TYPE(binding, &BindingType))
        goto fallback;
    if ((config = get(server, &a_config)) == NULL || (r = attr_true(config, &a_maxmemory)) < 0)
        goto done;
    if (r)
        goto fallback;
    if ((r = attr_true(server, &a_masterhost)) < 0)
        goto done;
    if (r)
        goto fallback;
    if ((cluster = get(server, &a_cluster)) == NULL)
        goto done;
    if (cluster != Py_None)
        goto fallback;
    if ((ref = get(script, &a_ref)) == NULL)
        goto done;
    int id = PyLong_AsLong(ref);
    if (id == -1 && PyErr_Occurred())
        goto done;
    result = run_plain((Caller *)caller, c, sc, state, (Binding *)binding, id, sha, argv,
                       numkeys, self->finish);
    goto done;
fallback:
    result = PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
done:
    Py_XDECREF(server);
    Py_XDECREF(host);
    Py_XDECREF(caller);
    Py_XDECREF(run);
    Py_XDECREF(scripts);
    Py_XDECREF(script);
    Py_XDECREF(state);
    Py_XDECREF(sc);
    Py_XDECREF(binding);
    Py_XDECREF(config);
    Py_XDECREF(cluster);
    Py_XDECREF(ref);
    return result;
}

static int evalsha_init(EvalSha *self, PyObject *args, PyObject *kwds)
{
    PyObject *fallback, *finish;
    PyTypeObject *script_type, *host_type, *client_type;
    if (!PyArg_ParseTuple(args, "OOO!O!O!:EvalSha", &fallback, &finish, &PyType_Type,
                          &script_type, &PyType_Type, &host_type, &PyType_Type, &client_type))
        return -1;
    Attr *of_host[] = {&a_redis_call, &a_run_plain, &a_scripts, &a_eval_state, &a_client};
    for (size_t i = 0; i < sizeof of_host / sizeof *of_host; i++)
        if (find_slot(of_host[i], host_type) < 0)
            return -1;
    if (find_slot(&a_compat, script_type) < 0 || find_slot(&a_ref, script_type) < 0
            || find_slot(&a_server, client_type) < 0)
        return -1;
    Py_INCREF(fallback);
    Py_XSETREF(self->fallback, fallback);
    Py_INCREF(finish);
    Py_XSETREF(self->finish, finish);
    self->vectorcall = (vectorcallfunc)evalsha_vectorcall;
    return 0;
}

static PyGetSetDef evalsha_getset[] = {
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject EvalShaType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pyredis._scripting.EvalSha",
    .tp_doc = "EvalSha(evalsha, finish_run, Script, ScriptHost, Client): EVALSHA's handler, "
              "its common case in C",
    .tp_basicsize = sizeof(EvalSha),
    .tp_dictoffset = offsetof(EvalSha, dict),
    .tp_vectorcall_offset = offsetof(EvalSha, vectorcall),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)evalsha_init,
    .tp_dealloc = (destructor)evalsha_dealloc,
    .tp_traverse = (traverseproc)evalsha_traverse,
    .tp_clear = (inquiry)evalsha_clear,
    .tp_call = PyVectorcall_Call,
    .tp_getset = evalsha_getset,
};

static PyMethodDef module_methods[] = {
    {"bind_lua", bind_lua, METH_O,
     "bind_lua(path of lupa.lua51's module): whether the Lua C API was found there"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "pyredis._scripting",
    "redis.call's common case in C (see pyredis/scripting/host.py).", -1, module_methods,
};

PyMODINIT_FUNC PyInit__scripting(void)
{
#define INTERN(v, s) if ((v = PyUnicode_InternFromString(s)) == NULL) return NULL
    INTERN(s_reply, "reply"); INTERN(s_internal_error, "_internal_error");
    INTERN(s_slow_call, "slow_call"); INTERN(s_error_replied, "error_replied");
    INTERN(s_after_call, "after_call");
    INTERN(a_ctx.name, "ctx"); INTERN(a_guarded.name, "guarded"); INTERN(a_repl.name, "repl");
    INTERN(a_min_args.name, "min_args"); INTERN(a_max_args.name, "max_args");
    INTERN(a_is_write.name, "is_write"); INTERN(a_write_dirty.name, "write_dirty");
    INTERN(a_masterhost.name, "masterhost");
    INTERN(a_write_denied_reason.name, "write_denied_reason");
    INTERN(a_extra_gate.name, "extra_gate");
    INTERN(a_monitors.name, "monitors"); INTERN(a_tracking_on.name, "tracking_on");
    INTERN(a_client.name, "client"); INTERN(a_reply_mode.name, "reply_mode");
    INTERN(a_propagate_targets.name, "propagate_targets"); INTERN(a_dirty.name, "dirty");
    INTERN(a_propagate_argv.name, "propagate_argv"); INTERN(a_proc.name, "proc");
    INTERN(a_duration.name, "duration"); INTERN(a_calls.name, "calls");
    INTERN(a_latency_tracking.name, "latency_tracking"); INTERN(a_slow_ns.name, "slow_ns");
    INTERN(a_failed_calls.name, "failed_calls"); INTERN(a_out.name, "out");
    INTERN(a_also_propagated.name, "also_propagated"); INTERN(a_last_cmd.name, "last_cmd");
    INTERN(a_db.name, "db"); INTERN(a_resp.name, "resp"); INTERN(a_user.name, "user");
    INTERN(a_restricted.name, "restricted"); INTERN(a_in_exec.name, "in_exec");
    INTERN(a_state.name, "state"); INTERN(a_now.name, "now"); INTERN(a_time.name, "time");
    INTERN(a_clock.name, "clock"); INTERN(a_caller.name, "caller");
    INTERN(a_funcname.name, "funcname"); INTERN(a_read_only.name, "read_only");
    INTERN(a_eval_mode.name, "eval_mode"); INTERN(a_argv.name, "argv");
    INTERN(a_start.name, "start"); INTERN(a_killed.name, "killed");
    INTERN(a_timedout.name, "timedout"); INTERN(a_stale.name, "stale");
    INTERN(a_allow_oom.name, "allow_oom"); INTERN(a_script_oom.name, "script_oom");
    INTERN(a_cluster.name, "cluster"); INTERN(a_allow_cross_slot.name, "allow_cross_slot");
    INTERN(s_end_run, "end_run"); INTERN(s_binding, "binding");
    INTERN(s_finish_boxed, "finish_boxed"); INTERN(a_server.name, "server");
    INTERN(a_scripting.name, "scripting"); INTERN(a_redis_call.name, "redis_call");
    INTERN(a_run_plain.name, "run_plain"); INTERN(a_scripts.name, "scripts");
    INTERN(a_eval_state.name, "eval_state"); INTERN(a_compat.name, "compat");
    INTERN(a_ref.name, "ref"); INTERN(a_config.name, "config");
    INTERN(a_maxmemory.name, "maxmemory");
    if ((three = PyLong_FromLong(3)) == NULL || (two = PyLong_FromLong(2)) == NULL)
        return NULL;
#undef INTERN
    if (PyType_Ready(&CallerType) < 0 || PyType_Ready(&BindingType) < 0
            || PyType_Ready(&EvalShaType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&CallerType);
    if (PyModule_AddObject(m, "Caller", (PyObject *)&CallerType) < 0) {
        Py_DECREF(&CallerType);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&EvalShaType);
    if (PyModule_AddObject(m, "EvalSha", (PyObject *)&EvalShaType) < 0) {
        Py_DECREF(&EvalShaType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
