"""Running scripts against the server (script.c, eval.c).

``ScriptHost`` owns the EVAL Lua state and its script cache, and the fake
client through which ``redis.call`` runs commands: every command a script
calls goes through ``Server.call`` like a client's, after Redis's
scriptCall checks (arity, noscript, read-only runs, read-only replica,
MISCONF, OOM), with the fake client in the caller's database and the RESP
version the script chose.

Effects replication (the only mode in 7.0): while a script runs,
``server.in_exec`` is set, so each write's propagation is queued in
``server.also_propagated`` exactly as inside EXEC; the EVAL itself is never
propagated (the handler sets ``propagate_argv`` to no operations), and
call()'s after_call flushes the queue after the EVAL: one write alone, more
wrapped in MULTI/EXEC. ``redis.set_repl(redis.REPL_NONE)`` drops what the
commands after it queued. The operations of commands run under REPL_AOF
or REPL_REPLICA alone are queued as ``Routed`` operations (their
destinations with them), and the server's flush hands the queue to
``route_propagation`` (``Server.propagation_router``, set only then):
each target gets its own operations, wrapped in MULTI/EXEC when it gets
more than one, as redis-server 7.0.15 sends them.

Time is frozen for the run (keyIsExpired's scriptTimeSnapshot): db.py
reads the server clock through its ``clock`` module attribute, which is
swapped for a frozen one while a script runs, so the hot path pays nothing.

The common case is run in C when the extension is there (_scripting.c):
``run_plain`` is ``run`` for an EVAL script without a shebang that nothing
checks before it runs (it calls the script through Lua's C API, in a state
whose ``binding`` the extension made), ``redis_call`` runs a plain
command's call itself and hands every other one to ``lua_call``, the
general path and the reference (tests/test_scripting_fast.py compares the
two). The Lua states get as redis.call the extension's C function, which
does what ``redis_call`` does without lupa's crossing; redis.pcall calls
``redis_call``.
"""

import time
from time import monotonic

from .. import db as db_module
from .. import hdr, log
from ..util import bytes_to_human
from ..evict import OOM_ERR
from ..resp import CommandError, bulk
from ..commands import DISPATCH, Command
from ..networking import Client
from ..replication import NOREPLICAS_ERR, REPL_CONNECTED
from .functions import Functions
from .engine import (ALLOW_CROSS_SLOT, ALLOW_OOM, ALLOW_STALE, EVAL_COMPAT_MODE, NO_CLUSTER,
                     NO_WRITES, LuaState,
                     RunContext, ScriptRaise, log_level, lookup_for_script, lua_tonumber,
                     lua_tostring, reply_to_lua, script_error_reply)
from .. import clock

try:
    from .._scripting import Caller
except ImportError:     # without the C extension: redis.call is lua_call
    Caller = None

# (luaMaskCountHook says SCRIPT KILL for functions too.)
SCRIPT_KILLED = b'ERR Script killed by user with SCRIPT KILL...'
INF = float('inf')

# Commands flagged CMD_MAY_REPLICATE in Redis 7.0 that a script may call
# (COMMAND INFO does not show the flag, so the table does not have it).
MAY_REPLICATE = frozenset(('publish', 'spublish', 'pfcount'))

READONLY_ERR = b"-READONLY You can't write against a read only replica."
MASTERDOWN_ERR = (b"-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set "
                  b"to 'no'.\r\n")



class ScriptClient(Client):
    """The fake client scripts run their commands on (Redis's lua_client):
    no connection, so blocking commands answer at once."""
    __slots__ = ()
    monitor_source = b'lua'     # MONITOR shows its commands as [<db> lua]

    def __init__(self, server):
        # Redis's Lua clients are ids 1 and 2, made at start-up: the one
        # made at a first script takes no id from the connections.
        super().__init__(server, client_id=1)
        self.authenticated = True
        self.update_gate()


class Routed(tuple):
    """A queued operation with its destinations: (dbid, argv, REPL_* bits)."""
    __slots__ = ()


class _FrozenClock:
    __slots__ = ('now',)

    def __init__(self, now):
        self.now = now

    def time(self):
        return self.now


