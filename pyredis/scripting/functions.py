"""Function libraries (functions.c, function_lua.c): FUNCTION LOAD's
libraries, their functions, and their persistence.

All libraries share one Lua state (separate from EVAL's, as Redis). A
library is loaded by running its code with the library API, during which
``redis.register_function`` adds functions to the library being built
(``Functions.loading``); nothing is committed until the whole library
loaded and its function names are free. Function names are looked up
without regard to case (Redis's functions dict), library names with.

Libraries are persisted as their code: RDB_OPCODE_FUNCTION2 records in the
RDB (``rdb_functions`` / ``rdb_load_function``, which rdb.py calls), the
same records in a FUNCTION DUMP payload, FUNCTION LOAD commands in an AOF
rewrite; FUNCTION LOAD/DELETE/FLUSH/RESTORE reach the AOF and the replicas
as themselves (they are write commands that change ``dirty``).
"""

import re
import time

from .. import rdb
from ..util import split_args
from .engine import FLAG_BY_NAME, LuaState, lua_tostring
from .libs import ScriptRaise

NAME_RE = re.compile(rb'[A-Za-z0-9_]+\Z')
NAME_ERR = (b'Library names can only contain letters, numbers, or underscores(_) and must be '
            b'at least one character long')


class FunctionError(Exception):
    def __init__(self, msg):
        self.msg = msg


class Function:
    __slots__ = ('name', 'func', 'description', 'flags', 'library')

    def __init__(self, name, func, description, flags, library):
        self.name = name
        self.func = func
        self.description = description
        self.flags = flags
        self.library = library


class Library:
    __slots__ = ('name', 'code', 'functions')

    def __init__(self, name, code):
        self.name = name
        self.code = code
        self.functions = {}     # name -> Function


def parse_metadata(code):
    """functionExtractLibMetaData: (engine, library name)."""
    if not code.startswith(b'#!'):
        raise FunctionError(b'Missing library metadata')
    nl = code.find(b'\n')
    if nl < 0:
        raise FunctionError(b'Invalid library metadata')
    parts = split_args(code[:nl])
    if not parts:
        raise FunctionError(b'Invalid library metadata')
    engine = parts[0][2:]
    name = None
    for part in parts[1:]:
        if part.startswith(b'name='):
            if name is not None:
                raise FunctionError(b'Invalid metadata value, name argument was given '
                                    b'multiple times')
            name = part[5:]
        else:
            raise FunctionError(b'Invalid metadata value given: ' + part)
    if name is None:
        raise FunctionError(b'Library name was not given')
    return engine, name, nl


