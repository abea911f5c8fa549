"""HyperLogLog commands (hyperloglog.c): PFADD, PFCOUNT, PFMERGE.

A HyperLogLog is a plain string value in exactly Redis's format, so the same
bytes are a valid HLL for both servers (GET on one, SET on the other, and
PFCOUNT agrees; DUMP/RESTORE and RDB files carry them unchanged):

    +------+---+-----+----------+--------------------------------+
    | HYLL | E | N/U | Cardin.  | registers (sparse or dense)    |
    +------+---+-----+----------+--------------------------------+
     4 bytes magic, 1 byte encoding (0 dense, 1 sparse), 3 unused bytes,
     8 bytes cached cardinality, little endian, the most significant bit
     set when the cache is invalid.

16384 registers (P=14) of 6 bits. Each element is hashed with
MurmurHash64A (seed 0xadc83b19): the low 14 bits pick the register, the
run of zeros in the remaining 50 bits (plus one) is the candidate value.

Dense: the registers packed 6 bits each, least significant bits first
(12288 bytes). Sparse: run-length opcodes, ZERO (00xxxxxx: 1-64 zero
registers), XZERO (01xxxxxx yyyyyyyy: 1-16384 zero registers) and VAL
(1vvvvvxx: 1-4 registers of value 1-32). Every change to a sparse HLL is
made the way hllSparseSet makes it (split the opcode covering the register,
then merge equal adjacent VALs within five opcodes of the change), and the
promotion to dense happens at the same moment (a value above 32, or the
string growing past hll-sparse-max-bytes), so both servers produce the same
bytes for the same sequence of commands.

The cardinality is Redis 5+'s estimator (Otmar Ertl's improved
raw estimator over the register histogram), computed with the same double
arithmetic so PFCOUNT returns the same number.

Dense register arrays are unpacked and packed four registers per three
bytes with bytes.translate and big-integer additions (no carries can occur
between the 6-bit lanes), which keeps PFCOUNT and PFMERGE on dense values
in C rather than in a 16384-iteration Python loop.
"""

import math
from collections import Counter

from . import command
from .. import objsize
from ..resp import OK, ZERO, ONE, integer
from ..notify import NotifyFlags

S = NotifyFlags.STRING

HLL_P = 14
HLL_Q = 64 - HLL_P
HLL_REGISTERS = 1 << HLL_P
HLL_P_MASK = HLL_REGISTERS - 1
HLL_BITS = 6
HLL_REGISTER_MAX = (1 << HLL_BITS) - 1
HLL_HDR_SIZE = 16
HLL_DENSE_SIZE = HLL_HDR_SIZE + (HLL_REGISTERS * HLL_BITS + 7) // 8
HLL_DENSE = 0
HLL_SPARSE = 1
HLL_SPARSE_VAL_MAX_VALUE = 32
HLL_SPARSE_VAL_MAX_LEN = 4
HLL_SPARSE_ZERO_MAX_LEN = 64
HLL_SPARSE_XZERO_MAX_LEN = 16384
HLL_ALPHA_INF = 0.721347520444481703680

M64 = (1 << 64) - 1
MURMUR_M = 0xc6a4a7935bd1e995
MURMUR_R = 47
HLL_SEED = 0xadc83b19

INVALID_HLL_ERR = b'-INVALIDOBJ Corrupted HLL object detected\r\n'
NOT_HLL_ERR = b'-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n'


# -- hashing -----------------------------------------------------------------------

def murmurhash64a(key, seed=HLL_SEED):
    """MurmurHash64A as in Redis (little-endian 8-byte blocks)."""
    m = MURMUR_M
    n = len(key)
    h = (seed ^ (n * m)) & M64
    nblocks = n & ~7
    for i in range(0, nblocks, 8):
        k = int.from_bytes(key[i:i + 8], 'little')
        k = (k * m) & M64
        k ^= k >> MURMUR_R
        k = (k * m) & M64
        h ^= k
        h = (h * m) & M64
    rest = n & 7
    if rest:
        h ^= int.from_bytes(key[nblocks:], 'little')
        h = (h * m) & M64
    h ^= h >> MURMUR_R
    h = (h * m) & M64
    h ^= h >> MURMUR_R
    return h


