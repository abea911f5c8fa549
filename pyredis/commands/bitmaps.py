"""Bitmap commands (bitops.c): SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP,
BITFIELD, BITFIELD_RO.

Bitmaps are plain string values. A command that writes bits turns the value
into a bytearray (grown with zero bytes as needed), which is also how Redis
ends up with a "raw" encoded string after SETBIT. Bit 0 is the most
significant bit of byte 0, as in Redis.

Counting and searching run in C: BITCOUNT uses int.bit_count() over the
range as one big integer, BITPOS strips runs of 0x00/0xff bytes with
bytes.lstrip, BITOP combines whole strings as big integers. BITFIELD's
overflow checks reproduce bitops.c's 64-bit arithmetic (including its
wrap-around of intermediate values) with explicit masking, so every
WRAP/SAT/FAIL result matches Redis bit for bit.
"""

from . import command
from .. import objsize, resp
from ..resp import ZERO, ONE, integer, SYNTAX_ERR, NOT_INT_ERR, WRONGTYPE_ERR
from ..util import string2ll
from ..notify import NotifyFlags
from ..values import changed_in_place
from .zsets import store_value

S = NotifyFlags.STRING
G = NotifyFlags.GENERIC
M64 = (1 << 64) - 1

BIT_OFFSET_ERR = b'-ERR bit offset is not an integer or out of range\r\n'
BIT_VALUE_ERR = b'-ERR bit is not an integer or out of range\r\n'
BITFIELD_TYPE_ERR = (b'-ERR Invalid bitfield type. Use something like i16 u8. Note that u64 '
                     b'is not supported but i64 is.\r\n')


def _is_string(v):
    cls = v.__class__
    return cls is bytes or cls is bytearray


def bit_offset(c, arg, hash_ok=False, bits=0):
    """getBitOffsetFromArgument: the offset in bits, or None (error)."""
    usehash = hash_ok and bits > 0 and arg[:1] == b'#'
    n = string2ll(arg[1:] if usehash else arg)
    if n is None:
        return None
    if usehash:
        n *= bits
    if n < 0 or (n >> 3) >= c.server.config.proto_max_bulk_len:
        return None
    return n


def string_for_write(c, key, maxbit):
    """lookupStringForBitCommand: the key's value as a bytearray at least
    maxbit/8+1 bytes long, created if missing. Returns (value, created,
    grown) or (None, error reply, False)."""
    db = c.db
    need = (maxbit >> 3) + 1
    v = db.lookup_write(key)
    if v is None:
        v = bytearray(need)
        db.add(key, v)
        return v, True, True
    cls = v.__class__
    raw = cls is bytes and len(v) > 44
    if cls is bytes:
        v = bytearray(v)
        db.data[key] = v
    elif cls is not bytearray:
        return None, WRONGTYPE_ERR, False
    else:
        changed_in_place(v)
    grown = False
    if len(v) < need:
        room = objsize.make_room(v, need - len(v), raw)
        v.extend(bytes(need - len(v)))
        room.grew()
        grown = True
    return v, False, grown


def _written(c, key, event=b'setbit', count=1):
    c.server.key_modified(c.db, key, S, event, count)


@command('setbit')
def setbit(c, argv):
    offset = bit_offset(c, argv[2])
    if offset is None:
        return BIT_OFFSET_ERR
    on = string2ll(argv[3])
    if on is None or on & ~1:
        return BIT_VALUE_ERR
    v, created, grown = string_for_write(c, argv[1], offset)
    if v is None:
        return created
    byte = offset >> 3
    mask = 1 << (7 - (offset & 7))
    old = v[byte] & mask
    if created or grown or bool(old) != bool(on):
        if on:
            v[byte] |= mask
        else:
            v[byte] &= ~mask & 0xff
        _written(c, argv[1])
    return ONE if old else ZERO


@command('getbit')
def getbit(c, argv):
    offset = bit_offset(c, argv[2])
    if offset is None:
        return BIT_OFFSET_ERR
    v = c.db.lookup(argv[1])
    if v is None:
        return ZERO
    if not _is_string(v):
        return WRONGTYPE_ERR
    byte = offset >> 3
    if byte < len(v) and v[byte] & (1 << (7 - (offset & 7))):
        return ONE
    return ZERO