class _DenyOOMProbe:
    """What the OOM check is asked about at a script's start."""
    denyoom = True
    name = b'eval'
    fullname = 'eval'


class ScriptError(Exception):
    """A script refused before it runs: ``reply`` is the error reply."""

    def __init__(self, reply):
        self.reply = reply


class ScriptHost:
    # (Slots: the C extension reads and writes ctx, state and client at
    # their offsets for every run.)
    __slots__ = ('server', 'version', 'client', 'ctx', 'state', 'eval_state', 'scripts',
                 'scripts_memory', 'acl_check', 'busy', 'functions', 'frozen', 'plain',
                 'redis_call', 'run_plain')

    def __init__(self, server):
        self.server = server
        self.version = server_version()
        self.client = None
        self.ctx = None
        self.state = None           # the state of the running script
        self.eval_state = None
        self.scripts = {}           # sha (lower-case hex bytes) -> Script
        self.scripts_memory = 0
        # acl_check(caller, cmd, argv[, caller argv]) -> error message or None:
        # set by ACLs (the caller's argv, its EVAL or FCALL: logged on a denial).
        self.acl_check = None
        # busy(ctx) from the count hook: the long-script machinery.
        self.busy = None
        self.functions = Functions(self)
        self.frozen = _FrozenClock(0)
        # What redis.call found plain (no container, not noscript), by the
        # name as scripts spell it: lua_call's one lookup.
        self.plain = {}
        # redis.call as the Lua states get it: lua_call, or in front of it
        # the C extension's Caller, which runs the common call itself
        # (_scripting.c says which) and hands every other one to lua_call.
        # run_plain(c, sc, state, ref, funcname, argv, numkeys, finish):
        # run's case of an EVAL script without a shebang when nothing is
        # checked before it runs, in C too (commands/scripting.run_script).
        self.redis_call = self.lua_call
        self.run_plain = None
        if Caller is not None:
            self.redis_call = Caller(self, server, self.plain, self.lua_call, self.lua_reply,
                                     CommandError, hdr.record, Command, Client)
            self.redis_call.setup_run(RunContext, self.frozen, db_module, clock)
            self.run_plain = self.redis_call.run

    # -- the EVAL state --------------------------------------------------------

    def eval_lua(self):
        if self.eval_state is None:
            self.eval_state = LuaState(self)
        return self.eval_state

    def flush_scripts(self):
        """SCRIPT FLUSH: a new Lua state and an empty cache."""
        if self.ctx is not None:
            return
        self.scripts = {}
        self.scripts_memory = 0
        self.eval_state = None

    def memory_fields(self):
        """INFO memory's scripting fields: the Lua states' heaps (as Lua
        counts them), the scripts' and libraries' own sizes (estimated as
        Redis's allocations: the SHA and the body of each script; the code,
        names and descriptions of each library)."""
        vm_eval = int(self.eval_lua().memory())
        fns = self.functions
        vm_functions = int(fns.lua().memory())
        scripts = self.scripts_memory + 128 * len(self.scripts)
        functions = 200 + sum(len(lib.code) + 96 + sum(
            len(fn.name) + len(fn.description or b'') + 64 for fn in lib.functions.values())
            for lib in fns.libraries.values())
        return [
            ('used_memory_lua', vm_eval),
            ('used_memory_vm_eval', vm_eval),
            ('used_memory_lua_human', bytes_to_human(vm_eval).decode()),
            ('used_memory_scripts_eval', scripts),
            ('number_of_cached_scripts', len(self.scripts)),
            ('number_of_functions', len(fns.functions)),
            ('number_of_libraries', len(fns.libraries)),
            ('used_memory_vm_functions', vm_functions),
            ('used_memory_vm_total', vm_eval + vm_functions),
            ('used_memory_vm_total_human', bytes_to_human(vm_eval + vm_functions).decode()),
            ('used_memory_functions', functions),
            ('used_memory_scripts', scripts + functions),
            ('used_memory_scripts_human', bytes_to_human(scripts + functions).decode()),
        ]

    def script_client(self):
        if self.client is None:
            self.client = ScriptClient(self.server)
        return self.client

    # -- running ------------------------------------------------------------------

    def running_stale(self):
        """A replica whose link is down, told not to serve stale data."""
        server = self.server
        repl = getattr(server, 'replication', None)
        return (server.masterhost is not None and repl is not None
                and repl.link_state != REPL_CONNECTED
                and not server.config.replica_serve_stale_data)

    def too_few_replicas(self):
        """min-replicas-to-write unmet (checkGoodReplicasStatus): a script
        that declares writes is refused before it runs, one without flags at
        its first write, as scriptVerifyWriteCommandAllow does."""
        repl = getattr(self.server, 'replication', None)
        return repl is not None and repl.too_few_replicas()

    def prepare(self, caller, flags, ro):
        """scriptPrepareForRun's checks: raises ScriptError, or returns
        (read only, allow-oom, out of memory at the start)."""
        server = self.server
        config = server.config
        if not flags & EVAL_COMPAT_MODE and flags & NO_CLUSTER and server.cluster is not None:
            raise ScriptError(b"-ERR Can not run script on cluster, 'no-cluster' flag is "
                              b"set.\r\n")
        if self.running_stale() and not caller.is_master and (
                flags & EVAL_COMPAT_MODE or not flags & ALLOW_STALE):
            raise ScriptError(MASTERDOWN_ERR)
        script_oom = False
        if config.maxmemory and server.oom_check is not None and not caller.is_master:
            script_oom = server.oom_check(caller, _DenyOOMProbe) is not None
        if not flags & EVAL_COMPAT_MODE:
            may_write = not flags & NO_WRITES
            if may_write and not flags & ALLOW_OOM and script_oom:
                # processCommand refuses it (the script's flags make it denyoom).
                raise ScriptError(OOM_ERR)
            if may_write:
                if server.masterhost and config.replica_read_only and not caller.is_master:
                    raise ScriptError(READONLY_ERR + b'\r\n')
                if server.write_denied_reason is not None and not caller.is_master:
                    raise ScriptError(server.write_denied_reason)
                if self.too_few_replicas():
                    raise ScriptError(NOREPLICAS_ERR)
                if ro:
                    raise ScriptError(b'-ERR Can not execute a script with write flag using '
                                      b'*_ro command.\r\n')
            read_only = ro or not may_write
            allow_oom = bool(flags & ALLOW_OOM)
        else:
            read_only = ro
            allow_oom = False
        return read_only, allow_oom, script_oom

    def run(self, c, state, func, funcname, argv, numkeys, flags, ro, eval_mode):
        """Run a compiled script (or a function) for client ``c``: its keys
        are argv[3:3 + numkeys], its arguments the rest of argv. Returns the
        reply (bytes) and whether an error reply is already counted."""
        server = self.server
        if (flags & EVAL_COMPAT_MODE and not server.config.maxmemory and not server.masterhost
                and server.cluster is None):
            # (nothing to check)
            ctx = RunContext(c, funcname, ro, eval_mode, argv, monotonic(),
                             ro or c.user.restricted)
        else:
            read_only, allow_oom, script_oom = self.prepare(c, flags, ro)
            stale = self.running_stale()
            ctx = RunContext(c, funcname, read_only, eval_mode, argv, monotonic(),
                             read_only or script_oom or stale or c.user.restricted)
            ctx.allow_oom = allow_oom
            ctx.script_oom = script_oom
            ctx.stale = stale
            if server.cluster is not None:
                # Every call is checked against the slots (scriptVerifyClusterState).
                ctx.cluster = ctx.guarded = True
                # (EVAL scripts without a shebang keep 6.x's cross-slot access.)
                ctx.allow_cross_slot = bool(flags & (ALLOW_CROSS_SLOT | EVAL_COMPAT_MODE))
        sc = self.client
        if sc is None:
            sc = self.script_client()
        sc.db = c.db
        sc.resp = 2
        prev_in_exec = server.in_exec
        prev_state = self.state
        self.ctx = ctx
        self.state = state
        server.in_exec = True
        frozen = self.frozen
        frozen.now = clock.time()
        db_module.clock = frozen
        try:
            table = state.table_from
            keys = table(argv[3:3 + numkeys])
            args = table(argv[3 + numkeys:])
            if eval_mode:
                res = state.run(func, c.resp, keys, args)
            else:
                res = state.call_function(func, c.resp, keys, args)
        finally:
            db_module.clock = clock
            server.in_exec = prev_in_exec
            self.ctx = None
            self.state = prev_state
            if ctx.killed or ctx.timedout:
                self.end_run(ctx, state)
        # Never the EVAL itself: its effects were queued (preventCommandPropagation).
        c.propagate_argv = []
        return self.result_reply(res, funcname)

    def result_reply(self, res, funcname):
        """A run's result (state.run's) as the reply: (reply, whether its
        error is already counted)."""
        t = type(res)
        # A string or a number: Redis's bulk or integer reply.
        if t is bytes:
            return bulk(res), False
        if t is not tuple:
            if t is float and (res != res or res in (INF, -INF)):
                res = -(1 << 63)      # (long long)NaN/inf, as C gives on x86-64
            res = int(res)
            if not -(1 << 63) <= res < 1 << 63:
                res = -(1 << 63)      # (an out of range double, likewise)
            return b':%d\r\n' % res, False
        ok, reply, ignore = res
        if not ok:
            return script_error_reply(reply, funcname)
        return reply, ignore

    def end_run(self, ctx, state):
        """After a run that was killed or timed out: what it leaves to undo."""
        if ctx.killed:
            state.reset_hook()      # (a kill left it firing on every line)
        if ctx.timedout and self.busy is not None:
            self.busy.end()

    def route_propagation(self, ops, wrap):
        """Server.flush_propagation while some operations are Routed."""
        server = self.server
        server.propagation_router = None
        aof = getattr(server, 'aof', None)
        for target in list(server.propagate_targets):
            mask = 1 if aof is not None and target == aof.feed else 2
            mine = [(op[0], op[1]) for op in ops
                    if type(op) is not Routed or op[2] & mask]
            if wrap and len(mine) > 1:
                mine = [(mine[0][0], [b'MULTI'])] + mine + [(-1, [b'EXEC'])]
            if mine:
                target(mine)

    def script_resp(self):
        return self.client.resp

    # -- callbacks from Lua ---------------------------------------------------------

    def lua_call(self, *args):
        """redis.call (luaRedisGenericCommand + scriptCall): the command's
        reply as a Lua value; an error raises (ScriptRaise: luaError).

        The common call, a plain command (no container, not noscript) with
        the right arity in a run nothing else restricts (``ctx.guarded``:
        read-only, stale, out of memory at the start, or a restricted
        user), is checked here; anything else by ``_checked``, in Redis's
        order."""
        ctx = self.ctx
        if ctx is None:
            raise ScriptRaise(b'ERR redis.call/pcall can only be called inside a script '
                              b'invocation')
        argv = list(args)
        for a in argv:
            if type(a) is not bytes:
                argv = _lua_args(argv)
                break
        cmd = self.plain.get(argv[0]) if argv else None
        if cmd is None or ctx.guarded or not cmd.min_args <= len(argv) <= cmd.max_args:
            cmd = self._checked(ctx, argv)
        elif cmd.is_write and not ctx.write_dirty:
            server = self.server
            if (server.masterhost and server.config.replica_read_only
                    and not ctx.caller.is_master):
                self._refuse(cmd, READONLY_ERR)
            if server.write_denied_reason is not None:
                self._refuse(cmd, server.write_denied_reason.rstrip(b'\r\n'))
            if self.too_few_replicas():
                self._refuse(cmd, NOREPLICAS_ERR.rstrip(b'\r\n'))
            ctx.write_dirty = True
        c = self.client
        server = self.server
        repl = ctx.repl
        if repl == 3:
            server.call(c, cmd, argv)
        else:
            pending = server.also_propagated
            queued = len(pending)
            server.call(c, cmd, argv)
            pending = server.also_propagated
            if repl == 0:
                del pending[queued:]
            elif len(pending) > queued:
                pending[queued:] = [Routed((dbid, argv, repl)) for dbid, argv in pending[queued:]]
                server.propagation_router = self.route_propagation
        out = c.out
        if len(out) == 1:
            reply = out[0]
            out.clear()
        elif out:
            reply = b''.join(out)
            out.clear()
        else:
            return None
        first = reply[0]
        if first == 36:     # '$': the common bulk reply, cut out
            if reply[1] != 45:
                return reply[reply.index(b'\n') + 1:-2]
            return False
        if first == 58:     # ':'
            return int(reply[1:-2])
        return self.lua_reply(reply)

    def lua_reply(self, reply):
        """A command's whole reply as a Lua value (redisProtocolToLuaType);
        an error reply raises."""
        ok, value = reply_to_lua(self.state, reply)
        if ok:
            return value
        raise ScriptRaise(value, True)

    def _checked(self, ctx, argv):
        """scriptCall's checks, in Redis's order: the command to run, or a
        refusal raised."""
        if not argv:
            raise ScriptRaise(b'ERR Please specify at least one argument for this redis lib '
                              b'call')
        cmd = DISPATCH.get(argv[0])
        if cmd is None or cmd.subcommands is not None or cmd.proc is None:
            cmd = lookup_for_script(argv)
            if cmd is None:
                self._refuse(None, b'Unknown Redis command called from script')
        n = len(argv)
        if n < cmd.min_args or n > cmd.max_args:
            self._refuse(cmd, b'Wrong number of args calling Redis command from script')
        if 'noscript' in cmd.flags and not self.server.script_disable_deny_script:
            self._refuse(cmd, b'This Redis command is not allowed from script')
        if ctx.stale and not cmd.stale:
            self._refuse(cmd, b'Can not execute the command on a stale replica')
        server = self.server
        acl = self.acl_check
        if acl is not None:
            err = acl(ctx.caller, cmd, argv, ctx.argv)
            if err is not None:
                self._refuse(cmd, err)
        # scriptVerifyWriteCommandAllow: may-replicate commands count as
        # writes for a read-only run; a script that already wrote goes on.
        if cmd.is_write:
            if ctx.read_only:
                self._refuse(cmd, b'Write commands are not allowed from read-only scripts.')
            if not ctx.write_dirty:
                if (server.masterhost and server.config.replica_read_only
                        and not ctx.caller.is_master):
                    self._refuse(cmd, READONLY_ERR)
                if server.write_denied_reason is not None:
                    self._refuse(cmd, server.write_denied_reason.rstrip(b'\r\n'))
                if self.too_few_replicas():
                    self._refuse(cmd, NOREPLICAS_ERR.rstrip(b'\r\n'))
        elif ctx.read_only and cmd.fullname in MAY_REPLICATE:
            self._refuse(cmd, b'Write commands are not allowed from read-only scripts.')
        if (cmd.denyoom and ctx.script_oom and not ctx.allow_oom and not ctx.write_dirty
                and not ctx.caller.is_master):
            self._refuse(cmd, OOM_ERR.rstrip(b'\r\n'))
        if cmd.is_write:
            ctx.write_dirty = True
        if ctx.cluster:
            err = server.cluster_router.script_check(ctx.caller, cmd, argv,
                                                     ctx.allow_cross_slot)
            if err is not None:
                self._refuse(cmd, err)
        if (cmd.subcommands is None and 'noscript' not in cmd.flags
                and len(self.plain) < 1000):
            self.plain[argv[0]] = cmd
        return cmd

    def lua_pcall(self, *args):
        """redis.pcall: as redis.call, an error returned as its table."""
        try:
            return self.redis_call(*args)
        except ScriptRaise as e:
            return self._error_table(e.msg, e.ignore_stats)

    def _refuse(self, cmd, err):
        """scriptCall's error path: counted as a rejected call and an error
        reply; raises the message for the script (luaPushError's form)."""
        if err[:1] == b'-':
            reply = err
            msg = err[1:] if b' ' in err else b'ERR ' + err[1:]
        else:
            reply = b'-ERR ' + err
            msg = b'ERR ' + err
        self.server.error_replied(reply + b'\r\n')
        if cmd is not None:
            cmd.rejected_calls += 1
        raise ScriptRaise(msg, True)

    def interrupt(self, loading=False):
        """The count hook: returns the error to raise when the script must
        stop (or, while FUNCTION LOAD runs a library, True past its 500 ms)."""
        if loading:
            return time.monotonic() - self.functions.load_start > 0.5
        ctx = self.ctx
        if ctx is None:
            return None
        busy = self.busy
        if busy is not None:
            busy(ctx)
        if ctx.killed:
            if not self.server.shutting_down:
                log.warning('Lua script killed by user with %s.' % (
                    'SCRIPT KILL' if ctx.eval_mode else 'FUNCTION KILL'))
            return SCRIPT_KILLED
        return None

    def _error_table(self, msg, ignore, state=None):
        d = {b'err': msg}
        if ignore:
            d[b'ignore_error_stats_update'] = True
        return (state or self.state).table_from(d)

    def lua_error(self, exc, state):
        """The error handler's view of a Python exception raised in a call
        from Lua: Redis's error table."""
        if isinstance(exc, ScriptRaise):
            t = self._error_table(exc.msg, exc.ignore_stats, state)
            if exc.where:
                t[b'where'] = True
            return t
        log.warning('Error in a script callback: %r' % (exc,))
        return self._error_table(b'ERR ' + str(exc).encode(), False, state)

    def lua_register_function(self, *args):
        self.functions.register(args)

    def lua_log(self, *args):
        """redis.log (luaLogCommand)."""
        if len(args) < 2:
            raise ScriptRaise(b'ERR redis.log() requires two arguments or more.')
        level = args[0]
        if type(level) is bytes:
            try:
                level = float(level)
            except ValueError:
                level = None
        if type(level) not in (int, float):
            raise ScriptRaise(b'ERR First argument must be a number (log level).')
        level = int(level)
        if level < 0 or level > 3:
            raise ScriptRaise(b'ERR Invalid debug level.')
        msg = b''
        for j, a in enumerate(args[1:], 1):
            s = lua_tostring(a)
            if s is not None:
                if j != 1:
                    msg += b' '
                msg += s
        log_level(level)(msg.decode('utf-8', 'replace'))

    def lua_setresp(self, *args):
        if self.ctx is None:
            raise ScriptRaise(b'ERR redis.setresp can only be called inside a script invocation')
        if len(args) != 1:
            raise ScriptRaise(b'ERR redis.setresp() requires one argument.')
        v = int(lua_tonumber(args[0]))
        if v != 2 and v != 3:
            raise ScriptRaise(b'ERR RESP version must be 2 or 3.')
        self.client.resp = v

    def lua_set_repl(self, *args):
        if self.ctx is None:
            raise ScriptRaise(b'ERR redis.set_repl can only be called inside a script '
                              b'invocation')
        if len(args) != 1:
            raise ScriptRaise(b'ERR redis.set_repl() requires two arguments.')
        v = int(lua_tonumber(args[0]))
        if v & ~3:
            raise ScriptRaise(b'ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, '
                              b'REPL_ALL or REPL_NONE.')
        self.ctx.repl = v

    def lua_acl_check(self, *args):
        """redis.acl_check_cmd."""
        if not args:
            raise ScriptRaise(b'ERR Please specify at least one argument for this redis lib '
                              b'call')
        argv = [lua_tostring(a) for a in args]
        if None in argv:
            raise ScriptRaise(b'ERR Lua redis lib command arguments must be strings or '
                              b'integers')
        cmd = lookup_for_script(argv)
        if cmd is None:
            raise ScriptRaise(b'ERR Invalid command passed to redis.acl_check_cmd()')
        if self.acl_check is not None and self.ctx is not None:
            return self.acl_check(self.ctx.caller, cmd, argv) is None
        return True


def _lua_args(args):
    """luaArgsToRedisArgv: numbers as %.17g, anything else refused."""
    argv = []
    for a in args:
        t = type(a)
        if t is bytes:
            argv.append(a)
        elif t is int or t is float:
            argv.append(b'%.17g' % a)
        else:
            raise ScriptRaise(b'ERR Lua redis lib command arguments must be strings or '
                              b'integers')
    return argv


def server_version():
    from ..config import REDIS_VERSION
    return REDIS_VERSION.encode()
