"""RDB snapshots in Redis 7.0's own format (rdb.c, listpack.c, ziplist.c,
intset.c, zipmap.c): the writer and the reader.

Writer. A file is ``REDIS0010``, AUX fields (redis-ver, redis-bits, ctime,
used-mem, aof-base, plus whatever the caller adds, e.g. replication info),
then per non-empty database SELECTDB + RESIZEDB and its keys, each optionally
preceded by EXPIRETIME_MS and IDLE/FREQ, then EOF and the CRC64 (8 zero bytes
with ``rdbchecksum no``). Keys whose TTL has passed are not written.

Values are written in the encoding Redis 7.0 itself would hold them in, so
the file (and every DUMP payload) is what Redis writes for the same data:

    string      integer-encoded when it is a canonical int32, LZF when
                longer than 20 bytes and ``rdbcompression yes`` and it saves
                4+ bytes, raw otherwise
    list        QUICKLIST_2 of listpack nodes, split with quicklist's fill
                rule (``list-max-listpack-size``) as RPUSH would build them
    set         INTSET when every member is an integer and there are at
                most ``set-max-intset-entries``; plain SET otherwise
    hash        HASH_LISTPACK within ``hash-max-listpack-entries/value``,
                plain HASH otherwise
    sorted set  ZSET_LISTPACK within ``zset-max-listpack-entries/value``,
                ZSET_2 (binary doubles, highest score first) otherwise

The compact encodings are chosen over the always-valid plain ones because
that makes DUMP payloads byte-identical to Redis's for the same values, and
because Redis loads a small collection written in plain form but then keeps
it in memory in whatever encoding it was given (a 3-field hash would load as
a hashtable): the compact form keeps a round trip through pyredis invisible
to a Redis that loads the file. Listpack blobs are what Redis would write too
(LZF-compressed by rdbSaveRawString when longer than 20 bytes).

Reader. Everything Redis 7.0 writes or loads: versions 1-10, AUX, SELECTDB,
RESIZEDB, EXPIRETIME(_MS), IDLE, FREQ, strings (raw, int, LZF), lists (plain,
ZIPLIST, QUICKLIST of ziplists, QUICKLIST_2 of listpacks and plain nodes),
sets (plain, INTSET), sorted sets (ZSET with text doubles, ZSET_2, ZIPLIST,
LISTPACK), hashes (plain, ZIPMAP, ZIPLIST, LISTPACK), streams, and values of
module data types (RDB_TYPE_MODULE_2, read and written by the module's own
hooks: modules/types.py), refused with Redis's message when the type's module
is not loaded. Module AUX data is recognised and refused with a clear error.
Every blob is parsed defensively: corrupt input raises ``RDBError`` (with
the offset), never a crash or a half-built value.

The loader is a generator that yields every couple of megabytes, so the
start-up loader can hand control back to the event loop and answer
``-LOADING`` meanwhile; ``load_bytes`` runs it to completion.

Speed. The byte-level work is in the C extension pyredis._speedups when it
is built (CRC64, LZF, listpack building/parsing, quicklist node splitting,
RDB string read/write, and a loop that loads runs of plain string keys
straight into the keyspace dicts); every one of those has a pure-Python
twin here (``*_py``) that defines the behaviour, is used when the extension
is missing (or when PYREDIS_PURE_PYTHON is set in the environment), and is
tested against it. The cyclic GC is paused while loading
or saving: bulk-creating millions of containers would otherwise trigger
full collections over and over, and plain data has no cycles to find.

Entry points: ``Writer``/``Options`` (a file object), ``save_to_file``,
``save_to_bytes``/``dumps`` (replication), ``load_iter``/``load_bytes``/
``loads``, ``dump_payload``/``verify_dump_payload``/``load_dump_payload``
(DUMP/RESTORE).
"""

import gc
import math
import os
import struct

from . import crc64 as _crc64, lzf, stream
from .listpack import backlen_size, build as lp_build, encode_str as lp_entry
from .zset import ZSet
from .db import Keyspace, PLAIN_LRU, holds_lfu
from .modules import types as module_types
from .modules.types import ModuleValue
from .values import PackedHash, QuickList
from .util import d2string
from . import clock

crc64 = _crc64.crc64

RDB_VERSION = 10
REDIS_VERSION = '7.0.15'

# Value types (rdb.h).
TYPE_STRING = 0
TYPE_LIST = 1
TYPE_SET = 2
TYPE_ZSET = 3
TYPE_HASH = 4
TYPE_ZSET_2 = 5
TYPE_MODULE_PRE_GA = 6
TYPE_MODULE_2 = 7
TYPE_HASH_ZIPMAP = 9
TYPE_LIST_ZIPLIST = 10
TYPE_SET_INTSET = 11
TYPE_ZSET_ZIPLIST = 12
TYPE_HASH_ZIPLIST = 13
TYPE_LIST_QUICKLIST = 14
TYPE_STREAM_LISTPACKS = 15
TYPE_HASH_LISTPACK = 16
TYPE_ZSET_LISTPACK = 17
TYPE_LIST_QUICKLIST_2 = 18
TYPE_STREAM_LISTPACKS_2 = 19

# Opcodes.
OP_FUNCTION2 = 245
OP_FUNCTION_PRE_GA = 246
OP_MODULE_AUX = 247
OP_IDLE = 248
OP_FREQ = 249
OP_AUX = 250
OP_RESIZEDB = 251
OP_EXPIRETIME_MS = 252
OP_EXPIRETIME = 253
OP_SELECTDB = 254
OP_EOF = 255

QUICKLIST_NODE_PLAIN = 1
QUICKLIST_NODE_PACKED = 2

LRU_CLOCK_MAX = (1 << 24) - 1
LFU_INIT_VAL = 5

_pack_q = struct.Struct('<q').pack
_pack_Q = struct.Struct('<Q').pack
_pack_d = struct.Struct('<d').pack
_unpack_d = struct.Struct('<d').unpack_from
_unpack_Q = struct.Struct('<Q').unpack_from
_unpack_q = struct.Struct('<q').unpack_from
_unpack_I = struct.Struct('<I').unpack_from
_unpack_BE_I = struct.Struct('>I').unpack_from
_unpack_BE_Q = struct.Struct('>Q').unpack_from
_unpack_h = struct.Struct('<h').unpack_from
_unpack_i = struct.Struct('<i').unpack_from
_unpack_H = struct.Struct('<H').unpack_from


