"""The module API: what a module written in Python sees of the server.

A module is a Python file (or an importable module) that creates one
``Module`` and declares its commands on it, each with what Redis's command
table states:

    from pyredis.modules.api import Module, ReplyError

    module = Module('hello', version=1)

    @module.command('hello.set', arity=3, flags=('write', 'denyoom', 'fast'),
                    keys=(1, 1, 1), summary='Set a greeting', since='1.0.0',
                    complexity='O(1)', replicate='effects')
    def hello_set(ctx, argv):
        ctx.open_key(argv[1], write=True).set_string(b'hello ' + argv[2])
        return ctx.ok()

``MODULE LOAD path [args...]`` (or ``loadmodule`` in redis.conf) imports it
and enters its commands in the command table (modules/loader.py): from then
on they are commands like the others - listed by COMMAND, COMMAND INFO/
DOCS/COUNT/LIST/GETKEYS, checked by ACL (command, categories, key
patterns), queued by MULTI, callable from scripts, refused on a read-only
replica or under maxmemory as their flags say - because every call goes
through Server.call(), with the same gates, statistics and propagation as
a core command. The handler gets a ``Context`` and the argument vector
(bytes, argv[0] being the name as typed) and returns its reply as a Python
value (below) or raises ReplyError.

Keys. ``ctx.open_key(name, write=False)`` looks the key up as Redis's
RM_OpenKey does (lazy expiry, keyspace hits/misses, LRU) and returns a
``Key`` whose methods read and write typed values: strings, lists, hashes,
sets, sorted sets, a module's own data type (``Module.data_type``), expiry
and deletion. A typed write through a Key is done by the core command that
does it (SET, RPUSH, HSET, ZADD, PEXPIRE, DEL...: its handler, run on the
calling client inside this call), so it has exactly the core's side
effects - encodings and their conversions, the dataset's dirty counter,
WATCH, client-side caching invalidation, keyspace events, clients blocked
on the key - and its deterministic form (PEXPIRE as PEXPIREAT...) is what
``replicate='effects'`` propagates. Keys are the only way in: a module
never sees the database objects, so the server's internals (a list's
quicklist, a small hash's listpack) can change behind this API.

Propagation, declared per command (``replicate=``):
  'verbatim'  (the default) the command as typed, when it changed the
              dataset (the replica and the AOF need the module too);
  'effects'   what its Key writes did (SET/HSET/RPUSH/PEXPIREAT/DEL..., a
              module type's value as its aof_rewrite commands), wrapped in
              MULTI/EXEC when more than one: deterministic even when the
              command is not (it reads the clock, picks at random);
  None        (Redis's default) nothing but what the handler asks for with
              ``ctx.replicate(*argv)`` / ``ctx.replicate_verbatim()``.

Commands. ``ctx.call(*argv)`` (RM_Call) runs any command through
Server.call on the server's module client, in the caller's database; its
writes count as this command's effects.

Replies. The value a handler returns is encoded for the client's protocol:
bytes -> bulk string, str -> simple string, int -> integer, float ->
double, bool -> boolean, None -> null, list -> array, dict -> map, and
the builders below for what has no Python literal (``null_array()``,
``error('ERR ...')``, ``verbatim``, ``set_``). RESP2 clients get what
Redis's RM_ReplyWith* send them (a double as a bulk string, a map as a flat
array, a boolean as 1/0).

Blocking. ``ctx.block(timeout_ms, on_timeout)`` parks the client (the
handler returns what block returned) and gives a BlockedClient; its
``unblock(reply)`` - from a later command, a timer, another thread -
sends the reply (a value, or a function of a Context run for the blocked
client, which may write keys). The wait times out after ``timeout_ms`` (0:
never) with ``on_timeout(ctx)``'s reply, and CLIENT UNBLOCK ends it as it
ends BLPOP's (TIMEOUT: on_timeout's reply; ERROR: -UNBLOCKED), as Redis
does for a module that gave a timeout callback. Inside MULTI or a script a
module command cannot block: it replies Redis's error instead.
"""

