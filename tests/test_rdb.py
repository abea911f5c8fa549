"""RDB format unit tests: CRC64, LZF, the encoder and the decoder, without a
server. Old encodings that Redis 7.0 no longer writes but still loads
(ziplist, zipmap, quicklist of ziplists, text-double zsets, EXPIRETIME in
seconds) are built here by hand from the format description; when
redis-check-rdb is installed it vouches that the hand-built files are valid.
"""

import math
import os
import random
import shutil
import struct
import subprocess
import sys
import time

import pytest

from pyredis import crc64 as crc_mod, lzf, rdb
from pyredis.values import HASH, QuickList
from pyredis.zset import ZSet

CHECK_RDB = shutil.which('redis-check-rdb')


class FakeDB:
    def __init__(self, i):
        self.id = i
        self.data = {}
        self.expires = {}
        self.lru = {}
        self.scan_index = None

    def delete(self, key):
        self.expires.pop(key, None)
        self.lru.pop(key, None)
        return self.data.pop(key, None) is not None


class FakeServer:
    def __init__(self, n=16, config=None):
        self.dbs = [FakeDB(i) for i in range(n)]
        self.lruclock = int(time.time()) & rdb.LRU_CLOCK_MAX
        self.config = config


def zset(pairs):
    z = ZSet()
    for m, s in pairs:
        z.add(m, s)
    return z


def plain(v):
    """A comparable form of a value."""
    if isinstance(v, ZSet):
        return ('zset', sorted(v.dict.items()))
    if isinstance(v, QuickList):
        return ('list', list(v))
    if isinstance(v, (bytes, bytearray)):
        return bytes(v)
    if isinstance(v, dict) or v.__class__ in HASH:     # dict or PackedHash
        return ('hash', sorted(v.items()))
    if isinstance(v, set):
        return ('set', sorted(v))
    return v


# -- CRC64 and LZF ---------------------------------------------------------------

def test_crc64_check_value():
    # The check value of CRC-64/Jones as Redis's crc64.c tests it.
    assert crc_mod.crc64(b'123456789') == 0xe9c6d914c4b8d9ca
    assert crc_mod.crc64_py(b'123456789') == 0xe9c6d914c4b8d9ca


def test_crc64_extension_matches_fallback_and_chains():
    data = os.urandom(10007)
    assert crc_mod.crc64(data) == crc_mod.crc64_py(data)
    assert crc_mod.crc64(data[3000:], crc_mod.crc64(data[:3000])) == crc_mod.crc64(data)
    assert crc_mod.crc64(b'') == 0


def _samples():
    rnd = random.Random(7)
    out = [b'', b'a', b'abcd', b'abcde', b'a' * 5, b'a' * 21, os.urandom(500)]
    for i in range(200):
        n = rnd.randint(0, 2500)
        alphabet = rnd.choice([b'ab', b'abcdefgh', bytes(range(256)), b'x'])
        out.append(bytes(rnd.choice(alphabet) for _ in range(n)))
    out.append(b''.join(b'key:%d value-%d;' % (i, i * 7) for i in range(3000)))
    out.append(b'0123456789' * 2000)
    return out


def test_lzf_extension_matches_fallback():
    for s in _samples():
        c = lzf.compress_py(s)
        assert lzf.compress(s) == c
        if c is not None:
            assert len(c) <= len(s) - 4
            assert lzf.decompress(c, len(s)) == s
            assert lzf.decompress_py(c, len(s)) == s


def test_lzf_refuses_incompressible_and_short():
    assert lzf.compress(b'abcd') is None
    assert lzf.compress(os.urandom(1000)) is None
    assert lzf.compress_py(os.urandom(1000)) is None


@pytest.mark.parametrize('impl', [lzf.decompress, lzf.decompress_py])
def test_lzf_corrupt_input_raises(impl):
    good = lzf.compress(b'hello hello hello hello hello')
    with pytest.raises(ValueError):
        impl(good, 10)                       # wrong length
    with pytest.raises(ValueError):
        impl(b'\x05ab', 6)                   # truncated literal
    with pytest.raises(ValueError):
        impl(b'\x00a\xe0\xff\xff', 300)      # back reference before the start