class RDBError(Exception):
    """A file or payload that cannot be loaded; ``offset`` is where."""

    def __init__(self, msg, offset=None):
        super().__init__(msg)
        self.msg = msg
        self.offset = offset

    def __str__(self):
        if self.offset is None:
            return self.msg
        return '%s (at offset %d)' % (self.msg, self.offset)


# =============================================================================
# Writing
# =============================================================================

_SMALL_LEN = [bytes([n]) for n in range(64)]


def encode_len(n):
    if n < 64:
        return _SMALL_LEN[n]
    if n < 16384:
        return bytes((0x40 | (n >> 8), n & 0xff))
    if n <= 0xffffffff:
        return b'\x80' + n.to_bytes(4, 'big')
    return b'\x81' + n.to_bytes(8, 'big')


def _int_encoding(s):
    """rdbTryIntegerEncoding: the INT8/16/32 form of a canonical integer
    string of at most 11 bytes, or None."""
    c = s[0]
    if not (48 <= c <= 57 or c == 45):
        return None
    try:
        v = int(s)
    except ValueError:
        return None
    if b'%d' % v != s:
        return None
    if -128 <= v <= 127:
        return bytes((0xc0, v & 0xff))
    if -32768 <= v <= 32767:
        return b'\xc1' + v.to_bytes(2, 'little', signed=True)
    if -2147483648 <= v <= 2147483647:
        return b'\xc2' + v.to_bytes(4, 'little', signed=True)
    return None


def encode_string_py(s, compress=True):
    """rdbSaveRawString."""
    n = len(s)
    if n <= 11:
        if n:
            enc = _int_encoding(s)
            if enc is not None:
                return enc
        return _SMALL_LEN[n] + s
    if compress and n > 20:
        c = lzf.compress(s)
        if c is not None:
            return b'\xc3' + encode_len(len(c)) + encode_len(n) + c
    return encode_len(n) + s


try:
    if os.environ.get('PYREDIS_PURE_PYTHON'):
        raise ImportError('PYREDIS_PURE_PYTHON is set')
    from ._speedups import rdb_encode_string as encode_string, \
        rdb_read_string as _read_string_c, load_string_records as _load_strings_c
except ImportError:  # extension not built: the pure-Python versions
    encode_string = encode_string_py
    _read_string_c = _load_strings_c = None


def _encode_blob(b, compress):
    """A listpack/intset blob: rdbSaveRawString without the integer attempt
    (a binary blob is never a decimal number)."""
    n = len(b)
    if compress and n > 20:
        c = lzf.compress(b)
        if c is not None:
            return b'\xc3' + encode_len(len(c)) + encode_len(n) + c
    return encode_len(n) + b


# -- listpack ------------------------------------------------------------------

# -- intset --------------------------------------------------------------------

def intset_build(values):
    values = sorted(values)
    lo, hi = values[0], values[-1]
    if -32768 <= lo and hi <= 32767:
        width, fmt = 2, 'h'
    elif -2147483648 <= lo and hi <= 2147483647:
        width, fmt = 4, 'i'
    else:
        width, fmt = 8, 'q'
    return (struct.pack('<II', width, len(values))
            + struct.pack('<%d%s' % (len(values), fmt), *values))


def _as_int64(s):
    """string2ll: the canonical int64 a string spells, or None."""
    n = len(s)
    if not 0 < n <= 20:
        return None
    c = s[0]
    if not (48 <= c <= 57 or c == 45):
        return None
    try:
        v = int(s)
    except ValueError:
        return None
    if b'%d' % v != s or not -(1 << 63) <= v < (1 << 63):
        return None
    return v


# -- quicklist node splitting --------------------------------------------------

_OPTIMIZATION_LEVEL = (4096, 8192, 16384, 32768, 65536)
_SIZE_SAFETY_LIMIT = 8192
_SIZE_ESTIMATE_OVERHEAD = 8


def _node_allows_insert(node_sz, node_count, fill, sz):
    """quicklist.c _quicklistNodeAllowInsert (7.0)."""
    new_sz = node_sz + sz + _SIZE_ESTIMATE_OVERHEAD
    if fill < 0:
        offset = -fill - 1
        if offset < len(_OPTIMIZATION_LEVEL) and new_sz <= _OPTIMIZATION_LEVEL[offset]:
            return True
    if new_sz > _SIZE_SAFETY_LIMIT:
        return False
    return node_count < fill


def quicklist_nodes_py(items, fill):
    """A list split into listpack nodes the way RPUSH fills a quicklist."""
    nodes = []
    entries = []
    node_sz = 0
    for item in items:
        if entries and _node_allows_insert(node_sz, len(entries), fill, len(item)):
            e = lp_entry(item)
            entries.append(e)
            node_sz += len(e)
        else:
            if entries:
                nodes.append(lp_build(entries, len(entries)))
            e = lp_entry(item)
            entries = [e]
            node_sz = 7 + len(e)
    if entries:
        nodes.append(lp_build(entries, len(entries)))
    return nodes


def lp_build_items_py(items):
    """A listpack holding the given bytes elements."""
    return lp_build([lp_entry(x) for x in items], len(items))


# quicklist.c's packed_threshold (one per process, as in Redis, set by DEBUG
# QUICKLIST-PACKED-THRESHOLD): an element this large or larger is a node of
# its own, a "plain" node holding the bare string.
PACKED_THRESHOLD = 1 << 30


def set_packed_threshold(size):
    """quicklistisSetPackedThreshold: False when out of range; 0 restores
    the default."""
    global PACKED_THRESHOLD
    if size > (1 << 32) - (1 << 20):
        return False
    PACKED_THRESHOLD = size or (1 << 30)
    return True


def encode_list(lst, fill, compress):
    items = lst if isinstance(lst, list) else list(lst)
    threshold = PACKED_THRESHOLD
    if threshold < (1 << 30) or any(len(x) >= threshold for x in items):
        return _encode_list_with_plain_nodes(items, fill, compress, threshold)
    nodes = quicklist_nodes(items, fill)
    out = [encode_len(len(nodes))]
    for blob in nodes:
        out.append(b'\x02')
        out.append(_encode_blob(blob, compress))
    return b''.join(out)


