"""Module data types: the registry rdb.py and values.py read (moduleType).

A module's data type has a 9-character name and a 10-bit encoding version,
packed into the 64-bit id Redis writes in front of every value of the type
in an RDB file (RDB_TYPE_MODULE_2): 9 characters of 6 bits each from
Redis's 64-character set, then the version. A value of the type lives in
the keyspace as an instance of a class made for the type (a subclass of
ModuleValue holding the module's own Python object in ``.value``), so
TYPE, OBJECT ENCODING and the RDB writer find its type with one lookup of
the value's class, as they do for the built-in types, and a module's
object can never be mistaken for a built-in value (a module storing a dict
does not make a hash).

This module is at the bottom layer: no server state, only the registry of
the types currently loaded (process-wide, like the command table).
"""

import struct as _struct
import sys

CHARSET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
MAX_ENCVER = 1023

BY_ID = {}          # 64-bit type id without the version -> DataType
BY_NAME = {}        # 9-character name -> DataType


class ModuleValue:
    """A key's value of a module data type (a robj of OBJ_MODULE)."""
    __slots__ = ('value',)
    module_type = None      # the DataType, set on each type's own subclass

    def __init__(self, value):
        self.value = value

    def copy(self):
        mt = self.module_type
        return type(self)(mt.copy(self.value) if mt.copy is not None else _deepcopy(self.value))

    def aof_rewrite(self, key):
        return self.module_type.aof_rewrite(key, self.value)

    def memory_usage(self, samples=5):
        """MEMORY USAGE and the memory accounting: the type's mem_usage,
        or the Python object's own size when it has none (Redis counts
        nothing but the object header then)."""
        mt = self.module_type
        if mt.mem_usage is not None:
            return 16 + int(mt.mem_usage(self.value))
        return 16 + sys.getsizeof(self.value)

    def __len__(self):
        # Never "empty": a module value is dropped only by deleting its key.
        return 1


def _deepcopy(v):
    import copy
    return copy.deepcopy(v)


def type_id(name, encver):
    """moduleTypeEncodeId: the id of a name and encoding version, or
    ValueError when the name is not 9 characters of the set."""
    if len(name) != 9:
        raise ValueError('a module data type name must be 9 characters long')
    if not 0 <= encver <= MAX_ENCVER:
        raise ValueError('a module data type encoding version must be in 0-1023')
    n = 0
    for ch in name:
        pos = CHARSET.find(ch)
        if pos < 0:
            raise ValueError('invalid character %r in module data type name' % ch)
        n = (n << 6) | pos
    return (n << 10) | encver


def type_name(type_id_):
    """moduleTypeNameByID."""
    n = type_id_ >> 10
    out = []
    for _ in range(9):
        out.append(CHARSET[n & 63])
        n >>= 6
    return ''.join(reversed(out))


class DataType:
    """A module data type (RedisModuleTypeMethods): rdb_save(io, value)
    writes a value with the io's save_* methods, rdb_load(io, encver)
    reads one back; aof_rewrite(key, value) returns the commands that
    rebuild it; copy(value) (COPY) and mem_usage(value) (MEMORY USAGE,
    maxmemory) are optional."""

    def __init__(self, name, encver, rdb_save, rdb_load, aof_rewrite, copy=None,
                 mem_usage=None, module=None):
        self.id = type_id(name, encver)
        self.name = name
        self.encver = encver
        self.rdb_save = rdb_save
        self.rdb_load = rdb_load
        self.aof_rewrite = aof_rewrite
        self.copy = copy
        self.mem_usage = mem_usage
        self.module = module        # the module's name
        self.cls = type('ModuleValue_' + name.replace('-', '_'), (ModuleValue,),
                        {'__slots__': (), 'module_type': self})

    def wrap(self, value):
        return self.cls(value)


def register(dt):
    """Enter a type (RM_CreateDataType); False when its name is taken."""
    if dt.name in BY_NAME:
        return False
    BY_NAME[dt.name] = dt
    BY_ID[dt.id >> 10] = dt
    return True


def unregister(dt):
    if BY_NAME.get(dt.name) is dt:
        del BY_NAME[dt.name]
        BY_ID.pop(dt.id >> 10, None)


