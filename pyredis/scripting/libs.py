"""The libraries Redis 7.0 links into its Lua states: cjson, cmsgpack, bit,
struct (deps/lua/src/lua_cjson.c, lua_cmsgpack.c, lua_bit.c, lua_struct.c).

They are Python functions the scripts call (lupa passes Lua strings as
bytes and Lua tables as LuaTable objects, iterated in ``next`` order as the
C code does), written to give Redis's output byte for byte: cjson's
``%.14g`` numbers and escapes, its sparse-array and depth rules and its
error messages; cmsgpack's choice of the smallest encoding (float32 when
exact) and its array test; LuaBitOp's 32-bit results; struct's formats.
``msgpack`` (the package) decodes MessagePack. Errors are ScriptRaise
with ``where`` set: Lua runtime errors, positioned at the calling line as
luaL_error does.
"""

import math
import struct as _struct
import sys

import lupa.lua51 as lupa


# cjson nests up to 1000 levels (encode_max_depth, decode_max_depth): the
# Python recursion that follows them needs more than the default limit.
sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))


class ScriptRaise(Exception):
    """Raised by a Python function called from Lua to raise a Lua error:
    the state's error handler turns it into Redis's error table."""

    def __init__(self, msg, ignore_stats=False, where=False):
        self.msg = msg
        self.ignore_stats = ignore_stats
        # A Lua runtime error (luaL_error): the message gets the calling
        # line's position and the ERR code, as the error handler gives them.
        self.where = where


def _err(msg):
    return ScriptRaise(msg, where=True)


def _typename(v):
    if v is None:
        return b'nil'
    t = type(v)
    if t is bool:
        return b'boolean'
    if t is int or t is float:
        return b'number'
    if t is bytes:
        return b'string'
    lt = lupa.lua_type(v)
    if lt is not None:
        return lt.encode()
    return b'function' if callable(v) else b'userdata'


def _argerror(n, fname, extra):
    return _err(b"bad argument #%d to '%s' (%s)" % (n, fname, extra))


def _checknumber(args, i, fname, missing=b'no value'):
    v = args[i] if i < len(args) else None
    t = type(v)
    if t is int or t is float:
        return v
    if t is bytes:
        try:
            return float(v) if not v.strip().lower().startswith((b'0x', b'-0x')) \
                else float(int(v, 16))
        except ValueError:
            pass
    got = missing if i >= len(args) else _typename(v)
    raise _argerror(i + 1, fname, b'number expected, got ' + got)


def _checkstring(args, i, fname):
    v = args[i] if i < len(args) else None
    t = type(v)
    if t is bytes:
        return v
    if t is int or t is float:
        return b'%.14g' % v
    got = b'no value' if i >= len(args) else _typename(v)
    raise _argerror(i + 1, fname, b'string expected, got ' + got)


# -- cjson -------------------------------------------------------------------------------

_ESCAPES = {i: b'\\u%04x' % i for i in range(32)}
_ESCAPES.update({8: b'\\b', 9: b'\\t', 10: b'\\n', 12: b'\\f', 13: b'\\r', 34: b'\\"',
                 47: b'\\/', 92: b'\\\\', 127: b'\\u007f'})
_ESCAPE_TABLE = bytes.maketrans(b'', b'')


def _escape(s):
    if not any(b < 32 or b in (34, 47, 92, 127) for b in s):
        return b'"' + s + b'"'
    return b'"' + b''.join(_ESCAPES.get(b, bytes((b,))) for b in s) + b'"'