def _popcount(p, start, end):
    """Set bits in bytes [start, end] inclusive."""
    return int.from_bytes(p[start:end + 1], 'big').bit_count()


@command('bitcount')
def bitcount(c, argv):
    v = c.db.lookup(argv[1])
    if v is None:
        return ZERO
    if not _is_string(v):
        return WRONGTYPE_ERR
    n = len(argv)
    strlen = len(v)
    first_mask = last_mask = 0
    if n == 4 or n == 5:
        start = string2ll(argv[2])
        if start is None:
            return NOT_INT_ERR
        end = string2ll(argv[3])
        if end is None:
            return NOT_INT_ERR
        if start < 0 and end < 0 and start > end:
            return ZERO
        isbit = False
        if n == 5:
            unit = argv[4].lower()
            if unit == b'bit':
                isbit = True
            elif unit != b'byte':
                return SYNTAX_ERR
        totlen = strlen << 3 if isbit else strlen
        if start < 0:
            start += totlen
        if end < 0:
            end += totlen
        if start < 0:
            start = 0
        if end < 0:
            end = 0
        if end >= totlen:
            end = totlen - 1
        if isbit and start <= end:
            first_mask = ~((1 << (8 - (start & 7))) - 1) & 0xff
            last_mask = (1 << (7 - (end & 7))) - 1
            start >>= 3
            end >>= 3
    elif n == 2:
        start, end = 0, strlen - 1
    else:
        return SYNTAX_ERR
    if start > end:
        return ZERO
    count = _popcount(v, start, end)
    if first_mask:
        count -= (v[start] & first_mask).bit_count()
    if last_mask:
        count -= (v[end] & last_mask).bit_count()
    return integer(count)


def find_bit(p, bit, bs, be):
    """First bit equal to ``bit`` in the bit range [bs, be] of p, or None."""
    pos = bs
    while pos <= be and pos & 7:
        if ((p[pos >> 3] >> (7 - (pos & 7))) & 1) == bit:
            return pos
        pos += 1
    if pos > be:
        return None
    full_end = (be + 1) >> 3      # bytes [pos>>3, full_end) are wholly inside
    a = pos >> 3
    if full_end > a:
        chunk = p[a:full_end]
        rest = chunk.lstrip(b'\x00' if bit else b'\xff')
        if rest:
            byte = rest[0]
            i = a + len(chunk) - len(rest)
            for k in range(8):
                if ((byte >> (7 - k)) & 1) == bit:
                    return i * 8 + k
        pos = full_end << 3
    while pos <= be:
        if ((p[pos >> 3] >> (7 - (pos & 7))) & 1) == bit:
            return pos
        pos += 1
    return None


@command('bitpos')
def bitpos(c, argv):
    bit = string2ll(argv[2])
    if bit is None:
        return NOT_INT_ERR
    if bit != 0 and bit != 1:
        return b'-ERR The bit argument must be 1 or 0.\r\n'
    v = c.db.lookup(argv[1])
    if v is None:
        return integer(-1 if bit else 0)
    if not _is_string(v):
        return WRONGTYPE_ERR
    n = len(argv)
    strlen = len(v)
    isbit = end_given = False
    if 4 <= n <= 6:
        start = string2ll(argv[3])
        if start is None:
            return NOT_INT_ERR
        if n == 6:
            unit = argv[5].lower()
            if unit == b'bit':
                isbit = True
            elif unit != b'byte':
                return SYNTAX_ERR
        if n >= 5:
            end = string2ll(argv[4])
            if end is None:
                return NOT_INT_ERR
            end_given = True
        else:
            end = (strlen << 3) + 7 if isbit else strlen - 1
        totlen = strlen << 3 if isbit else strlen
        if start < 0:
            start += totlen
        if end < 0:
            end += totlen
        if start < 0:
            start = 0
        if end < 0:
            end = 0
        if end >= totlen:
            end = totlen - 1
    elif n == 3:
        start, end = 0, strlen - 1
    else:
        return SYNTAX_ERR
    if start > end:
        return integer(-1)
    if isbit:
        bs, be = start, end
        end_byte = end >> 3
    else:
        bs, be = start << 3, (end << 3) + 7
        end_byte = end
    pos = find_bit(v, bit, bs, be)
    if pos is not None:
        return integer(pos)
    if bit == 1 or end_given:
        return integer(-1)
    # Looking for a 0 with no explicit end: the string is treated as
    # padded with zeros on the right.
    return integer((end_byte + 1) << 3)