from .. import clock, log, resp
from ..commands import DISPATCH, blocking
from ..networking import Client
from ..notify import NotifyFlags
from ..resp import ErrorReply, Verbatim, WRONGTYPE_ERR, CommandError
from .. import values
from .types import DataType, ModuleValue

import asyncio
import itertools

import hiredis

# Redis's module command flag strings (RM_CreateCommand) and the command
# table's own names, both accepted, as the table names.
FLAG_ALIASES = {
    'write': 'write', 'readonly': 'readonly', 'admin': 'admin', 'deny-oom': 'denyoom',
    'denyoom': 'denyoom', 'deny-script': 'noscript', 'noscript': 'noscript',
    'allow-loading': 'loading', 'loading': 'loading', 'pubsub': 'pubsub',
    'allow-stale': 'stale', 'stale': 'stale', 'no-monitor': 'skip_monitor',
    'skip_monitor': 'skip_monitor', 'no-slowlog': 'skip_slowlog',
    'skip_slowlog': 'skip_slowlog', 'fast': 'fast', 'no-auth': 'no_auth',
    'no_auth': 'no_auth', 'may-replicate': 'may_replicate',
    'may_replicate': 'may_replicate', 'no-mandatory-keys': 'no_mandatory_keys',
    'no_mandatory_keys': 'no_mandatory_keys', 'blocking': 'blocking',
    'allow-busy': 'allow_busy', 'allow_busy': 'allow_busy', 'no-multi': 'no_multi',
    'no_multi': 'no_multi', 'random': None, 'no-cluster': None, 'getkeys-api': None,
}
# addReplyCommandFlags' order ('module' is every module command's).
FLAG_ORDER = ('write', 'readonly', 'denyoom', 'module', 'admin', 'pubsub', 'noscript',
              'blocking', 'loading', 'stale', 'skip_monitor', 'skip_slowlog', 'asking',
              'fast', 'no_auth', 'may_replicate', 'no_mandatory_keys', 'no_multi',
              'movablekeys', 'allow_busy')
KEY_FLAG_ORDER = ('RO', 'RW', 'OW', 'RM', 'access', 'update', 'insert', 'delete', 'not_key',
                  'incomplete', 'variable_flags')
REPLICATE = ('verbatim', 'effects', None)


class ReplyError(Exception):
    """Raised by a handler: its message is the error reply ('ERR ...',
    'WRONGTYPE ...': the first word is the error code)."""


class CommandSpec:
    """One command a module declares: its handler and its table facts."""

    def __init__(self, module, name, fn, arity, flags, keys, key_flags, key_specs,
                 acl_categories, summary, since, complexity, arguments, tips, replicate):
        if replicate not in REPLICATE:
            raise ValueError('replicate must be one of %r' % (REPLICATE,))
        if '|' in name or not name or any(ch.isspace() for ch in name):
            raise ValueError('invalid command name %r' % name)
        self.module = module
        self.name = name.lower()
        self.fn = fn
        self.arity = arity
        table_flags = set()
        for f in flags:
            if f not in FLAG_ALIASES:
                raise ValueError('unknown command flag %r' % f)
            if FLAG_ALIASES[f]:
                table_flags.add(FLAG_ALIASES[f])
        table_flags.add('module')
        self.flags = tuple(f for f in FLAG_ORDER if f in table_flags)
        first, last, step = keys
        self.keys = (first, last, step)
        if key_specs is None:
            key_specs = []
            if first:
                # moduleCreateCommandProxy's spec for first/last/step,
                # CMD_KEY_FULL_ACCESS unless told.
                kf = key_flags or ('RW', 'access', 'update')
                key_specs.append({
                    b'flags': tuple(f for f in KEY_FLAG_ORDER if f in kf),
                    b'begin_search': {b'type': b'index', b'spec': {b'index': first}},
                    b'find_keys': {b'type': b'range', b'spec': {
                        b'lastkey': last if last < 0 else last - first, b'keystep': step,
                        b'limit': 0}}})
        self.key_specs = tuple(_bytes_keys(s) for s in key_specs)
        cats = set(c.lstrip('@').lower() for c in acl_categories)
        # setImplicitACLCategories.
        fl = self.flags
        if 'write' in fl:
            cats.add('write')
        if 'readonly' in fl:
            cats.add('read')
        if 'admin' in fl:
            cats.update(('admin', 'dangerous'))
        if 'pubsub' in fl:
            cats.add('pubsub')
        if 'fast' in fl:
            cats.add('fast')
        if 'blocking' in fl:
            cats.add('blocking')
        if 'fast' not in cats:
            cats.add('slow')
        self.categories = cats
        self.tips = tuple(t.encode() if isinstance(t, str) else t for t in tips)
        self.replicate = replicate
        docs = {}
        if summary:
            docs[b'summary'] = _b(summary)
        if since:
            docs[b'since'] = _b(since)
        docs[b'group'] = b'module'
        if complexity:
            docs[b'complexity'] = _b(complexity)
        docs[b'module'] = module.name.encode()
        if arguments:
            docs[b'arguments'] = [_bytes_keys(a) for a in arguments]
        self.docs = docs


