"""Listpack element sizes and encodings (listpack.c).

Redis keeps small collections and stream nodes in listpacks: each element
is an encoding byte (and length or integer bytes), the data, and a
back-length of 1 to 5 bytes; a string that reads as an integer
(string2ll's rules) is stored as that integer. Whoever needs to know what a
listpack of given elements would weigh (the stream's node limits, lazy
freeing's effort, the RDB) or to write one, asks here.
"""

from .util import string2ll

M64 = (1 << 64) - 1


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
        return bytes((n,))
    if n < 16383:
        return bytes((n >> 7, (n & 127) | 128))
    if n < 2097151:
        return bytes((n >> 14, ((n >> 7) & 127) | 128, (n & 127) | 128))
    if n < 268435455:
        return bytes((n >> 21, ((n >> 14) & 127) | 128, ((n >> 7) & 127) | 128,
                      (n & 127) | 128))
    return bytes((n >> 28, ((n >> 21) & 127) | 128, ((n >> 14) & 127) | 128,
                  ((n >> 7) & 127) | 128, (n & 127) | 128))


def encode_int(v):
    if 0 <= v <= 127:
        enc = bytes((v,))
    elif -4096 <= v <= 4095:
        u = v & 0x1FFF
        enc = bytes((0xC0 | (u >> 8), u & 0xFF))
    elif -32768 <= v <= 32767:
        enc = b'\xf1' + (v & 0xFFFF).to_bytes(2, 'little')
    elif -8388608 <= v <= 8388607:
        enc = b'\xf2' + (v & 0xFFFFFF).to_bytes(3, 'little')
    elif -2147483648 <= v <= 2147483647:
        enc = b'\xf3' + (v & 0xFFFFFFFF).to_bytes(4, 'little')
    else:
        enc = b'\xf4' + (v & M64).to_bytes(8, 'little')
    return enc + encode_backlen(len(enc))


def encode_str(s):
    if len(s) <= 20:
        v = string2ll(s)
        if v is not None:
            return encode_int(v)
    n = len(s)
    if n < 64:
        enc = bytes((0x80 | n,)) + s
    elif n < 4096:
        enc = bytes((0xE0 | (n >> 8), n & 0xFF)) + s
    else:
        enc = b'\xf0' + n.to_bytes(4, 'little') + s
    return enc + encode_backlen(len(enc))
