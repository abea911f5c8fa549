"""The value model: which Python type holds which Redis type (object.c).

A key's value is a Python object - bytes or bytearray for a string,
_listpack.QuickList (listpack nodes; a deque subclass in builds without
the C extension) for a list, dict or _listpack.PackedHash (a small hash kept as listpack bytes,
when the C extension is built) for a hash, set for a set, zset.ZSet for a
sorted set - and this
module answers what Redis asks of any value: its TYPE name, its OBJECT
ENCODING, and a copy of it (COPY). The data type families declare their own
types and encodings (VALUE_TYPES, entered by commands.register_family), as
the encoding rules of a type live with its commands; the string rules are
here, as every family reads strings.
"""

import copy as _copy
import sys
from collections import deque

from .util import string2ll
from .zset import ZSet

try:
    from ._listpack import PackedHash, QuickList
except ImportError:         # not built: every hash is a dict, a list a deque
    PackedHash = None
    QuickList = None

if QuickList is None:
    from itertools import islice

    class QuickList(deque):
        """The pure-Python stand-in for _listpack.QuickList: a deque (one
        object per element) with the few methods the list commands add."""
        __slots__ = ('fill',)

        def __init__(self, fill=-2, items=()):
            deque.__init__(self, items)
            self.fill = fill

        def range(self, start, stop):
            return list(islice(self, max(start, 0), max(stop, 0)))

        def resp_range(self, start, stop):
            items = self.range(start, stop)
            return b'*%d\r\n' % len(items) + b''.join(
                [b'$%d\r\n%s\r\n' % (len(x), x) for x in items])

        def trim(self, start, stop):
            keep = self.range(start, stop)
            self.clear()
            self.extend(keep)

        def insert(self, i, x, after=False):
            deque.insert(self, i + 1 if after else i, x)

        def rem(self, x, count):
            """LREM: up to |count| matches from the head (count > 0) or
            the tail (count < 0), or all of them (0); returns how many."""
            idx = range(len(self)) if count >= 0 else range(len(self) - 1, -1, -1)
            hits = [i for i in idx if self[i] == x][:abs(count) or None]
            for i in sorted(hits, reverse=True):
                del self[i]
            return len(hits)

        def copy(self):
            return QuickList(self.fill, self)

        def node_count(self):
            return len(self)

        def __reduce__(self):
            return QuickList, (self.fill, list(self))

# The Python types of each Redis type, for Database.lookup_typed.
STRING = (bytes, bytearray)
LIST = (QuickList,)
HASH = (dict,) if PackedHash is None else (dict, PackedHash)
SET = (set,)
ZSET = (ZSet,)

# Python type -> Redis TYPE name.
TYPE_NAMES = {bytes: b'string', bytearray: b'string'}
# Python type -> function(server, value) -> OBJECT ENCODING name.
ENCODERS = {}


def register_type(cls, name, encoding):
    TYPE_NAMES[cls] = name
    if encoding is not None:
        ENCODERS[cls] = encoding


def type_name(v):
    return TYPE_NAMES.get(type(v), b'none')


# Strings Redis holds as embstr although they read as integers:
# INCRBYFLOAT's results (createStringObjectFromLongDouble, never
# int-encoded). A string's encoding is otherwise its content's (bytes: int,
# embstr or raw) or raw (a bytearray, made by APPEND, SETRANGE, SETBIT...),
# so such a result is stored as a bytearray (a distinct object: a one-byte
# bytes is a shared one) remembered here by identity, until it is changed
# in place (changed_in_place) or no longer held (dropped as more come).
FLOAT_MADE = {}
_sweep_at = [1024]      # the size at which the values held by nothing else go


def float_made(text):
    """The value to store for INCRBYFLOAT's result ``text``."""
    if len(text) > 20 or string2ll(text) is None:
        return text         # its content gives embstr or raw, as Redis's
    v = bytearray(text)
    if len(FLOAT_MADE) >= _sweep_at[0]:
        for k in list(FLOAT_MADE):
            if sys.getrefcount(FLOAT_MADE[k]) <= 2:     # held by nothing else
                del FLOAT_MADE[k]
        # (Amortised: the next sweep when as many again were added.)
        _sweep_at[0] = max(1024, 2 * len(FLOAT_MADE))
    FLOAT_MADE[id(v)] = v
    return v


def changed_in_place(v):
    """A bytearray value is being modified in place: now raw (Redis's
    dbUnshareStringValue)."""
    if FLOAT_MADE:
        FLOAT_MADE.pop(id(v), None)


def object_encoding(server, v):
    t = type(v)
    if t is bytes:
        if len(v) <= 20 and string2ll(v) is not None:
            return b'int'
        return b'embstr' if len(v) <= 44 else b'raw'
    if t is bytearray:
        if FLOAT_MADE and FLOAT_MADE.get(id(v)) is v:
            return b'embstr'
        return b'raw'
    enc = ENCODERS.get(t)
    if enc is not None:
        return enc(server, v)
    return b'unknown'


def deep_copy(v):
    """A value copy for COPY: strings are immutable bytes (bytearray copied)."""
    t = type(v)
    if t is bytes:
        return v
    if t is bytearray:
        if FLOAT_MADE and FLOAT_MADE.get(id(v)) is v:
            return float_made(bytes(v))     # (dupStringObject keeps embstr)
        return bytearray(v)
    if t is QuickList:
        return v.copy()
    if t is dict:
        return dict(v)
    if t is PackedHash:
        return v.copy()
    if t is set:
        return set(v)
    if hasattr(v, 'copy'):
        return v.copy()
    return _copy.deepcopy(v)
