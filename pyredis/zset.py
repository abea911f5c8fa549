"""Sorted set value type (placeholder interface, to be replaced by an
O(log N) structure).

Interface used by the rest of the server (RDB, AOF rewrite, SORT...):
    zs = ZSet(); zs.add(member, score); zs.remove(member) -> bool
    zs.dict: member -> score; len(zs); zs.items() -> (member, score) ascending
"""


class ZSet:
    __slots__ = ('dict',)

    def __init__(self):
        self.dict = {}

    def __len__(self):
        return len(self.dict)

    def add(self, member, score):
        self.dict[member] = score

    def remove(self, member):
        return self.dict.pop(member, None) is not None

    def items(self):
        return sorted(self.dict.items(), key=lambda kv: (kv[1], kv[0]))

    def copy(self):
        z = ZSet()
        for m, s in self.items():
            z.add(m, s)
        return z