# -- round trips -------------------------------------------------------------------

def sample_values():
    rnd = random.Random(3)
    return {
        b'str': b'hello',
        b'str-int': b'12345',
        b'str-negint': b'-7',
        b'str-int64': b'9223372036854775807',
        b'str-leading-zero': b'007',
        b'str-long': b'abc' * 1000,
        b'str-binary': bytes(range(256)) * 3,
        b'str-empty': b'',
        b'str-bytearray': bytearray(b'raw bytes'),
        b'list-small': QuickList(-2, [b'a', b'1', b'-5', b'300', b'70000', b'5000000000',
                                      b'x' * 100]),
        b'list-big': QuickList(-2, [(b'item-%d' % i) * (i % 7 + 1) for i in range(5000)]),
        b'list-huge-items': QuickList(-2, [b'y' * 70000, b'z' * 5000, b'q']),
        b'hash-small': {b'f1': b'v1', b'n': b'-100000', b'': b''},
        b'hash-big': {b'f%d' % i: b'v%d' % i for i in range(1000)},
        b'hash-longval': {b'a': b'b' * 65},
        b'set-ints': {b'%d' % i for i in range(-5, 10)},
        b'set-int64': {b'1', b'%d' % (1 << 40), b'-%d' % (1 << 62)},
        b'set-strs': {b'a', b'b', b'c'},
        b'set-big': {b'%d' % i for i in range(1000)},
        b'set-mixed': {b'1', b'01', b'x'},
        b'zset-small': zset([(b'a', 1.0), (b'b', 1.5), (b'c', -2.0), (b'd', 0.1), (b'e', 1e20),
                             (b'f', math.inf), (b'g', -math.inf), (b'h', -0.0), (b'i', 3.0)]),
        b'zset-big': zset([(b'm%d' % i, rnd.uniform(-1e6, 1e6)) for i in range(500)]),
        b'zset-longmember': zset([(b'x' * 100, 1.0)]),
    }


@pytest.mark.parametrize('compress', [True, False])
def test_dump_payload_round_trip(compress):
    opts = rdb.Options()
    opts.compress = compress
    for key, v in sample_values().items():
        payload = rdb.dump_payload(v, opts)
        assert rdb.verify_dump_payload(payload), key
        assert plain(rdb.load_dump_payload(payload)) == plain(v), key


def test_encodings_chosen_like_redis():
    opts = rdb.Options()
    kinds = {k: rdb.encode_value(v, opts)[0] for k, v in sample_values().items()}
    assert kinds[b'str'] == rdb.TYPE_STRING
    assert kinds[b'list-big'] == rdb.TYPE_LIST_QUICKLIST_2
    assert kinds[b'hash-small'] == rdb.TYPE_HASH_LISTPACK
    assert kinds[b'hash-big'] == rdb.TYPE_HASH
    assert kinds[b'hash-longval'] == rdb.TYPE_HASH
    assert kinds[b'set-ints'] == rdb.TYPE_SET_INTSET
    assert kinds[b'set-int64'] == rdb.TYPE_SET_INTSET
    assert kinds[b'set-mixed'] == rdb.TYPE_SET
    assert kinds[b'set-big'] == rdb.TYPE_SET
    assert kinds[b'zset-small'] == rdb.TYPE_ZSET_LISTPACK
    assert kinds[b'zset-big'] == rdb.TYPE_ZSET_2
    assert kinds[b'zset-longmember'] == rdb.TYPE_ZSET_2


def test_string_encodings():
    assert rdb.encode_string(b'12') == b'\xc0\x0c'
    assert rdb.encode_string(b'-129') == b'\xc1\x7f\xff'
    assert rdb.encode_string(b'2147483647') == b'\xc2\xff\xff\xff\x7f'
    assert rdb.encode_string(b'2147483648') == b'\x0a2147483648'
    assert rdb.encode_string(b'012') == b'\x03012'
    assert rdb.encode_string(b'a' * 30)[:1] == b'\xc3'
    assert rdb.encode_string(b'a' * 30, False) == b'\x1e' + b'a' * 30
    # Length encodings: 6, 14, 32 bits.
    assert rdb.encode_len(63) == b'\x3f'
    assert rdb.encode_len(64) == b'\x40\x40'
    assert rdb.encode_len(16384) == b'\x80\x00\x00\x40\x00'
    assert rdb.encode_len(1 << 32) == b'\x81' + (1 << 32).to_bytes(8, 'big')