class CJson:
    """One cjson configuration (cjson.new() makes another)."""

    def __init__(self, null):
        self.null = null
        self.precision = 14
        self.max_depth = 1000
        self.decode_depth = 1000
        self.sparse = (False, 2, 10)
        self.invalid_enc = False
        self.invalid_dec = True
        self.keep_buffer = True

    # encode

    def encode(self, *args):
        if len(args) != 1:
            raise _err(b'bad argument #1 to \'encode\' (expected 1 argument)')
        out = []
        self._encode(args[0], out, 0)
        return b''.join(out)

    def _number(self, n):
        if isinstance(n, float) and (math.isinf(n) or math.isnan(n)):
            if not self.invalid_enc:
                raise _err(b'Cannot serialise number: must not be NaN or Inf')
            if self.invalid_enc == 'null':
                return b'null'
            return b'nan' if math.isnan(n) else (b'inf' if n > 0 else b'-inf')
        return b'%.*g' % (self.precision, n)

    def _encode(self, v, out, depth):
        t = type(v)
        if t is bytes:
            out.append(_escape(v))
        elif t is int or t is float:
            out.append(self._number(v))
        elif t is bool:
            out.append(b'true' if v else b'false')
        elif v is None or v is self.null:
            out.append(b'null')
        elif lupa.lua_type(v) == 'table':
            depth += 1
            if depth > self.max_depth:
                raise _err(b'Cannot serialise, excessive nesting (%d)' % depth)
            items = list(v.items())
            n = _array_length(items, self.sparse)
            if n > 0:
                out.append(b'[')
                for i in range(1, n + 1):
                    if i > 1:
                        out.append(b',')
                    self._encode(v[i], out, depth)
                out.append(b']')
            else:
                out.append(b'{')
                first = True
                for k, x in items:
                    tk = type(k)
                    if not first:
                        out.append(b',')
                    first = False
                    if tk is bytes:
                        out.append(_escape(k))
                    elif tk is int or tk is float:
                        out.append(b'"' + self._number(k) + b'"')
                    else:
                        raise _err(b'Cannot serialise %s: table key must be a number or '
                                   b'string' % _typename(k))
                    out.append(b':')
                    self._encode(x, out, depth)
                out.append(b'}')
        else:
            raise _err(b'Cannot serialise %s: type not supported' % _typename(v))

    # decode

    def decode(self, *args):
        if len(args) != 1:
            raise _err(b"bad argument #1 to 'decode' (expected 1 argument)")
        s = _checkstring(args, 0, b'decode')
        return _JsonParser(self, s).parse()

    # configuration (cjson's setters return the current setting)

    def cfg_keep_buffer(self, *args):
        if args and args[0] is not None:
            self.keep_buffer = bool(args[0])
        return self.keep_buffer

    def cfg_max_depth(self, *args):
        if args and args[0] is not None:
            self.max_depth = self._range(args, 1, 2147483647, b'encode_max_depth')
        return self.max_depth

    def cfg_decode_depth(self, *args):
        if args and args[0] is not None:
            self.decode_depth = self._range(args, 1, 2147483647, b'decode_max_depth')
        return self.decode_depth

    def cfg_precision(self, *args):
        if args and args[0] is not None:
            self.precision = self._range(args, 1, 14, b'encode_number_precision')
        return self.precision

    def _range(self, args, lo, hi, name):
        v = int(_checknumber(args, 0, name))
        if not lo <= v <= hi:
            raise _argerror(1, name, b'expected integer between %d and %d' % (lo, hi))
        return v

    def cfg_sparse(self, *args):
        convert, ratio, safe = self.sparse
        if args and args[0] is not None:
            convert = bool(args[0])
        if len(args) > 1 and args[1] is not None:
            ratio = int(_checknumber(args, 1, b'encode_sparse_array'))
        if len(args) > 2 and args[2] is not None:
            safe = int(_checknumber(args, 2, b'encode_sparse_array'))
        self.sparse = (convert, ratio, safe)
        return self.sparse

    def cfg_invalid_enc(self, *args):
        if args and args[0] is not None:
            self.invalid_enc = 'null' if args[0] == b'null' else bool(args[0])
        return b'null' if self.invalid_enc == 'null' else self.invalid_enc

    def cfg_invalid_dec(self, *args):
        if args and args[0] is not None:
            self.invalid_dec = bool(args[0])
        return self.invalid_dec


def _array_length(items, sparse):
    """lua_array_length: the array length, 0 for an empty table, -1 when
    the table is an object."""
    mx = count = 0
    for k, _ in items:
        tk = type(k)
        if (tk is int or tk is float) and k and math.floor(k) == k and k >= 1:
            if k > mx:
                mx = k
            count += 1
            continue
        return -1
    convert, ratio, safe = sparse
    if ratio > 0 and mx > count * ratio and mx > safe:
        if not convert:
            raise _err(b'Cannot serialise table: excessively sparse array')
        return -1
    return int(mx)


_WS = b' \t\n\r'
_NUMBER = __import__('re').compile(
    rb'[+-]?(?:0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?\d+)?'
    rb'|inf(?:inity)?|nan|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)', 2)


