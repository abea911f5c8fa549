"""The stream value type (t_stream.c's data structure, not its commands).

Redis keeps a stream as a radix tree of listpacks: each listpack ("node")
starts with a master entry (the live and deleted counts and the field names
of the node's first entry) and holds up to stream-node-max-entries entries
or stream-node-max-bytes bytes; entries store their ID as a delta from the
node's key (the master ID), flags (deleted, same fields as the master) and
their fields and values. Deleting an entry (XDEL, exact trimming inside a
node) only flags it; a node goes when its last live entry goes, and
approximate trimming ("~") removes whole nodes only.

The node boundaries are visible to clients (which entries "~" trims, XINFO
STREAM's radix-tree-keys, the RDB file), so nodes are kept here exactly as
Redis forms them: a Node holds its entries (deleted ones too) and tracks
the exact byte size its listpack has (``nbytes``), which decides when
XADD opens a new node. ``listpack()`` serialises a node byte for byte as
Redis does (the RDB stores these bytes).

Why not a radix tree: the only operations on the tree are "the node whose
key is <= an ID" and walking nodes in order; a Python list of nodes and the
parallel sorted list of their master IDs answers the first with a C-level
bisect (O(log N)) and the second by index. Entries inside a node are found
by bisect on the node's sorted ID list, so a range read of M entries costs
O(log N + M) and XADD appends to the last node in O(1) (amortised). IDs are
single Python ints (ms << 64 | seq): one comparison, one object.

Consumer groups: Group (last delivered ID, entries-read counter, a PEL and
its consumers), Consumer (its own PEL) and Nack (delivery time and count,
owning consumer), as in Redis; PELs are ordered by ID (PEL: dict plus
sorted key list) because XPENDING, XAUTOCLAIM and the RDB walk them in
order. Group and consumer names are walked in byte order (Redis's raxes).
"""

from bisect import bisect_left, bisect_right, insort
from sys import getsizeof

from .listpack import encode_int, encode_str, int_size, str_size

M64 = (1 << 64) - 1
MAX_ID = (M64 << 64) | M64
INVALID_ENTRIES_READ = -1

FLAG_NONE = 0
FLAG_DELETED = 1
FLAG_SAMEFIELDS = 2

LISTPACK_MAX_SIZE = 1 << 30


def make_id(ms, seq):
    return (ms << 64) | seq


def id_bytes(i):
    return b'%d-%d' % (i >> 64, i & M64)


def id_reply(i):
    s = b'%d-%d' % (i >> 64, i & M64)
    return b'$%d\r\n%s\r\n' % (len(s), s)


def _s64(v):
    """A uint64 difference as lpAppendInteger stores it (int64)."""
    v &= M64
    return v - (1 << 64) if v >> 63 else v


# -- nodes ---------------------------------------------------------------------------

# A count element grows when the count reaches these values (its integer
# encoding gets wider): the extra bytes.
_COUNT_GROWS = {128: 1, 4096: 1, 32768: 1, 8388608: 1, 2147483648: 4}

