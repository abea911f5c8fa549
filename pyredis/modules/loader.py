"""Loading and unloading modules (module.c's moduleLoad/moduleUnload).

``load(server, path, args, configs)`` imports a module - a file path
(``something.py``, or any path that exists) or an importable module name
(``pyredis.modules.examples.ratelimit``) - finds the one ``api.Module`` it
creates, runs its ``on_load`` hook, and enters its commands in the command
table and its data types in the type registry. A file is executed afresh
at every load, so MODULE UNLOAD + MODULE LOAD picks up an edited file.

A module's command becomes a Command of the table (commands.TABLE, where
dispatch, COMMAND, ACL, MULTI and scripts find every command) whose proc
runs the module's handler with a Context, then hands what the call
produced to Server.call's propagation: the command runs through the same
call() as any other.

The command table and the data-type registry are per process, while
MODULE LOAD is per server: several servers in one process (pyredis.serve)
share a module's commands once any of them loads it. A server that has not
loaded the module answers its commands with the unknown-command error (its
COMMAND output lists them all the same: the one difference from separate
processes). A module is entered in the table by its first loader and
removed by its last unloader.
"""

import importlib
import importlib.util
import itertools
import os
import sys
import weakref

from .. import acl, log, values
from ..commands import DISPATCH, TABLE, Command
from ..networking import share_command_names
from ..resp import CommandError
from ..server import unknown_command_error
from . import types as module_types
from .api import BlockedClient, Context, Module, ReplyError, encode_reply, error

_SHARED = {}            # module name -> _Shared (process-wide)
_SERVERS = weakref.WeakSet()    # servers that loaded a module (their ACL tables)
_seq = itertools.count(1)


class LoadError(Exception):
    """Why a module did not load (logged; the client gets Redis's generic
    error)."""


class Loaded:
    """One module loaded in one server: what MODULE LIST shows."""

    def __init__(self, module, path, args):
        self.module = module
        self.name = module.name
        self.path = path
        self.args = args
        self.blocked = set()        # its BlockedClients (api.py)


class _Shared:
    def __init__(self, module, commands, path):
        self.module = module
        self.path = path
        self.commands = commands    # [Command]
        self.servers = 0


def registry(server):
    """The server's loaded modules: name -> Loaded."""
    reg = getattr(server, 'module_registry', None)
    if reg is None:
        reg = server.module_registry = {}
    return reg


# -- importing --------------------------------------------------------------------------

def _import(path):
    if path.endswith('.py') or os.sep in path or os.path.exists(path):
        if not os.path.isfile(path):
            raise LoadError('%s: No such file or directory' % path)
        name = 'pyredis_module_%d_%s' % (next(_seq), os.path.basename(path).split('.')[0])
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None:
            raise LoadError('%s: not a Python module' % path)
        pymod = importlib.util.module_from_spec(spec)
        sys.modules[name] = pymod
        try:
            spec.loader.exec_module(pymod)
        except Exception:
            sys.modules.pop(name, None)
            raise
        return pymod
    try:
        return importlib.import_module(path)
    except ImportError as e:
        raise LoadError(str(e))


def _module_of(pymod):
    found = [v for v in vars(pymod).values() if isinstance(v, Module)]
    if len(found) != 1:
        raise LoadError('a module must create exactly one pyredis.modules.api.Module '
                        '(found %d)' % len(found))
    return found[0]


# -- the command table ------------------------------------------------------------------

def _command(spec):
    first, last, step = spec.keys
    info = [spec.name.encode(), spec.arity, spec.flags, first, last, step,
            tuple('@' + cat for cat in acl.CATEGORIES if cat in spec.categories),
            spec.tips, spec.key_specs, []]
    cmd = Command(spec.name, info, spec.docs)
    cmd.proc = _proc(spec)
    return cmd


def _proc(spec):
    module = spec.module
    fn = spec.fn
    name = module.name

    def proc(c, argv):
        server = c.server
        reg = getattr(server, 'module_registry', None)
        if reg is None or name not in reg:
            return unknown_command_error(argv)
        ctx = Context(c, module, spec, argv)
        dirty = server.dirty
        reply = None
        try:
            value = fn(ctx, argv)
        except ReplyError as e:
            value = error(str(e))
        except CommandError as e:
            value = None
            reply = e.reply
        ops = ctx._ops(server.dirty != dirty)
        if server.dirty != dirty:
            # call() propagates these instead of the command as typed.
            c.propagate_argv = ops
        else:
            for op in ops:
                server.also_propagate(c.db.id, op)
        if reply is not None:
            return reply
        if value.__class__ is BlockedClient:
            if value.immediate is not None:
                return encode_reply(value.immediate, c.resp)
            return None
        return encode_reply(value, c.resp)
    proc.__name__ = spec.name.replace('.', '_')
    return proc


def _enter(shared):
    for cmd in shared.commands:
        name = cmd.fullname.encode()
        TABLE[name] = cmd
        DISPATCH[name] = cmd
        DISPATCH[name.upper()] = cmd
        acl.add_command(cmd.fullname, [cat[1:] for cat in cmd.info[6]])
        acl.prepare_command(cmd)
    for dt in shared.module.types:
        module_types.register(dt)
        values.register_type(dt.cls, dt.name.encode(), _raw_encoding)
    share_command_names()