class _JsonParser:
    """lua_cjson.c's decoder: the same tokens, the same error texts."""

    def __init__(self, cfg, s):
        self.cfg = cfg
        self.s = s
        self.pos = 0
        self.depth = 0

    def parse(self):
        tok = self.next_token()
        value = self.value(tok)
        tok = self.next_token()
        if tok[0] != 'T_END':
            self.error('the end', tok)
        return value

    def error(self, expected, tok):
        found = tok[2] if tok[0] == 'T_ERROR' else tok[0].encode()
        raise _err(b'Expected %s but found %s at character %d' % (
            expected.encode(), found, tok[1] + 1))

    def next_token(self):
        s, i, n = self.s, self.pos, len(self.s)
        while i < n and s[i] in _WS:
            i += 1
        self.pos = i
        if i >= n:
            return ('T_END', i, None)
        ch = s[i]
        single = {123: 'T_OBJ_BEGIN', 125: 'T_OBJ_END', 91: 'T_ARR_BEGIN', 93: 'T_ARR_END',
                  58: 'T_COLON', 44: 'T_COMMA'}.get(ch)
        if single is not None:
            self.pos = i + 1
            return (single, i, None)
        if ch == 34:
            return self.string_token(i)
        if ch == 45 or 48 <= ch <= 57:
            if not self.cfg.invalid_dec and self.invalid_number(i):
                return ('T_ERROR', i, b'invalid number')
            return self.number_token(i)
        if s.startswith(b'true', i):
            self.pos = i + 4
            return ('T_BOOLEAN', i, True)
        if s.startswith(b'false', i):
            self.pos = i + 5
            return ('T_BOOLEAN', i, False)
        if s.startswith(b'null', i):
            self.pos = i + 4
            return ('T_NULL', i, None)
        if self.cfg.invalid_dec and self.invalid_number(i):
            return self.number_token(i)
        return ('T_ERROR', i, b'invalid token')

    def invalid_number(self, i):
        s = self.s
        if s[i:i + 1] == b'0':
            ch2 = s[i + 1:i + 2]
            return ch2 in (b'x', b'X') or ch2.isdigit()
        if s[i] <= 57:
            return False
        low = s[i:i + 3].lower()
        return low in (b'inf', b'nan')

    def number_token(self, i):
        m = _NUMBER.match(self.s, i)
        if not m:
            return ('T_ERROR', i, b'invalid number')
        text = m.group()
        self.pos = m.end()
        low = text.lower()
        if b'0x' in low:
            neg = low.startswith(b'-')
            body = low.lstrip(b'+-')
            value = float.fromhex(body.decode())
            return ('T_NUMBER', i, -value if neg else value)
        return ('T_NUMBER', i, float(text))

    def string_token(self, start):
        s, i, n = self.s, start + 1, len(self.s)
        out = bytearray()
        while True:
            if i >= n:
                return ('T_ERROR', i, b'unexpected end of string')
            ch = s[i]
            if ch == 34:
                break
            if ch != 92:
                out.append(ch)
                i += 1
                continue
            if i + 1 >= n:
                return ('T_ERROR', i + 1, b'unexpected end of string')
            e = s[i + 1]
            if e == 117:    # \u
                cp, used = self.unicode_escape(i)
                if cp is None:
                    return ('T_ERROR', i, b'invalid unicode escape code')
                out += chr(cp).encode('utf-8', 'surrogatepass')
                i += used
                continue
            rep = {34: 34, 92: 92, 47: 47, 98: 8, 102: 12, 110: 10, 114: 13, 116: 9}.get(e)
            if rep is None:
                return ('T_ERROR', i, b'invalid escape code')
            out.append(rep)
            i += 2
        self.pos = i + 1
        return ('T_STRING', start, bytes(out))

    def unicode_escape(self, i):
        def hex4(j):
            h = self.s[j:j + 4]
            if len(h) != 4 or not all(c in b'0123456789abcdefABCDEF' for c in h):
                return None
            return int(h, 16)
        cp = hex4(i + 2)
        if cp is None:
            return None, 0
        if 0xDC00 <= cp <= 0xDFFF:
            return None, 0
        if 0xD800 <= cp <= 0xDBFF:
            if self.s[i + 6:i + 8] != b'\\u':
                return None, 0
            lo = hex4(i + 8)
            if lo is None or not 0xDC00 <= lo <= 0xDFFF:
                return None, 0
            return (((cp & 0x3FF) << 10) | (lo & 0x3FF)) + 0x10000, 12
        return cp, 6

    def descend(self, tok):
        self.depth += 1
        if self.depth > self.cfg.decode_depth:
            raise _err(b'Found too many nested data structures (%d) at character %d' % (
                self.depth, tok[1] + 1))

    def value(self, tok):
        kind = tok[0]
        if kind in ('T_STRING', 'T_NUMBER', 'T_BOOLEAN'):
            return tok[2]
        if kind == 'T_NULL':
            return self.cfg.null
        if kind == 'T_OBJ_BEGIN':
            return self.obj(tok)
        if kind == 'T_ARR_BEGIN':
            return self.arr(tok)
        self.error('value', tok)

    def obj(self, tok):
        self.descend(tok)
        d = {}
        tok = self.next_token()
        if tok[0] == 'T_OBJ_END':
            self.depth -= 1
            return self.cfg.table_from(d)
        while True:
            if tok[0] != 'T_STRING':
                self.error('object key string', tok)
            key = tok[2]
            tok = self.next_token()
            if tok[0] != 'T_COLON':
                self.error('colon', tok)
            d[key] = self.value(self.next_token())
            tok = self.next_token()
            if tok[0] == 'T_OBJ_END':
                self.depth -= 1
                return self.cfg.table_from(d)
            if tok[0] != 'T_COMMA':
                self.error('comma or object end', tok)
            tok = self.next_token()

    def arr(self, tok):
        self.descend(tok)
        items = []
        tok = self.next_token()
        if tok[0] == 'T_ARR_END':
            self.depth -= 1
            return self.cfg.table_from(items)
        while True:
            items.append(self.value(tok))
            tok = self.next_token()
            if tok[0] == 'T_ARR_END':
                self.depth -= 1
                return self.cfg.table_from(items)
            if tok[0] != 'T_COMMA':
                self.error('comma or array end', tok)
            tok = self.next_token()


