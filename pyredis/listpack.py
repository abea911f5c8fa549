"""Listpack element sizes and encodings (listpack.c).

Redis keeps small collections and stream nodes in listpacks: each element
is an encoding byte (and length or integer bytes), the data, and a
back-length of 1 to 5 bytes; a string that reads as an integer
(string2ll's rules) is stored as that integer. Whoever needs to know what a
listpack of given elements would weigh (the stream's node limits, lazy
freeing's effort, the RDB) or to write one, asks here.
"""

from .util import string2ll



def _int_enc_size(v):
    if 0 <= v <= 127:
        return 1
    if -4096 <= v <= 4095:
        return 2
    if -32768 <= v <= 32767:
        return 3
    if -8388608 <= v <= 8388607:
        return 4
    if -2147483648 <= v <= 2147483647:
        return 5
    return 9


def backlen_size(n):
    if n <= 127:
        return 1
    if n < 16383:
        return 2
    if n < 2097151:
        return 3
    if n < 268435455:
        return 4
    return 5


def int_size(v):
    """Bytes of an integer element (encoding and back-length)."""
    if 0 <= v <= 127:
        return 2
    return _int_enc_size(v) + 1     # at most 9 bytes: a 1-byte backlen


def str_size(s):
    """Bytes of a string element, which listpack stores as an integer when
    it is one (lpStringToInt64: string2ll's rules)."""
    n = len(s)
    if n <= 20 and (s.isdigit() or s[:1] == b'-'):
        v = string2ll(s)
        if v is not None:
            return 2 if 0 <= v <= 127 else _int_enc_size(v) + 1
    if n < 64:
        return n + 2
    if n < 4096:
        enc = 2 + n
    else:
        enc = 5 + n
    return enc + backlen_size(enc)


def encode_backlen(n):
    if n <= 127:
        return _SMALL_BACKLEN[n]
    if n < 16383:
        return bytes((n >> 7, (n & 127) | 128))
    if n < 2097151:
        return bytes((n >> 14, ((n >> 7) & 127) | 128, (n & 127) | 128))
    if n < 268435455:
        return bytes((n >> 21, ((n >> 14) & 127) | 128, ((n >> 7) & 127) | 128,
                      (n & 127) | 128))
    return bytes((n >> 28, ((n >> 21) & 127) | 128, ((n >> 14) & 127) | 128,
                  ((n >> 7) & 127) | 128, (n & 127) | 128))


_SMALL_BACKLEN = [bytes([n]) for n in range(128)]


def encode_int(v):
    if 0 <= v <= 127:
        return _LP_SMALL_UINT[v]
    if -4096 <= v <= 4095:
        if v < 0:
            v += 1 << 13
        return bytes((0xc0 | (v >> 8), v & 0xff, 2))
    if -32768 <= v <= 32767:
        return b'\xf1' + v.to_bytes(2, 'little', signed=True) + b'\x03'
    if -8388608 <= v <= 8388607:
        return b'\xf2' + v.to_bytes(3, 'little', signed=True) + b'\x04'
    if -2147483648 <= v <= 2147483647:
        return b'\xf3' + v.to_bytes(4, 'little', signed=True) + b'\x05'
    return b'\xf4' + v.to_bytes(8, 'little', signed=True) + b'\x09'


_LP_SMALL_UINT = [bytes((n, 1)) for n in range(128)]


def encode_str(s):
    """One listpack entry (encoding, data, backlen) for a bytes element,
    integer-encoded when it is a canonical int64 (lpStringToInt64)."""
    n = len(s)
    if 0 < n <= 20:
        c = s[0]
        if 48 <= c <= 57 or c == 45:
            try:
                v = int(s)
            except ValueError:
                v = None
            if v is not None and -(1 << 63) <= v < (1 << 63) and b'%d' % v == s:
                return encode_int(v)
    if n < 64:
        return bytes((0x80 | n,)) + s + _SMALL_BACKLEN[n + 1]
    if n < 4096:
        return bytes((0xe0 | (n >> 8), n & 0xff)) + s + encode_backlen(n + 2)
    return b'\xf0' + n.to_bytes(4, 'little') + s + encode_backlen(n + 5)


def build(entries, count):
    """A listpack from already-encoded entries."""
    body = b''.join(entries)
    total = 6 + len(body) + 1
    return (total.to_bytes(4, 'little') + min(count, 65535).to_bytes(2, 'little')
            + body + b'\xff')