@command('bitop')
def bitop(c, argv):
    op = argv[1].lower()
    if op not in (b'and', b'or', b'xor', b'not'):
        return SYNTAX_ERR
    if op == b'not' and len(argv) != 4:
        return b'-ERR BITOP NOT must be called with a single source key.\r\n'
    db = c.db
    srcs = []
    for key in argv[3:]:
        v = db.lookup(key)
        if v is None:
            srcs.append(b'')
            continue
        if not _is_string(v):
            return WRONGTYPE_ERR
        srcs.append(v)
    maxlen = max(len(s) for s in srcs)
    server = c.server
    dst = argv[2]
    if maxlen:
        nums = [int.from_bytes(s, 'big') << ((maxlen - len(s)) << 3) for s in srcs]
        r = nums[0]
        if op == b'and':
            for x in nums[1:]:
                r &= x
        elif op == b'or':
            for x in nums[1:]:
                r |= x
        elif op == b'xor':
            for x in nums[1:]:
                r ^= x
        else:
            r ^= (1 << (maxlen << 3)) - 1
        store_value(db, dst, bytearray(r.to_bytes(maxlen, 'big')))
        server.key_modified(db, dst, S, b'set')
    elif db.delete(dst):
        server.key_modified(db, dst, G, b'del')
    return integer(maxlen)


# -- BITFIELD ---------------------------------------------------------------------

WRAP, SAT, FAIL = 0, 1, 2
GET, SET, INCRBY = 0, 1, 2


def _s64(x):
    x &= M64
    return x - (1 << 64) if x >> 63 else x


def bitfield_type(arg):
    """getBitfieldTypeFromArgument: (signed, bits) or None."""
    t = arg[:1]
    if t == b'i':
        signed = True
    elif t == b'u':
        signed = False
    else:
        return None
    bits = string2ll(arg[1:])
    if bits is None or bits < 1 or (signed and bits > 64) or (not signed and bits > 63):
        return None
    return signed, bits


def get_field(p, offset, bits, signed):
    """The bits-wide field at a bit offset (zero beyond the end of p)."""
    first = offset >> 3
    last = (offset + bits - 1) >> 3
    chunk = bytes(p[first:last + 1])
    nbytes = last - first + 1
    if len(chunk) < nbytes:
        chunk += bytes(nbytes - len(chunk))
    v = int.from_bytes(chunk, 'big')
    v >>= ((nbytes << 3) - (offset - (first << 3)) - bits)
    v &= (1 << bits) - 1
    if signed and bits < 64 and v >> (bits - 1):
        v -= 1 << bits
    elif signed and bits == 64:
        v = _s64(v)
    return v


def set_field(p, offset, bits, value):
    first = offset >> 3
    last = (offset + bits - 1) >> 3
    nbytes = last - first + 1
    shift = (nbytes << 3) - (offset - (first << 3)) - bits
    mask = ((1 << bits) - 1) << shift
    cur = int.from_bytes(p[first:last + 1], 'big')
    cur = (cur & ~mask) | (((value & M64) & ((1 << bits) - 1)) << shift)
    p[first:last + 1] = cur.to_bytes(nbytes, 'big')


def check_unsigned_overflow(value, incr, bits, owtype):
    """checkUnsignedBitfieldOverflow: (overflow, limit). value is the
    unsigned 64-bit current value, incr a signed 64-bit increment."""
    value &= M64
    mx = (1 << bits) - 1
    maxincr = _s64(mx - value)
    minincr = _s64(-value)
    if value > mx or incr > maxincr:
        if owtype == WRAP:
            return 1, ((value + incr) & M64) & mx
        return 1, mx if owtype == SAT else None
    if incr < 0 and incr < minincr:
        if owtype == WRAP:
            return 1, ((value + incr) & M64) & mx
        return -1, 0 if owtype == SAT else None
    return 0, None