def _b(s):
    return s.encode() if isinstance(s, str) else s


def _bytes_keys(d):
    """A spec or argument given with str keys/values, as the facts' bytes."""
    out = {}
    for k, v in d.items():
        k = _b(k)
        if isinstance(v, dict):
            v = _bytes_keys(v)
        elif isinstance(v, list):
            v = [_bytes_keys(x) if isinstance(x, dict) else x for x in v]
        elif isinstance(v, str) and k != b'flags':
            v = v.encode()
        elif k == b'flags' and not isinstance(v, tuple):
            v = tuple(v)
        out[k] = v
    return out


class Module:
    """What a module file declares (RedisModule_Init + CreateCommand +
    CreateDataType): made once per file, read by the loader."""

    def __init__(self, name, version=1):
        if not name or ' ' in name:
            raise ValueError('invalid module name %r' % name)
        self.name = name
        self.version = version
        self.commands = []
        self.types = []
        self.on_load = None         # fn(ctx, args, configs) -> None (raise to refuse)
        self.on_unload = None       # fn() -> None (raise to refuse)

    def command(self, name, arity, flags=(), keys=(0, 0, 0), key_flags=None, key_specs=None,
                acl_categories=(), summary=None, since=None, complexity=None, arguments=None,
                tips=(), replicate='verbatim'):
        """Declare the decorated function (ctx, argv) -> reply as command
        ``name``: ``arity`` as Redis's (negative: at least), ``flags`` from
        write, readonly, denyoom (deny-oom), fast, admin, noscript
        (deny-script), loading, stale, pubsub, blocking, no_auth,
        no_mandatory_keys, may_replicate, no_multi, allow_busy..., ``keys``
        the legacy (first, last, step) with ``key_flags`` for its key spec
        (RW/RO/OW/RM, access/update/insert/delete; RW access update by
        default, as Redis), or full ``key_specs`` as COMMAND shows them;
        ``acl_categories`` beyond those the flags imply; the COMMAND DOCS
        fields; ``replicate`` (header)."""
        def label(fn):
            self.commands.append(CommandSpec(
                self, name, fn, arity, flags, keys, key_flags, key_specs, acl_categories,
                summary, since, complexity, arguments, tips, replicate))
            return fn
        return label

    def data_type(self, name, encver, rdb_save, rdb_load, aof_rewrite, copy=None,
                  mem_usage=None):
        """Declare a data type (RM_CreateDataType): ``name`` 9 characters of
        A-Z a-z 0-9 - _ (what TYPE answers), ``encver`` 0-1023 (written
        with each value, given back to rdb_load). See types.DataType."""
        dt = DataType(name, encver, rdb_save, rdb_load, aof_rewrite, copy, mem_usage,
                      self.name)
        self.types.append(dt)
        return dt

    def loaded(self, fn):
        """Decorator: fn(ctx, args, configs) runs when the module is loaded
        (args: the bytes after the path; configs: LOADEX CONFIG pairs)."""
        self.on_load = fn
        return fn

    def unloading(self, fn):
        self.on_unload = fn
        return fn


# -- replies ------------------------------------------------------------------------

class _NullArray:
    __slots__ = ()