# -- cmsgpack ------------------------------------------------------------------------------

MAX_NESTING = 16


def _int_equivalent(n):
    if isinstance(n, int):
        return -(1 << 63) <= n < (1 << 63)
    return not math.isinf(n) and not math.isnan(n) and float(int(n)) == n \
        and -(1 << 63) <= int(n) < (1 << 63)


def _mp_int(n, out):
    if n >= 0:
        if n <= 127:
            out.append(bytes((n,)))
        elif n <= 0xff:
            out.append(b'\xcc' + bytes((n,)))
        elif n <= 0xffff:
            out.append(b'\xcd' + n.to_bytes(2, 'big'))
        elif n <= 0xffffffff:
            out.append(b'\xce' + n.to_bytes(4, 'big'))
        else:
            out.append(b'\xcf' + n.to_bytes(8, 'big'))
    elif n >= -32:
        out.append(bytes((n & 0xff,)))
    elif n >= -128:
        out.append(b'\xd0' + n.to_bytes(1, 'big', signed=True))
    elif n >= -32768:
        out.append(b'\xd1' + n.to_bytes(2, 'big', signed=True))
    elif n >= -2147483648:
        out.append(b'\xd2' + n.to_bytes(4, 'big', signed=True))
    else:
        out.append(b'\xd3' + n.to_bytes(8, 'big', signed=True))