def _file_server(opts_config=None):
    srv = FakeServer(4, opts_config)
    values = sample_values()
    for i, (k, v) in enumerate(values.items()):
        srv.dbs[i % 3].data[k] = v
    now = int(time.time() * 1000)
    for i, key in enumerate((b'str', b'list-small', b'zset-big')):
        db = next(db for db in srv.dbs if key in db.data)
        db.expires[key] = now + 100000 * (i + 1)
    return srv, values


def test_file_round_trip_with_ttls_and_databases(tmp_path):
    srv, values = _file_server()
    path = str(tmp_path / 'dump.rdb')
    rdb.save_to_file(srv, path)
    data = open(path, 'rb').read()
    assert data.startswith(b'REDIS0010')
    srv2 = FakeServer(4)
    stats = rdb.load_bytes(srv2, data)
    assert stats.keys_loaded == len(values)
    assert stats.end == len(data)
    assert stats.aux[b'redis-ver'] == b'7.0.15'
    assert stats.aux[b'redis-bits'] == b'64'
    assert stats.aux[b'aof-base'] == b'0'
    for a, b in zip(srv.dbs, srv2.dbs):
        assert {k: plain(v) for k, v in a.data.items()} == \
            {k: plain(v) for k, v in b.data.items()}
        assert a.expires == b.expires
    if CHECK_RDB:
        out = subprocess.run([CHECK_RDB, path], capture_output=True, text=True)
        assert 'RDB looks OK' in out.stdout, out.stdout


def test_checksum_disabled_writes_zero_footer_and_still_loads():
    class Cfg:
        rdbchecksum = False
    srv, values = _file_server(Cfg())
    data = rdb.save_to_bytes(srv)
    assert data[-8:] == bytes(8)
    assert rdb.load_bytes(FakeServer(4), data).keys_loaded == len(values)


def test_expired_keys_are_not_written():
    srv = FakeServer(1)
    srv.dbs[0].data = {b'gone': b'x', b'kept': b'y'}
    srv.dbs[0].expires = {b'gone': int(time.time() * 1000) - 1000}
    srv2 = FakeServer(1)
    rdb.load_bytes(srv2, rdb.save_to_bytes(srv))
    assert list(srv2.dbs[0].data) == [b'kept']


def _file_with_expired_key():
    """A file holding a key whose TTL passed (written as a replica's dump
    would be, or a file that sat on disk while the server was down)."""
    past = int(time.time() * 1000) - 5000
    body = (b'REDIS0010' + b'\xfe\x00' + b'\xfc' + struct.pack('<q', past) + b'\x00\x04gone\x01x'
            + b'\x00\x04kept\x01y' + b'\xff')
    return body + struct.pack('<Q', crc_mod.crc64(body))


def test_master_skips_expired_keys_replica_keeps_them():
    data = _file_with_expired_key()
    master = FakeServer(1)
    stats = rdb.load_bytes(master, data)
    assert set(master.dbs[0].data) == {b'kept'}
    assert stats.keys_expired == 1
    replica = FakeServer(1)
    rdb.loads(replica, data, keep_expired=True)
    assert set(replica.dbs[0].data) == {b'gone', b'kept'}
    assert b'gone' in replica.dbs[0].expires


