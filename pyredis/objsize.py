"""MEMORY USAGE's figures: Redis 7.0's own accounting model (object.c's
objectComputeSize and memoryCommand), not the Python objects' cost.

Why a model and not a measurement: MEMORY USAGE is read by operators and
tools (redis-cli --memkeys/--bigkeys, memory analysers, per-key budgets and
alerts) that compare keys and instances, and what they expect for a key and
value is the number Redis gives for them. A Python dict entry, an LRU entry
and PyObject headers cost pyredis about twice what Redis's structures cost,
and reporting that would make the same dataset look different depending on
the server that holds it. So this module answers, for a value, what
redis-server 7.0 (built with jemalloc 5, as Debian's and the official
builds are) would answer for the same value. The process's real figure stays
where Redis keeps its own: INFO memory's used_memory (pyredis/memory.py),
which is also what maxmemory and eviction compare against.

The model, as object.c computes it (64-bit sizes of the 7.0 structs):

  key        the key's sds allocation + a dictEntry (24) (+ 16 bytes of
             slot-to-keys metadata per entry in cluster mode)
  string     int: the robj (16); embstr: robj, sdshdr8 and the bytes in one
             allocation; raw: robj + the sds allocation
  list       robj + quicklist (40) + sampled (quicklistNode (40) + the
             listpack allocation) x nodes
  hash, zset listpack: robj + the listpack allocation
  set        intset: robj + the intset allocation (8 + n x 2/4/8 bytes)
  set, hash  hashtable: robj + dict (56) + 8 per bucket + sampled (dictEntry
             + the element sds allocations) x size
  zset       skiplist: robj + zset (16) + zskiplist (32) + dict + buckets +
             the 32-level header node + sampled (sds + dictEntry + node) x size
  stream     robj + stream (80) + the rax estimate (streamRadixTreeMemoryUsage)
             + the listpacks (first SAMPLES averaged, the last one exact) +
             consumer groups (group, PEL estimate, NACKs, consumers)
  module     the type's mem_usage(value), 0 without one

"Allocation" is jemalloc's usable size (zmalloc_size): the request rounded
up to its size class (je_size). Sampling is Redis's: the first SAMPLES
elements (default 5, 0 = all) give an average that is multiplied by the
count, in the same floating-point steps, so results agree to the byte.

Where the structures are the same the figures are identical: strings,
listpacks (pyredis keeps Redis's listpack bytes for lists and small hashes,
and the listpack a small zset would have is sized element by element),
intsets, quicklist nodes, streams built by XADD. Elsewhere the figure
depends on state Redis keeps and pyredis does not, and is modelled:
  * a dict's bucket count is the table _dictExpand gives for the current
    size (the next power of two >= size, at least 4); Redis keeps a
    larger table after deletions (it shrinks below 10% fill) and counts
    both tables in the middle of a rehash;
  * a skiplist node's level is random in Redis: the expected allocation of
    a node (ZSKIPLIST_P = 1/4) is counted for each;
  * a hash table's sampled elements are the first ones in pyredis's order
    (a hash's: insertion order; a set's: Python's hash order), Redis's
    follow its seeded hash: this matters only when element sizes differ
    and SAMPLES is below the size;
  * an intset's width follows its current members (Redis never narrows
    an intset after its widest member is removed);
  * a string grown in place (APPEND, SETRANGE, SETBIT, a sparse
    HyperLogLog) has sds's greedy preallocation: its growth is replayed
    as it happens (make_room), for the GROWN_MAX values grown most
    recently; one loaded from a file was grown differently in Redis;
  * a stream's radix-tree node counts are those of the canonical
    compressed trie of its IDs (a tree of more than RAX_EXACT IDs: scaled
    from its first ones);
  * a stream's open (last) node holds XADD's preallocation, a node closed
    for its bytes keeps it, a node closed for its entry count is shrunk to
    fit, a node loaded or copied has its exact size (stream.Node.prealloc
    follows this);
"""

from collections import OrderedDict
from itertools import islice

from . import values
from .listpack import str_size
from .stream import Stream, rax_nodes
from .util import d2string, string2ll
from .zset import ZSet

