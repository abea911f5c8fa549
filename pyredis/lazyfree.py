"""Lazy freeing (lazyfree.c): big values and whole keyspaces freed a slice at
a time, so the command that dropped them answers at once.

Redis hands such objects to a background thread. In CPython that would not
help: freeing a dict of a million keys is one C call that holds the GIL
throughout, whichever thread makes it. So the objects wait in a queue and
are taken apart from the event loop, a slice of at most SLICE seconds per
turn, between the clients' requests: a dict is emptied with popitem(), a
set with pop(), a list with pop(), each taking only its own element down
(an element that is itself a big container joins the queue instead).

What is worth it is decided as Redis's lazyfreeGetFreeEffort: a value
whose free costs more than LAZYFREE_THRESHOLD allocations; smaller values
are dropped at once. Redis counts a hash table's entries, a skiplist's
nodes, a quicklist's nodes (QuickList.node_count), and one allocation for
everything in a compact encoding (listpack, intset) and for strings.
``pending`` and ``freed`` are INFO's
lazyfree_pending_objects and lazyfreed_objects (a flushed database counts
its keys, as in Redis).
"""

import collections
import time

from .values import object_encoding, QuickList
from .zset import ZSet
from .db import Keyspace, LruView

LAZYFREE_THRESHOLD = 64     # Redis's LAZYFREE_THRESHOLD
SLICE = 0.001               # seconds of freeing per turn of the event loop
CHECK_EVERY = 256           # elements freed between two looks at the clock

_CONTAINERS = (dict, set, list, collections.deque, QuickList)


def free_effort(server, v):
    """lazyfreeGetFreeEffort: the allocations dropping ``v`` frees."""
    cls = v.__class__
    if cls is QuickList:
        return v.node_count()
    if cls is set or cls is dict or cls is ZSet:
        if object_encoding(server, v) in (b'hashtable', b'skiplist'):
            return len(v)
    return 1


class LazyFree:
    __slots__ = ('server', 'queue', 'pending', 'freed', 'scheduled', 'counts')

    def __init__(self, server):
        self.server = server
        self.queue = collections.deque()    # containers being emptied
        self.counts = collections.deque()   # what each counts in ``pending``
        self.pending = 0
        self.freed = 0
        self.scheduled = False

    def free(self, v):
        """Drop the value of a deleted key (UNLINK, and DEL/expiry/eviction
        under their lazyfree-lazy-* directives): a big one in slices."""
        if self.server.loop is not None and free_effort(self.server, v) > LAZYFREE_THRESHOLD:
            self._queue(v, 1)

    def free_tables(self, tables, keys):
        """Drop a database's dicts (FLUSHALL/FLUSHDB ASYNC), counted as its
        ``keys``."""
        if self.server.loop is None or keys <= LAZYFREE_THRESHOLD:
            return
        for i, table in enumerate(tables):
            if LruView is not None and isinstance(table, LruView):
                continue    # the access times go with the keyspace's entries
            self._queue(table, keys if i == 0 else 0)

    def _queue(self, obj, count):
        if obj.__class__ is ZSet:
            # Its member dict and its sorted sublists, taken apart in turn.
            self._queue(obj.dict, count)
            self._queue(obj._lists, 0)
            return
        self.queue.append(obj)
        self.counts.append(count)
        self.pending += count
        if not self.scheduled:
            self.scheduled = True
            self.server.loop.call_soon(self._run)

    def _run(self):
        """One slice: empty the queued containers until the time is up."""
        queue = self.queue
        clock = time.perf_counter
        deadline = clock() + SLICE
        big = LAZYFREE_THRESHOLD
        while queue:
            obj = queue[0]
            # (The LFU table and the cluster keyspace are dict subclasses
            # without the C extension; with it the keyspace is a Keyspace.)
            is_dict = isinstance(obj, (dict, Keyspace))
            take = obj.popitem if is_dict else obj.pop
            n = 0
            while obj:
                item = take()
                if is_dict:
                    item = item[1]
                if ((item.__class__ in _CONTAINERS or item.__class__ is ZSet)
                        and len(item) > big):
                    self._queue(item, 0)
                item = None
                n += 1
                if n == CHECK_EVERY:
                    n = 0
                    if clock() > deadline:
                        break
            if obj:
                break
            queue.popleft()
            count = self.counts.popleft()
            self.pending -= count
            self.freed += count
        if queue:
            self.server.loop.call_soon(self._run)
        else:
            self.scheduled = False