def test_lru_idle_and_lfu_freq_opcodes():
    class Cfg:
        maxmemory_policy = 'allkeys-lru'
    srv = FakeServer(1, Cfg())
    srv.dbs[0].data[b'k'] = b'v'
    srv.dbs[0].lru[b'k'] = (srv.lruclock - 100) & rdb.LRU_CLOCK_MAX
    data = rdb.save_to_bytes(srv)
    assert b'\xf8\x40\x64' in data            # IDLE 100
    srv2 = FakeServer(1)
    rdb.load_bytes(srv2, data)
    idle = (srv2.lruclock - srv2.dbs[0].lru[b'k']) & rdb.LRU_CLOCK_MAX
    assert 100 <= idle <= 102

    class Lfu:
        maxmemory_policy = 'volatile-lfu'
    srv = FakeServer(1, Lfu())
    srv.dbs[0].data[b'k'] = b'v'
    data = rdb.save_to_bytes(srv)
    assert b'\xf9\x05\x00\x01k' in data       # FREQ 5 (LFU_INIT_VAL)
    assert rdb.load_bytes(FakeServer(1), data).keys_loaded == 1


def test_repl_aux_fields():
    srv = FakeServer(1)
    data = rdb.dumps(srv, repl_info=('a' * 40, 1234))
    stats = rdb.load_bytes(FakeServer(1), data)
    assert stats.aux[b'repl-id'] == b'a' * 40
    assert stats.aux[b'repl-offset'] == b'1234'
    assert stats.aux[b'repl-stream-db'] == b'0'


def test_rdb_followed_by_more_data_reports_its_end():
    srv, _ = _file_server()
    data = rdb.save_to_bytes(srv)
    stats = rdb.load_bytes(FakeServer(4), data + b'*1\r\n$4\r\nPING\r\n')
    assert stats.end == len(data)


# -- errors ----------------------------------------------------------------------------

def _valid_file():
    srv = FakeServer(1)
    srv.dbs[0].data = {b'k%d' % i: b'value-%d' % i for i in range(50)}
    return rdb.save_to_bytes(srv)


def test_bad_checksum_names_offset():
    data = bytearray(_valid_file())
    data[-1] ^= 0xff
    with pytest.raises(rdb.RDBError) as e:
        rdb.load_bytes(FakeServer(1), bytes(data))
    assert 'Wrong RDB checksum' in str(e.value)
    assert e.value.offset == len(data) - 8


def test_truncated_file_names_offset():
    data = _valid_file()
    with pytest.raises(rdb.RDBError) as e:
        rdb.load_bytes(FakeServer(1), data[:200])
    assert 'Unexpected EOF' in str(e.value)
    assert e.value.offset is not None and e.value.offset <= 200


def test_signature_and_version_errors():
    with pytest.raises(rdb.RDBError, match='Wrong signature'):
        rdb.load_bytes(FakeServer(1), b'RDIS0010\xff' + bytes(8))
    with pytest.raises(rdb.RDBError, match="Can't handle RDB format version 11"):
        rdb.load_bytes(FakeServer(1), b'REDIS0011\xff' + bytes(8))


def test_too_many_databases():
    body = b'REDIS0010\xfe\x05\x00\x01k\x01v\xff'
    with pytest.raises(rdb.RDBError, match='more than 2 databases'):
        rdb.load_bytes(FakeServer(2), body + bytes(8))


def test_duplicate_key_is_an_error():
    body = b'REDIS0010\xfe\x00\x00\x01k\x01v\x00\x01k\x01w\xff'
    with pytest.raises(rdb.RDBError, match='Duplicated key'):
        rdb.load_bytes(FakeServer(1), body + bytes(8))


def test_stream_module_function_are_refused_clearly():
    # Streams load (test_streams_persistence.py); a bad one is named.
    for t in (rdb.TYPE_STREAM_LISTPACKS, rdb.TYPE_STREAM_LISTPACKS_2):
        body = b'REDIS0010\xfe\x00' + bytes([t]) + b'\x01s\x01\x03abc' + b'\x00' * 20 + b'\xff'
        with pytest.raises(rdb.RDBError, match='Stream node key'):
            rdb.load_bytes(FakeServer(1), body + bytes(8))
    # A module value: the module id names the module.
    module_id = (0x3fff << 10)
    body = b'REDIS0010\xfe\x00\x07\x01m' + rdb.encode_len(module_id) + b'\xff'
    with pytest.raises(rdb.RDBError, match="no matching module"):
        rdb.load_bytes(FakeServer(1), body + bytes(8))
    body = b'REDIS0010\xf5\x05hello\xff'
    with pytest.raises(rdb.RDBError, match='functions'):
        rdb.load_bytes(FakeServer(1), body + bytes(8))