ROBJ = 16
DICT_ENTRY = 24
DICT = 56
QUICKLIST = 40
QUICKLIST_NODE = 40          # 32 bytes of pointers and size_t sz, 32 bits of flags
ZSET = 16
ZSKIPLIST = 32
STREAM = 80
STREAM_CG = 40
STREAM_CONSUMER = 24
STREAM_NACK = 24
STREAM_ID = 16
RAX_NODE = 4
CLUSTER_ENTRY_METADATA = 16     # clusterDictEntryMetadata: prev/next in the slot
SDS_MAX_PREALLOC = 1 << 20
DEFAULT_SAMPLES = 5             # OBJ_COMPUTE_SIZE_DEF_SAMPLES


def je_size(n):
    """jemalloc 5's usable size for a request of n bytes (x86-64: a 16-byte
    quantum, four size classes per doubling above 128 bytes)."""
    if n <= 8:
        return 8
    if n <= 128:
        return (n + 15) & ~15
    delta = 1 << ((n - 1).bit_length() - 3)
    return (n + delta - 1) & ~(delta - 1)


def sds_header(length):
    """sdsReqType's header size for a string of that length (an empty one
    gets sdshdr8, as sdsnewlen makes it)."""
    if length < 32:
        return 1 if length else 3
    if length < 256:
        return 3
    if length < 65536:
        return 5
    if length < 1 << 32:
        return 9
    return 17


def sds_size(length):
    """sdsZmallocSize of an sds made at its exact length (sdsnewlen/sdsdup)."""
    return je_size(sds_header(length) + length + 1)


# -- strings grown in place -----------------------------------------------------
#
# APPEND, SETRANGE, SETBIT/BITFIELD past the end and a sparse HyperLogLog's
# updates grow Redis's sds with sdsMakeRoomFor, which allocates greedily
# (twice the length needed, or 1 MB more), so a string's allocation depends
# on the history of its growth. The commands that grow a bytearray value in
# place tell make_room first, as Redis calls sdsMakeRoomFor, and the
# resulting allocation is kept here, by the value's id, with a fingerprint
# (length and Python's allocation) that an unrelated bytearray later at the
# same address matches only if it has the same length and buffer size: no
# reference is held, so a deleted value is freed at once. The table holds at most GROWN_MAX values, the most recently
# grown; a value it forgot, or never saw (SETRANGE/SETBIT on a new key,
# BITOP, a dense HyperLogLog: sdsnewlen), is counted at its exact size.

SDS_TYPE_MAX = {1: 31, 3: 255, 5: 65535, 9: (1 << 32) - 1, 17: (1 << 64) - 1}
GROWN_MAX = 16384
# id(value) -> (len, Python's __alloc__, sds alloc, usable size), oldest first
_grown = OrderedDict()


def _sds_new(length):
    # sdsnewlen: (alloc, usable size); a type-5 header records no spare room.
    hdr = sds_header(length)
    usable = je_size(hdr + length + 1)
    if hdr == 1:
        return length, usable
    return min(usable - hdr - 1, SDS_TYPE_MAX[hdr]), usable


def _grown_state(v):
    e = _grown.get(id(v))
    if e is not None and e[0] == len(v) and e[1] == v.__alloc__():
        return e
    return None


def make_room(v, addlen, trimmed=False):
    """sdsMakeRoomFor(v, addlen), before the bytearray ``v`` (a string
    value) grows in place by up to ``addlen`` bytes. ``trimmed``: v was just
    copied from a raw string object (a bytes value longer than 44 bytes),
    which SET leaves trimmed to fit (trimStringObjectIfNeeded); others start
    as sdsnewlen makes them (dbUnshareStringValue, a new key's string)."""
    length = len(v)
    e = _grown_state(v)
    if e is not None:
        alloc, usable = e[2], e[3]
    else:
        alloc, usable = _sds_new(length)
        if trimmed and alloc - length > length // 10:
            alloc = length
    if alloc - length < addlen:
        newlen = length + addlen
        newlen = newlen * 2 if newlen < SDS_MAX_PREALLOC else newlen + SDS_MAX_PREALLOC
        hdr = max(sds_header(newlen), 3)
        usable = je_size(hdr + newlen + 1)
        alloc = min(usable - hdr - 1, SDS_TYPE_MAX[hdr])
    return _pending(v, alloc, usable)