def _encode_list_with_plain_nodes(items, fill, compress, threshold):
    """The quicklist RPUSH builds when some elements are large: each large
    one a plain node, the runs between them packed as usual."""
    nodes = []
    run = []
    for x in items:
        if len(x) >= threshold:
            if run:
                nodes += [(QUICKLIST_NODE_PACKED, b) for b in quicklist_nodes(run, fill)]
                run = []
            nodes.append((QUICKLIST_NODE_PLAIN, bytes(x)))
        else:
            run.append(x)
    if run:
        nodes += [(QUICKLIST_NODE_PACKED, b) for b in quicklist_nodes(run, fill)]
    out = [encode_len(len(nodes))]
    for container, blob in nodes:
        out.append(b'%c' % container)
        # A plain node's string is saved as any string (rdbSaveRawString).
        out.append(_encode_blob(blob, compress) if container == QUICKLIST_NODE_PACKED
                   else encode_string(blob, compress))
    return b''.join(out)


class Options:
    """The config values that shape what is written."""
    __slots__ = ('compress', 'checksum', 'list_fill', 'hash_entries', 'hash_value',
                 'set_entries', 'zset_entries', 'zset_value', 'save_lru', 'save_lfu',
                 'encoding_of')

    def __init__(self, config=None, server=None):
        g = (lambda name, default: getattr(config, name, default)) if config is not None \
            else (lambda name, default: default)
        self.compress = _truthy(g('rdbcompression', True))
        self.checksum = _truthy(g('rdbchecksum', True))
        self.list_fill = g('list_max_listpack_size', -2)
        self.hash_entries = g('hash_max_listpack_entries', 512)
        self.hash_value = g('hash_max_listpack_value', 64)
        self.set_entries = g('set_max_intset_entries', 512)
        self.zset_entries = g('zset_max_listpack_entries', 128)
        self.zset_value = g('zset_max_listpack_value', 64)
        policy = str(g('maxmemory_policy', 'noeviction'))
        self.save_lru = policy.endswith('-lru')
        self.save_lfu = policy.endswith('-lfu')
        # With a server, a collection is written in the encoding OBJECT
        # ENCODING reports for it (the data type modules know when Redis
        # would have converted it for good, e.g. a hash that grew past the
        # limits and shrank back stays a hashtable); without one, the
        # thresholds decide.
        self.encoding_of = None
        if server is not None:
            from .values import ENCODERS
            if ENCODERS:
                def encoding_of(v, _get=ENCODERS.get, _server=server):
                    fn = _get(type(v))
                    if fn is None:
                        return None
                    try:
                        return fn(_server, v)
                    except AttributeError:
                        # A partial server object (tools, tests) without the
                        # encoding thresholds: let the thresholds decide.
                        return None
                self.encoding_of = encoding_of


def _truthy(v):
    if isinstance(v, str):
        return v.lower() in ('yes', '1', 'true')
    return bool(v)


def encode_value(v, opts):
    """(type byte, serialized value) for a value (rdbSaveObjectType +
    rdbSaveObject)."""
    t = type(v)
    if t is bytes or t is bytearray:
        return TYPE_STRING, encode_string(bytes(v), opts.compress)
    if t is QuickList:
        if PACKED_THRESHOLD == 1 << 30 and hasattr(v, 'nodes'):
            # Its own listpack nodes, as quicklist.c writes them.
            comp = opts.compress
            nodes = v.nodes()
            out = [encode_len(len(nodes))]
            for blob in nodes:
                out.append(b'\x02')
                out.append(_encode_blob(blob, comp))
            return TYPE_LIST_QUICKLIST_2, b''.join(out)
        return TYPE_LIST_QUICKLIST_2, encode_list(v, opts.list_fill, opts.compress)
    if t is PackedHash:
        # Already the listpack Redis writes: its bytes, unchanged.
        return TYPE_HASH_LISTPACK, _encode_blob(v.blob(), opts.compress)
    enc = opts.encoding_of(v) if opts.encoding_of is not None else None
    if t is dict:
        n = len(v)
        if enc == b'listpack' or (enc is None and n <= opts.hash_entries):
            limit = opts.hash_value
            if enc is not None or all(len(f) <= limit and len(x) <= limit
                                      for f, x in v.items()):
                items = []
                for f, x in v.items():
                    items.append(f)
                    items.append(x)
                return TYPE_HASH_LISTPACK, _encode_blob(lp_build_items(items), opts.compress)
        out = [encode_len(n)]
        comp = opts.compress
        for f, x in v.items():
            out.append(encode_string(f, comp))
            out.append(encode_string(x, comp))
        return TYPE_HASH, b''.join(out)
    if t is set:
        if enc == b'intset' or (enc is None and len(v) <= opts.set_entries):
            ints = []
            for m in v:
                i = _as_int64(m)
                if i is None:
                    break
                ints.append(i)
            else:
                return TYPE_SET_INTSET, _encode_blob(intset_build(ints), opts.compress)
        comp = opts.compress
        return TYPE_SET, encode_len(len(v)) + b''.join(encode_string(m, comp) for m in v)
    if isinstance(v, ZSet):
        n = len(v)
        items = v.items()
        if enc == b'listpack' or (enc is None and n <= opts.zset_entries
                                  and opts.zset_entries):
            limit = opts.zset_value
            if enc is not None or all(len(m) <= limit for m, _ in items):
                flat = []
                for m, s in items:
                    flat.append(m)
                    flat.append(d2string(s))
                return TYPE_ZSET_LISTPACK, _encode_blob(lp_build_items(flat), opts.compress)
        out = [encode_len(n)]
        comp = opts.compress
        # Highest first: Redis walks the skiplist from the tail so that the
        # loader inserts each element at the head in O(1).
        for m, s in reversed(list(items)):
            out.append(encode_string(m, comp))
            out.append(_pack_d(s))
        return TYPE_ZSET_2, b''.join(out)
    if t is stream.Stream:
        return TYPE_STREAM_LISTPACKS_2, stream.rdb_body(v, encode_len, encode_string,
                                                        _encode_blob, opts.compress)
    if isinstance(v, ModuleValue):
        return TYPE_MODULE_2, module_types.rdb_body(v, encode_len, encode_string, opts.compress)
    raise RDBError('cannot serialize a value of type %s' % t.__name__)


