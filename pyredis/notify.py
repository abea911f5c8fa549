"""Keyspace notification classes (notify.c): the notify-keyspace-events flags.

The flag string ("KEA", "Ex", ...) is parsed into a bit mask once, when the
directive is set, so that firing an event is one AND on the hot path.
"""


class NotifyFlags:
    KEYSPACE = 1 << 0    # K
    KEYEVENT = 1 << 1    # E
    GENERIC = 1 << 2     # g
    STRING = 1 << 3      # $
    LIST = 1 << 4        # l
    SET = 1 << 5         # s
    HASH = 1 << 6        # h
    ZSET = 1 << 7        # z
    EXPIRED = 1 << 8     # x
    EVICTED = 1 << 9     # e
    STREAM = 1 << 10     # t
    KEY_MISS = 1 << 11   # m
    MODULE = 1 << 12     # d
    NEW = 1 << 13        # n
    ALL = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE

    _CHARS = (('A', ALL), ('g', GENERIC), ('$', STRING), ('l', LIST), ('s', SET),
              ('h', HASH), ('z', ZSET), ('x', EXPIRED), ('e', EVICTED), ('K', KEYSPACE),
              ('E', KEYEVENT), ('t', STREAM), ('m', KEY_MISS), ('d', MODULE), ('n', NEW))

    @classmethod
    def parse(cls, s):
        """keyspaceEventsStringToFlags: the mask, or None for an unknown char."""
        if isinstance(s, FlagString):
            return s.flags
        flags = 0
        table = dict(cls._CHARS)
        for ch in s:
            bit = table.get(ch)
            if bit is None:
                return None
            flags |= bit
        return flags

    @classmethod
    def format(cls, flags):
        """keyspaceEventsFlagsToString, in Redis's order."""
        out = ''
        if flags & cls.ALL == cls.ALL:
            out += 'A'
        else:
            for ch, bit in (('g', cls.GENERIC), ('$', cls.STRING), ('l', cls.LIST),
                            ('s', cls.SET), ('h', cls.HASH), ('z', cls.ZSET),
                            ('x', cls.EXPIRED), ('e', cls.EVICTED), ('t', cls.STREAM),
                            ('d', cls.MODULE), ('n', cls.NEW)):
                # 'n' is only spelled out without 'A' (Redis 7.0 does the same).
                if flags & bit:
                    out += ch
        if flags & cls.KEYSPACE:
            out += 'K'
        if flags & cls.KEYEVENT:
            out += 'E'
        if flags & cls.KEY_MISS:
            out += 'm'
        return FlagString(out, flags)


class FlagString(str):
    """The spelling CONFIG GET shows, remembering the exact mask: Redis 7.0
    drops 'n' from the spelling when 'A' is present, but keeps the flag."""

    def __new__(cls, text, flags):
        s = super().__new__(cls, text)
        s.flags = flags
        return s