def pat_len(ele):
    """hllPatLen: (register index, run length of the 000..1 pattern)."""
    h = murmurhash64a(ele)
    index = h & HLL_P_MASK
    h = (h >> HLL_P) | (1 << HLL_Q)
    return index, (h & -h).bit_length()


# -- dense registers -----------------------------------------------------------------

def dense_get(regs, base, i):
    """Register i of a dense HLL whose registers start at regs[base]."""
    bit = i * HLL_BITS
    b = base + (bit >> 3)
    fb = bit & 7
    v = regs[b] >> fb
    if fb > 2 and b + 1 < len(regs):
        v |= regs[b + 1] << (8 - fb)
    return v & HLL_REGISTER_MAX


def dense_set(regs, base, i, val):
    bit = i * HLL_BITS
    b = base + (bit >> 3)
    fb = bit & 7
    regs[b] = (regs[b] & ~(HLL_REGISTER_MAX << fb) & 0xff) | ((val << fb) & 0xff)
    if fb > 2:
        fb8 = 8 - fb
        regs[b + 1] = (regs[b + 1] & ~(HLL_REGISTER_MAX >> fb8) & 0xff) | (val >> fb8)


def _table(f):
    return bytes(f(i) & 0xff for i in range(256))


_LO6 = _table(lambda b: b & 63)
_HI2 = _table(lambda b: b >> 6)
_LO4_SHL2 = _table(lambda b: (b & 15) << 2)
_HI4 = _table(lambda b: b >> 4)
_LO2_SHL4 = _table(lambda b: (b & 3) << 4)
_HI6 = _table(lambda b: b >> 2)
_LO2_SHL6 = _table(lambda b: (b & 3) << 6)
_SHR2 = _table(lambda b: b >> 2)
_LO4_SHL4 = _table(lambda b: (b & 15) << 4)
_SHR4 = _table(lambda b: b >> 4)
_SHL2 = _table(lambda b: b << 2)


def _add(a, b):
    """Bytewise a+b for byte strings whose sums never exceed 255."""
    n = len(a)
    return (int.from_bytes(a, 'big') + int.from_bytes(b, 'big')).to_bytes(n, 'big')


def dense_unpack(dense):
    """The 16384 registers of a dense register area (12288 bytes) as one
    byte per register."""
    b0 = dense[0::3]
    b1 = dense[1::3]
    b2 = dense[2::3]
    out = bytearray(HLL_REGISTERS)
    out[0::4] = b0.translate(_LO6)
    out[1::4] = _add(b0.translate(_HI2), b1.translate(_LO4_SHL2))
    out[2::4] = _add(b1.translate(_HI4), b2.translate(_LO2_SHL4))
    out[3::4] = b2.translate(_HI6)
    return out


