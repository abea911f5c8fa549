"""The libraries Redis links into its Lua: cjson, cmsgpack, bit and struct,
their outputs and errors compared byte for byte with redis-server on a
corpus of values (RESP2 and RESP3)."""

import msgpack
import pytest

CORPUS = [
    'local s = "" for i = 0, 255 do s = s .. string.char(i) end return cjson.encode(s)',
    'return cjson.encode({1, 2.5, 1e100, 0.1, 123456789012345678, "x", true, false, {}, {a=1}})',
    'return cjson.encode(1/0)',
    'return cjson.encode(0/0)',
    'return cjson.encode({[1]=1, [20]=2})',
    'return cjson.encode({[1]=1, [4]=2})',
    'return cjson.encode({[1]=1, [11]=2})',
    'return cjson.encode({[true]=1})',
    'return cjson.encode(redis.call)',
    'return cjson.encode({[1.5]=1})',
    'return cjson.encode({[-1]=1})',
    'return cjson.encode(cjson.null)',
    'return cjson.encode()',
    'return cjson.encode(1, 2)',
    'return cjson.encode({a={b={c={1,2,{d="e"}}}}})',
    'return cjson.encode({1/3, 2/3, 100, -100, 1e15, 1e16, 123.456e-10})',
    'local t = {} t.x = t return cjson.encode(t)',
    'return {cjson.decode("[1,2,null,3]")}',
    'return cjson.decode("{bad")',
    'return type(cjson.null)',
    'return cjson.decode("[1,2")',
    'return cjson.decode("")',
    'return cjson.decode("1 2")',
    'return cjson.decode("\\"\\\\ud800\\"")',
    'return cjson.decode("\\"\\\\ud83d\\\\ude00\\"")',
    'return cjson.decode("\\"\\\\u00e9\\\\n\\\\t\\\\/\\"")',
    'return cjson.decode("\\"\\\\x\\"")',
    'return cjson.decode("\\"abc")',
    'return cjson.decode("[1e400, -1e400, 0x10]")',
    'return cjson.encode(cjson.decode("{\\"a\\":[1,2,{\\"b\\":null}],\\"c\\":\\"d\\"}"))',
    'return cjson.decode("{\\"a\\":1,}")',
    'return cjson.decode("[1,]")',
    'return cjson.decode("tru")',
    'return cjson.decode("01")',
    'return cjson.decode("-")',
    'return cjson.decode("NaN")',
    'return cjson.decode("[1.5e3, -0, 2E-2]")',
    'return cjson.decode("{\\"a\\" 1}")',
    'return cjson.decode(string.rep("[", 1001))',
    'return cjson.decode({})',
    'return cjson.decode()',
    'return {cjson.encode_keep_buffer(), cjson.encode_max_depth(), cjson.decode_max_depth()'
    ', cjson.encode_number_precision()}',
    'return {cjson._NAME, cjson._VERSION, cmsgpack._NAME, cmsgpack._VERSION}',
    'local t={} for k in pairs(cjson) do t[#t+1]=k end table.sort(t) return t',
    'local t={} for k in pairs(cmsgpack) do t[#t+1]=k end table.sort(t) return t',
    'local t={} for k in pairs(bit) do t[#t+1]=k end table.sort(t) return t',
    'local t={} for k in pairs(struct) do t[#t+1]=k end table.sort(t) return t',
    'return {type(cjson.encode), type(bit.band), type(struct.pack), type(cmsgpack.pack)}',
    'return cmsgpack.pack(nil, true, false, 0, 1, 127, 128, 255, 256, 65535, 65536, 4294967'
    '295, 4294967296, -1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649, 1'
    '.5, 0.1, 1e300, 1/0, 2^63, -2^63)',
    'return cmsgpack.pack("", "a", string.rep("b", 31), string.rep("c", 32), string.rep("d"'
    ', 255), string.rep("e", 256), string.rep("f", 65536))',
    'return cmsgpack.pack({}, {1,2,3}, {a=1}, {1, nil, 3}, {[2]=1}, {[0]=1}, {1.5}, string.'
    'rep("x", 3))',
    'local t = {} for i = 1, 20 do t[i] = i end return cmsgpack.pack(t)',
    'local t = {} for i = 1, 70000 do t[i] = i end return #cmsgpack.pack(t)',
    'local t = {} for i = 1, 20 do t["k" .. i] = i end return #cmsgpack.pack(t)',
    'local t = {} local c = t for i = 1, 20 do c[1] = {} c = c[1] end return cmsgpack.pack(t)',
    'return cmsgpack.pack(redis.call)',
    'return cmsgpack.pack()',
    'return {cmsgpack.unpack(cmsgpack.pack(1, 2.5, "x", true, {1, 2, {a = "b"}}))}',
    'return cmsgpack.unpack("\\196")',
    'return cmsgpack.unpack("\\146\\1")',
    'return cmsgpack.unpack("")',
    'return {cmsgpack.unpack_one(cmsgpack.pack(1, 2))}',
    'return {cmsgpack.unpack_one(cmsgpack.pack(1, 2), 1)}',
    'return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}',
    'return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 0)}',
    'return {cmsgpack.unpack(cmsgpack.pack(-1, -200, 70000, 2^40, 0.1))}',
    'return cmsgpack.unpack(cmsgpack.pack({1, 2, nil, 4}))',
    'return {bit.tobit(0xffffffff), bit.tobit(2^32 + 5), bit.tobit(-1), bit.tobit(1.5), bit'
    '.tobit(2.5), bit.tobit(-2.5)}',
    'return {bit.bnot(0), bit.band(0xff, 0x0f, 0x3), bit.bor(1, 2, 4), bit.bxor(5, 3)}',
    'return {bit.lshift(1, 31), bit.lshift(1, 32), bit.rshift(-1, 1), bit.arshift(-256, 4),'
    ' bit.rol(0x12345678, 8), bit.ror(0x12345678, 8)}',
    'return {bit.bswap(0x12345678), bit.tohex(255), bit.tohex(-1, 4), bit.tohex(255, -4), b'
    'it.tohex(0x1234, 2), bit.tohex(1, 20)}',
    'return bit.band()',
    'return bit.band("x")',
    'return bit.tobit("12")',
    'return struct.pack(">i2<I4!4bhd", 1, 2, 3, 4, 1.5)',
    'return struct.pack("i", 1.5)',
    'return struct.pack("c0", "abc")',
    'return struct.pack("c5", "abc")',
    'return struct.pack("c2s", "abc", "zz")',
    'return {struct.unpack(">I2i4", struct.pack(">I2i4", 65535, -2))}',
    'return {struct.unpack("s", "ab\\0cd")}',
    'return {struct.unpack("c2", "abcd", 2)}',
    'return {struct.unpack("bc0", "\\3abcde")}',
    'return {struct.unpack("d", struct.pack("d", 0.1))}',
    'return {struct.unpack("f", struct.pack("f", 0.1))}',
    'return struct.unpack("i", "ab")',
    'return {struct.size("i2hbd"), struct.size("!4bi"), struct.size(">lLT")}',
    'return struct.size("s")',
    'return struct.pack("q", 1)',
    'return struct.pack("!3i", 1)',
    'return {struct.unpack("<i8", struct.pack("<i8", -5))}',
    'return {struct.unpack("B", "\\255")}',
    # more values
    'return cjson.encode({"\\195\\169t\\195\\169", "\\240\\159\\152\\128"})',
    'return cjson.encode({[1]="a", [2]="b", x="c"})',
    'return cjson.encode({{}, {{}}, {a={}}})',
    'return cjson.encode(-1e-300)',
    'return cjson.encode(2^53)',
    'return cjson.encode("")',
    'return cjson.encode_number_precision(20)',
    'return cjson.decode("  {\\"a\\" : [ true , false , null ] }  ").a[1]',
    'return cjson.decode("[]")',
    'return cjson.decode("{}")',
    'return cjson.decode("\\"\\"")',
    'return cjson.decode("-1.5")',
    'return cjson.decode("1E2")',
    'return cjson.decode("[1,2,3]")[3]',
    'return cmsgpack.pack({1, 2, 3, a = 1})',
    'return cmsgpack.pack(0.5, -0.5, 3.4028234663852886e38, 1e-45)',
    'return {cmsgpack.unpack(cmsgpack.pack({a = {b = {c = "d"}}}))}',
    'return cmsgpack.unpack(cmsgpack.pack({a = {b = {c = "d"}}})).a.b.c',
    'return {bit.band(-1, 0x7fffffff), bit.bor(0x80000000, 0), bit.lshift(0xff, 28)}',
    'return {bit.rshift(0x80000000, 31), bit.arshift(0x80000000, 31), bit.rol(1, 33)}',
    'return {struct.unpack(">h", "\\255\\254")}',
    'return {struct.unpack("<H", "\\255\\254")}',
    'return struct.pack("<i3", -2)',
    'return struct.pack(">I3", 65536 * 3 + 2)',
    'return struct.pack("!8bd", 1, 0.5)',
    'return struct.pack("xbx", 7)',
    'return struct.pack("s", "a\\0b")',
    'return struct.pack("i", "12")',
    'return struct.pack("i", "x")',
    'return struct.pack("i")',
]


@pytest.mark.parametrize('resp', [2, 3])
def test_library_outputs_match_redis(compat, resp):
    if resp == 3:
        compat.a.call('HELLO', '3')
        compat.b.call('HELLO', '3')
    for body in CORPUS:
        compat.call('EVAL', body, '0')


def test_cmsgpack_output_is_messagepack(pyredis):
    """What cmsgpack packs, the msgpack package reads back."""
    r = pyredis.client()
    packed = r.eval('return cmsgpack.pack({1, 2, {a = "b"}}, "x", 1.5, -7, 2^40, true)', 0)
    up = msgpack.Unpacker(raw=True, strict_map_key=False)
    up.feed(packed)
    assert list(up) == [[1, 2, {b'a': b'b'}], b'x', 1.5, -7, 2 ** 40, True]
    data = msgpack.packb([1, {b'k': [b'v', None]}, -1.25], use_bin_type=False)
    assert r.eval('local t = cmsgpack.unpack(ARGV[1]); '
                  'return {t[1], t[2].k[1], tostring(t[3])}', 0, data) == [1, b'v', b'-1.25']