class _pending:
    """The state make_room computed, recorded by grew() once the value has
    its new length (and Python its new buffer)."""
    __slots__ = ('v', 'alloc', 'usable')

    def __init__(self, v, alloc, usable):
        self.v = v
        self.alloc = alloc
        self.usable = usable

    def grew(self):
        v = self.v
        key = id(v)
        _grown[key] = (len(v), v.__alloc__(), self.alloc, self.usable)
        _grown.move_to_end(key)
        if len(_grown) > GROWN_MAX:
            _grown.popitem(last=False)


def forget(v):
    """v was rewritten in place as a new sds (a HyperLogLog made dense)."""
    _grown.pop(id(v), None)


def _dict_slots(n):
    # _dictNextExp: the next power of two >= n, at least DICT_HT_INITIAL_SIZE.
    return max(4, 1 << (n - 1).bit_length()) if n else 0


def _skiplist_node():
    # The expected allocation of a zskiplistNode (24 bytes + 16 per level)
    # for zslRandomLevel's levels: P(level = k) = 3/4 * (1/4)^(k-1).
    total = 0.0
    for level in range(1, 33):
        total += 0.75 * 0.25 ** (level - 1) * je_size(24 + 16 * level)
    return total


SKIPLIST_NODE = _skiplist_node()
SKIPLIST_HEADER = je_size(24 + 32 * 16)     # ZSKIPLIST_MAXLEVEL levels


def _scaled(asize, elesize, samples, n):
    # asize += (double)elesize/samples*n, truncated back to size_t.
    if not samples:
        return asize
    return int(asize + float(elesize) / samples * n)


def string_sds(v):
    """(sdslen, sdsavail, usable size) of a raw-encoded string value's sds,
    as DEBUG SDSLEN reports them: a value grown in place as make_room
    recorded it; one SET stored (a bytes value) as sdsnewlen made it from
    the request's argument, trimmed when that left more than a tenth spare
    (trimStringObjectIfNeeded); any other as sdsnewlen makes it. (A
    32 KB or larger argument becomes the value in the query buffer it was
    read into, allocated for its CRLF too: the same size class except at a
    class boundary, which is not modelled.)"""
    n = len(v)
    e = _grown_state(v) if type(v) is bytearray else None
    if e is not None:
        return n, e[2] - n, e[3]
    alloc, usable = _sds_new(n)
    if type(v) is bytes and alloc - n > n // 10:
        alloc = n
    return n, alloc - n, usable


def string_size(v):
    if type(v) is bytes:
        n = len(v)
        if n <= 20 and string2ll(v) is not None:
            return ROBJ                                 # OBJ_ENCODING_INT
        if n <= 44:
            return je_size(ROBJ + 3 + n + 1)            # embstr
        return ROBJ + sds_size(n)
    if values.FLOAT_MADE and values.FLOAT_MADE.get(id(v)) is v:
        return je_size(ROBJ + 3 + len(v) + 1)
    e = _grown_state(v)
    if e is not None:
        return ROBJ + e[3]
    return ROBJ + sds_size(len(v))


def _listpack_bytes(elements):
    return 7 + sum(str_size(x) for x in elements)


def list_size(v, samples):
    sizes = getattr(v, 'node_sizes', None)
    if sizes is not None:
        nodes = v.node_count()
        sizes = sizes(min(samples, nodes))
    else:                               # the pure-Python stand-in
        from .rdb import quicklist_nodes
        blobs = quicklist_nodes(list(v), v.fill)
        nodes = len(blobs)
        sizes = [len(b) for b in blobs[:samples]]
    elesize = sum(QUICKLIST_NODE + je_size(s) for s in sizes)
    return _scaled(ROBJ + QUICKLIST, elesize, len(sizes), nodes)


def _hashtable_size(n, elements, per_element):
    asize = ROBJ + DICT + 8 * _dict_slots(n)
    elesize = 0
    samples = 0
    for e in elements:
        elesize += DICT_ENTRY + per_element(e)
        samples += 1
    return _scaled(asize, elesize, samples, n)


def hash_size(v, encoding, samples):
    if encoding == b'listpack':
        if type(v) is dict:
            nbytes = 7 + sum(str_size(f) + str_size(x) for f, x in v.items())
        else:
            nbytes = len(v.blob())
        return ROBJ + je_size(nbytes)
    items = islice(v.items(), samples)
    return _hashtable_size(len(v), items, lambda fv: sds_size(len(fv[0])) + sds_size(len(fv[1])))