def lookup_id(module_id):
    """moduleTypeLookupModuleByID: the type whose name the id carries
    (any encoding version: the loader is given the file's)."""
    return BY_ID.get(module_id >> 10)


# -- RDB: RDB_TYPE_MODULE_2 values ----------------------------------------------------
#
# After the type id, a value is what the type's rdb_save wrote, each item
# preceded by its opcode (RDB_MODULE_OPCODE_*), then the EOF opcode: the
# layout rdbLoadCheckModuleValue walks, so redis-check-rdb can check a
# file holding values of types it does not know. rdb.py hands its encoders
# and its reader in, as it does for streams (stream.rdb_body).

OP_EOF, OP_SINT, OP_UINT, OP_FLOAT, OP_DOUBLE, OP_STRING = 0, 1, 2, 3, 4, 5


_pack_f = _struct.Struct('<f').pack
_pack_d = _struct.Struct('<d').pack
_unpack_f = _struct.Struct('<f').unpack
_unpack_d = _struct.Struct('<d').unpack


class SaveIO:
    """RedisModuleIO for saving: what rdb_save writes with."""

    def __init__(self, encode_len, encode_string, compress):
        self._len = encode_len
        self._str = encode_string
        self._compress = compress
        self.out = []

    def save_unsigned(self, n):
        """RM_SaveUnsigned (0 <= n < 2**64)."""
        self.out.append(self._len(OP_UINT) + self._len(n & 0xffffffffffffffff))

    def save_signed(self, n):
        """RM_SaveSigned: the two's complement bits, as an unsigned."""
        self.out.append(self._len(OP_SINT) + self._len(n & 0xffffffffffffffff))

    def save_string(self, s):
        """RM_SaveString/RM_SaveStringBuffer (str is saved as UTF-8)."""
        if isinstance(s, str):
            s = s.encode()
        self.out.append(self._len(OP_STRING) + self._str(bytes(s), self._compress))

    def save_double(self, d):
        self.out.append(self._len(OP_DOUBLE) + _pack_d(d))

    def save_float(self, f):
        self.out.append(self._len(OP_FLOAT) + _pack_f(f))


class LoadIO:
    """RedisModuleIO for loading: what rdb_load reads with. A read of the
    wrong kind is an error (rdb_load's caller reports the file corrupt)."""

    def __init__(self, reader):
        self._r = reader

    def _expect(self, op):
        got = self._r.plain_length()
        if got != op:
            raise ValueError('module value: opcode %d where %d was expected' % (got, op))

    def load_unsigned(self):
        self._expect(OP_UINT)
        return self._r.plain_length()

    def load_signed(self):
        self._expect(OP_SINT)
        n = self._r.plain_length()
        return n - (1 << 64) if n >= 1 << 63 else n

    def load_string(self):
        self._expect(OP_STRING)
        return self._r.string()

    def load_double(self):
        self._expect(OP_DOUBLE)
        return _unpack_d(bytes(self._r.take(8)))[0]

    def load_float(self):
        self._expect(OP_FLOAT)
        return _unpack_f(bytes(self._r.take(4)))[0]


def rdb_body(v, encode_len, encode_string, compress):
    """The RDB_TYPE_MODULE_2 body of a module value: id, items, EOF."""
    mt = v.module_type
    io = SaveIO(encode_len, encode_string, compress)
    mt.rdb_save(io, v.value)
    return encode_len(mt.id) + b''.join(io.out) + encode_len(OP_EOF)


def rdb_load(r, fail):
    """rdbLoadObject for RDB_TYPE_MODULE_2: the value, or ``fail(message)``
    (Redis's messages) for a type not loaded or a value not ended by EOF."""
    module_id = r.plain_length()
    mt = lookup_id(module_id)
    if mt is None:
        fail("The RDB file contains module data I can't load: no matching module type '%s'"
             % type_name(module_id))
    try:
        value = mt.rdb_load(LoadIO(r), module_id & MAX_ENCVER)
    except ValueError as e:
        fail("The RDB file contains module data for the module type '%s', that the "
             "responsible module is not able to load. Check for modules log above for "
             "additional clues. (%s)" % (mt.name, e))
    if r.plain_length() != OP_EOF:
        fail("The RDB file contains module data for the module '%s' that is not terminated "
             "by the proper module value EOF marker" % mt.name)
    return mt.wrap(value)
