"""Small pure functions that Redis keeps in util.c and sds.c.

Redis clients see the exact behaviour of these helpers through error replies
(which strings are integers, which floats are accepted), through KEYS/SCAN
pattern matching and through the way numbers are printed, so each one follows
the C original rule for rule rather than Python's more lenient built-ins.
(Plus fsync_dir, the one file-system helper the RDB and AOF writers share.)
"""

import math
import os
import re
import sys
from fractions import Fraction

LLONG_MIN = -(1 << 63)
LLONG_MAX = (1 << 63) - 1


def string2ll(s):
    """Parse s as Redis's string2ll does, or return None.

    Only the canonical spelling is accepted: no spaces, no '+', no leading
    zeros, no '-0', and the value must fit in a signed 64-bit integer.
    """
    if s.isdigit() and len(s) < 19 and (s[0] != 48 or len(s) == 1):
        # The common case, a small non-negative number, without the
        # round trip through '%d' (fewer than 19 digits always fit).
        return int(s)
    if not 0 < len(s) <= 20:
        return None
    try:
        n = int(s)
    except ValueError:
        return None
    if b'%d' % n != s or n < LLONG_MIN or n > LLONG_MAX:
        return None
    return n


_FLOAT_RE = re.compile(
    rb'[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan|'
    rb'0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?\d+)?)',
    re.IGNORECASE)


def strtod(s):
    """Parse s as Redis's string-to-double helpers do (strtod/strtold over the
    whole string, no leading space), or return None. NaN is rejected."""
    if not s or len(s) > 5120 or s[:1].isspace() or not _FLOAT_RE.fullmatch(s):
        return None
    if b'x' in s or b'X' in s:
        try:
            v = float.fromhex(s.decode())
        except ValueError:
            return None
    else:
        v = float(s)
    if math.isnan(v):
        return None
    return v


def format_double(d):
    """Redis 7.0's "%.17g" reply format for doubles, with inf/-inf spelled out."""
    if math.isinf(d):
        return b'inf' if d > 0 else b'-inf'
    return b'%.17g' % d


def d2string(d):
    """util.c d2string as Redis 7.0 has it (what a listpack zset stores for a
    score)."""
    if math.isnan(d):
        return b'nan'
    if math.isinf(d):
        return b'inf' if d > 0 else b'-inf'
    if d == 0:
        return b'-0' if math.copysign(1.0, d) < 0 else b'0'
    if -4503599627370495 < d < 4503599627370496 and d == int(d):
        return b'%d' % int(d)
    return b'%.17g' % d


# -- long double (x87 80-bit extended precision) ------------------------------
#
# INCRBYFLOAT and HINCRBYFLOAT compute in C's long double, which on x86-64 is
# the 80-bit format: a 64-bit significand and a 15-bit exponent. Its results
# differ from a double's in the last digits Redis prints ("%.17Lf"), so the
# values are kept exact (Fraction) and rounded to that format after each
# operation, as the FPU does (round half to even).

LD_MANT_BITS = 64
LD_MIN_EXP = -16382           # smallest normal exponent
LD_MAX_EXP = 16383            # largest finite exponent
_LD_INF = float('inf')
# A long double prints with up to ~4950 digits (and Redis parses inputs up to
# 5120 bytes): allow Python's int <-> str conversions of that size.
if hasattr(sys, 'get_int_max_str_digits') and 0 < sys.get_int_max_str_digits() < 6000:
    sys.set_int_max_str_digits(6000)


def ld_round(x):
    """Round an exact Fraction to the nearest long double (ties to even).
    Returns a Fraction, or float +-inf on overflow."""
    if not x:
        return Fraction(0)
    sign = -1 if x < 0 else 1
    n, d = abs(x.numerator), x.denominator
    e = n.bit_length() - d.bit_length()         # 2**e <= |x| < 2**(e+2)
    if (n << max(0, -e)) < (d << max(0, e)):
        e -= 1
    e = max(e, LD_MIN_EXP)                      # subnormals: fixed quantum
    q = e - (LD_MANT_BITS - 1)
    if q >= 0:
        m, r = divmod(n, d << q)
        half = d << q
    else:
        m, r = divmod(n << -q, d)
        half = d
    if 2 * r > half or (2 * r == half and m & 1):
        m += 1
    if m.bit_length() + q > LD_MAX_EXP + 1:
        return sign * _LD_INF
    if q >= 0:
        return Fraction(sign * (m << q))
    return Fraction(sign * m, 1 << -q)