def test_corrupt_blobs_are_bad_data():
    opts = rdb.Options()
    for v in (QuickList(-2, [b'a', b'b']), {b'f': b'v'}, {b'1', b'2'}, zset([(b'a', 1.0)])):
        payload = bytearray(rdb.dump_payload(v, opts)[:-10])
        # Damage the blob's header (the listpack/intset byte count).
        payload[3] ^= 0x55
        with pytest.raises(rdb.RDBError):
            rdb.load_dump_payload(bytes(payload) + b'\x0a\x00' + bytes(8))


def test_verify_dump_payload():
    p = rdb.dump_payload(b'x', rdb.Options())
    assert rdb.verify_dump_payload(p)
    assert not rdb.verify_dump_payload(p[:-1] + bytes([p[-1] ^ 1]))
    assert not rdb.verify_dump_payload(b'short')
    newer = p[:-10] + b'\x0b\x00'
    assert not rdb.verify_dump_payload(newer + struct.pack('<Q', crc_mod.crc64(newer)))


def test_empty_collections_are_skipped():
    empty_hash = rdb.lp_build([], 0)
    body = (b'REDIS0010\xfe\x00' + bytes([rdb.TYPE_HASH_LISTPACK]) + b'\x01h'
            + rdb.encode_len(len(empty_hash)) + empty_hash + b'\x00\x01k\x01v\xff')
    srv = FakeServer(1)
    stats = rdb.load_bytes(srv, body + bytes(8))
    assert set(srv.dbs[0].data) == {b'k'}
    assert stats.empty_skipped == 1


# -- old encodings, built by hand --------------------------------------------------

def zl_entry(prevlen, s):
    head = bytes([prevlen]) if prevlen < 254 else b'\xfe' + struct.pack('<I', prevlen)
    v = rdb._as_int64(s)
    if v is not None:
        if 0 <= v <= 12:
            body = bytes([0xf1 + v])
        elif -128 <= v <= 127:
            body = b'\xfe' + struct.pack('<b', v)
        elif -32768 <= v <= 32767:
            body = b'\xc0' + struct.pack('<h', v)
        elif -(1 << 23) <= v < (1 << 23):
            body = b'\xf0' + v.to_bytes(3, 'little', signed=True)
        elif -(1 << 31) <= v < (1 << 31):
            body = b'\xd0' + struct.pack('<i', v)
        else:
            body = b'\xe0' + struct.pack('<q', v)
    else:
        n = len(s)
        if n < 64:
            body = bytes([n]) + s
        elif n < 16384:
            body = bytes([0x40 | (n >> 8), n & 0xff]) + s
        else:
            body = b'\x80' + n.to_bytes(4, 'big') + s
    return head + body


def ziplist(items):
    entries = []
    prev = 0
    tail = 10
    offset = 10
    for s in items:
        e = zl_entry(prev, s)
        tail = offset
        offset += len(e)
        prev = len(e)
        entries.append(e)
    body = b''.join(entries)
    total = 10 + len(body) + 1
    return struct.pack('<IIH', total, tail, min(len(items), 65535)) + body + b'\xff'


def zipmap(pairs):
    out = bytearray([len(pairs)])
    for f, v in pairs:
        out += bytes([len(f)]) + f + bytes([len(v)]) + b'\x00' + v
    return bytes(out) + b'\xff'


def record(t, key, body):
    return bytes([t]) + rdb.encode_string(key, False) + body


def blob(b):
    return rdb.encode_len(len(b)) + b