def _mp_pack(v, out, level):
    t = type(v)
    if t is bytes:
        n = len(v)
        if n < 32:
            out.append(bytes((0xa0 | n,)))
        elif n <= 0xff:
            out.append(b'\xd9' + bytes((n,)))
        elif n <= 0xffff:
            out.append(b'\xda' + n.to_bytes(2, 'big'))
        else:
            out.append(b'\xdb' + n.to_bytes(4, 'big'))
        out.append(v)
    elif t is bool:
        out.append(b'\xc3' if v else b'\xc2')
    elif t is int or t is float:
        if _int_equivalent(v):
            _mp_int(int(v), out)
        else:
            try:
                f = _struct.pack('>f', v)
                exact = _struct.unpack('>f', f)[0] == v
            except OverflowError:
                exact = False
            out.append(b'\xca' + f if exact else b'\xcb' + _struct.pack('>d', v))
    elif lupa.lua_type(v) == 'table' and level < MAX_NESTING:
        items = list(v.items())
        mx = 0
        is_array = True
        for k, _ in items:
            tk = type(k)
            if tk is not int and tk is not float or k <= 0 or int(k) != k:
                is_array = False
                break
            mx = max(mx, k)
        if is_array and mx == len(items):
            n = len(items)
            if n < 16:
                out.append(bytes((0x90 | n,)))
            elif n <= 0xffff:
                out.append(b'\xdc' + n.to_bytes(2, 'big'))
            else:
                out.append(b'\xdd' + n.to_bytes(4, 'big'))
            for i in range(1, n + 1):
                _mp_pack(v[i], out, level + 1)
        else:
            n = len(items)
            if n < 16:
                out.append(bytes((0x80 | n,)))
            elif n <= 0xffff:
                out.append(b'\xde' + n.to_bytes(2, 'big'))
            else:
                out.append(b'\xdf' + n.to_bytes(4, 'big'))
            for k, x in items:
                _mp_pack(k, out, level + 1)
                _mp_pack(x, out, level + 1)
    else:
        out.append(b'\xc0')


class CMsgpack:
    def __init__(self, table_from):
        self.table_from = table_from

    def pack(self, *args):
        if not args:
            raise _argerror(0, b'pack', b'MessagePack pack needs input.')
        out = []
        for v in args:
            _mp_pack(v, out, 0)
        return b''.join(out)

    def _decode(self, s, pos, depth=0):
        """mp_decode_to_lua_type: one object at ``pos``; (value, next pos).
        Only the types lua-cmsgpack 0.4.0 knows: bin and ext are bad data."""
        n = len(s)
        if pos >= n:
            raise _err(b'Missing bytes in input.')
        b = s[pos]
        pos += 1
        if b <= 0x7f:
            return b, pos
        if b >= 0xe0:
            return b - 256, pos
        if 0xa0 <= b <= 0xbf:
            return self._bytes(s, pos, b & 0x1f)
        if 0x90 <= b <= 0x9f:
            return self._array(s, pos, b & 0x0f, depth)
        if 0x80 <= b <= 0x8f:
            return self._map(s, pos, b & 0x0f, depth)
        spec = _MP_FIXED.get(b)
        if spec is None:
            raise _err(b'Bad data format in input.')
        kind, size = spec
        if pos + size > n:
            raise _err(b'Missing bytes in input.')
        raw = s[pos:pos + size]
        pos += size
        if kind == 'const':
            return {0xc0: None, 0xc2: False, 0xc3: True}[b], pos
        if kind == 'uint':
            v = int.from_bytes(raw, 'big')
            return (v if v < 1 << 53 else float(v)), pos
        if kind == 'int':
            v = int.from_bytes(raw, 'big', signed=True)
            return (v if abs(v) < 1 << 53 else float(v)), pos
        if kind == 'float':
            return _struct.unpack('>f' if size == 4 else '>d', raw)[0], pos
        length = int.from_bytes(raw, 'big')
        if kind == 'str':
            return self._bytes(s, pos, length)
        if kind == 'array':
            return self._array(s, pos, length, depth)
        return self._map(s, pos, length, depth)

    def _bytes(self, s, pos, length):
        if pos + length > len(s):
            raise _err(b'Missing bytes in input.')
        return s[pos:pos + length], pos + length

    def _array(self, s, pos, length, depth):
        items = []
        for _ in range(length):
            v, pos = self._decode(s, pos, depth + 1)
            items.append(v)
        return self.table_from(items), pos

    def _map(self, s, pos, length, depth):
        t = self.table_from({})
        for _ in range(length):
            k, pos = self._decode(s, pos, depth + 1)
            v, pos = self._decode(s, pos, depth + 1)
            if k is not None:
                t[k] = v
        return t, pos

    def _unpack(self, s, limit, offset):
        values = []
        pos = offset
        while (limit == 0 or len(values) < limit) and pos < len(s):
            v, pos = self._decode(s, pos)
            values.append(v)
        return values, pos

    def unpack(self, *args):
        s = _checkstring(args, 0, b'unpack')
        values, _ = self._unpack(s, 0, 0)
        return tuple(values) if len(values) != 1 else values[0]

    def unpack_one(self, *args):
        return self._limited(args, 1, 1)

    def unpack_limit(self, *args):
        return self._limited(args, int(_checknumber(args, 1, b'unpack_limit')), 2)

    def _limited(self, args, limit, offset_arg):
        s = _checkstring(args, 0, b'unpack')
        offset = 0
        if len(args) > offset_arg and args[offset_arg] is not None:
            offset = int(_checknumber(args, offset_arg, b'unpack'))
        if offset < 0 or limit < 0:
            raise _err(b'Invalid request to unpack with offset of %d and limit of %d.' % (
                offset, limit))
        if offset > len(s):
            raise _err(b'Start offset %d greater than input length %d.' % (offset, len(s)))
        values, pos = self._unpack(s, limit, offset)
        if not limit and not offset:
            return tuple(values)
        nxt = pos if pos < len(s) else -1
        return (nxt,) + tuple(values)


