"""LZF, the compression Redis applies to RDB strings (lzf_c.c / lzf_d.c).

``compress(data)`` returns the compressed bytes, or None when compressing
would not save at least 4 bytes: the rule of rdbSaveLzfStringObject, whose
output buffer is len-4 bytes. The match finder is LZF's "very fast" mode with
a 2^16-slot hash table, like the copy inside Redis, so for the same input we
write the same bytes and DUMP payloads of long strings are identical to
Redis's.

The C extension (pyredis._speedups) is used when built; the pure-Python
implementations below are the reference and the fallback.
"""

import os

_HLOG = 16
_HSIZE = 1 << _HLOG
_MAX_LIT = 32
_MAX_OFF = 1 << 13
_MAX_REF = (1 << 8) + (1 << 3)


def _slot(h):
    return ((h >> (24 - _HLOG)) - h * 5) & (_HSIZE - 1)


def compress_py(data):
    data = bytes(data)
    n = len(data)
    if n <= 4:
        return None
    cap = n - 4
    out = bytearray(b'\0')     # header byte of the first literal run
    lit_pos = 0                # where the current run's header lives
    lit = 0
    table = {}
    ip = 0
    hval = (data[0] << 8) | data[1]
    while ip < n - 2:
        hval = ((hval << 8) | data[ip + 2]) & 0xffffffff
        slot = _slot(hval)
        ref = table.get(slot, -1)
        table[slot] = ip
        if ref > 0 and ip - ref - 1 < _MAX_OFF and data[ref:ref + 3] == data[ip:ip + 3]:
            off = ip - ref - 1
            maxlen = min(n - ip - 2, _MAX_REF)
            if len(out) + 3 + 1 - (0 if lit else 1) >= cap:
                return None
            if lit:
                out[lit_pos] = lit - 1
            else:
                del out[lit_pos]
            length = 2
            stopped = False
            if maxlen > 16:
                for _ in range(16):
                    length += 1
                    if data[ref + length] != data[ip + length]:
                        stopped = True
                        break
            if not stopped:
                length += 1
                while length < maxlen and data[ref + length] == data[ip + length]:
                    length += 1
            length -= 2
            ip += 1
            if length < 7:
                out.append((off >> 8) + (length << 5))
            else:
                out.append((off >> 8) + (7 << 5))
                out.append(length - 7)
            out.append(off & 0xff)
            lit = 0
            lit_pos = len(out)
            out.append(0)
            ip += length + 1
            if ip >= n - 2:
                break
            ip -= 2
            hval = (data[ip] << 8) | data[ip + 1]
            hval = ((hval << 8) | data[ip + 2]) & 0xffffffff
            table[_slot(hval)] = ip
            ip += 1
            hval = ((hval << 8) | data[ip + 2]) & 0xffffffff
            table[_slot(hval)] = ip
            ip += 1
        else:
            if len(out) >= cap:
                return None
            lit += 1
            out.append(data[ip])
            ip += 1
            if lit == _MAX_LIT:
                out[lit_pos] = lit - 1
                lit = 0
                lit_pos = len(out)
                out.append(0)
    if len(out) + 3 > cap:
        return None
    while ip < n:
        lit += 1
        out.append(data[ip])
        ip += 1
        if lit == _MAX_LIT:
            out[lit_pos] = lit - 1
            lit = 0
            lit_pos = len(out)
            out.append(0)
    if lit:
        out[lit_pos] = lit - 1
    else:
        del out[lit_pos]
    return bytes(out)


def decompress_py(data, expected_len):
    data = bytes(data)
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        ctrl = data[i]
        i += 1
        if ctrl < 32:
            ctrl += 1
            if i + ctrl > n:
                raise ValueError('LZF input truncated')
            out += data[i:i + ctrl]
            i += ctrl
        else:
            length = ctrl >> 5
            if length == 7:
                if i >= n:
                    raise ValueError('LZF input truncated')
                length += data[i]
                i += 1
            if i >= n:
                raise ValueError('LZF input truncated')
            ref = len(out) - ((ctrl & 0x1f) << 8) - 1 - data[i]
            i += 1
            length += 2
            if ref < 0:
                raise ValueError('LZF back reference out of range')
            if len(out) + length > expected_len:
                raise ValueError('LZF output overflow')
            for k in range(length):   # may overlap itself: byte by byte
                out.append(out[ref + k])
        if len(out) > expected_len:
            raise ValueError('LZF output overflow')
    if len(out) != expected_len:
        raise ValueError('LZF length mismatch')
    return bytes(out)


try:
    if os.environ.get('PYREDIS_PURE_PYTHON'):
        raise ImportError('PYREDIS_PURE_PYTHON is set')
    from ._speedups import lzf_compress as compress, lzf_decompress as decompress
    ACCELERATED = True
except ImportError:  # extension not built: stay correct, just slower
    compress = compress_py
    decompress = decompress_py
    ACCELERATED = False