def dump_payload(v, opts):
    """DUMP: type, value, RDB version (2 bytes LE), CRC64 of all that."""
    t, body = encode_value(v, opts)
    payload = bytes((t,)) + body + bytes((RDB_VERSION, 0))
    return payload + _pack_Q(crc64(payload))


def _aux(key, value):
    return b'\xfa' + encode_string(key, False) + encode_string(value, False)


class Writer:
    """Streams an RDB file to a binary file object, computing the CRC as it
    goes. ``keys_processed`` is visible to INFO while saving."""

    FLUSH_AT = 1 << 20

    def __init__(self, f, opts):
        self.f = f
        self.opts = opts
        self.buf = []
        self.size = 0
        self.crc = 0
        self.written = 0
        self.keys_processed = 0

    def write(self, b):
        self.buf.append(b)
        self.size += len(b)
        if self.size >= self.FLUSH_AT:
            self.flush()

    def flush(self):
        if self.buf:
            chunk = b''.join(self.buf)
            self.buf = []
            self.size = 0
            if self.opts.checksum:
                self.crc = crc64(chunk, self.crc)
            self.f.write(chunk)
            self.written += len(chunk)

    def save(self, server, aux=None):
        enabled = gc.isenabled()
        gc.disable()
        try:
            self._save(server, aux)
        finally:
            if enabled:
                gc.enable()

    def _save(self, server, aux):
        opts = self.opts
        w = self.write
        w(b'REDIS%04d' % RDB_VERSION)
        w(_aux(b'redis-ver', REDIS_VERSION.encode()))
        w(_aux(b'redis-bits', b'64'))
        w(_aux(b'ctime', b'%d' % int(clock.time())))
        w(_aux(b'used-mem', b'%d' % _used_memory(server)))
        for k, v in (aux or {}).items():
            w(_aux(k, v))
        w(_aux(b'aof-base', b'1' if getattr(server, 'rdb_aof_base', False) else b'0'))
        # Function libraries (FUNCTION LOAD), when the scripting module
        # provides them: server.rdb_functions() -> [library code].
        functions = getattr(server, 'rdb_functions', None)
        if functions is not None:
            for code in functions():
                w(b'\xf5' + encode_string(code, opts.compress))
        lruclock = getattr(server, 'lruclock', int(clock.time()) & LRU_CLOCK_MAX)
        self.server = server
        for db in server.dbs:
            self.save_db(db, lruclock)
        w(b'\xff')
        self.flush()
        self.f.write(_pack_Q(self.crc) if opts.checksum else b'\0' * 8)
        self.written += 8

    def save_db(self, db, lruclock):
        data = db.data
        if not data:
            return
        opts = self.opts
        w = self.write
        expires = db.expires
        w(b'\xfe' + encode_len(db.id))
        w(b'\xfb' + encode_len(len(data)) + encode_len(len(expires)))
        lru = db.lru
        save_lru, save_lfu = opts.save_lru, opts.save_lfu
        if save_lfu:
            freq_of = _lfu_frequency_fn()
            server = getattr(self, 'server', None)
        comp = opts.compress
        enc = encode_string
        flush_at = self.FLUSH_AT
        append = self.buf.append
        size = 0
        count = 0
        # No copy of the keyspace: nothing runs while a SAVE iterates, and a
        # BGSAVE child has its own.
        for key, v in data.items():
            head = b''
            if expires:
                # (A key already expired is saved too, as Redis 7.0 does: the
                # loading master drops it and feeds its DEL to the replicas.)
                when = expires.get(key)
                if when is not None:
                    head = b'\xfc' + _pack_q(when)
            if save_lru:
                idle = (lruclock - lru.get(key, lruclock)) & LRU_CLOCK_MAX
                head += b'\xf8' + encode_len(idle)
            elif save_lfu:
                freq = freq_of(server, db, key) if freq_of is not None else LFU_INIT_VAL
                head += b'\xf9' + bytes((freq & 0xff,))
            if type(v) is bytes:
                rec = head + b'\x00' + enc(key, comp) + enc(v, comp)
            else:
                tb, body = encode_value(v, opts)
                rec = head + _TYPE_BYTE[tb] + enc(key, comp) + body
            append(rec)
            size += len(rec)
            count += 1
            if size >= flush_at:
                self.size += size
                size = 0
                self.flush()
                append = self.buf.append
                self.keys_processed += count
                count = 0
        self.size += size
        self.keys_processed += count


_TYPE_BYTE = [bytes((n,)) for n in range(256)]


def _lfu_frequency_fn():
    """evict.lfu_frequency (the decayed LFU counter of a key) when the
    memory module is there."""
    try:
        from .evict import lfu_frequency
    except ImportError:
        return None
    return lfu_frequency


def _plain_tables(keyspace, lrus, expires):
    """Whether the C string loader may store into these tables itself: a
    plain keyspace with its plain LRU clocks (no cluster slot index, no
    LFU policy) and expires table, or three plain dicts."""
    return (type(keyspace) is Keyspace and type(lrus) is PLAIN_LRU
            and type(expires) is Keyspace) or \
        (type(keyspace) is dict and type(lrus) is dict and type(expires) is dict)