_MP_FIXED = {
    0xc0: ('const', 0), 0xc2: ('const', 0), 0xc3: ('const', 0),
    0xca: ('float', 4), 0xcb: ('float', 8),
    0xcc: ('uint', 1), 0xcd: ('uint', 2), 0xce: ('uint', 4), 0xcf: ('uint', 8),
    0xd0: ('int', 1), 0xd1: ('int', 2), 0xd2: ('int', 4), 0xd3: ('int', 8),
    0xd9: ('str', 1), 0xda: ('str', 2), 0xdb: ('str', 4),
    0xdc: ('array', 2), 0xdd: ('array', 4), 0xde: ('map', 2), 0xdf: ('map', 4),
}


# -- bit (LuaBitOp) ----------------------------------------------------------------------

def _tobit_value(x):
    # LuaBitOp's double-add trick: round to nearest even, then mod 2^32.
    if math.isinf(x) or math.isnan(x):
        return 0
    n = int(round(x)) & 0xFFFFFFFF
    return n - (1 << 32) if n & 0x80000000 else n


def _bit_arg(args, i, name):
    return _tobit_value(float(_checknumber(args, i, name)))


def _make_bit():
    def tobit(*a):
        return _bit_arg(a, 0, b'tobit')

    def bnot(*a):
        return _tobit_value(~_bit_arg(a, 0, b'bnot'))

    def variadic(name, op):
        def f(*a):
            r = _bit_arg(a, 0, name)
            for i in range(1, len(a)):
                r = op(r, _bit_arg(a, i, name))
            return _tobit_value(r)
        return f

    def shift(name, fn):
        def f(*a):
            x = _bit_arg(a, 0, name) & 0xFFFFFFFF
            n = _bit_arg(a, 1, name) & 31
            return _tobit_value(fn(x, n) & 0xFFFFFFFF)
        return f

    def arshift(*a):
        x = _bit_arg(a, 0, b'arshift')
        n = _bit_arg(a, 1, b'arshift') & 31
        return _tobit_value(x >> n)

    def bswap(*a):
        x = _bit_arg(a, 0, b'bswap') & 0xFFFFFFFF
        return _tobit_value(int.from_bytes(x.to_bytes(4, 'little'), 'big'))

    def tohex(*a):
        x = _bit_arg(a, 0, b'tohex') & 0xFFFFFFFF
        n = 8 if len(a) < 2 or a[1] is None else _bit_arg(a, 1, b'tohex')
        digits = '0123456789abcdef'
        if n < 0:
            n = -n
            digits = digits.upper()
        if n > 8:
            n = 8
        out = ''
        for _ in range(n):
            out = digits[x & 15] + out
            x >>= 4
        return out.encode()

    return {
        b'tobit': tobit, b'bnot': bnot,
        b'band': variadic(b'band', lambda a, b: a & b),
        b'bor': variadic(b'bor', lambda a, b: a | b),
        b'bxor': variadic(b'bxor', lambda a, b: a ^ b),
        b'lshift': shift(b'lshift', lambda x, n: x << n),
        b'rshift': shift(b'rshift', lambda x, n: x >> n),
        b'arshift': arshift,
        b'rol': shift(b'rol', lambda x, n: (x << n) | (x >> (32 - n)) if n else x),
        b'ror': shift(b'ror', lambda x, n: (x >> n) | (x << (32 - n)) if n else x),
        b'bswap': bswap, b'tohex': tohex,
    }


# -- struct ------------------------------------------------------------------------------

MAXINTSIZE = 32
MAXALIGN = 8