NULL_ARRAY = _NullArray()


def simple(s):
    return s.decode() if isinstance(s, (bytes, bytearray)) else str(s)


def error(msg):
    return ErrorReply(msg.decode() if isinstance(msg, (bytes, bytearray)) else msg)


def integer(n):
    return int(n)


def bulk(b):
    return b.encode() if isinstance(b, str) else bytes(b)


def null():
    return None


def null_array():
    return NULL_ARRAY


def array(items):
    return list(items)


def map_(pairs):
    return dict(pairs)


def set_(items):
    return tuple(items)


def double(d):
    return float(d)


def boolean(b):
    return bool(b)


def verbatim(text):
    return Verbatim(text.encode() if isinstance(text, str) else text)


def encode_reply(v, protocol):
    """A handler's return value as RESP bytes for ``protocol`` (2 or 3)."""
    out = []
    _encode(v, protocol, out)
    return b''.join(out)


def _encode(v, protocol, out):
    t = type(v)
    if t is list:
        out.append(b'*%d\r\n' % len(v))
        for x in v:
            _encode(x, protocol, out)
    elif t is dict:
        out.append(resp.map_header(len(v), protocol))
        for k, x in v.items():
            _encode(k, protocol, out)
            _encode(x, protocol, out)
    elif t is tuple:
        out.append(resp.set_header(len(v), protocol))
        for x in v:
            _encode(x, protocol, out)
    elif v is NULL_ARRAY:
        out.append(resp.null_array(protocol))
    elif t is ErrorReply:
        out.append(resp.error(v.encode()))
    elif t is float:
        out.append(_double(v, protocol))
    else:
        out.append(resp.encode(v, protocol))


def _double(d, protocol):
    if d != d:
        return b',nan\r\n' if protocol == 3 else resp.bulk(b'nan')
    return resp.double(d, protocol)


# -- the context of a call ------------------------------------------------------------

STRING, LIST, HASH, SET, ZSET = (values.STRING, values.LIST, values.HASH, values.SET,
                                 values.ZSET)
_N = NotifyFlags