def dense_pack(regs):
    """Inverse of dense_unpack: 16384 register bytes -> 12288 bytes."""
    regs = bytes(regs)
    r0 = regs[0::4]
    r1 = regs[1::4]
    r2 = regs[2::4]
    r3 = regs[3::4]
    out = bytearray((HLL_REGISTERS * HLL_BITS) // 8)
    out[0::3] = _add(r0, r1.translate(_LO2_SHL6))
    out[1::3] = _add(r1.translate(_SHR2), r2.translate(_LO4_SHL4))
    out[2::3] = _add(r2.translate(_SHR4), r3.translate(_SHL2))
    return out


# -- sparse representation ---------------------------------------------------------------

def _val_value(op):
    return ((op >> 2) & 0x1f) + 1


def _val_len(op):
    return (op & 0x3) + 1


def _val(value, length):
    return 0x80 | ((value - 1) << 2) | (length - 1)


def _zero_ops(length):
    if length > HLL_SPARSE_ZERO_MAX_LEN:
        length -= 1
        return bytes((0x40 | (length >> 8), length & 0xff))
    return bytes((length - 1,))


def sparse_registers(h):
    """Registers of a sparse HLL (bytes per register), or None if corrupt."""
    out = bytearray(HLL_REGISTERS)
    idx = 0
    p = HLL_HDR_SIZE
    end = len(h)
    while p < end:
        op = h[p]
        if op & 0xc0 == 0:
            idx += (op & 0x3f) + 1
            p += 1
        elif op & 0xc0 == 0x40:
            if p + 1 >= end:
                return None
            idx += (((op & 0x3f) << 8) | h[p + 1]) + 1
            p += 2
        else:
            runlen = (op & 3) + 1
            if idx + runlen > HLL_REGISTERS:
                return None
            out[idx:idx + runlen] = bytes((((op >> 2) & 0x1f) + 1,)) * runlen
            idx += runlen
            p += 1
    if idx != HLL_REGISTERS:
        return None
    return out


def sparse_histogram(h):
    """hllSparseRegHisto: (histogram, valid)."""
    histo = [0] * 64
    idx = 0
    p = HLL_HDR_SIZE
    end = len(h)
    while p < end:
        op = h[p]
        if op & 0xc0 == 0:
            n = (op & 0x3f) + 1
            histo[0] += n
            p += 1
        elif op & 0xc0 == 0x40:
            n = (((op & 0x3f) << 8) | (h[p + 1] if p + 1 < end else 0)) + 1
            histo[0] += n
            p += 2
        else:
            n = (op & 3) + 1
            histo[((op >> 2) & 0x1f) + 1] += n
            p += 1
        idx += n
    return histo, idx == HLL_REGISTERS


def sparse_to_dense(h):
    """hllSparseToDense, in place on the bytearray h; False if corrupt."""
    if h[4] == HLL_DENSE:
        return True
    regs = sparse_registers(h)
    if regs is None:
        return False
    header = bytearray(h[:HLL_HDR_SIZE])
    header[4] = HLL_DENSE
    h[:] = header + dense_pack(regs)
    objsize.forget(h)       # a new sds in Redis, of the dense size
    return True


def sparse_set(h, index, count, max_bytes, hint=None):
    """hllSparseSet: set register ``index`` to ``count`` if greater, editing
    the sparse bytearray ``h`` in place (possibly promoting it to dense).
    Returns 1 if changed, 0 if not, -1 if the HLL is corrupt. Redis makes
    room for the 3 bytes a change may add first (sdsMakeRoomFor), which
    MEMORY USAGE follows."""
    if count > HLL_SPARSE_VAL_MAX_VALUE:
        return _promote(h, index, count)
    room = objsize.make_room(h, 3)
    r = _sparse_set(h, index, count, max_bytes, hint)
    if h[4] != HLL_DENSE:
        room.grew()
    return r


def _sparse_set(h, index, count, max_bytes, hint=None):
    """sparse_set's work.

    ``hint`` (a 3-item list, initially [HLL_HDR_SIZE, 0, -1]) lets a caller
    setting registers in increasing index order (PFMERGE) resume the opcode
    scan where the previous call left it instead of at the first opcode:
    nothing before the opcode preceding the last change can have moved."""
    if hint is not None:
        p, first, prev = hint
    else:
        p, first, prev = HLL_HDR_SIZE, 0, -1
    end = len(h)
    span = 0
    prev_first = pprev = -1
    while p < end:
        op = h[p]
        oplen = 1
        if op & 0xc0 == 0:
            span = (op & 0x3f) + 1
        elif op & 0x80:
            span = (op & 3) + 1
        else:
            if p + 1 >= end:
                return -1
            span = (((op & 0x3f) << 8) | h[p + 1]) + 1
            oplen = 2
        if index <= first + span - 1:
            break
        pprev = prev
        prev = p
        prev_first = first
        p += oplen
        first += span
    if span == 0 or p >= end:
        return -1
    if hint is not None:
        # Resume next time at the opcode before this one (the merge below
        # starts there, so it is still an opcode boundary covering the same
        # first register); p itself may change.
        if prev >= 0:
            if prev_first < 0:
                prev_first = hint[1] if prev == hint[0] else _first_of(h, prev)
            hint[0], hint[1], hint[2] = prev, prev_first, pprev if pprev >= 0 else -1
        else:
            hint[0], hint[1], hint[2] = p, first, -1
    op = h[p]
    is_zero = op & 0xc0 == 0
    is_xzero = op & 0xc0 == 0x40
    is_val = op & 0x80 != 0
    if is_zero:
        runlen = (op & 0x3f) + 1
    elif is_xzero:
        runlen = (((op & 0x3f) << 8) | h[p + 1]) + 1
    else:
        runlen = (op & 3) + 1
    done = False
    if is_val:
        if _val_value(op) >= count:
            return 0
        if runlen == 1:
            h[p] = _val(count, 1)
            done = True
    if not done and is_zero and runlen == 1:
        h[p] = _val(count, 1)
        done = True
    if not done:
        last = first + span - 1
        seq = bytearray()
        if is_zero or is_xzero:
            if index != first:
                seq += _zero_ops(index - first)
            seq.append(_val(count, 1))
            if index != last:
                seq += _zero_ops(last - index)
        else:
            curval = _val_value(op)
            if index != first:
                seq.append(_val(curval, index - first))
            seq.append(_val(count, 1))
            if index != last:
                seq.append(_val(curval, last - index))
        oldlen = 2 if is_xzero else 1
        delta = len(seq) - oldlen
        if delta > 0 and len(h) + delta > max_bytes:
            return _promote(h, index, count)
        h[p:p + oldlen] = seq
    # Merge adjacent VAL opcodes with the same value, scanning at most five
    # opcodes from the one before the change.
    p = prev if prev >= 0 else HLL_HDR_SIZE
    end = len(h)
    scanlen = 5
    while p < end and scanlen:
        scanlen -= 1
        op = h[p]
        if op & 0xc0 == 0x40:
            p += 2
            continue
        if op & 0xc0 == 0:
            p += 1
            continue
        if p + 1 < end and h[p + 1] & 0x80:
            nxt = h[p + 1]
            v1 = _val_value(op)
            if v1 == _val_value(nxt):
                length = _val_len(op) + _val_len(nxt)
                if length <= HLL_SPARSE_VAL_MAX_LEN:
                    h[p:p + 2] = bytes((_val(v1, length),))
                    end -= 1
                    continue
        p += 1
    invalidate_cache(h)
    return 1


def _first_of(h, q):
    """First register covered by the opcode at q (a full scan; only needed
    when a resumed scan stopped at its very first opcode)."""
    p = HLL_HDR_SIZE
    first = 0
    while p < q:
        op = h[p]
        if op & 0xc0 == 0:
            first += (op & 0x3f) + 1
            p += 1
        elif op & 0x80:
            first += (op & 3) + 1
            p += 1
        else:
            first += (((op & 0x3f) << 8) | h[p + 1]) + 1
            p += 2
    return first


def _promote(h, index, count):
    if not sparse_to_dense(h):
        return -1
    dense_set(h, HLL_HDR_SIZE, index, count)
    return 1


def invalidate_cache(h):
    h[15] |= 0x80


def new_hll():
    """createHLLObject: an empty sparse HLL (one XZERO covering all)."""
    h = bytearray(b'HYLL')
    h.append(HLL_SPARSE)
    h += bytes(11)
    h += _zero_ops(HLL_REGISTERS)
    return h


def is_hll(v):
    """isHLLObjectOrReply's checks on a string value."""
    if len(v) < HLL_HDR_SIZE or v[:4] != b'HYLL' or v[4] > 1:
        return False
    return not (v[4] == HLL_DENSE and len(v) != HLL_DENSE_SIZE)


def hll_add(h, ele, max_bytes):
    """hllAdd: 1 if a register changed, 0 if not, -1 if corrupt."""
    index, count = pat_len(ele)
    enc = h[4]
    if enc == HLL_DENSE:
        if dense_get(h, HLL_HDR_SIZE, index) < count:
            dense_set(h, HLL_HDR_SIZE, index, count)
            return 1
        return 0
    if enc == HLL_SPARSE:
        return sparse_set(h, index, count, max_bytes)
    return -1


# -- cardinality -----------------------------------------------------------------------

def _sigma(x):
    if x == 1.0:
        return math.inf
    y = 1.0
    z = x
    while True:
        x *= x
        z_prime = z
        z += x * y
        y += y
        if z_prime == z:
            return z


def _tau(x):
    if x == 0.0 or x == 1.0:
        return 0.0
    y = 1.0
    z = 1 - x
    while True:
        x = math.sqrt(x)
        z_prime = z
        y *= 0.5
        z -= math.pow(1 - x, 2) * y
        if z_prime == z:
            return z / 3


def _llround(x):
    f = math.floor(x)
    return int(f + 1 if x - f >= 0.5 else f)


def count_from_histogram(histo):
    m = float(HLL_REGISTERS)
    z = m * _tau((m - histo[HLL_Q + 1]) / m)
    for j in range(HLL_Q, 0, -1):
        z += histo[j]
        z *= 0.5
    z += m * _sigma(histo[0] / m)
    if math.isinf(z):
        return 0
    return _llround(HLL_ALPHA_INF * m * m / z)


def histogram_of_registers(regs):
    histo = [0] * 64
    for v, n in Counter(regs).items():
        histo[v] += n
    return histo


def hll_count(h):
    """hllCount: (cardinality, valid)."""
    if h[4] == HLL_DENSE:
        regs = dense_unpack(bytes(h[HLL_HDR_SIZE:]))
        return count_from_histogram(histogram_of_registers(regs)), True
    histo, valid = sparse_histogram(h)
    return count_from_histogram(histo), valid


def registers_of(h):
    """hllMerge's view of one HLL: 16384 register bytes, or None if corrupt."""
    if h[4] == HLL_DENSE:
        return dense_unpack(bytes(h[HLL_HDR_SIZE:]))
    return sparse_registers(h)


def _merge_max(acc, regs):
    if acc is None:
        return bytearray(regs)
    return bytearray(map(max, acc, regs))


# -- commands ------------------------------------------------------------------------------

def _hll_for_write(c, key):
    """The key's value as a bytearray HLL (unshared), or an error reply."""
    db = c.db
    v = db.lookup_write(key)
    if v is None:
        return None
    cls = v.__class__
    if cls is not bytes and cls is not bytearray:
        return _wrongtype()
    if not is_hll(v):
        return NOT_HLL_ERR
    if cls is bytes:
        v = bytearray(v)
        db.data[key] = v
    return v


def _wrongtype():
    from ..resp import WRONGTYPE_ERR
    return WRONGTYPE_ERR


@command('pfadd')
def pfadd(c, argv):
    db = c.db
    key = argv[1]
    server = c.server
    h = _hll_for_write(c, key)
    updated = 0
    if h is None:
        h = new_hll()
        db.add(key, h)
        updated += 1
    elif h.__class__ is bytes:
        return h
    max_bytes = server.config.hll_sparse_max_bytes
    for ele in argv[2:]:
        r = hll_add(h, ele, max_bytes)
        if r == 1:
            updated += 1
        elif r == -1:
            return INVALID_HLL_ERR
    if updated:
        invalidate_cache(h)
        server.key_modified(db, key, S, b'pfadd', updated)
    return ONE if updated else ZERO


@command('pfcount')
def pfcount(c, argv):
    db = c.db
    if len(argv) > 2:
        acc = None
        for key in argv[1:]:
            v = db.lookup(key)
            if v is None:
                continue
            if v.__class__ is not bytes and v.__class__ is not bytearray:
                return _wrongtype()
            if not is_hll(v):
                return NOT_HLL_ERR
            regs = registers_of(v)
            if regs is None:
                return INVALID_HLL_ERR
            acc = _merge_max(acc, regs)
        if acc is None:
            return ZERO
        return integer(count_from_histogram(histogram_of_registers(acc)))
    key = argv[1]
    v = db.lookup(key)
    if v is None:
        return ZERO
    if v.__class__ is not bytes and v.__class__ is not bytearray:
        return _wrongtype()
    if not is_hll(v):
        return NOT_HLL_ERR
    if not v[15] & 0x80:
        return integer(int.from_bytes(v[8:16], 'little'))
    card, valid = hll_count(v)
    if not valid:
        return INVALID_HLL_ERR
    if v.__class__ is bytes:
        v = bytearray(v)
        db.data[key] = v
    v[8:16] = card.to_bytes(8, 'little')
    # The cached value is part of the string: the change is propagated.
    server = c.server
    if db.watched:
        server.signal_modified(db, key)
    server.dirty += 1
    return integer(card)


@command('pfmerge')
def pfmerge(c, argv):
    db = c.db
    server = c.server
    acc = bytearray(HLL_REGISTERS)
    use_dense = False
    for key in argv[1:]:
        v = db.lookup(key)
        if v is None:
            continue
        if v.__class__ is not bytes and v.__class__ is not bytearray:
            return _wrongtype()
        if not is_hll(v):
            return NOT_HLL_ERR
        if v[4] == HLL_DENSE:
            use_dense = True
        regs = registers_of(v)
        if regs is None:
            return INVALID_HLL_ERR
        acc = _merge_max(acc, regs)
    dst = argv[1]
    h = _hll_for_write(c, dst)
    if h is None:
        h = new_hll()
        db.add(dst, h)
    elif h.__class__ is bytes:
        return h
    if use_dense and not sparse_to_dense(h):
        return INVALID_HLL_ERR
    if h[4] == HLL_DENSE:
        regs = dense_unpack(bytes(h[HLL_HDR_SIZE:]))
        h[HLL_HDR_SIZE:] = dense_pack(_merge_max(regs, acc))
    else:
        max_bytes = server.config.hll_sparse_max_bytes
        hint = [HLL_HDR_SIZE, 0, -1]
        for j, val in enumerate(acc):
            if not val:
                continue
            if h[4] == HLL_DENSE:
                if dense_get(h, HLL_HDR_SIZE, j) < val:
                    dense_set(h, HLL_HDR_SIZE, j, val)
            else:
                sparse_set(h, j, val, max_bytes, hint)
    invalidate_cache(h)
    server.key_modified(db, dst, S, b'pfadd')
    return OK


# -- PFDEBUG / PFSELFTEST -------------------------------------------------------------------

@command('pfdebug')
def pfdebug(c, argv):
    sub = argv[1]
    name = sub.lower()
    if c.db.lookup_write(argv[2]) is None:
        return b'-ERR The specified key does not exist\r\n'
    h = _hll_for_write(c, argv[2])
    if h.__class__ is bytes:
        return h
    if name not in (b'getreg', b'decode', b'encoding', b'todense'):
        return b"-ERR Unknown PFDEBUG subcommand '%s'\r\n" % sub
    if len(argv) != 3:
        return b"-ERR Wrong number of arguments for the '%s' subcommand\r\n" % sub
    if name == b'encoding':
        return b'+sparse\r\n' if h[4] == HLL_SPARSE else b'+dense\r\n'
    if name == b'decode':
        if h[4] != HLL_SPARSE:
            return b'-ERR HLL encoding is not sparse\r\n'
        out = []
        p = HLL_HDR_SIZE
        while p < len(h):
            op = h[p]
            if op & 0xc0 == 0:
                out.append(b'z:%d' % ((op & 0x3f) + 1))
                p += 1
            elif op & 0xc0 == 0x40:
                out.append(b'Z:%d' % ((((op & 0x3f) << 8) | h[p + 1]) + 1))
                p += 2
            else:
                out.append(b'v:%d,%d' % (((op >> 2) & 0x1f) + 1, (op & 3) + 1))
                p += 1
        text = b' '.join(out)
        return b'$%d\r\n%s\r\n' % (len(text), text)
    # GETREG and TODENSE turn a sparse HLL dense (a change: propagated).
    converted = False
    if h[4] == HLL_SPARSE:
        if not sparse_to_dense(h):
            return INVALID_HLL_ERR
        converted = True
        c.server.dirty += 1
    if name == b'todense':
        return ONE if converted else ZERO
    regs = dense_unpack(bytes(h[HLL_HDR_SIZE:]))
    return b'*%d\r\n' % HLL_REGISTERS + b''.join(b':%d\r\n' % r for r in regs)


@command('pfselftest')
def pfselftest(c, argv):
    # Redis checks its register encoding and estimate error here; the
    # registers and estimates above are compared with redis-server's by
    # the test suite instead.
    return OK