def set_lfu_frequency(server, db, key, freq):
    """Store a key's LFU counter (FREQ opcode, RESTORE FREQ) when db.lru
    holds LFU fields: 16 bits of minutes, 8 bits of counter."""
    lru = db.lru
    if not holds_lfu(lru):
        return False
    minutes = (int(getattr(server, 'unixtime', clock.time())) // 60) & 0xFFFF
    PLAIN_LRU.__setitem__(lru, key, (minutes << 8) | (freq & 255))
    return True


def _used_memory(server):
    fn = getattr(server, 'used_memory', None)
    try:
        if callable(fn):
            return int(fn())
    except Exception:
        pass
    try:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except (OSError, ValueError, IndexError):
        return 0


def save_to_file(server, path, opts=None, aux=None):
    """Write a whole snapshot to ``path`` (no temp file: callers rename)."""
    opts = opts or Options(server.config, server)
    with open(path, 'wb') as f:
        writer = Writer(f, opts)
        server.rdb_save_writer = writer
        try:
            writer.save(server, aux)
        finally:
            server.rdb_save_writer = None
        f.flush()
        os.fsync(f.fileno())
    return writer


def save_to_bytes(server, opts=None, aux=None):
    import io
    f = io.BytesIO()
    Writer(f, opts or Options(server.config, server)).save(server, aux)
    return f.getvalue()


# =============================================================================
# Reading
# =============================================================================

class Reader:
    """Cursor over an in-memory RDB image (bytes or memoryview)."""

    __slots__ = ('data', 'pos', 'end')

    def __init__(self, data, pos=0, end=None):
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def fail(self, msg):
        raise RDBError(msg, self.pos)

    def take(self, n):
        p = self.pos
        q = p + n
        if q > self.end:
            raise RDBError('Unexpected EOF reading RDB file', p)
        self.pos = q
        return self.data[p:q]

    def byte(self):
        p = self.pos
        if p >= self.end:
            raise RDBError('Unexpected EOF reading RDB file', p)
        self.pos = p + 1
        return self.data[p]

    def length(self):
        """rdbLoadLenByRef: (length, is_encoded)."""
        b = self.byte()
        kind = b >> 6
        if kind == 0:
            return b & 0x3f, False
        if kind == 1:
            return ((b & 0x3f) << 8) | self.byte(), False
        if kind == 3:
            return b & 0x3f, True
        if b == 0x80:
            return _unpack_BE_I(self.take(4))[0], False
        if b == 0x81:
            return _unpack_BE_Q(self.take(8))[0], False
        raise RDBError('Unknown length encoding %d in rdbLoadLen()' % b, self.pos - 1)

    def plain_length(self):
        n, enc = self.length()
        if enc:
            raise RDBError('Unexpected encoded length', self.pos - 1)
        return n

    def string(self):
        """rdbGenericLoadStringObject: bytes."""
        if _read_string_c is not None:
            try:
                v, self.pos = _read_string_c(self.data, self.pos, self.end)
            except ValueError as e:
                raise RDBError(str(e), self.pos)
            return v
        return self.string_py()

    def string_py(self):
        n, enc = self.length()
        if not enc:
            p = self.pos
            q = p + n
            if q > self.end:
                raise RDBError('Unexpected EOF reading RDB file', p)
            self.pos = q
            return bytes(self.data[p:q])
        if n == 0:
            return b'%d' % ((self.byte() ^ 0x80) - 0x80)
        if n == 1:
            return b'%d' % _unpack_h(self.take(2))[0]
        if n == 2:
            return b'%d' % _unpack_i(self.take(4))[0]
        if n == 3:
            clen = self.plain_length()
            ulen = self.plain_length()
            start = self.pos
            comp = self.take(clen)
            try:
                return lzf.decompress(comp, ulen)
            except ValueError as e:
                raise RDBError('Invalid LZF compressed string (%s)' % e, start)
        raise RDBError('Unknown RDB string encoding type %d' % n, self.pos - 1)

    def double_text(self):
        """rdbLoadDoubleValue (ZSET v1)."""
        n = self.byte()
        if n == 253:
            return math.nan
        if n == 254:
            return math.inf
        if n == 255:
            return -math.inf
        s = bytes(self.take(n))
        try:
            return float(s)
        except ValueError:
            raise RDBError('Invalid double value', self.pos - n)

    def double_binary(self):
        return _unpack_d(self.take(8))[0]


# -- blob parsers ----------------------------------------------------------------

def lp_items_py(blob):
    """Every element of a listpack, as bytes."""
    n = len(blob)
    if n < 7:
        raise ValueError('listpack too short')
    total = _unpack_I(blob, 0)[0]
    if total != n:
        raise ValueError('listpack size mismatch')
    if blob[-1] != 0xff:
        raise ValueError('listpack not terminated')
    count = _unpack_H(blob, 4)[0]
    out = []
    append = out.append
    p = 6
    end = n - 1
    while p < end:
        b = blob[p]
        if b < 0x80:                      # 7-bit uint
            append(b'%d' % b)
            p += 2
            continue
        if b < 0xc0:                      # 6-bit string length
            ln = b & 0x3f
            q = p + 1 + ln
            if q > end:
                raise ValueError('listpack entry overflow')
            append(bytes(blob[p + 1:q]))
            p = q + backlen_size(1 + ln)
            continue
        if b < 0xe0:                      # 13-bit int
            if p + 2 > end:
                raise ValueError('listpack entry overflow')
            v = ((b & 0x1f) << 8) | blob[p + 1]
            if v >= 1 << 12:
                v -= 1 << 13
            append(b'%d' % v)
            p += 3
            continue
        if b < 0xf0:                      # 12-bit string length
            if p + 2 > end:
                raise ValueError('listpack entry overflow')
            ln = ((b & 0x0f) << 8) | blob[p + 1]
            q = p + 2 + ln
            if q > end:
                raise ValueError('listpack entry overflow')
            append(bytes(blob[p + 2:q]))
            p = q + backlen_size(2 + ln)
            continue
        if b == 0xf0:                     # 32-bit string length
            if p + 5 > end:
                raise ValueError('listpack entry overflow')
            ln = _unpack_I(blob, p + 1)[0]
            q = p + 5 + ln
            if q > end:
                raise ValueError('listpack entry overflow')
            append(bytes(blob[p + 5:q]))
            p = q + backlen_size(5 + ln)
            continue
        width = _LP_INT_WIDTH.get(b)
        if width is None:
            raise ValueError('invalid listpack encoding 0x%02x' % b)
        if p + 1 + width > end:
            raise ValueError('listpack entry overflow')
        v = int.from_bytes(blob[p + 1:p + 1 + width], 'little', signed=True)
        append(b'%d' % v)
        p += 1 + width + 1
    if p != end:
        raise ValueError('listpack entries overflow')
    if count != 65535 and count != len(out):
        raise ValueError('listpack count mismatch')
    return out


_LP_INT_WIDTH = {0xf1: 2, 0xf2: 3, 0xf3: 4, 0xf4: 8}

try:
    if os.environ.get('PYREDIS_PURE_PYTHON'):
        raise ImportError('PYREDIS_PURE_PYTHON is set')
    from ._speedups import lp_items as _lp_items, lp_build as lp_build_items, \
        quicklist_nodes
except ImportError:  # extension not built: the pure-Python versions
    _lp_items = lp_items_py
    lp_build_items = lp_build_items_py
    quicklist_nodes = quicklist_nodes_py


def _zl_items(blob):
    """Every element of a ziplist, as bytes."""
    n = len(blob)
    if n < 11:
        raise ValueError('ziplist too short')
    if _unpack_I(blob, 0)[0] != n or blob[-1] != 0xff:
        raise ValueError('ziplist header mismatch')
    count = _unpack_H(blob, 8)[0]
    out = []
    append = out.append
    p = 10
    end = n - 1
    while p < end:
        # prevlen
        p += 5 if blob[p] == 0xfe else 1
        if p >= end:
            raise ValueError('ziplist entry overflow')
        b = blob[p]
        kind = b >> 6
        if kind == 0:
            ln = b & 0x3f
            p += 1
        elif kind == 1:
            ln = ((b & 0x3f) << 8) | blob[p + 1]
            p += 2
        elif kind == 2:
            ln = int.from_bytes(blob[p + 1:p + 5], 'big')
            p += 5
        else:
            if b == 0xc0:
                w = 2
            elif b == 0xd0:
                w = 4
            elif b == 0xe0:
                w = 8
            elif b == 0xf0:
                w = 3
            elif b == 0xfe:
                w = 1
            elif 0xf1 <= b <= 0xfd:
                append(b'%d' % ((b & 0x0f) - 1))
                p += 1
                continue
            else:
                raise ValueError('invalid ziplist encoding 0x%02x' % b)
            if p + 1 + w > end:
                raise ValueError('ziplist entry overflow')
            append(b'%d' % int.from_bytes(blob[p + 1:p + 1 + w], 'little', signed=True))
            p += 1 + w
            continue
        if p + ln > end:
            raise ValueError('ziplist entry overflow')
        append(bytes(blob[p:p + ln]))
        p += ln
    if p != end:
        raise ValueError('ziplist entries overflow')
    if count != 65535 and count != len(out):
        raise ValueError('ziplist count mismatch')
    return out


def _intset_items(blob):
    if len(blob) < 8:
        raise ValueError('intset too short')
    width, count = struct.unpack_from('<II', blob, 0)
    fmt = {2: 'h', 4: 'i', 8: 'q'}.get(width)
    if fmt is None or len(blob) != 8 + width * count:
        raise ValueError('intset header mismatch')
    return [b'%d' % v for v in struct.unpack_from('<%d%s' % (count, fmt), blob, 8)]


def _zipmap_items(blob):
    """Old (Redis < 2.6) small hash encoding: (field, value) pairs."""
    n = len(blob)
    out = []
    p = 1

    def zm_len(p):
        b = blob[p]
        if b < 254:
            return b, p + 1
        if b == 254:
            return _unpack_I(blob, p + 1)[0], p + 5
        return None, p

    while True:
        if p >= n:
            raise ValueError('zipmap not terminated')
        ln, p = zm_len(p)
        if ln is None:
            break
        if p + ln > n:
            raise ValueError('zipmap entry overflow')
        field = bytes(blob[p:p + ln])
        p += ln
        ln, p = zm_len(p)
        if ln is None or p + 1 + ln > n:
            raise ValueError('zipmap entry overflow')
        free = blob[p]
        p += 1
        value = bytes(blob[p:p + ln])
        p += ln + free
        out.append((field, value))
    return out


def _pairs(items):
    if len(items) % 2:
        raise ValueError('odd number of elements')
    it = iter(items)
    return list(zip(it, it))


def _to_hash(pairs):
    h = dict(pairs)
    if len(h) != len(pairs):
        raise ValueError('duplicate hash fields')
    return _packed_hash(h)


# hash-max-listpack-entries/-value for the hashes being loaded (set by
# load_iter and load_dump_payload from the server's config): a hash within
# them is loaded as a listpack (values.PackedHash), as rdbLoadObject keeps
# or builds one; a bigger one stays a dict (a hash table). Likewise the
# node size of the lists loaded (list-max-listpack-size).
_hash_limits = [512, 64]
_list_fill = [-2]


def set_encoding_limits(config):
    if config is not None:
        _hash_limits[0] = getattr(config, 'hash_max_listpack_entries', 512)
        _hash_limits[1] = getattr(config, 'hash_max_listpack_value', 64)
        _list_fill[0] = getattr(config, 'list_max_listpack_size', -2)


def _hash_from_listpack(blob):
    """A HASH_LISTPACK value: kept as it is when within the limits."""
    h = PackedHash(blob)        # ValueError when malformed
    fields = h.keys()
    if len(set(fields)) != len(fields):
        raise ValueError('duplicate hash fields')
    if len(h) <= _hash_limits[0] and h.fits(_hash_limits[1]):
        return h
    return dict(h.items())


def _packed_hash(h):
    entries, limit = _hash_limits
    if PackedHash is None or not h or len(h) > entries:
        return h
    flat = []
    for f, x in h.items():
        if len(f) > limit or len(x) > limit:
            return h
        flat.append(f)
        flat.append(x)
    return PackedHash(lp_build_items(flat))


def _zset_from_items(items):
    """A ZSet from a flat [member, score, member, score...] list."""
    if len(items) % 2:
        raise ValueError('odd number of elements')
    try:
        scores = list(map(float, items[1::2]))
    except ValueError:
        raise ValueError('invalid score')
    if any(map(math.isnan, scores)):
        raise ValueError('NaN score')
    return _build_zset(list(zip(scores, items[0::2])))


def _build_zset(tuples):
    """A ZSet from (score, member) tuples, rejecting duplicate members."""
    from_sorted = getattr(ZSet, 'from_sorted', None)
    if from_sorted is not None:
        # Files list members in order already: the sort is a linear check.
        tuples.sort()
        z = from_sorted(tuples, big=None)
        if len(z.dict) != len(tuples):
            raise ValueError('duplicate zset members')
        return z
    z = ZSet()
    for score, m in tuples:
        if m in z.dict:
            raise ValueError('duplicate zset members')
        z.add(m, score)
    return z


def read_value(r, t):
    """rdbLoadObject: one value of type t from the reader."""
    start = r.pos
    try:
        if t == TYPE_STRING:
            return r.string()
        if t == TYPE_LIST_QUICKLIST_2:
            out = QuickList(_list_fill[0])
            adopt = hasattr(out, 'append_node')
            for _ in range(r.plain_length()):
                container = r.plain_length()
                blob = r.string()
                if container == QUICKLIST_NODE_PLAIN:
                    out.append(blob)
                elif container == QUICKLIST_NODE_PACKED and adopt:
                    out.append_node(blob)     # the node as it is, checked
                elif container == QUICKLIST_NODE_PACKED:
                    items = _lp_items(blob)
                    if not items:
                        raise ValueError('empty listpack in quicklist')
                    out.extend(items)
                else:
                    raise ValueError('unknown quicklist node container %d' % container)
            return out
        if t == TYPE_HASH_LISTPACK:
            if PackedHash is not None:
                return _hash_from_listpack(r.string())
            return _to_hash(_pairs(_lp_items(r.string())))
        if t == TYPE_ZSET_LISTPACK:
            return _zset_from_items(_lp_items(r.string()))
        if t == TYPE_SET_INTSET:
            items = _intset_items(r.string())
            s = set(items)
            if len(s) != len(items):
                raise ValueError('duplicate intset members')
            return s
        if t == TYPE_SET:
            n = r.plain_length()
            s = set()
            for _ in range(n):
                s.add(r.string())
            if len(s) != n:
                raise ValueError('duplicate set members')
            return s
        if t == TYPE_HASH:
            n = r.plain_length()
            h = {}
            for _ in range(n):
                f = r.string()
                h[f] = r.string()
            if len(h) != n:
                raise ValueError('duplicate hash fields')
            return _packed_hash(h)
        if t == TYPE_ZSET_2 or t == TYPE_ZSET:
            n = r.plain_length()
            tuples = []
            read_score = r.double_binary if t == TYPE_ZSET_2 else r.double_text
            for _ in range(n):
                m = r.string()
                score = read_score()
                if score != score:
                    raise ValueError('NaN score')
                tuples.append((score, m))
            # ZSET_2 lists the highest score first.
            tuples.reverse()
            return _build_zset(tuples)
        if t == TYPE_LIST:
            n = r.plain_length()
            return QuickList(_list_fill[0], [r.string() for _ in range(n)])
        if t == TYPE_LIST_QUICKLIST:
            out = QuickList(_list_fill[0])
            for _ in range(r.plain_length()):
                items = _zl_items(r.string())
                if not items:
                    raise ValueError('empty ziplist in quicklist')
                out.extend(items)
            return out
        if t == TYPE_LIST_ZIPLIST:
            return QuickList(_list_fill[0], _zl_items(r.string()))
        if t == TYPE_HASH_ZIPLIST:
            return _to_hash(_pairs(_zl_items(r.string())))
        if t == TYPE_ZSET_ZIPLIST:
            return _zset_from_items(_zl_items(r.string()))
        if t == TYPE_HASH_ZIPMAP:
            return _to_hash(_zipmap_items(r.string()))
    except (ValueError, IndexError, struct.error, OverflowError) as e:
        raise RDBError('Bad data format: %s' % e, start)
    if t in (TYPE_STREAM_LISTPACKS, TYPE_STREAM_LISTPACKS_2):
        try:
            return stream.rdb_load(r, t, _lp_items, r.fail)
        except (ValueError, IndexError, StopIteration, OverflowError) as e:
            raise RDBError('Bad stream data format: %s' % e, start)
    if t == TYPE_MODULE_2:
        try:
            return module_types.rdb_load(r, r.fail)
        except (IndexError, struct.error, OverflowError) as e:
            raise RDBError('Bad module value: %s' % e, start)
    if t == TYPE_MODULE_PRE_GA:
        raise RDBError('Pre-release module format not supported', start)
    raise RDBError('Unknown RDB encoding type %d' % t, start - 1)


def is_empty(v):
    # An empty stream is a value of its own (its IDs and groups remain).
    return type(v) is not bytes and type(v) is not stream.Stream and len(v) == 0


def verify_dump_payload(payload, check_crc=True):
    """verifyDumpPayload: True when the footer's version and CRC are fine
    (the CRC is not checked after DEBUG SET-SKIP-CHECKSUM-VALIDATION 1:
    ``check_crc`` False)."""
    if len(payload) < 10:
        return False
    ver = payload[-10] | (payload[-9] << 8)
    if ver > RDB_VERSION:
        return False
    if not check_crc:
        return True
    return _unpack_Q(payload, len(payload) - 8)[0] == crc64(memoryview(payload)[:-8])


def load_dump_payload(payload, config=None):
    """The value inside a DUMP payload (checked with verify_dump_payload
    first); raises RDBError on bad data. ``config``: the encoding limits."""
    set_encoding_limits(config)
    r = Reader(payload, 0, len(payload) - 10)
    t = r.byte()
    v = read_value(r, t)
    return v


class LoadStats:
    __slots__ = ('keys_loaded', 'keys_expired', 'aux', 'end', 'empty_skipped')

    def __init__(self):
        self.keys_loaded = 0
        self.keys_expired = 0
        self.empty_skipped = 0
        self.aux = {}
        self.end = 0


def load_iter(server, data, stats, is_replica=False, verify_checksum=True,
              yield_every=2 << 20, allow_dup=False, now_ms=None):
    """Load an RDB image into server.dbs; a generator that yields (bytes
    read so far) every ``yield_every`` bytes so a caller can serve events.
    ``stats.end`` is the offset just past the file (an AOF may follow)."""
    set_encoding_limits(getattr(server, 'config', None))
    # Millions of new containers would trigger the cyclic collector over
    # and over (each full pass walking everything loaded so far): it cannot
    # find cycles in plain data anyway, so it stays off while loading.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield from _load_records(server, data, stats, is_replica, verify_checksum,
                                 yield_every, allow_dup, now_ms)
    finally:
        if enabled:
            gc.enable()