class Context:
    """RedisModuleCtx: one command call (or one unblock/timeout callback)
    of one client."""
    __slots__ = ('_c', '_server', 'module', 'command', '_effects', '_replicated',
                 '_verbatim', '_argv')

    def __init__(self, c, module, command=None, argv=None):
        self._c = c
        self._server = c.server
        self.module = module            # the Module
        self.command = command          # the CommandSpec (None in callbacks)
        self._effects = []              # what Key writes did, as commands
        self._replicated = []           # ctx.replicate()'s
        self._verbatim = False
        self._argv = argv

    # -- about the call ---------------------------------------------------------------

    @property
    def client_id(self):
        return self._c.id

    @property
    def protocol(self):
        """2 or 3: the client's RESP version (HELLO)."""
        return self._c.resp

    @property
    def db(self):
        """The selected database's number."""
        return self._c.db.id

    @property
    def username(self):
        return self._c.user.name

    def now_ms(self):
        """The server clock in milliseconds (frozen during a script, moved
        by DEBUG CLOCK in tests): what expiry uses."""
        return int(clock.time() * 1000)

    def log(self, message, level='notice'):
        getattr(log, level)('<%s> %s' % (self.module.name, message))

    def ok(self):
        return 'OK'

    # -- keys ---------------------------------------------------------------------------

    def open_key(self, name, write=False):
        """RM_OpenKey: the key ``name`` (bytes) of the selected database,
        for reading (a keyspace hit or miss) or also writing."""
        if isinstance(name, str):
            name = name.encode()
        return Key(self, name, write)

    def notify(self, event, key, cls='module'):
        """RM_NotifyKeyspaceEvent: fire ``event`` for ``key`` in class
        ``cls`` ('module' (d), 'generic', 'string', 'list', 'hash', 'set',
        'zset')."""
        self._server.notify(_CLASSES[cls], _b(event), _b(key), self._c.db.id)

    # -- propagation --------------------------------------------------------------------

    def replicate(self, *argv):
        """RM_Replicate: propagate this command (after the call, with the
        others it asks for, in MULTI/EXEC when more than one)."""
        self._replicated.append([_arg(a) for a in argv])

    def replicate_verbatim(self):
        """RM_ReplicateVerbatim: propagate the command as it was typed."""
        self._verbatim = True

    def _ops(self, dirty_changed):
        """What to propagate for this call."""
        spec = self.command
        mode = spec.replicate if spec is not None else 'effects'
        ops = []
        if self._verbatim or (mode == 'verbatim' and dirty_changed):
            if self._argv is not None:
                ops.append(list(self._argv))
        elif mode == 'effects':
            ops.extend(self._effects)
        ops.extend(self._replicated)
        return ops

    # -- calling commands -----------------------------------------------------------------

    def call(self, *argv):
        """RM_Call: run any command through Server.call on the server's
        module client (no connection, so a blocking command answers at
        once; no ACL check, as RM_Call without 'C'), in this client's
        database. Its writes are this command's effects (propagated with
        replicate='effects', in one MULTI/EXEC with the others). Returns
        the reply as Python values (bulk -> bytes, array -> list, ...);
        an error reply raises ReplyError."""
        server = self._server
        argv = [_arg(a) for a in argv]
        cmd = DISPATCH.get(argv[0]) if argv else None
        if cmd is None and argv:
            cmd = DISPATCH.get(argv[0].lower())
        if cmd is None:
            raise ReplyError("ERR unknown command '%s'" % (argv[0].decode('latin-1')
                                                          if argv else ''))
        if cmd.subcommands is not None and len(argv) >= 2:
            cmd = cmd.subcommands.get(argv[1].lower()) or cmd
        if not cmd.min_args <= len(argv) <= cmd.max_args or cmd.proc is None:
            raise ReplyError("ERR wrong number of arguments for '%s' command" % cmd.fullname)
        mc = getattr(server, 'module_client', None)
        if mc is None:
            mc = server.module_client = ModuleClient(server)
        mc.db = self._c.db
        pending = server.also_propagated
        queued = len(pending)
        prev, server.in_exec = server.in_exec, True
        try:
            server.call(mc, cmd, argv)
        finally:
            server.in_exec = prev
        pending = server.also_propagated
        if len(pending) > queued:
            self._effects.extend(list(op) for _, op in pending[queued:])
            del pending[queued:]
        out = b''.join(mc.out)
        mc.out.clear()
        reader = hiredis.Reader()
        reader.feed(out)
        value = reader.gets()
        if isinstance(value, hiredis.ReplyError):
            raise ReplyError(str(value))
        return value

    # -- blocking -----------------------------------------------------------------------

    def block(self, timeout_ms=0, on_timeout=None):
        """RM_BlockClient: park the client; return what this returns from
        the handler. ``on_timeout(ctx)`` gives the reply when the wait
        times out or CLIENT UNBLOCK ends it (without it a timeout replies
        a null array and CLIENT UNBLOCK leaves the client alone, as Redis
        leaves a module client blocked without a timeout callback)."""
        c = self._c
        registry = getattr(self._server, 'module_registry', None)
        loaded = registry.get(self.module.name) if registry is not None else None
        host = self._server.scripting
        if host is not None and getattr(host, 'ctx', None) is not None:
            # (A script (EVAL, FCALL) runs with in_exec set too.)
            return BlockedClient(None, None, self.module, loaded,
                                 error('ERR Blocking module command called from Lua script'))
        if c.multi is not None or self._server.in_exec or blocking.deny_blocking(c):
            return BlockedClient(None, None, self.module, loaded,
                                 error('ERR Blocking module command called from transaction'))
        bc = BlockedClient(c, None, self.module, loaded, None)

        def timed_out(client):
            return bc._timeout_reply()

        blocking.block(c, [], int(timeout_ms), None, b'module',
                       on_timeout=timed_out if on_timeout is not None else None)
        bc._state = c.blocked
        bc._on_timeout = on_timeout
        if loaded is not None:
            loaded.blocked.add(bc)
        return bc