def test_old_encodings_load(tmp_path):
    items = [b'a', b'7', b'-3', b'200', b'-40000', b'5000000', b'3000000000', b'x' * 70,
             b'y' * 300]
    big = [b'e%d' % i for i in range(700)]
    past = int(time.time()) + 1000
    body = b'REDIS0009' + b'\xfe\x00\xfb\x08\x01'
    body += record(rdb.TYPE_LIST_ZIPLIST, b'zl-list', blob(ziplist(items)))
    body += record(rdb.TYPE_LIST_QUICKLIST, b'ql-list',
                   b'\x02' + blob(ziplist(items)) + blob(ziplist(big)))
    body += record(rdb.TYPE_HASH_ZIPLIST, b'zl-hash', blob(ziplist([b'f1', b'v1', b'f2', b'12'])))
    body += record(rdb.TYPE_ZSET_ZIPLIST, b'zl-zset', blob(ziplist([b'a', b'1', b'b', b'2.5'])))
    body += record(rdb.TYPE_HASH_ZIPMAP, b'zm-hash', blob(zipmap([(b'f', b'v'), (b'g', b'')])))
    body += record(rdb.TYPE_LIST, b'plain-list', b'\x02\x01a\x01b')
    body += (b'\xfd' + struct.pack('<i', past)
             + record(rdb.TYPE_ZSET, b'text-zset', b'\x03\x01a\x031.5\x01b\xfe\x01c\xff'))
    body += b'\xff'
    data = body + struct.pack('<Q', crc_mod.crc64(body))
    path = tmp_path / 'old.rdb'
    path.write_bytes(data)
    if CHECK_RDB:
        out = subprocess.run([CHECK_RDB, str(path)], capture_output=True, text=True)
        assert 'RDB looks OK' in out.stdout, out.stdout
    srv = FakeServer(1)
    stats = rdb.load_bytes(srv, data)
    d = srv.dbs[0].data
    assert stats.keys_loaded == 7
    assert list(d[b'zl-list']) == items
    assert list(d[b'ql-list']) == items + big
    assert d[b'zl-hash'] == {b'f1': b'v1', b'f2': b'12'}
    assert d[b'zl-zset'].dict == {b'a': 1.0, b'b': 2.5}
    assert d[b'zm-hash'] == {b'f': b'v', b'g': b''}
    assert list(d[b'plain-list']) == [b'a', b'b']
    assert d[b'text-zset'].dict == {b'a': 1.5, b'b': math.inf, b'c': -math.inf}
    assert srv.dbs[0].expires[b'text-zset'] == past * 1000


def test_quicklist2_plain_node():
    body = b'REDIS0010\xfe\x00' + record(
        rdb.TYPE_LIST_QUICKLIST_2, b'l',
        b'\x02\x01' + blob(b'big element') + b'\x02' + blob(rdb.lp_build([rdb.lp_entry(b'z')], 1)))
    srv = FakeServer(1)
    rdb.load_bytes(srv, body + b'\xff' + bytes(8))
    assert list(srv.dbs[0].data[b'l']) == [b'big element', b'z']


def test_listpack_integer_encodings_round_trip():
    values = [0, 127, 128, -1, -4096, 4095, 4096, -32768, 32767, 32768, -(1 << 23),
              (1 << 23) - 1, 1 << 23, -(1 << 31), (1 << 31) - 1, 1 << 31, -(1 << 63),
              (1 << 63) - 1]
    items = [b'%d' % v for v in values] + [b'9223372036854775808', b'-0', b'+1', b'x' * 5000]
    lp = rdb.lp_build([rdb.lp_entry(s) for s in items], len(items))
    assert rdb._lp_items(lp) == items


def _lp_samples():
    rnd = random.Random(11)
    nums = [0, 127, 128, -1, -4096, 4095, 4096, -32768, 32767, 32768, -(1 << 23),
            (1 << 23) - 1, 1 << 23, -(1 << 31), (1 << 31) - 1, 1 << 31, -(1 << 63),
            (1 << 63) - 1]
    base = [b'%d' % v for v in nums] + [b'9223372036854775808', b'-0', b'+1', b'01', b'',
                                         b'x' * 63, b'x' * 64, b'y' * 4095, b'y' * 4096,
                                         b'z' * 70000]
    out = [base]
    for _ in range(30):
        out.append([rnd.choice(base) if rnd.random() < 0.3 else
                    bytes(rnd.getrandbits(8) for _ in range(rnd.choice([1, 5, 60, 200, 3000])))
                    for _ in range(rnd.randint(1, 80))])
    return out


