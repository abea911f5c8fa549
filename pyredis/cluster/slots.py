"""Hash slots and the per-slot key index (cluster.c's keyHashSlot, db.c's
slot-to-keys).

``keyslot(key)`` is keyHashSlot: CRC16 (XMODEM, crc16.c's) of the key, or
of its hash tag - what lies between the first '{' and the first '}' after
it, when that is not empty - modulo 16384. The C version in _speedups is
the one used; ``keyslot_py`` is the reference the tests compare it with.

The index exists only in cluster mode, and only for database 0 (the only
one a cluster node has): ``SlotKeyspace`` is a subclass of the keyspace
type (_keyspace.Keyspace, or dict without the C extension) that the server
puts in place of db 0's ``data``. Every way a key enters or leaves the
keyspace (SET, DEL, RENAME, RESTORE, expiry, eviction, loading, the
master's stream) goes through the mapping's own methods, so keeping the
index in them is what keeps it right without a hook in each caller; the
non-cluster hot path keeps its plain keyspace and pays nothing. What
bypasses a subclass's methods - C code storing into the table directly -
is kept away from it (rdb.py's string loader and the C request paths run
only on an exact keyspace). FLUSHALL and FLUSHALL ASYNC replace ``data``
with ``type(data)()``: a new empty index.

The index of a slot is a dict used as an ordered set, so COUNTKEYSINSLOT is
O(1) and GETKEYSINSLOT O(count). Redis links a slot's keys newest first
(slotToKeyAddEntry puts a key at the head), and GETKEYSINSLOT walks from
the head: ``keys_in_slot`` gives them in that order. Overwriting a key
keeps its place, as dbOverwrite keeps the entry.
"""

CLUSTER_SLOTS = 16384

try:
    from .._keyspace import Keyspace
except ImportError:         # without the C extension a keyspace is a dict
    Keyspace = dict

try:
    from .._speedups import keyslot
except ImportError:     # without the C extension: the reference
    keyslot = None


def _crc16_table():
    table = []
    for i in range(256):
        crc = i << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        table.append(crc & 0xffff)
    return table


_CRC16 = _crc16_table()


def crc16(data):
    crc = 0
    table = _CRC16
    for b in data:
        crc = ((crc << 8) & 0xffff) ^ table[((crc >> 8) ^ b) & 0xff]
    return crc


def keyslot_py(key):
    """keyHashSlot, in Python (the reference)."""
    s = key.find(b'{')
    if s != -1:
        e = key.find(b'}', s + 1)
        if e != -1 and e != s + 1:
            key = key[s + 1:e]
    return crc16(key) & 16383


if keyslot is None:
    keyslot = keyslot_py


class SlotKeyspace(Keyspace):
    """Database 0's keyspace in cluster mode: a keyspace that also keeps,
    for each slot, the keys in it."""

    __slots__ = ('by_slot',)

    def __init__(self, other=None):
        Keyspace.__init__(self)
        # slot -> {key: None}, created when the slot gets its first key.
        self.by_slot = {}
        if other is None:
            return
        if Keyspace is not dict and isinstance(other, Keyspace):
            self.copy_from(other)       # the access times come along
            self.rebuild()
        else:
            self.update(other)

    def _index(self, key):
        slot = keyslot(key)
        keys = self.by_slot.get(slot)
        if keys is None:
            keys = self.by_slot[slot] = {}
        keys[key] = None

    def _unindex(self, key):
        slot = keyslot(key)
        keys = self.by_slot[slot]
        del keys[key]
        if not keys:
            del self.by_slot[slot]

    def __setitem__(self, key, value):
        if key not in self:
            self._index(key)
        Keyspace.__setitem__(self, key, value)

    def __delitem__(self, key):
        Keyspace.__delitem__(self, key)
        self._unindex(key)

    def pop(self, key, *default):
        if key in self:
            self._unindex(key)
        return Keyspace.pop(self, key, *default)

    def popitem(self):
        key, value = Keyspace.popitem(self)
        self._unindex(key)
        return key, value

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return Keyspace.__getitem__(self, key)

    def update(self, other=(), **kwargs):
        pairs = other.items() if hasattr(other, 'items') else other
        for key, value in pairs:
            self[key] = value
        for key, value in kwargs.items():
            self[key] = value

    def __ior__(self, other):
        self.update(other)
        return self

    def clear(self):
        Keyspace.clear(self)
        self.by_slot.clear()

    def copy(self):
        return SlotKeyspace(self)

    def __reduce__(self):
        return (SlotKeyspace, (dict(self.items()),))

    # -- the index ---------------------------------------------------------

    def count_in_slot(self, slot):
        keys = self.by_slot.get(slot)
        return len(keys) if keys else 0

    def keys_in_slot(self, slot, count=None):
        """The keys of ``slot``, newest first (GETKEYSINSLOT's order),
        at most ``count``."""
        keys = self.by_slot.get(slot)
        if not keys:
            return []
        out = []
        for key in reversed(keys):
            if count is not None and len(out) >= count:
                break
            out.append(key)
        return out

    def rebuild(self):
        """Index every key again (after something filled the dict through
        dict's own C methods)."""
        self.by_slot = {}
        for key in Keyspace.keys(self):
            self._index(key)


def enable(db):
    """Put the slot index under ``db`` (database 0 of a cluster node),
    indexing what it already holds."""
    if type(db.data) is not SlotKeyspace:
        db.data = SlotKeyspace(db.data)
        if Keyspace is not dict:
            db.lru = type(db.lru)(db.data)      # the access times came along
