"""The sorted set value type (t_zset.c's data structure, not its commands).

Members are ordered by (score, member bytes), exactly as Redis's skiplist
orders them: scores compared as doubles (so -0.0 == 0.0 and ties fall back
to the member), members compared bytewise like memcmp. ``dict`` maps each
member to its score for O(1) ZSCORE/ZADD lookups, as Redis's zset keeps a
dict beside its skiplist.

Why not a skiplist: Redis's zskiplist with span counts gives O(log N) rank
and range queries in C, but in CPython every node is an object and every
step of a search is interpreted bytecode; a 1M-member skiplist does ~20
levels x a few Python-level comparisons per lookup and a node allocation
per insert. The structure used here is the one of the "sortedcontainers"
library: a list of sorted sublists of (score, member) tuples, each between
LOAD/2 and 2*LOAD long, plus ``maxes`` (the last tuple of every sublist).
Finding a position is two C-level ``bisect`` calls (one over ``maxes``, one
inside a sublist), inserting is a C-level ``list.insert`` into a sublist of
bounded length (a memmove of at most 2*LOAD pointers: a constant), so the
interpreted work per operation is a handful of bytecodes and the C work is
O(log N). Rank needs the number of elements before a sublist: a Fenwick tree
over the sublist lengths answers that (and the inverse, "which sublist holds
rank k") in O(log(N/LOAD)). The tree is updated in place on every insert and
delete and rebuilt only when sublists are split or merged, which happens
once per ~LOAD inserts or deletes.

Interface used by the rest of the server (RDB, AOF rewrite, SORT, blocking):
    zs = ZSet(); zs.add(member, score); zs.remove(member) -> bool
    zs.dict: member -> score; len(zs); zs.items() -> (member, score) ascending

``big`` records the OBJECT ENCODING: False while Redis would keep the set as
a listpack, True once it converted it to a skiplist (a one-way conversion in
Redis 7.0: shrinking the set does not make it a listpack again), None for a
set built elsewhere (RDB/AOF loading): the sorted set commands then decide
from the zset-max-listpack-* thresholds at first use, as Redis does on load.
"""

from bisect import bisect_left, bisect_right, insort
from itertools import chain

LOAD = 512