def set_size(v, encoding, samples):
    if encoding == b'intset':
        lo = hi = 0
        for m in v:
            i = string2ll(m)
            if i < lo:
                lo = i
            elif i > hi:
                hi = i
        if -32768 <= lo and hi <= 32767:
            width = 2
        elif -2147483648 <= lo and hi <= 2147483647:
            width = 4
        else:
            width = 8
        return ROBJ + je_size(8 + width * len(v))
    return _hashtable_size(len(v), islice(v, samples), lambda m: sds_size(len(m)))


def zset_size(v, encoding, samples):
    if encoding == b'listpack':
        nbytes = 7
        for score, member in v.iter_tuples():
            nbytes += str_size(member) + str_size(d2string(score))
        return ROBJ + je_size(nbytes)
    n = len(v)
    asize = (ROBJ + ZSET + ZSKIPLIST + DICT + 8 * _dict_slots(n) + SKIPLIST_HEADER)
    elesize = 0
    count = 0
    for _, member in islice(v.iter_tuples(), samples):
        elesize += sds_size(len(member)) + DICT_ENTRY + SKIPLIST_NODE
        count += 1
    return _scaled(asize, elesize, count, n)


def _rax_estimate(numele, numnodes):
    # streamRadixTreeMemoryUsage (its sizeof(*rax) is overwritten, so not
    # counted): 16 bytes per key, a raxNode and 30 words per node.
    return numele * STREAM_ID + numnodes * RAX_NODE + numnodes * 8 * 30


RAX_EXACT = 65536


def _rax_nodes(keys):
    # Redis keeps the node count; counting the trie costs ~0.4 us per ID,
    # so a tree of more IDs than RAX_EXACT (a PEL, the nodes of a stream of
    # millions of entries) is counted on its first ones and scaled
    # (consecutive IDs give tries of the same shape).
    n = len(keys)
    if n <= RAX_EXACT:
        return rax_nodes(keys)
    return rax_nodes(keys[:RAX_EXACT]) * n // RAX_EXACT


def stream_size(v, samples):
    nodes = v.nodes
    asize = ROBJ + STREAM + _rax_estimate(len(nodes), _rax_nodes(v.masters))
    # The listpacks' allocations: XADD opens a node with lpNew(prealloc)
    # and shrinks it to fit when it closes it for its entry count (not for
    # its bytes); a node loaded or copied is allocated at its size.
    last = len(nodes) - 1

    def lp_alloc(i):
        node = nodes[i]
        return je_size(max(node.nbytes, node.prealloc))
    lpsize = 0
    count = 0
    for i in range(min(samples, len(nodes))):
        lpsize += lp_alloc(i)
        count += 1
    if len(nodes) <= count:
        asize += lpsize
    else:
        asize += lpsize // count * last + lp_alloc(last)
    for g in v.sorted_groups():
        pel = g.pel
        asize += STREAM_CG + _rax_estimate(len(pel), _rax_nodes(pel.keys))
        asize += STREAM_NACK * len(pel)
        for c in g.consumers.values():
            asize += STREAM_CONSUMER + len(c.name)
            asize += _rax_estimate(len(c.pel), _rax_nodes(c.pel.keys))
    return asize


def module_size(v):
    mem_usage = v.module_type.mem_usage
    return int(mem_usage(v.value)) if mem_usage is not None else 0


def value_size(server, v, samples=DEFAULT_SAMPLES):
    """objectComputeSize: the value's bytes as Redis counts them; samples 0
    means every element."""
    t = type(v)
    if t is bytes or t is bytearray:
        return string_size(v)
    if samples <= 0:
        samples = 1 << 62
    if t is values.QuickList:
        return list_size(v, samples)
    if t is ZSet:
        return zset_size(v, values.object_encoding(server, v), samples)
    if t is set:
        return set_size(v, values.object_encoding(server, v), samples)
    if t is dict or t is values.PackedHash:
        return hash_size(v, values.object_encoding(server, v), samples)
    if t is Stream:
        return stream_size(v, samples)
    if getattr(v, 'module_type', None) is not None:
        return module_size(v)
    return ROBJ


def key_usage(server, key, v, samples=DEFAULT_SAMPLES):
    """MEMORY USAGE: the value, the key's sds and its dictEntry."""
    usage = value_size(server, v, samples) + sds_size(len(key)) + DICT_ENTRY
    if server.config.cluster_enabled:
        usage += CLUSTER_ENTRY_METADATA
    return usage