def check_signed_overflow(value, incr, bits, owtype):
    """checkSignedBitfieldOverflow with C's int64 arithmetic."""
    mx = (1 << 63) - 1 if bits == 64 else (1 << (bits - 1)) - 1
    mn = -mx - 1
    maxincr = _s64(mx - value)
    minincr = _s64(mn - value)
    over = 0
    if value > mx or (bits != 64 and incr > maxincr) or (value >= 0 and incr > 0 and
                                                          incr > maxincr):
        over = 1
        limit = mx
    elif value < mn or (bits != 64 and incr < minincr) or (value < 0 and incr < 0 and
                                                            incr < minincr):
        over = -1
        limit = mn
    else:
        return 0, None
    if owtype == WRAP:
        cv = (value + incr) & M64
        if bits < 64:
            if cv & (1 << (bits - 1)):
                cv |= M64 & ~((1 << bits) - 1)
            else:
                cv &= (1 << bits) - 1
        return 1, _s64(cv)
    return over, limit if owtype == SAT else None


def bitfield_generic(c, argv, readonly_cmd):
    ops = []
    owtype = WRAP
    readonly = True
    highest = 0
    n = len(argv)
    j = 2
    while j < n:
        rem = n - j - 1
        sub = argv[j].lower()
        if sub == b'get' and rem >= 2:
            opcode = GET
        elif sub == b'set' and rem >= 3:
            opcode = SET
        elif sub == b'incrby' and rem >= 3:
            opcode = INCRBY
        elif sub == b'overflow' and rem >= 1:
            t = argv[j + 1].lower()
            j += 2
            if t == b'wrap':
                owtype = WRAP
            elif t == b'sat':
                owtype = SAT
            elif t == b'fail':
                owtype = FAIL
            else:
                return b'-ERR Invalid OVERFLOW type specified\r\n'
            continue
        else:
            return SYNTAX_ERR
        typ = bitfield_type(argv[j + 1])
        if typ is None:
            return BITFIELD_TYPE_ERR
        signed, bits = typ
        offset = bit_offset(c, argv[j + 2], True, bits)
        if offset is None:
            return BIT_OFFSET_ERR
        value = 0
        if opcode != GET:
            readonly = False
            if highest < offset + bits - 1:
                highest = offset + bits - 1
            value = string2ll(argv[j + 3])
            if value is None:
                return NOT_INT_ERR
        ops.append((opcode, signed, bits, offset, value, owtype))
        j += 3 if opcode == GET else 4
    key = argv[1]
    if readonly:
        v = c.db.lookup(key)
        if v is not None and not _is_string(v):
            return WRONGTYPE_ERR
    else:
        if readonly_cmd:
            return b'-ERR BITFIELD_RO only supports the GET subcommand\r\n'
        v, created, grown = string_for_write(c, key, highest)
        if v is None:
            return created
        dirty = created or grown
    null = resp.null(c.resp)
    out = [b'*%d\r\n' % len(ops)]
    changes = 0
    for opcode, signed, bits, offset, value, ow in ops:
        if opcode == GET:
            out.append(integer(get_field(v or b'', offset, bits, signed)))
            continue
        old = get_field(v, offset, bits, signed)
        if signed:
            if opcode == INCRBY:
                over, wrapped = check_signed_overflow(old, value, bits, ow)
                new = wrapped if over else old + value
                ret = new
            else:
                over, wrapped = check_signed_overflow(value, 0, bits, ow)
                new = wrapped if over else value
                ret = old
        else:
            if opcode == INCRBY:
                over, wrapped = check_unsigned_overflow(old, value, bits, ow)
                new = wrapped if over else (old + value) & M64
                ret = new
            else:
                over, wrapped = check_unsigned_overflow(value, 0, bits, ow)
                new = wrapped if over else value & M64
                ret = old
        if over and ow == FAIL:
            out.append(null)
        else:
            out.append(integer(_s64(ret)))
            set_field(v, offset, bits, new)
            # Only real changes count (and are propagated).
            if dirty or (old & M64) != (new & M64):
                changes += 1
    if changes:
        _written(c, key, b'setbit', changes)
    return b''.join(out)


@command('bitfield')
def bitfield(c, argv):
    return bitfield_generic(c, argv, False)


@command('bitfield_ro')
def bitfield_ro(c, argv):
    return bitfield_generic(c, argv, True)