class Functions:
    def __init__(self, host):
        self.host = host
        self.libraries = {}     # name -> Library (in load order)
        self.functions = {}     # lower-case function name -> Function
        self.state = None
        self.loading = None     # the Library being built by FUNCTION LOAD
        self.load_start = 0.0

    def lua(self):
        if self.state is None:
            self.state = LuaState(self.host)
        return self.state

    # -- loading -------------------------------------------------------------------

    def build(self, code):
        """A Library from code (not committed): raises FunctionError."""
        engine, name, nl = parse_metadata(code)
        if engine.lower() != b'lua':
            raise FunctionError(b"Engine '%s' not found" % engine)
        if not NAME_RE.match(name):
            raise FunctionError(NAME_ERR)
        return name, nl

    def compile(self, code, name, nl):
        lib = Library(name, code)
        state = self.lua()
        self.loading = lib
        self.load_start = time.monotonic()
        try:
            err = state.load_library(code[nl:])
        finally:
            self.loading = None
        if err is not None:
            raise FunctionError(err)
        if not lib.functions:
            raise FunctionError(b'No functions registered')
        return lib

    def create(self, code, replace=False):
        """functionsCreateWithLibraryCtx: load and commit a library; returns
        its name or raises FunctionError."""
        name, nl = self.build(code)
        old = self.libraries.get(name)
        if old is not None and not replace:
            raise FunctionError(b"Library '%s' already exists" % name)
        lib = self.compile(code, name, nl)
        for fn in lib.functions.values():
            other = self.functions.get(fn.name.lower())
            if other is not None and other.library is not old:
                raise FunctionError(b'Function %s already exists' % fn.name)
        if old is not None:
            self._remove(old)
        self._add(lib)
        return name

    def _add(self, lib):
        self.libraries[lib.name] = lib
        for fn in lib.functions.values():
            self.functions[fn.name.lower()] = fn

    def _remove(self, lib):
        del self.libraries[lib.name]
        for fn in lib.functions.values():
            if self.functions.get(fn.name.lower()) is fn:
                del self.functions[fn.name.lower()]

    def delete(self, name):
        lib = self.libraries.get(name)
        if lib is None:
            return False
        self._remove(lib)
        return True

    def flush(self):
        """FUNCTION FLUSH: no libraries and a new Lua state."""
        self.libraries = {}
        self.functions = {}
        self.state = None

    def register(self, args):
        """redis.register_function (luaRegisterFunction)."""
        lib = self.loading
        if lib is None:
            raise ScriptRaise(b'ERR redis.register_function can only be called on FUNCTION '
                              b'LOAD command')
        import lupa.lua51 as lupa
        name = callback = desc = None
        flags = 0
        if len(args) == 1:
            t = args[0]
            if lupa.lua_type(t) != 'table':
                raise ScriptRaise(b'ERR calling redis.register_function with a single argument '
                                  b'is only applicable to Lua table (representing named '
                                  b'arguments).')
            for k, v in t.items():
                if type(k) is not bytes:
                    raise ScriptRaise(b'ERR named argument key given to '
                                      b'redis.register_function is not a string')
                if k == b'function_name':
                    v = lua_tostring(v)
                    if v is None:
                        raise ScriptRaise(b'ERR function_name argument given to '
                                          b'redis.register_function must be a string')
                    name = v
                elif k == b'description':
                    v = lua_tostring(v)
                    if v is None:
                        raise ScriptRaise(b'ERR description argument given to '
                                          b'redis.register_function must be a string')
                    desc = v
                elif k == b'callback':
                    if lupa.lua_type(v) != 'function':
                        raise ScriptRaise(b'ERR callback argument given to '
                                          b'redis.register_function must be a function')
                    callback = v
                elif k == b'flags':
                    if lupa.lua_type(v) != 'table':
                        raise ScriptRaise(b'ERR flags argument to redis.register_function '
                                          b'must be a table representing function flags')
                    for _, f in v.items():
                        f = lua_tostring(f)
                        if f not in FLAG_BY_NAME:
                            raise ScriptRaise(b'ERR unknown flag given')
                        flags |= FLAG_BY_NAME[f]
                else:
                    raise ScriptRaise(b'ERR unknown argument given to redis.register_function')
            if name is None:
                raise ScriptRaise(b'ERR redis.register_function must get a function name '
                                  b'argument')
            if callback is None:
                raise ScriptRaise(b'ERR redis.register_function must get a callback argument')
        elif len(args) == 2:
            name, callback = args
            name = lua_tostring(name)
            if name is None:
                raise ScriptRaise(b'ERR first argument to redis.register_function must be a '
                                  b'string')
            if lupa.lua_type(callback) != 'function':
                raise ScriptRaise(b'ERR second argument to redis.register_function must be a '
                                  b'function')
        else:
            raise ScriptRaise(b'ERR wrong number of arguments to redis.register_function')
        if not NAME_RE.match(name):
            raise ScriptRaise(b'ERR ' + NAME_ERR)
        if name in lib.functions:
            raise ScriptRaise(b'ERR Function already exists in the library')
        lib.functions[name] = Function(name, callback, desc, flags, lib)

    # -- persistence ----------------------------------------------------------------

    def codes(self):
        return [lib.code for lib in self.libraries.values()]

    def rdb_load(self, code):
        """rdbFunctionLoad: a library from an RDB (one already there is
        replaced: a reload, or a full sync). Returns an error or None."""
        try:
            self.create(code, replace=True)
        except FunctionError as e:
            return e.msg.decode('utf-8', 'replace')
        return None

    def dump(self):
        """FUNCTION DUMP: FUNCTION2 records, RDB version, CRC64."""
        out = b''.join(b'\xf5' + rdb.encode_string(code, True) for code in self.codes())
        out += bytes((rdb.RDB_VERSION, 0))
        return out + rdb.crc64(out).to_bytes(8, 'little')

    def restore(self, payload, policy):
        """FUNCTION RESTORE: raises FunctionError."""
        if not rdb.verify_dump_payload(payload, not self.host.server.skip_checksum_validation):
            raise FunctionError(b'payload version or checksum are wrong')
        r = rdb.Reader(payload, 0, len(payload) - 10)
        codes = []
        try:
            while r.pos < r.end:
                t = r.byte()
                if t != rdb.OP_FUNCTION2:
                    raise FunctionError(b'given type is not a function')
                codes.append(r.string())
        except rdb.RDBError:
            raise FunctionError(b'payload version or checksum are wrong')
        new = []
        for code in codes:
            name, nl = self.build(code)
            new.append(self.compile(code, name, nl))
        names = {}
        for lib in new:
            for fn in lib.functions.values():
                key = fn.name.lower()
                if key in names:
                    raise FunctionError(b'Function %s already exists' % fn.name)
                names[key] = lib
        if policy == b'flush':
            self.libraries, self.functions = {}, {}
        else:
            for lib in new:
                old = self.libraries.get(lib.name)
                if old is not None and policy == b'append':
                    raise FunctionError(b'Library %s already exists' % lib.name)
            replaced = {lib.name for lib in new}
            for key, fn in self.functions.items():
                if key in names and fn.library.name not in replaced:
                    raise FunctionError(b'Function %s already exists' % fn.name)
            for lib in new:
                old = self.libraries.get(lib.name)
                if old is not None:
                    self._remove(old)
        for lib in new:
            self._add(lib)