class ModuleClient(Client):
    """The client ctx.call runs commands on (Redis's module fake client)."""
    __slots__ = ()
    monitor_source = b'module'

    def __init__(self, server):
        super().__init__(server)
        self.authenticated = True
        self.update_gate()


_CLASSES = {'module': _N.MODULE, 'generic': _N.GENERIC, 'string': _N.STRING,
            'list': _N.LIST, 'hash': _N.HASH, 'set': _N.SET, 'zset': _N.ZSET,
            'stream': _N.STREAM}


class BlockedClient:
    """RedisModuleBlockedClient: a parked client and how it ends."""

    def __init__(self, c, state, module, loaded, immediate):
        self._c = c
        self._state = state
        self._module = module
        self._loaded = loaded
        self._on_timeout = None
        self.immediate = immediate      # the reply when it could not block

    @property
    def blocked(self):
        """Whether the client still waits (not answered, gone, timed out)."""
        return self._c is not None and self._c.blocked is self._state

    def unblock(self, reply=None):
        """RM_UnblockClient: answer the client with ``reply`` (a reply value,
        or a function(ctx) -> reply run for the blocked client: it may write
        keys, propagated as effects). False when it no longer waits.
        Thread-safe, as RM_UnblockClient is: from another thread (a module's
        worker) it is handed to the server's event loop, and returns True."""
        if self._c is not None:
            loop = self._c.server.loop
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if loop is not None and running is not loop:
                loop.call_soon_threadsafe(self.unblock, reply)
                return True
        if not self.blocked:
            self._forget()
            return False
        c = self._c
        server = c.server
        if callable(reply):
            ctx = Context(c, self._module)
            dirty = server.dirty
            server.executing_client = c
            try:
                out = encode_reply(reply(ctx), c.resp)
            except ReplyError as e:
                out = encode_reply(error(str(e)), c.resp)
            except CommandError as e:
                out = e.reply
            finally:
                server.executing_client = None
            for op in ctx._ops(server.dirty != dirty):
                server.also_propagate(c.db.id, op)
            server.flush_propagation()
        else:
            out = encode_reply(reply, c.resp)
        if out[:1] == b'-':
            server.error_replied(out)
        self._forget()
        blocking.unblock(c, out)
        return True

    def _timeout_reply(self):
        self._forget()
        c = self._c
        if self._on_timeout is None:
            return encode_reply(None, c.resp)
        ctx = Context(c, self._module)
        try:
            value = self._on_timeout(ctx)
        except ReplyError as e:
            value = error(str(e))
        return encode_reply(value, c.resp)

    def _forget(self):
        if self._loaded is not None:
            self._loaded.blocked.discard(self)


# -- keys -----------------------------------------------------------------------------------

def _arg(a):
    """An argument as the bytes a command gets."""
    if isinstance(a, str):
        return a.encode()
    if isinstance(a, bool):
        return b'1' if a else b'0'
    if isinstance(a, int):
        return b'%d' % a
    if isinstance(a, float):
        return b'%.17g' % a
    return bytes(a)


def _int(reply):
    return int(reply[1:-2])


def _bulk(reply):
    if reply[:1] != b'$' or reply[:3] == b'$-1':
        return None
    return reply[reply.index(b'\r\n') + 2:-2]