_LD_DEC_RE = re.compile(rb'([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?')
_LD_HEX_RE = re.compile(rb'([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?\d+))?')
_LD_INF_RE = re.compile(rb'([+-]?)(?:inf|infinity)', re.IGNORECASE)


def strtold(s):
    """Redis's string2ld: the whole of s must be a number for strtold(); no
    leading space, no NaN, no overflow and no underflow to zero. Returns an
    exact Fraction (already rounded to a long double), float +-inf for
    "inf", or None."""
    if not s or len(s) >= 5120 or s[:1].isspace():
        return None
    m = _LD_INF_RE.fullmatch(s)
    if m:
        return -_LD_INF if m.group(1) == b'-' else _LD_INF
    m = _LD_HEX_RE.fullmatch(s)
    if m:
        sign, ip, fp, ex = m.groups()
        fp = fp or b''
        if not ip and not fp:
            return None
        digits = int((ip + fp) or b'0', 16)
        exp2 = int(ex or b'0') - 4 * len(fp)
        scale_bits = digits.bit_length() + exp2
        if digits and scale_bits > LD_MAX_EXP + 2:
            return None                         # overflow: HUGE_VALL
        if digits and scale_bits < LD_MIN_EXP - LD_MANT_BITS - 2:
            return None                         # underflow to zero
        if not digits:
            return Fraction(0)
        value = Fraction(digits << exp2) if exp2 >= 0 else Fraction(digits, 1 << -exp2)
    else:
        m = _LD_DEC_RE.fullmatch(s)
        if not m:
            return None
        sign, ip, fp, ex = m.groups()
        fp = fp or b''
        if not ip and not fp:
            return None
        mant = (ip + fp).lstrip(b'0')
        exp10 = int(ex or b'0') - len(fp)
        if mant:
            magnitude = len(mant) + exp10       # 10**(mag-1) <= |x| < 10**mag
            if magnitude > 4934:
                return None
            if magnitude < -4952:
                return None
        if not mant:
            return Fraction(0)
        value = (Fraction(int(mant) * 10 ** exp10) if exp10 >= 0
                 else Fraction(int(mant), 10 ** -exp10))
    if sign == b'-':
        value = -value
    r = ld_round(value)
    if r.__class__ is float or (value and not r):
        return None
    return r


def ld_add(a, b):
    """a + b in long double arithmetic; float inf/nan when not finite."""
    if a.__class__ is float or b.__class__ is float:
        # An infinity is involved; finite operands (possibly beyond a
        # double's range) do not change the outcome.
        return (a if a.__class__ is float else 0.0) + (b if b.__class__ is float else 0.0)
    return ld_round(a + b)