def _load_records(server, data, stats, is_replica, verify_checksum, yield_every, allow_dup,
                  now_ms):
    r = Reader(data)
    if len(data) < 9 or bytes(data[:5]) != b'REDIS':
        raise RDBError('Wrong signature trying to load DB from file', 0)
    try:
        ver = int(bytes(data[5:9]))
    except ValueError:
        raise RDBError('Wrong signature trying to load DB from file', 5)
    if ver < 1 or ver > RDB_VERSION:
        raise RDBError("Can't handle RDB format version %d" % ver, 5)
    r.pos = 9
    dbs = server.dbs
    db = dbs[0]
    if now_ms is None:
        now_ms = int(clock.time() * 1000)
    lruclock = getattr(server, 'lruclock', int(clock.time()) & LRU_CLOCK_MAX)
    expire = None
    idle = freq = None
    next_yield = yield_every
    touched = {db}
    read_c = _read_string_c
    end = r.end
    skip_expired = not is_replica
    keyspace, lrus, expires = db.data, db.lru, db.expires
    fast = _load_strings_c
    fast_ok = fast is not None and _plain_tables(keyspace, lrus, expires)
    loaded = 0
    while True:
        pos = r.pos
        if pos >= next_yield:
            next_yield = pos + yield_every
            stats.keys_loaded = loaded
            yield pos
        if pos >= end:
            raise RDBError('Unexpected EOF reading RDB file', pos)
        t = data[pos]
        if fast_ok and (t == TYPE_STRING or t == OP_EXPIRETIME_MS) and expire is None \
                and idle is None and freq is None:
            # Runs of plain string keys load in C; it stops at anything else.
            newpos, n, nexp = fast(data, pos, next_yield, end, keyspace, lrus, expires,
                                   lruclock, now_ms, skip_expired)
            if newpos != pos:
                loaded += n
                stats.keys_expired += nexp
                r.pos = newpos
                continue
        r.pos = pos + 1
        if t == OP_EXPIRETIME_MS:
            expire = _unpack_q(r.take(8))[0]
            continue
        if t == OP_EXPIRETIME:
            expire = _unpack_i(r.take(4))[0] * 1000
            continue
        if t == OP_IDLE:
            idle = r.plain_length()
            continue
        if t == OP_FREQ:
            freq = r.byte()
            continue
        if t == OP_SELECTDB:
            n = r.plain_length()
            if n >= len(dbs):
                raise RDBError('FATAL: Data file was created with a Redis server configured '
                               'to handle more than %d databases. Exiting' % len(dbs), r.pos)
            db = dbs[n]
            touched.add(db)
            keyspace, lrus, expires = db.data, db.lru, db.expires
            fast_ok = fast is not None and _plain_tables(keyspace, lrus, expires)
            continue
        if t == OP_RESIZEDB:
            size = r.plain_length()
            r.plain_length()
            if type(keyspace) is Keyspace and Keyspace is not dict:
                keyspace.reserve(size)      # dictExpand: no rehash while loading
            continue
        if t == OP_AUX:
            k = r.string()
            v = stats.aux[k] = r.string()
            if k == b'aof-base' and v == b'1':
                # An AOF's RDB preamble keeps expired keys, as Redis does
                # (RDBFLAGS_AOF_PREAMBLE): they expire through the normal path.
                skip_expired = False
            continue
        if t == OP_EOF:
            break
        if t == OP_MODULE_AUX:
            module_id = r.plain_length()
            raise RDBError("The RDB file contains AUX module data I can't load: no matching "
                           "module '%s'" % module_types.type_name(module_id), r.pos)
        if t == OP_FUNCTION2:
            start = r.pos - 1
            code = r.string()
            load_function = getattr(server, 'rdb_load_function', None)
            if load_function is None:
                raise RDBError('The RDB file contains functions (FUNCTION LOAD libraries), '
                               'which pyredis does not support yet', start)
            err = load_function(code)
            if err:
                raise RDBError('Failed loading library: %s' % err, start)
            continue
        if t == OP_FUNCTION_PRE_GA:
            raise RDBError('Pre-release function format not supported.', r.pos - 1)
        if t == TYPE_STRING and read_c is not None:
            # The common record, in two C calls.
            try:
                key, pos = read_c(data, r.pos, end)
                v, r.pos = read_c(data, pos, end)
            except ValueError as e:
                raise RDBError(str(e), r.pos)
        else:
            key = r.string()
            v = read_value(r, t)
        if is_empty(v):
            stats.empty_skipped += 1
            expire = idle = freq = None
            continue
        if expire is not None and skip_expired and expire < now_ms:
            stats.keys_expired += 1
            expire = idle = freq = None
            continue
        if key in keyspace:
            if not allow_dup:
                raise RDBError("Duplicated key '%s' found in RDB file" %
                               key.decode('utf-8', 'replace'), r.pos)
            db.delete(key)
        keyspace[key] = v
        if freq is not None:
            if not set_lfu_frequency(server, db, key, freq):
                lrus[key] = lruclock
            freq = idle = None
        elif idle is None:
            lrus[key] = lruclock
        else:
            if not holds_lfu(lrus):
                lrus[key] = (lruclock - idle) & LRU_CLOCK_MAX
            else:
                lrus[key] = lruclock
            idle = None
        if expire is not None:
            expires[key] = expire
            expire = None
        loaded += 1
    if ver >= 5:
        footer = r.take(8)
        expected = _unpack_Q(footer)[0]
        if (verify_checksum and expected != 0
                and not getattr(server, 'skip_checksum_validation', False)):
            got = crc64(memoryview(data)[:r.pos - 8])
            if got != expected:
                raise RDBError('Wrong RDB checksum expected: (%x) got (%x). Aborting now.' % (
                    expected, got), r.pos - 8)
    stats.keys_loaded = loaded
    stats.end = r.pos
    for d in touched:
        d.scan_index = None      # rebuilt by the next SCAN


def dumps(server, repl_info=None, opts=None):
    """The dataset as an RDB image (bytes), for a replica's full sync;
    ``repl_info`` = (replid, offset[, stream db]) becomes the repl-* AUX
    fields."""
    aux = None
    if repl_info:
        replid, offset = repl_info[0], repl_info[1]
        stream_db = repl_info[2] if len(repl_info) > 2 else 0
        if isinstance(replid, str):
            replid = replid.encode()
        aux = {b'repl-stream-db': b'%d' % stream_db, b'repl-id': replid,
               b'repl-offset': b'%d' % offset}
    return save_to_bytes(server, opts, aux)


def loads(server, data, keep_expired=False):
    """Load an RDB image (bytes) into the dataset; a replica keeps keys whose
    TTL has passed (its master sends the DELs)."""
    return load_bytes(server, data, is_replica=keep_expired)


def load_bytes(server, data, **kw):
    stats = LoadStats()
    for _ in load_iter(server, data, stats, **kw):
        pass
    return stats