class Key:
    """RedisModuleKey: one key opened by a call. Reads see the value found
    when it was opened and every write made through it since."""
    __slots__ = ('_ctx', '_db', 'name', 'write', '_v')

    def __init__(self, ctx, name, write):
        self._ctx = ctx
        self._db = db = ctx._c.db
        self.name = name
        self.write = write
        self._v = db.lookup_write(name) if write else db.lookup(name)

    # -- what it holds ---------------------------------------------------------------

    def exists(self):
        return self._v is not None

    @property
    def type(self):
        """'none', 'string', 'list', 'hash', 'set', 'zset', 'stream', or a
        module data type's name: what TYPE answers."""
        if self._v is None:
            return 'none'
        return values.type_name(self._v).decode()

    def __len__(self):
        """RM_ValueLength: a string's length, a collection's size, 0 if
        missing."""
        v = self._v
        if v is None:
            return 0
        if isinstance(v, ModuleValue):
            return 0
        return len(v)

    def _typed(self, kind):
        v = self._v
        if v is not None and v.__class__ not in kind:
            raise CommandError(WRONGTYPE_ERR)
        return v

    def _writable(self):
        if not self.write:
            raise ReplyError('ERR key opened for reading only')

    def _run(self, *argv):
        """A write through the core command that does it, run on this
        call's client (its handler, not a nested call(): no statistics,
        no propagation of its own), so that encodings, keyspace events,
        dirty, WATCH, tracking and blocked clients are exactly the core's.
        Its deterministic form (what it would have propagated) is this
        call's effect. The reply, or CommandError for an error reply."""
        self._writable()
        argv = [a if a.__class__ is bytes else _arg(a) for a in argv]
        c = self._ctx._c
        saved, c.propagate_argv = c.propagate_argv, None
        reply = DISPATCH[argv[0]].proc(c, argv)
        ops, c.propagate_argv = c.propagate_argv, saved
        if reply is not None and reply[:1] == b'-':
            raise CommandError(reply)
        effects = self._ctx._effects
        if ops is not None:
            effects.extend(list(op) for op in ops)
        else:
            effects.append(argv)
        self._v = self._db.data.get(self.name)
        return reply

    # -- delete and expiry --------------------------------------------------------------

    def delete(self):
        """RM_DeleteKey (DEL). True when there was a key."""
        return _int(self._run(b'DEL', self.name)) == 1

    def ttl_ms(self):
        """RM_GetExpire: milliseconds left, or None without an expiry (or
        key)."""
        if self._v is None:
            return None
        when = self._db.get_expire(self.name)
        if when is None or when < 0:
            return None
        return max(0, int(when - clock.time() * 1000))

    def expire_at_ms(self):
        """RM_GetAbsExpire: the Unix time in ms it expires at, or None."""
        if self._v is None:
            return None
        when = self._db.get_expire(self.name)
        return None if when is None or when < 0 else int(when)

    def set_expire(self, ms):
        """RM_SetExpire (PEXPIRE): expire in ``ms`` milliseconds (an effect
        as PEXPIREAT, as Redis propagates relative expiries)."""
        return _int(self._run(b'PEXPIRE', self.name, int(ms))) == 1

    def set_expire_at(self, when_ms):
        """RM_SetAbsExpire (PEXPIREAT): expire at the Unix time ``when_ms``."""
        return _int(self._run(b'PEXPIREAT', self.name, int(when_ms))) == 1

    def persist(self):
        return _int(self._run(b'PERSIST', self.name)) == 1

    # -- strings ------------------------------------------------------------------------

    def get_string(self):
        """The string value (bytes), None if missing; WRONGTYPE otherwise."""
        v = self._typed(STRING)
        return None if v is None else bytes(v)

    def set_string(self, value, keepttl=False):
        """RM_StringSet (SET): replaces any value; drops the TTL unless
        ``keepttl``."""
        if keepttl:
            self._run(b'SET', self.name, value, b'KEEPTTL')
        else:
            self._run(b'SET', self.name, value)

    def incr(self, by=1):
        """INCRBY: the new value (a missing key counts from 0)."""
        return _int(self._run(b'INCRBY', self.name, int(by)))

    # -- lists --------------------------------------------------------------------------

    def list_range(self, start=0, stop=-1):
        """LRANGE start stop (inclusive, negative from the end)."""
        v = self._typed(LIST)
        if v is None:
            return []
        n = len(v)
        if start < 0:
            start = max(0, n + start)
        if stop < 0:
            stop = n + stop
        stop = min(stop, n - 1)
        if start > stop:
            return []
        return list(itertools.islice(v, start, stop + 1))

    def list_push(self, *items, head=False):
        """LPUSH (head) or RPUSH: the new length."""
        if not items:
            return len(self._typed(LIST) or ())
        return _int(self._run(b'LPUSH' if head else b'RPUSH', self.name, *items))

    def list_pop(self, head=True):
        """LPOP (head) or RPOP: the element, None when there is none."""
        if self._typed(LIST) is None:
            return None
        return _bulk(self._run(b'LPOP' if head else b'RPOP', self.name))

    # -- hashes -------------------------------------------------------------------------

    def hash_get(self, field):
        v = self._typed(HASH)
        return None if v is None else v.get(_arg(field))

    def hash_items(self):
        """Every field and value, as a new dict."""
        v = self._typed(HASH)
        return {} if v is None else dict(v.items())

    def hash_set(self, mapping):
        """HSET: the number of new fields."""
        if not mapping:
            return 0
        flat = []
        for f, x in mapping.items():
            flat.append(f)
            flat.append(x)
        return _int(self._run(b'HSET', self.name, *flat))

    def hash_delete(self, *fields):
        """HDEL: the number removed."""
        if not fields or self._typed(HASH) is None:
            return 0
        return _int(self._run(b'HDEL', self.name, *fields))

    # -- sets ---------------------------------------------------------------------------

    def set_members(self):
        v = self._typed(SET)
        return set() if v is None else set(v)

    def set_contains(self, member):
        v = self._typed(SET)
        return v is not None and _arg(member) in v

    def set_add(self, *members):
        """SADD: the number added."""
        if not members:
            return 0
        return _int(self._run(b'SADD', self.name, *members))

    def set_remove(self, *members):
        """SREM: the number removed."""
        if not members or self._typed(SET) is None:
            return 0
        return _int(self._run(b'SREM', self.name, *members))

    # -- sorted sets --------------------------------------------------------------------

    def zset_score(self, member):
        v = self._typed(ZSET)
        if v is None:
            return None
        return dict(v.items()).get(_arg(member)) if not hasattr(v, 'dict') \
            else v.dict.get(_arg(member))

    def zset_items(self):
        """[(member, score)] from the lowest score."""
        v = self._typed(ZSET)
        return [] if v is None else list(v.items())

    def zset_add(self, mapping):
        """ZADD {member: score}: the number of new members."""
        if not mapping:
            return 0
        flat = []
        for m, score in mapping.items():
            flat.append(b'%.17g' % float(score))
            flat.append(m)
        return _int(self._run(b'ZADD', self.name, *flat))

    def zset_remove(self, *members):
        """ZREM: the number removed."""
        if not members or self._typed(ZSET) is None:
            return 0
        return _int(self._run(b'ZREM', self.name, *members))

    # -- module data types --------------------------------------------------------------

    def get_value(self, dtype):
        """RM_ModuleTypeGetValue: the module's object stored under the key
        (None if missing); WRONGTYPE when the key holds anything else."""
        v = self._v
        if v is None:
            return None
        if v.__class__ is not dtype.cls:
            raise CommandError(WRONGTYPE_ERR)
        return v.value

    def set_value(self, dtype, value, event=None):
        """RM_ModuleTypeSetValue: store ``value`` as a ``dtype`` value,
        replacing whatever the key held, TTL included (Redis deletes the
        key first). ``event``: the keyspace event (class 'd'), the
        command's name by default."""
        self._writable()
        wrapped = dtype.wrap(value)
        had_ttl = False
        if self._v is None:
            self._db.add(self.name, wrapped)
        else:
            had_ttl = self._db.get_expire(self.name) not in (None, -1)
            self._db.set(self.name, wrapped)
        self._v = wrapped
        if had_ttl:
            self._ctx._effects.append([b'PERSIST', self.name])
        self._value_changed(event)

    def modified(self, event=None):
        """Tell that the module's object under this key was changed in
        place: the write's side effects (dirty, WATCH, tracking, event,
        and for replicate='effects' the value's aof_rewrite commands)."""
        self._writable()
        if not isinstance(self._v, ModuleValue):
            raise ValueError('modified() is for module data type values')
        self._value_changed(event)

    def _value_changed(self, event):
        ctx = self._ctx
        if event is None:
            event = ctx.command.name if ctx.command is not None else ctx.module.name
        v = self._v
        self._ctx._server.key_modified(self._db, self.name, _N.MODULE, _b(event))
        for argv in v.module_type.aof_rewrite(self.name, v.value):
            ctx._effects.append([_b(a) if isinstance(a, str) else bytes(a) for a in argv])