def test_listpack_extension_matches_fallback():
    for items in _lp_samples():
        lp = rdb.lp_build_items_py(items)
        assert rdb.lp_build_items(items) == lp
        assert rdb._lp_items(lp) == rdb.lp_items_py(lp) == items
        for fill in (-1, -2, -3, -5, -6, 0, 1, 5, 128):
            assert rdb.quicklist_nodes(items, fill) == rdb.quicklist_nodes_py(items, fill)


def test_listpack_extension_rejects_what_fallback_rejects():
    good = rdb.lp_build_items_py([b'abc', b'12', b'x' * 100])
    bad = [good[:-1], good[:6] + b'\xff', bytes([len(good) + 1]) + good[1:],
           good[:6] + b'\xf5' + good[7:], good[:4] + b'\x09\x00' + good[6:], b'\x07\x00']
    for blob in bad:
        with pytest.raises(ValueError):
            rdb.lp_items_py(blob)
        with pytest.raises(ValueError):
            rdb._lp_items(blob)


def test_string_codec_extension_matches_fallback():
    samples = [b'', b'0', b'-0', b'12', b'-128', b'127', b'128', b'-32769', b'2147483647',
               b'-2147483648', b'2147483648', b'99999999999', b'007', b'+5', b' 5', b'a' * 20,
               b'a' * 21, b'ab' * 100, os.urandom(100), b'x' * 70000]
    for compress in (True, False):
        for s in samples:
            enc = rdb.encode_string(s, compress)
            assert enc == rdb.encode_string_py(s, compress), s
            r1 = rdb.Reader(enc + b'tail')
            r2 = rdb.Reader(enc + b'tail')
            assert r1.string() == r2.string_py() == s
            assert r1.pos == r2.pos == len(enc)
    for bad in (b'\x05abc', b'\xc1\x01', b'\xc3\x05\x10abcde', b'\xc4', b'\x82'):
        with pytest.raises(rdb.RDBError):
            rdb.Reader(bad).string()
        with pytest.raises(rdb.RDBError):
            rdb.Reader(bad).string_py()


_DIGEST_SCRIPT = r'''
import sys, hashlib
if sys.argv[1] == 'pure':
    sys.modules['pyredis._speedups'] = None
sys.path.insert(0, 'tests')
from pyredis import rdb, lzf
from test_rdb import sample_values, plain
h = hashlib.sha256()
opts = rdb.Options()
for k, v in sample_values().items():
    p = rdb.dump_payload(v, opts)
    assert plain(rdb.load_dump_payload(p)) == plain(v)
    h.update(p)
print(lzf.ACCELERATED, h.hexdigest())
'''


def test_pure_python_fallback_gives_identical_payloads():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = {}
    for mode in ('pure', 'default'):
        # Same set iteration order in both processes.
        env = dict(os.environ, PYTHONHASHSEED='0')
        r = subprocess.run([sys.executable, '-c', _DIGEST_SCRIPT, mode], cwd=root, env=env,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        out[mode] = r.stdout.split()
    assert out['pure'][0] == 'False'
    assert out['pure'][1] == out['default'][1]


def test_aof_preamble_keeps_expired_keys():
    """An RDB written as an AOF base (aof-base 1) keeps keys whose TTL has
    passed: Redis loads the preamble with RDBFLAGS_AOF_PREAMBLE."""
    srv = FakeServer(1)
    srv.rdb_aof_base = True
    srv.dbs[0].data = {b'k': b'v'}
    srv.dbs[0].expires = {b'k': int(time.time() * 1000) + 50}
    data = rdb.save_to_bytes(srv)
    time.sleep(0.06)
    loaded = FakeServer(1)
    rdb.load_bytes(loaded, data)
    assert b'k' in loaded.dbs[0].data


def test_function_libraries_hook():
    code = b"#!lua name=mylib\nredis.register_function('f', function() return 1 end)"
    srv = FakeServer(1)
    srv.rdb_functions = lambda: [code]
    data = rdb.save_to_bytes(srv)
    got = []
    loaded = FakeServer(1)
    loaded.rdb_load_function = lambda c: got.append(c)
    rdb.load_bytes(loaded, data)
    assert got == [code]
    with pytest.raises(rdb.RDBError, match='functions'):
        rdb.load_bytes(FakeServer(1), data)