class _StructFormat:
    """lua_struct.c's format walker: endianness, alignment, sizes."""

    def __init__(self, fmt, fname):
        self.fmt = fmt
        self.i = 0
        self.little = True
        self.align = 1
        self.fname = fname

    def getnum(self, default):
        fmt, i = self.fmt, self.i
        if i >= len(fmt) or not 48 <= fmt[i] <= 57:
            return default
        a = 0
        while i < len(fmt) and 48 <= fmt[i] <= 57:
            if a > (2147483647 - 9) // 10:
                raise _err(b'integral size overflow')
            a = a * 10 + fmt[i] - 48
            i += 1
        self.i = i
        return a

    def optsize(self, opt):
        if opt == b'B' or opt == b'b':
            return 1
        if opt in (b'H', b'h'):
            return 2
        if opt in (b'L', b'l', b'T'):
            return 8
        if opt == b'f':
            return 4
        if opt == b'd':
            return 8
        if opt == b'x':
            return 1
        if opt == b'c':
            return self.getnum(1)
        if opt in (b'i', b'I'):
            sz = self.getnum(4)
            if sz > MAXINTSIZE:
                raise _err(b'integral size %d is larger than limit of %d' % (sz, MAXINTSIZE))
            return sz
        return 0

    def gettoalign(self, length, opt, size):
        if size == 0 or opt == b'c':
            return 0
        if size > self.align:
            size = self.align
        return (size - (length & (size - 1))) & (size - 1)

    def controloptions(self, opt):
        if opt == b' ':
            return True
        if opt == b'>':
            self.little = False
            return True
        if opt == b'<':
            self.little = True
            return True
        if opt == b'!':
            a = self.getnum(MAXALIGN)
            if a & (a - 1):
                raise _err(b'alignment %d is not a power of 2' % a)
            self.align = a
            return True
        return False

    def options(self):
        fmt = self.fmt
        while self.i < len(fmt):
            opt = fmt[self.i:self.i + 1]
            self.i += 1
            yield opt


def _struct_pack(*args):
    fmt = _checkstring(args, 0, b'pack')
    f = _StructFormat(fmt, b'pack')
    out = bytearray()
    arg = 1
    for opt in f.options():
        size = f.optsize(opt)
        toalign = f.gettoalign(len(out), opt, size)
        out += b'\0' * toalign
        if opt in (b'b', b'B', b'h', b'H', b'l', b'L', b'T', b'i', b'I'):
            n = _checknumber(args, arg, b'pack', b'nil')
            arg += 1
            v = int(n) if not (isinstance(n, float) and (math.isinf(n) or math.isnan(n))) \
                else 0
            v &= (1 << (8 * size)) - 1 if size <= 8 else (1 << 64) - 1
            data = v.to_bytes(min(size, 8), 'little')
            if size > 8:
                fill = b'\xff' if int(n) < 0 else b'\0'
                data += fill * (size - 8)
            out += data if f.little else data[::-1]
        elif opt == b'x':
            out += b'\0'
        elif opt == b'f':
            n = float(_checknumber(args, arg, b'pack', b'nil'))
            arg += 1
            out += _struct.pack('<f' if f.little else '>f', n)
        elif opt == b'd':
            n = float(_checknumber(args, arg, b'pack', b'nil'))
            arg += 1
            out += _struct.pack('<d' if f.little else '>d', n)
        elif opt in (b'c', b's'):
            s = _checkstring(args, arg, b'pack')
            arg += 1
            ln = len(s)
            if size == 0:
                size = ln
            if ln < size:
                raise _argerror(arg + 1, b'pack', b'string too short')
            out += s[:size]
            if opt == b's':
                out += b'\0'
                size += 1
        elif f.controloptions(opt):
            continue
        else:
            raise _argerror(1, b'pack', b"invalid format option '%s'" % opt)
    return bytes(out)