class ZSet:
    __slots__ = ('dict', '_lists', '_maxes', '_fen', 'big', 'scan_index')

    def __init__(self):
        self.dict = {}
        self._lists = []     # sorted sublists of (score, member)
        self._maxes = []     # _maxes[i] == _lists[i][-1]
        self._fen = None     # Fenwick tree over sublist lengths; None = rebuild
        self.big = None      # see the module docstring
        self.scan_index = None

    def __len__(self):
        return len(self.dict)

    # -- updates -----------------------------------------------------------

    def add(self, member, score):
        """Insert or re-score a member. Returns True if it is new."""
        d = self.dict
        old = d.get(member)
        if old is not None:
            if old == score:
                return False
            self._delete((old, member))
            d[member] = score
            self._insert((score, member))
            return False
        d[member] = score
        self._insert((score, member))
        if self.scan_index is not None:
            self.scan_index.add(member)
        return True

    def remove(self, member):
        score = self.dict.pop(member, None)
        if score is None:
            return False
        self._delete((score, member))
        if self.scan_index is not None:
            self.scan_index.remove(member)
        return True

    def _insert(self, item):
        maxes = self._maxes
        lists = self._lists
        if not maxes:
            lists.append([item])
            maxes.append(item)
            self._fen = None
            return
        pos = bisect_left(maxes, item)
        if pos == len(maxes):
            pos -= 1
            lst = lists[pos]
            lst.append(item)
            maxes[pos] = item
        else:
            lst = lists[pos]
            insort(lst, item)
        if len(lst) > 2 * LOAD:
            half = lst[LOAD:]
            del lst[LOAD:]
            maxes[pos] = lst[-1]
            lists.insert(pos + 1, half)
            maxes.insert(pos + 1, half[-1])
            self._fen = None
        elif self._fen is not None:
            fen = self._fen
            i = pos + 1
            n = len(fen)
            while i < n:
                fen[i] += 1
                i += i & -i

    def _delete(self, item):
        maxes = self._maxes
        lists = self._lists
        pos = bisect_left(maxes, item)
        lst = lists[pos]
        idx = bisect_left(lst, item)
        del lst[idx]
        n = len(lst)
        if not n:
            del lists[pos]
            del maxes[pos]
            self._fen = None
            return
        if idx == n:
            maxes[pos] = lst[-1]
        if n < LOAD // 2 and len(lists) > 1:
            # Merge with a neighbour so sublists stay between LOAD/2 and
            # 2*LOAD long; split again if the merge made one too long.
            if pos == 0:
                pos = 1
            prev = lists[pos - 1]
            prev.extend(lists[pos])
            del lists[pos]
            del maxes[pos]
            if len(prev) > 2 * LOAD:
                half = prev[len(prev) // 2:]
                del prev[len(prev) // 2:]
                lists.insert(pos, half)
                maxes.insert(pos, half[-1])
            maxes[pos - 1] = prev[-1]
            self._fen = None
        elif self._fen is not None:
            fen = self._fen
            i = pos + 1
            n = len(fen)
            while i < n:
                fen[i] -= 1
                i += i & -i

    # -- the positional index ------------------------------------------------

    def _build_fen(self):
        lists = self._lists
        n = len(lists)
        fen = [0] * (n + 1)
        for i in range(n):
            fen[i + 1] = len(lists[i])
        for i in range(1, n + 1):
            j = i + (i & -i)
            if j <= n:
                fen[j] += fen[i]
        self._fen = fen
        return fen

    def _prefix(self, pos):
        """Number of elements in sublists [0, pos)."""
        fen = self._fen
        if fen is None:
            fen = self._build_fen()
        total = 0
        while pos:
            total += fen[pos]
            pos &= pos - 1
        return total

    def _locate(self, rank):
        """(sublist index, index inside it) of the element at rank."""
        fen = self._fen
        if fen is None:
            fen = self._build_fen()
        n = len(fen) - 1
        pos = 0
        step = 1 << (n.bit_length() - 1) if n else 0
        while step:
            nxt = pos + step
            if nxt <= n and fen[nxt] <= rank:
                pos = nxt
                rank -= fen[nxt]
            step >>= 1
        return pos, rank

    # -- queries -----------------------------------------------------------

    def rank(self, member):
        """0-based ascending rank of a member, or None."""
        score = self.dict.get(member)
        if score is None:
            return None
        item = (score, member)
        pos = bisect_left(self._maxes, item)
        return self._prefix(pos) + bisect_left(self._lists[pos], item)

    def bisect(self, item):
        """Number of elements ordered before ``item`` (a (score, member))."""
        maxes = self._maxes
        pos = bisect_left(maxes, item)
        if pos == len(maxes):
            return len(self.dict)
        return self._prefix(pos) + bisect_left(self._lists[pos], item)

    def bisect_member(self, member, right=False):
        """Like bisect but comparing members only: meaningful when all the
        scores are equal (the lexicographic range commands' contract)."""
        maxes = self._maxes
        key = _member_key
        fn = bisect_right if right else bisect_left
        pos = fn(maxes, member, key=key)
        if pos == len(maxes):
            return len(self.dict)
        return self._prefix(pos) + fn(self._lists[pos], member, key=key)

    def at(self, rank):
        """(score, member) at a 0-based rank."""
        pos, idx = self._locate(rank)
        return self._lists[pos][idx]

    def iter_range(self, start, end):
        """(score, member) tuples for ranks start..end inclusive, ascending,
        as a list. Only the sublists that hold the range are touched."""
        if start > end:
            return []
        pos, idx = self._locate(start)
        lists = self._lists
        count = end - start + 1
        out = lists[pos][idx:idx + count]
        while len(out) < count:
            pos += 1
            out.extend(lists[pos][:count - len(out)])
        return out

    def iter_range_rev(self, start, end):
        """Ranks end..start (inclusive), descending, as a list."""
        if start > end:
            return []
        pos, idx = self._locate(end)
        lists = self._lists
        count = end - start + 1
        lo = idx + 1 - count
        lst = lists[pos]
        if lo >= 0:
            out = lst[lo:idx + 1]
            out.reverse()
            return out
        out = lst[:idx + 1]
        out.reverse()
        while len(out) < count:
            pos -= 1
            need = count - len(out)
            lst = lists[pos]
            out.extend(reversed(lst[-need:] if need < len(lst) else lst))
        return out

    def first(self):
        return self._lists[0][0]

    def last(self):
        return self._lists[-1][-1]

    def items(self):
        """(member, score) pairs in ascending order."""
        return [(m, s) for s, m in chain.from_iterable(self._lists)]

    def iter_tuples(self):
        """(score, member) tuples in ascending order."""
        return chain.from_iterable(self._lists)

    def copy(self):
        z = ZSet()
        z.dict = dict(self.dict)
        z._lists = [list(lst) for lst in self._lists]
        z._maxes = list(self._maxes)
        z.big = self.big
        return z

    @classmethod
    def from_sorted(cls, tuples, big=False):
        """Build from (score, member) tuples already in order, in O(N)."""
        z = cls()
        lists = [tuples[i:i + LOAD] for i in range(0, len(tuples), LOAD)]
        z._lists = lists
        z._maxes = [lst[-1] for lst in lists]
        z.dict = {m: s for s, m in tuples}
        z.big = big
        return z


def _member_key(item):
    return item[1]