class Node:
    """One listpack: master ID and fields, its entries (sorted IDs, their
    fields and values as flat tuples, their flags in a bytearray: tuples of
    bytes and bytearrays are not tracked by the garbage collector, so a
    million entries do not slow its passes down), live/deleted counts and
    the exact listpack size."""
    __slots__ = ('master', 'mfields', 'ids', 'entries', 'flags', 'count', 'deleted',
                 'nbytes', 'prealloc')

    def __init__(self, master, mfields):
        self.master = master
        self.mfields = mfields      # a tuple: compared with an entry's fields
        self.ids = []
        self.entries = []
        self.flags = bytearray()
        self.count = 0
        self.deleted = 0
        # The bytes Redis preallocated for the listpack (XADD's lpNew), until
        # it is shrunk to fit; 0 for a node loaded or copied (exact size).
        # Only MEMORY USAGE reads it.
        self.prealloc = 0
        # header (6) + EOF (1) + count, deleted, num-fields, fields, 0
        self.nbytes = 7 + int_size(0) + int_size(0) + int_size(len(mfields)) + \
            sum(str_size(f) for f in mfields) + int_size(0)

    def set_counts(self, count, deleted):
        self.nbytes += (int_size(count) - int_size(self.count) +
                        int_size(deleted) - int_size(self.deleted))
        self.count = count
        self.deleted = deleted

    def append(self, eid, fv):
        """Append an entry (fields known to fit this node)."""
        m = self.master
        d = (eid >> 64) - (m >> 64)
        # flags (2 bytes) and the ms difference
        size = 4 if 0 <= d <= 127 else 2 + int_size(_s64(d))
        d = (eid & M64) - (m & M64)
        size += 2 if 0 <= d <= 127 else int_size(_s64(d))
        if fv[0::2] == self.mfields:
            flags = FLAG_SAMEFIELDS
            for i in range(1, len(fv), 2):
                size += str_size(fv[i])
            lp_count = len(fv) // 2 + 3
        else:
            flags = FLAG_NONE
            size += int_size(len(fv) // 2)
            for x in fv:
                size += str_size(x)
            lp_count = len(fv) + 4
        size += 2 if lp_count <= 127 else int_size(lp_count)
        self.ids.append(eid)
        self.entries.append(fv)
        self.flags.append(flags)
        count = self.count + 1
        self.count = count
        grow = _COUNT_GROWS.get(count)
        self.nbytes += size if grow is None else size + grow

    def mark_deleted(self, idx):
        self.flags[idx] |= FLAG_DELETED
        self.set_counts(self.count - 1, self.deleted + 1)

    def last_id(self):
        """The last entry's ID, deleted or not (lpGetEdgeStreamID)."""
        return self.ids[-1]

    def listpack(self):
        """The node's listpack bytes, as Redis lays them out."""
        parts = [encode_int(self.count), encode_int(self.deleted),
                 encode_int(len(self.mfields))]
        parts.extend(encode_str(f) for f in self.mfields)
        parts.append(encode_int(0))
        m = self.master
        nelem = 4 + len(self.mfields)
        for eid, flags, fv in zip(self.ids, self.flags, self.entries):
            parts.append(encode_int(flags))
            parts.append(encode_int(_s64((eid >> 64) - (m >> 64))))
            parts.append(encode_int(_s64((eid & M64) - (m & M64))))
            n = len(fv) // 2
            if flags & FLAG_SAMEFIELDS:
                parts.extend(encode_str(fv[i]) for i in range(1, len(fv), 2))
                lp_count = n + 3
            else:
                parts.append(encode_int(n))
                parts.extend(encode_str(x) for x in fv)
                lp_count = 2 * n + 4
            parts.append(encode_int(lp_count))
            nelem += lp_count + 1
        body = b''.join(parts)
        total = len(body) + 7
        return (total.to_bytes(4, 'little') + min(nelem, 65535).to_bytes(2, 'little') +
                body + b'\xff')


# -- consumer groups ------------------------------------------------------------------

class Nack:
    __slots__ = ('delivery_time', 'delivery_count', 'consumer')

    def __init__(self, consumer, now):
        self.delivery_time = now
        self.delivery_count = 1
        self.consumer = consumer


class PEL:
    """A pending entries list: ID -> Nack, walked in ID order."""
    __slots__ = ('map', 'keys')

    def __init__(self):
        self.map = {}
        self.keys = []

    def __len__(self):
        return len(self.map)

    def get(self, i):
        return self.map.get(i)

    def add(self, i, nack):
        """raxTryInsert: False when the ID is already there."""
        if i in self.map:
            return False
        self.map[i] = nack
        keys = self.keys
        if not keys or keys[-1] < i:
            keys.append(i)
        else:
            insort(keys, i)
        return True

    def remove(self, i):
        if self.map.pop(i, None) is None:
            return False
        keys = self.keys
        j = bisect_left(keys, i)
        del keys[j]
        return True

    def from_id(self, start):
        """IDs >= start, in order (a snapshot)."""
        keys = self.keys
        return keys[bisect_left(keys, start):]

    def first(self):
        return self.keys[0]

    def last(self):
        return self.keys[-1]


class Consumer:
    __slots__ = ('name', 'seen_time', 'pel')

    def __init__(self, name, now):
        self.name = name
        self.seen_time = now
        self.pel = PEL()


class Group:
    __slots__ = ('name', 'last_id', 'entries_read', 'pel', 'consumers')

    def __init__(self, name, last_id, entries_read):
        self.name = name
        self.last_id = last_id
        self.entries_read = entries_read
        self.pel = PEL()
        self.consumers = {}

    def sorted_consumers(self):
        return [self.consumers[k] for k in sorted(self.consumers)]

    def delete_consumer(self, consumer):
        for i in consumer.pel.keys:
            self.pel.remove(i)
        del self.consumers[consumer.name]


# -- the stream ----------------------------------------------------------------------

class Stream:
    __slots__ = ('nodes', 'masters', 'length', 'last_id', 'first_id', 'max_deleted',
                 'entries_added', 'groups')

    def __init__(self):
        self.nodes = []
        self.masters = []
        self.length = 0
        self.last_id = 0
        self.first_id = 0
        self.max_deleted = 0
        self.entries_added = 0
        self.groups = None      # name -> Group, created on demand

    def __len__(self):
        return self.length

    # -- appending --------------------------------------------------------------

    def append(self, eid, fv, max_bytes, max_entries):
        """streamAppendItem once the ID is known valid: add the entry to the
        last node or to a new one, as Redis decides."""
        nodes = self.nodes
        fv = tuple(fv)
        max_bytes_conf = max_bytes
        if nodes:
            node = nodes[-1]
            if max_bytes == 0 or max_bytes > LISTPACK_MAX_SIZE:
                max_bytes = LISTPACK_MAX_SIZE
            if len(fv) == 2:
                totelelen = len(fv[0]) + len(fv[1])
            else:
                totelelen = sum(map(len, fv))
            if node.nbytes + totelelen >= max_bytes:
                node = None
            elif max_entries and node.count + node.deleted >= max_entries:
                node.prealloc = 0       # lpShrinkToFit
                node = None
        else:
            node = None
        if node is None:
            node = Node(eid, fv[0::2])
            # STREAM_LISTPACK_MAX_PRE_ALLOCATE, or stream-node-max-bytes below it
            node.prealloc = max_bytes_conf if 0 < max_bytes_conf < 4096 else 4096
            nodes.append(node)
            self.masters.append(eid)
        node.append(eid, fv)
        self.length += 1
        self.entries_added += 1
        self.last_id = eid
        if self.length == 1:
            self.first_id = eid

    def append1(self, eid, f, v, max_bytes, max_entries):
        """append() for an entry of one field (XADD's common case),
        inlined: the same node decision and sizes."""
        nodes = self.nodes
        if not nodes:
            return self.append(eid, [f, v], max_bytes, max_entries)
        node = nodes[-1]
        if max_bytes == 0 or max_bytes > LISTPACK_MAX_SIZE:
            max_bytes = LISTPACK_MAX_SIZE
        count = node.count
        if node.nbytes + len(f) + len(v) >= max_bytes or \
                (max_entries and count + node.deleted >= max_entries):
            return self.append(eid, [f, v], max_bytes, max_entries)
        mf = node.mfields
        if len(mf) != 1 or mf[0] != f:
            return self.append(eid, [f, v], max_bytes, max_entries)
        m = node.master
        d = (eid >> 64) - (m >> 64)
        size = 6 if 0 <= d <= 127 else 4 + int_size(_s64(d))     # flags, ms, lp-count
        d = (eid & M64) - (m & M64)
        size += 2 if 0 <= d <= 127 else int_size(_s64(d))
        n = len(v)
        if n < 64 and not (v.isdigit() or v[:1] == b'-'):
            size += n + 2
        else:
            size += str_size(v)
        node.ids.append(eid)
        # The master's field object, not the request's copy: one field name
        # per node in memory, as in the listpack.
        node.entries.append((mf[0], v))
        node.flags.append(FLAG_SAMEFIELDS)
        count += 1
        node.count = count
        grow = _COUNT_GROWS.get(count)
        node.nbytes += size if grow is None else size + grow
        self.length += 1
        self.entries_added += 1
        self.last_id = eid

    # -- reading -----------------------------------------------------------------

    def _start_node(self, start):
        i = bisect_right(self.masters, start) - 1
        return i if i > 0 else 0

    def iter_range(self, start, end, rev=False, tombstones=False):
        """(id, fields and values) for entries with start <= id <= end, skipping
        deleted ones unless ``tombstones``; forward or reversed."""
        nodes = self.nodes
        if not nodes or start > end:
            return
        if not rev:
            for ni in range(self._start_node(start), len(nodes)):
                node = nodes[ni]
                ids = node.ids
                if ids[0] > end:
                    return
                j = bisect_left(ids, start) if ids[0] < start else 0
                entries = node.entries
                flags = node.flags
                n = len(ids)
                while j < n:
                    eid = ids[j]
                    if eid > end:
                        return
                    if tombstones or not flags[j] & FLAG_DELETED:
                        yield eid, entries[j]
                    j += 1
        else:
            ni = bisect_right(self.masters, end) - 1
            while ni >= 0:
                node = nodes[ni]
                ids = node.ids
                if ids[-1] < start:
                    return
                j = bisect_right(ids, end) - 1
                entries = node.entries
                flags = node.flags
                while j >= 0:
                    eid = ids[j]
                    if eid < start:
                        return
                    if tombstones or not flags[j] & FLAG_DELETED:
                        yield eid, entries[j]
                    j -= 1
                ni -= 1

    def range_list(self, start, end, count=0, rev=False):
        """[(id, fields and values)] of iter_range's live entries, at most
        ``count`` (0: all), collected a node slice at a time."""
        out = []
        nodes = self.nodes
        if not nodes or start > end:
            return out
        if not rev:
            for ni in range(self._start_node(start), len(nodes)):
                node = nodes[ni]
                ids = node.ids
                if ids[0] > end:
                    break
                j = bisect_left(ids, start) if ids[0] < start else 0
                k = bisect_right(ids, end) if ids[-1] > end else len(ids)
                if node.deleted:
                    flags = node.flags
                    entries = node.entries
                    out.extend([(ids[i], entries[i]) for i in range(j, k)
                                if not flags[i] & FLAG_DELETED])
                else:
                    out.extend(zip(ids[j:k], node.entries[j:k]))
                if count and len(out) >= count:
                    del out[count:]
                    break
                if k < len(ids):
                    break
        else:
            ni = bisect_right(self.masters, end) - 1
            while ni >= 0:
                node = nodes[ni]
                ids = node.ids
                if ids[-1] < start:
                    break
                k = bisect_right(ids, end) if ids[-1] > end else len(ids)
                j = bisect_left(ids, start) if ids[0] < start else 0
                if node.deleted:
                    flags = node.flags
                    entries = node.entries
                    out.extend([(ids[i], entries[i]) for i in range(k - 1, j - 1, -1)
                                if not flags[i] & FLAG_DELETED])
                else:
                    part = list(zip(ids[j:k], node.entries[j:k]))
                    part.reverse()
                    out.extend(part)
                if count and len(out) >= count:
                    del out[count:]
                    break
                if j > 0:
                    break
                ni -= 1
        return out

    def get(self, eid):
        """The live entry with this ID, or None."""
        i = bisect_right(self.masters, eid) - 1
        if i < 0:
            return None
        node = self.nodes[i]
        ids = node.ids
        j = bisect_left(ids, eid)
        if j < len(ids) and ids[j] == eid:
            if not node.flags[j] & FLAG_DELETED:
                return node.entries[j]
        return None

    def edge_id(self, first, skip_tombstones=True):
        """streamGetEdgeID: the first or last entry ID (0-0 / max when the
        stream has none)."""
        for eid, _ in self.iter_range(0, MAX_ID, not first, not skip_tombstones):
            return eid
        return MAX_ID if first else 0

    def last_valid_id(self):
        for eid, _ in self.iter_range(0, MAX_ID, True):
            return eid
        return 0

    # -- deleting ----------------------------------------------------------------

    def delete(self, eid):
        """streamDeleteItem: flag the entry deleted (a node goes with its
        last live entry). True if it existed."""
        i = bisect_right(self.masters, eid) - 1
        if i < 0:
            return False
        node = self.nodes[i]
        ids = node.ids
        j = bisect_left(ids, eid)
        if j >= len(ids) or ids[j] != eid or node.flags[j] & FLAG_DELETED:
            return False
        if node.count == 1:
            del self.nodes[i]
            del self.masters[i]
        else:
            node.mark_deleted(j)
        self.length -= 1
        return True

    def trim(self, maxlen=None, minid=None, approx=False, limit=0):
        """streamTrim by MAXLEN (maxlen) or MINID (minid): entries removed."""
        deleted = 0
        nodes = self.nodes
        while nodes:
            if maxlen is not None and self.length <= maxlen:
                break
            node = nodes[0]
            entries = node.count
            if limit and deleted + entries > limit:
                break
            if maxlen is not None:
                remove = self.length - entries >= maxlen
            else:
                remove = node.last_id() < minid
            if remove:
                del nodes[0]
                del self.masters[0]
                self.length -= entries
                deleted += entries
                continue
            if approx:
                break
            from_lp = 0
            for j, eid in enumerate(node.ids):
                if maxlen is not None:
                    if self.length <= maxlen:
                        break
                elif eid >= minid:
                    break
                if not node.flags[j] & FLAG_DELETED:
                    node.flags[j] |= FLAG_DELETED
                    from_lp += 1
                    self.length -= 1
            deleted += from_lp
            node.set_counts(entries - from_lp, node.deleted + from_lp)
            break
        if self.length == 0:
            self.first_id = 0
        elif deleted:
            self.first_id = self.edge_id(True)
        return deleted

    # -- consumer groups ----------------------------------------------------------

    def group(self, name):
        g = self.groups
        return g.get(name) if g else None

    def create_group(self, name, last_id, entries_read):
        if self.groups is None:
            self.groups = {}
        if name in self.groups:
            return None
        g = self.groups[name] = Group(name, last_id, entries_read)
        return g

    def sorted_groups(self):
        g = self.groups
        if not g:
            return []
        return [g[k] for k in sorted(g)]

    # -- counters (lag, entries read) -------------------------------------------------

    def range_has_tombstones(self, start, end=MAX_ID):
        if not self.length or not self.max_deleted:
            return False
        if self.first_id > self.max_deleted:
            return False
        return start <= self.max_deleted <= end

    def estimate_distance(self, eid):
        """streamEstimateDistanceFromFirstEverEntry (-1: unknown)."""
        if not self.entries_added:
            return 0
        if not self.length and eid <= self.last_id:
            return self.entries_added
        if eid == self.last_id:
            return self.entries_added
        if eid > self.last_id:
            return INVALID_ENTRIES_READ
        if not self.max_deleted or self.max_deleted < self.first_id:
            if eid < self.first_id:
                return self.entries_added - self.length
            if eid == self.first_id:
                return self.entries_added - self.length + 1
        return INVALID_ENTRIES_READ

    def group_lag(self, g):
        """streamReplyWithCGLag's value, None when it cannot be known."""
        if not self.entries_added:
            return 0
        if g.entries_read != INVALID_ENTRIES_READ and \
                not self.range_has_tombstones(g.last_id):
            return self.entries_added - g.entries_read
        er = self.estimate_distance(g.last_id)
        if er != INVALID_ENTRIES_READ:
            return self.entries_added - er
        return None

    # -- introspection ------------------------------------------------------------------

    def rax_nodes(self):
        """The number of nodes Redis's radix tree has for these node keys
        (XINFO STREAM's radix-tree-nodes)."""
        return rax_nodes(self.masters)

    def memory_usage(self, samples):
        """MEMORY USAGE's estimate, measured on the Python objects and
        sampled as Redis does for streams: the first ``samples`` nodes give
        an average for all but the last node, which is measured itself."""
        size = getsizeof(self) + getsizeof(self.nodes) + getsizeof(self.masters)
        nodes = self.nodes
        if nodes:
            measured = nodes[:samples] if samples > 0 else nodes
            total = sum(_node_size(n) for n in measured)
            if len(measured) >= len(nodes):
                size += total
            else:
                size += total // len(measured) * (len(nodes) - 1) + _node_size(nodes[-1])
        for g in self.sorted_groups():
            size += getsizeof(g) + getsizeof(g.pel.map) + getsizeof(g.pel.keys)
            size += len(g.pel) * (_NACK_SIZE + 32)      # the Nack and its ID int
            for c in g.consumers.values():
                size += getsizeof(c) + getsizeof(c.name) + getsizeof(c.pel.map) + \
                    getsizeof(c.pel.keys)
        return size

    def copy(self):
        s = Stream()
        for node in self.nodes:
            n = Node.__new__(Node)
            n.master = node.master
            n.mfields = node.mfields
            n.ids = list(node.ids)
            n.entries = list(node.entries)
            n.flags = bytearray(node.flags)
            n.count = node.count
            n.deleted = node.deleted
            n.nbytes = node.nbytes
            n.prealloc = 0          # streamDup copies each listpack at its size
            s.nodes.append(n)
        s.masters = list(self.masters)
        s.length = self.length
        s.last_id = self.last_id
        s.first_id = self.first_id
        s.max_deleted = self.max_deleted
        s.entries_added = self.entries_added
        if self.groups is not None:
            s.groups = {}
            for g in self.sorted_groups():
                ng = s.create_group(g.name, g.last_id, g.entries_read)
                for i in g.pel.keys:
                    old = g.pel.map[i]
                    nack = Nack(None, old.delivery_time)
                    nack.delivery_count = old.delivery_count
                    ng.pel.add(i, nack)
                for c in g.consumers.values():
                    nc = ng.consumers[c.name] = Consumer(c.name, c.seen_time)
                    for i in c.pel.keys:
                        nack = ng.pel.map[i]
                        nack.consumer = nc
                        nc.pel.add(i, nack)
        return s


_NACK_SIZE = getsizeof(Nack(None, 0))


def _node_size(node):
    size = getsizeof(node) + getsizeof(node.ids) + getsizeof(node.entries) + \
        getsizeof(node.flags) + 32 * len(node.ids)      # the ID ints
    for fv in node.entries:
        size += getsizeof(fv)
        for x in fv:
            size += getsizeof(x)
    return size


def rax_nodes(ids):
    """The nodes of Redis's radix tree keyed by these sorted IDs (the node
    index, a PEL): 16-byte big-endian keys in a compressed trie; an empty
    tree is its head node."""
    keys = [i.to_bytes(16, 'big') for i in ids]
    if not keys:
        return 1
    return _trie_nodes(keys, 0, 0, len(keys))


def _trie_nodes(keys, pos, lo, hi):
    """Nodes of the compressed radix subtree for sorted keys[lo:hi], all
    sharing their first ``pos`` bytes (all keys are 16 bytes long)."""
    if hi - lo == 1:
        # A compressed node with the rest of the key, then the key's leaf
        # (just the leaf when nothing is left).
        return 1 if pos == 16 else 2
    first, last = keys[lo], keys[hi - 1]
    p = pos
    while first[p] == last[p]:
        p += 1
    count = 1 if p > pos else 0     # the compressed node for the common part
    count += 1                      # the branching node at p
    i = lo
    while i < hi:
        c = keys[i][p]
        j = i + 1
        while j < hi and keys[j][p] == c:
            j += 1
        count += _trie_nodes(keys, p + 1, i, j)
        i = j
    return count


# -- RDB (rdb.c's stream serialisation) --------------------------------------------------
# rdb.py passes its own primitives in (this module sits below it): the
# length encoding, the raw-string encoding (integers, LZF) and, for
# loading, its reader and listpack parser.

TYPE_STREAM_LISTPACKS = 15
TYPE_STREAM_LISTPACKS_2 = 19


def rdb_body(s, encode_len, encode_string, encode_blob, compress):
    """rdbSaveObject for a stream (RDB_TYPE_STREAM_LISTPACKS_2)."""
    out = [encode_len(len(s.nodes))]
    for node in s.nodes:
        out.append(encode_blob(node.master.to_bytes(16, 'big'), compress))
        out.append(encode_blob(node.listpack(), compress))
    out.append(encode_len(s.length))
    for i in (s.last_id, s.first_id, s.max_deleted):
        out.append(encode_len(i >> 64))
        out.append(encode_len(i & M64))
    out.append(encode_len(s.entries_added))
    groups = s.sorted_groups()
    out.append(encode_len(len(groups)))
    for g in groups:
        out.append(encode_string(g.name, compress))
        out.append(encode_len(g.last_id >> 64))
        out.append(encode_len(g.last_id & M64))
        out.append(encode_len(g.entries_read & M64))
        out.append(encode_len(len(g.pel)))
        for i in g.pel.keys:
            nack = g.pel.map[i]
            out.append(i.to_bytes(16, 'big'))
            out.append((nack.delivery_time & M64).to_bytes(8, 'little'))
            out.append(encode_len(nack.delivery_count))
        consumers = g.sorted_consumers()
        out.append(encode_len(len(consumers)))
        for c in consumers:
            out.append(encode_string(c.name, compress))
            out.append((c.seen_time & M64).to_bytes(8, 'little'))
            out.append(encode_len(len(c.pel)))
            for i in c.pel.keys:
                out.append(i.to_bytes(16, 'big'))
    return b''.join(out)


def _signed64(v):
    return v - (1 << 64) if v >> 63 else v


def node_from_listpack(master, blob, items):
    """A Node from its listpack bytes (``items``: the elements as bytes)."""
    it = iter(items)
    count = int(next(it))
    deleted = int(next(it))
    nfields = int(next(it))
    mfields = tuple([next(it) for _ in range(nfields)])
    if int(next(it)) != 0:
        raise ValueError('bad master entry terminator')
    node = Node.__new__(Node)
    node.master = master
    node.mfields = mfields
    node.ids = ids = []
    node.entries = entries = []
    node.flags = flagbuf = bytearray()
    mms, mseq = master >> 64, master & M64
    for _ in range(count + deleted):
        flags = int(next(it))
        ms = (mms + int(next(it))) & M64
        seq = (mseq + int(next(it))) & M64
        if flags & FLAG_SAMEFIELDS:
            fv = []
            for f in mfields:
                fv.append(f)
                fv.append(next(it))
            fv = tuple(fv)
        else:
            n = int(next(it))
            fv = tuple([next(it) for _ in range(2 * n)])
        next(it)    # lp-count
        ids.append((ms << 64) | seq)
        entries.append(fv)
        flagbuf.append(flags)
    if next(it, None) is not None:
        raise ValueError('stream listpack has extra elements')
    node.count = count
    node.deleted = deleted
    node.nbytes = len(blob)
    node.prealloc = 0
    return node


def rdb_load(r, t, lp_items, fail):
    """rdbLoadObject for RDB_TYPE_STREAM_LISTPACKS(_2). ``r`` is rdb.py's
    Reader; ``fail(msg)`` raises its error."""
    s = Stream()
    for _ in range(r.plain_length()):
        key = r.string()
        if len(key) != 16:
            fail('Stream node key entry is not the size of a stream ID')
        blob = r.string()
        items = lp_items(blob)
        if not items:
            fail('Empty listpack inside stream')
        master = int.from_bytes(key, 'big')
        if s.masters and master <= s.masters[-1]:
            fail('Listpack re-added with existing key')
        s.nodes.append(node_from_listpack(master, blob, items))
        s.masters.append(master)
    s.length = r.plain_length()
    s.last_id = (r.plain_length() << 64) | r.plain_length()
    if t == TYPE_STREAM_LISTPACKS_2:
        s.first_id = (r.plain_length() << 64) | r.plain_length()
        s.max_deleted = (r.plain_length() << 64) | r.plain_length()
        s.entries_added = r.plain_length()
    else:
        s.max_deleted = 0
        s.entries_added = s.length
        s.first_id = s.edge_id(True)
        if not s.length:
            s.first_id = 0
    if s.length and not s.nodes:
        fail('Stream length inconsistent with rax entries')
    for _ in range(r.plain_length()):
        name = r.string()
        last = (r.plain_length() << 64) | r.plain_length()
        if t == TYPE_STREAM_LISTPACKS_2:
            entries_read = _signed64(r.plain_length())
        else:
            entries_read = s.estimate_distance(last)
        g = s.create_group(name, last, entries_read)
        if g is None:
            fail('Duplicated consumer group name')
        for _ in range(r.plain_length()):
            i = int.from_bytes(r.take(16), 'big')
            nack = Nack(None, _signed64(int.from_bytes(r.take(8), 'little')))
            nack.delivery_count = r.plain_length()
            if not g.pel.add(i, nack):
                fail('Duplicated global PEL entry loading stream consumer group')
        for _ in range(r.plain_length()):
            cname = r.string()
            if cname in g.consumers:
                fail('Duplicate stream consumer detected.')
            c = g.consumers[cname] = Consumer(
                cname, _signed64(int.from_bytes(r.take(8), 'little')))
            for _ in range(r.plain_length()):
                i = int.from_bytes(r.take(16), 'big')
                nack = g.pel.get(i)
                if nack is None:
                    fail('Consumer entry not found in group global PEL')
                nack.consumer = c
                if not c.pel.add(i, nack):
                    fail('Duplicated consumer PEL entry loading a stream consumer group')
    return s


# -- AOF rewrite (aof.c's rewriteStreamObject) --------------------------------------------

def rewrite_commands(key, s):
    """The commands that rebuild the stream: its entries (XADD), its
    counters (XSETID), each group (XGROUP CREATE) with its consumers'
    pending entries (XCLAIM) or, for consumers without any, XGROUP
    CREATECONSUMER."""
    if s.length:
        for eid, fv in s.iter_range(0, MAX_ID):
            yield [b'XADD', key, id_bytes(eid)] + list(fv)
    else:
        # An empty stream: the XADD MAXLEN 0 trick.
        yield [b'XADD', key, b'MAXLEN', b'0', b'0-1', b'x', b'y']
    yield [b'XSETID', key, id_bytes(s.last_id), b'ENTRIESADDED', b'%d' % s.entries_added,
           b'MAXDELETEDID', id_bytes(s.max_deleted)]
    for g in s.sorted_groups():
        yield [b'XGROUP', b'CREATE', key, g.name, id_bytes(g.last_id), b'ENTRIESREAD',
               b'%d' % g.entries_read]
        for c in g.sorted_consumers():
            if not len(c.pel):
                yield [b'XGROUP', b'CREATECONSUMER', key, g.name, c.name]
                continue
            for i in c.pel.keys:
                nack = c.pel.map[i]
                yield [b'XCLAIM', key, g.name, c.name, b'0', id_bytes(i), b'TIME',
                       b'%d' % nack.delivery_time, b'RETRYCOUNT', b'%d' % nack.delivery_count,
                       b'JUSTID', b'FORCE']