def _struct_unpack(*args):
    fmt = _checkstring(args, 0, b'unpack')
    data = _checkstring(args, 1, b'unpack')
    ld = len(data)
    pos = 0
    if len(args) > 2 and args[2] is not None:
        pos = int(_checknumber(args, 2, b'unpack')) - 1
        if pos < 0 or pos > ld:
            raise _argerror(3, b'unpack', b'offset out of range')
    f = _StructFormat(fmt, b'unpack')
    values = []
    for opt in f.options():
        size = f.optsize(opt)
        pos += f.gettoalign(pos, opt, size)
        if size > ld or pos > ld - size:
            raise _argerror(2, b'unpack', b'data string too short')
        if opt in (b'b', b'B', b'h', b'H', b'l', b'L', b'T', b'i', b'I'):
            chunk = data[pos:pos + size]
            if not f.little:
                chunk = chunk[::-1]
            signed = opt in (b'b', b'h', b'l', b'i')
            v = int.from_bytes(chunk, 'little', signed=signed)
            if size > 8:
                v = int.from_bytes(chunk[:8], 'little', signed=signed)
            values.append(float(v) if abs(v) >= 1 << 53 else v)
        elif opt == b'x':
            pass
        elif opt == b'f':
            values.append(_struct.unpack('<f' if f.little else '>f', data[pos:pos + 4])[0])
        elif opt == b'd':
            values.append(_struct.unpack('<d' if f.little else '>d', data[pos:pos + 8])[0])
        elif opt == b'c':
            if size == 0:
                if not values or type(values[-1]) not in (int, float):
                    raise _err(b'format \'c0\' needs a previous size')
                size = int(values.pop())
                if size > ld - pos:
                    raise _argerror(2, b'unpack', b'data string too short')
            values.append(data[pos:pos + size])
        elif opt == b's':
            end = data.find(b'\0', pos)
            if end < 0:
                raise _err(b'unfinished string in data')
            values.append(data[pos:end])
            size = end - pos + 1
        elif f.controloptions(opt):
            continue
        else:
            raise _argerror(1, b'unpack', b"invalid format option '%s'" % opt)
        pos += size
    values.append(pos + 1)
    return tuple(values)


def _struct_size(*args):
    fmt = _checkstring(args, 0, b'size')
    f = _StructFormat(fmt, b'size')
    pos = 0
    for opt in f.options():
        size = f.optsize(opt)
        pos += f.gettoalign(pos, opt, size)
        if opt == b's':
            raise _argerror(1, b'size', b'option \'s\' has no fixed size')
        if opt == b'c' and size == 0:
            raise _argerror(1, b'size', b'option \'c0\' has no fixed size')
        f.controloptions(opt)
        pos += size
    return pos


# -- installation ------------------------------------------------------------------------

class _Null:
    """cjson.null: a unique value (a NULL lightuserdata in Redis)."""
    __slots__ = ()


NULL = _Null()


def _cjson_table(rt, cfg):
    def new(*args):
        c = CJson(NULL)
        c.table_from = rt.table_from
        return _cjson_table(rt, c)
    return rt.table_from({
        b'encode': cfg.encode, b'decode': cfg.decode, b'null': NULL, b'new': new,
        b'_NAME': b'cjson', b'_VERSION': b'2.1.0',
        b'encode_keep_buffer': cfg.cfg_keep_buffer, b'encode_max_depth': cfg.cfg_max_depth,
        b'decode_max_depth': cfg.cfg_decode_depth,
        b'encode_number_precision': cfg.cfg_precision,
        b'encode_sparse_array': cfg.cfg_sparse,
        b'encode_invalid_numbers': cfg.cfg_invalid_enc,
        b'decode_invalid_numbers': cfg.cfg_invalid_dec,
    })


def setup(rt):
    """A function the bootstrap calls with the globals table to install the
    libraries."""
    def install(G):
        cfg = CJson(NULL)
        cfg.table_from = rt.table_from
        G[b'cjson'] = _cjson_table(rt, cfg)
        mp = CMsgpack(rt.table_from)
        G[b'cmsgpack'] = rt.table_from({
            b'pack': mp.pack, b'unpack': mp.unpack, b'unpack_one': mp.unpack_one,
            b'unpack_limit': mp.unpack_limit, b'_NAME': b'cmsgpack',
            b'_VERSION': b'lua-cmsgpack 0.4.0',
            b'_COPYRIGHT': b'Copyright (C) 2012, Salvatore Sanfilippo',
            b'_DESCRIPTION': b'MessagePack C implementation for Lua'})
        G[b'bit'] = rt.table_from(_make_bit())
        G[b'struct'] = rt.table_from({b'pack': _struct_pack, b'unpack': _struct_unpack,
                                      b'size': _struct_size})
        return None
    return install
