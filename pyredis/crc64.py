"""CRC64 as Redis computes it (crc64.c): the Jones polynomial
0xad93d23594c935a9, reflected input and output, initial value 0, no final
xor. The RDB file and every DUMP payload end with it, little-endian.

The C extension (pyredis._speedups, slicing-by-8) does about 1-2 GB/s; the
pure-Python table loop below is the fallback when the extension is not built
(a few MB/s: fine for DUMP payloads and tests, far too slow for big files).
"""

import os

_POLY_REFLECTED = 0x95ac9329ac4bc9b5


def _make_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ _POLY_REFLECTED if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _make_table()


def crc64_py(data, crc=0):
    table = _TABLE
    for b in bytes(data):
        crc = table[(crc ^ b) & 0xff] ^ (crc >> 8)
    return crc


try:
    if os.environ.get('PYREDIS_PURE_PYTHON'):
        raise ImportError('PYREDIS_PURE_PYTHON is set')
    from ._speedups import crc64
    ACCELERATED = True
except ImportError:  # extension not built: stay correct, just slower
    crc64 = crc64_py
    ACCELERATED = False