def _remove(shared):
    for cmd in shared.commands:
        name = cmd.fullname.encode()
        if TABLE.get(name) is cmd:
            del TABLE[name]
            DISPATCH.pop(name, None)
            DISPATCH.pop(name.upper(), None)
        acl.remove_command(cmd.fullname)
    for dt in shared.module.types:
        module_types.unregister(dt)
        values.TYPE_NAMES.pop(dt.cls, None)
        values.ENCODERS.pop(dt.cls, None)
    share_command_names()


def _raw_encoding(server, v):
    # OBJECT ENCODING of a module value: its robj is OBJ_ENCODING_RAW.
    return b'raw'


def _acl_changed():
    # Restricted users' tables (acl.User.table) hold the commands they may
    # run: rebuilt after the table changed.
    for server in list(_SERVERS):
        server.acl.changed()


# -- load and unload ------------------------------------------------------------------

def load(server, path, args=(), configs=None, own_configs_only=False):
    """moduleLoad. Raises LoadError with the reason (for the log).
    ``configs``: name -> value (MODULE LOADEX CONFIG; with
    ``own_configs_only``, redis.conf's lines, of which the module gets
    those named <module>.<name>)."""
    here = os.path.realpath(path) if os.path.exists(path) else path
    module = next((s.module for s in _SHARED.values() if s.path == here), None)
    if module is None:
        # (A file another server of this process loaded is not executed
        # again: they share its commands.)
        try:
            pymod = _import(path)
        except LoadError:
            raise
        except Exception as e:
            raise LoadError('%s: %s: %s' % (path, type(e).__name__, e))
        module = _module_of(pymod)
    if own_configs_only and configs:
        configs = {k: v for k, v in configs.items() if k.startswith(module.name + '.')}
    reg = registry(server)
    if module.name in reg:
        raise LoadError('module %s already loaded' % module.name)
    shared = _SHARED.get(module.name)
    if shared is not None and shared.module is not module:
        # The same name from another file (or the same file executed
        # again) while a server of this process still has the first.
        raise LoadError('another module named %s is loaded in this process' % module.name)
    if shared is None:
        for spec in module.commands:
            if TABLE.get(spec.name.encode()) is not None:
                raise LoadError('command %s already exists' % spec.name)
        for dt in module.types:
            if dt.name in module_types.BY_NAME:
                raise LoadError('data type %s already exists' % dt.name)
        shared = _Shared(module, [_command(spec) for spec in module.commands], here)
    loaded = Loaded(module, path, list(args))
    if module.on_load is not None:
        try:
            module.on_load(_LoadContext(server, module), list(args), dict(configs or {}))
        except Exception as e:
            raise LoadError('%s initialization failed: %s' % (module.name, e))
    elif configs:
        raise LoadError('Module Configurations were not set, likely a missing LoadConfigs '
                        'call. Unloading the module.')
    if shared.servers == 0:
        _enter(shared)
        _SHARED[module.name] = shared
    shared.servers += 1
    reg[module.name] = loaded
    _SERVERS.add(server)
    _acl_changed()
    log.notice('Module \'%s\' loaded from %s' % (module.name, path))
    return loaded


# moduleUnload's refusals, as MODULE UNLOAD words them.
NO_SUCH_MODULE = 'no such module with that name'
HAS_TYPES = "the module exports one or more module-side data types, can't unload"
HAS_BLOCKED = 'the module has blocked clients. Please wait them unblocked and try again'
NOT_POSSIBLE = 'operation not possible.'


def unload(server, name):
    """moduleUnload: None, or the reason it refuses (one of the above)."""
    reg = registry(server)
    loaded = reg.get(name)
    if loaded is None:
        return NO_SUCH_MODULE
    module = loaded.module
    if module.types:
        return HAS_TYPES
    if any(bc.blocked for bc in loaded.blocked):
        return HAS_BLOCKED
    if module.on_unload is not None:
        try:
            module.on_unload()
        except Exception as e:
            log.warning('Module %s OnUnload failed.  Unload canceled. (%s)' % (name, e))
            return NOT_POSSIBLE
    del reg[name]
    shared = _SHARED.get(name)
    if shared is not None:
        shared.servers -= 1
        if shared.servers <= 0:
            _remove(shared)
            del _SHARED[name]
    _acl_changed()
    log.notice('Module %s unloaded' % name)
    return None


class _LoadContext:
    """What on_load gets: the module and a way to log."""

    def __init__(self, server, module):
        self.module = module
        self._server = server

    def log(self, message, level='notice'):
        getattr(log, level)('<%s> %s' % (self.module.name, message))


def release_all(server):
    """The server stops: its modules leave the process's table when no
    other server of the process has them (nothing is refused: the
    dataset was saved before)."""
    reg = registry(server)
    for name in list(reg):
        del reg[name]
        shared = _SHARED.get(name)
        if shared is not None:
            shared.servers -= 1
            if shared.servers <= 0:
                _remove(shared)
                del _SHARED[name]
    _SERVERS.discard(server)