def format_long_double(d):
    """INCRBYFLOAT / HINCRBYFLOAT output: ld2string(LD_STR_HUMAN), that is
    "%.17Lf" with the trailing zeros and dot stripped and "-0" as "0". ``d``
    is an exact value (Fraction from strtold/ld_add) or a float."""
    if d.__class__ is float:
        if math.isinf(d):
            return b'inf' if d > 0 else b'-inf'
        d = Fraction(d)
    # printf rounds the exact binary value, ties to even.
    scaled = d * 10 ** 17
    n = round(scaled)
    neg = d < 0
    n = abs(n)
    s = b'%s%d.%017d' % (b'-' if neg else b'', n // 10 ** 17, n % 10 ** 17)
    s = s.rstrip(b'0')
    if s.endswith(b'.'):
        s = s[:-1]
    if s == b'-0':
        s = b'0'
    return s


def split_args(line):
    """sdssplitargs: split a line into arguments the way redis-cli, inline
    commands and redis.conf do. Returns a list of bytes, or None when quotes
    are unbalanced or a closing quote is not followed by a space."""
    # The C code walks a NUL-terminated string: a NUL ends the input.
    nul = line.find(b'\0')
    if nul >= 0:
        line = line[:nul]
    args = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in b' \n\r\t\f\v':
            i += 1
        if i >= n:
            return args
        current = bytearray()
        inq = insq = False
        while True:
            if inq:
                if i >= n:
                    return None
                ch = line[i]
                if (ch == 92 and i + 3 < n and line[i + 1] == 120 and
                        _ishex(line[i + 2]) and _ishex(line[i + 3])):
                    current.append(int(line[i + 2:i + 4], 16))
                    i += 3
                elif ch == 92 and i + 1 < n:
                    i += 1
                    c = line[i]
                    current.append({110: 10, 114: 13, 116: 9, 98: 8, 97: 7}.get(c, c))
                elif ch == 34:
                    if i + 1 < n and line[i + 1] not in b' \n\r\t\f\v':
                        return None
                    i += 1
                    break
                else:
                    current.append(ch)
            elif insq:
                if i >= n:
                    return None
                ch = line[i]
                if ch == 92 and i + 1 < n and line[i + 1] == 39:
                    i += 1
                    current.append(39)
                elif ch == 39:
                    if i + 1 < n and line[i + 1] not in b' \n\r\t\f\v':
                        return None
                    i += 1
                    break
                else:
                    current.append(ch)
            else:
                if i >= n:
                    break
                ch = line[i]
                if ch in b' \n\r\t\0':
                    break
                if ch == 34:
                    inq = True
                elif ch == 39:
                    insq = True
                else:
                    current.append(ch)
            i += 1
        args.append(bytes(current))


def c_string(s):
    """What C's "%s" prints of s: everything before the first NUL. Error
    messages that quote arguments (unknown command...) show them this way."""
    nul = s.find(b'\0')
    return s if nul < 0 else s[:nul]


def _ishex(c):
    return c in b'0123456789abcdefABCDEF'


def glob_match(pattern, string, nocase=False):
    """stringmatchlen: Redis's glob matcher for KEYS, SCAN MATCH, PSUBSCRIBE
    and CONFIG GET: *, ?, [abc], [^abc], [a-z] (either order), \\ escapes."""
    if pattern == b'*':
        return True
    if nocase:
        pattern = pattern.lower()
        string = string.lower()
    return _match(pattern, 0, string, 0, 0, [False])


def _match(p, pi, s, si, nesting, skip_longer):
    # A line-by-line port of the C code, including its recursion cap and the
    # "skipLongerMatches" cut that keeps patterns like a*a*a*b linear.
    if nesting > 1000:
        return False
    plen, slen = len(p), len(s)
    while pi < plen and si < slen:
        c = p[pi]
        if c == 42:  # '*'
            while pi + 1 < plen and p[pi + 1] == 42:
                pi += 1
            if pi + 1 == plen:
                return True
            while si < slen:
                if _match(p, pi + 1, s, si, nesting + 1, skip_longer):
                    return True
                if skip_longer[0]:
                    return False
                si += 1
            skip_longer[0] = True
            return False
        elif c == 63:  # '?'
            si += 1
        elif c == 91:  # '['
            pi += 1
            negate = pi < plen and p[pi] == 94
            if negate:
                pi += 1
            matched = False
            while True:
                left = plen - pi
                if left >= 2 and p[pi] == 92:
                    pi += 1
                    if p[pi] == s[si]:
                        matched = True
                elif left > 0 and p[pi] == 93:
                    break
                elif left <= 0:
                    pi -= 1
                    break
                elif left >= 3 and p[pi + 1] == 45:
                    lo, hi = p[pi], p[pi + 2]
                    if lo > hi:
                        lo, hi = hi, lo
                    pi += 2
                    if lo <= s[si] <= hi:
                        matched = True
                elif p[pi] == s[si]:
                    matched = True
                pi += 1
            if negate:
                matched = not matched
            if not matched:
                return False
            si += 1
        else:
            if c == 92 and plen - pi >= 2:  # '\\' escapes the next byte
                pi += 1
                c = p[pi]
            if c != s[si]:
                return False
            si += 1
        pi += 1
        if si == slen:
            while pi < plen and p[pi] == 42:
                pi += 1
            break
    return pi == plen and si == slen


def format_addr(host, port):
    """anetFormatAddr: ``ip:port``, an IPv6 address in brackets
    (``[::1]:6379``), as CLIENT LIST, MONITOR and the logs show a peer."""
    return ('[%s]:%d' if ':' in host else '%s:%d') % (host, port)


def addr_host(addr):
    """The IP of a formatted ``addr`` (bytes), without brackets."""
    host = addr.rsplit(b':', 1)[0]
    return host[1:-1] if host.startswith(b'[') else host


def bytes_to_human(n):
    """INFO's *_human fields (used_memory_human etc.)."""
    if n < 1024:
        return b'%dB' % n
    for unit, scale in ((b'K', 1024), (b'M', 1024 ** 2), (b'G', 1024 ** 3),
                        (b'T', 1024 ** 4), (b'P', 1024 ** 5)):
        if n < scale * 1024 or unit == b'P':
            return b'%.2f%s' % (n / scale, unit)


def fsync_dir(path):
    """fsync the directory holding path, so a rename into it is durable
    (what Redis does after renaming an RDB or AOF file into place)."""
    try:
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
