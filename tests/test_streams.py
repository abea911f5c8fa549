"""Streams: raw replies compared with redis-server (RESP2 and RESP3) for
the commands, the consumer groups and their errors; a seeded random run
that checks the node layout (approximate trimming, radix-tree-keys/nodes);
blocking XREAD/XREADGROUP; propagation to the AOF as Redis writes it."""

import glob
import os
import random
import re
import threading
import time

import pytest

from helpers import RawConn
from pyredis import stream as st


def resp3(compat):
    compat.a.call('HELLO', '3')
    compat.b.call('HELLO', '3')


BASIC = [
    ('XADD', 's', '1-1', 'a', '1'),
    ('XADD', 's', '1-*', 'a', '2', 'b', '3'),
    ('XADD', 's', '2', 'x', 'y'),
    ('XADD', 's', '2', 'x', 'y'),
    ('XADD', 's', '0-0', 'x', 'y'),
    ('XADD', 's', '3-0'),
    ('XADD', 's'),
    ('XLEN', 's'),
    ('XRANGE', 's', '-', '+'),
    ('XREVRANGE', 's', '+', '-', 'COUNT', '2'),
    ('XRANGE', 's', '(1-1', '+'),
    ('XRANGE', 's', '-', '(2-0'),
    ('XRANGE', 's', '(-', '+'),
    ('XRANGE', 's', '0', '+', 'COUNT', '0'),
    ('XRANGE', 's', 'abc', '+'),
    ('XRANGE', 's', '1', '+', 'FOO'),
    ('XRANGE', 'nokey', '-', '+'),
    ('XDEL', 's', '1-2', '9-9'),
    ('XRANGE', 's', '-', '+'),
    ('XADD', 's', 'MAXLEN', '1', '9-*', 'f', 'v'),
    ('XLEN', 's'),
    ('XTRIM', 's', 'MAXLEN', '0'),
    ('XLEN', 's'),
    ('XADD', 's2', 'NOMKSTREAM', '9-*', 'a', 'b'),
    ('EXISTS', 's2'),
    ('XADD', 's3', 'MAXLEN', '~', '10', 'LIMIT', '5', '5-1', 'a', 'b'),
    ('XADD', 's3', 'LIMIT', '5', '5-2', 'a', 'b'),
    ('XADD', 's3', 'MINID', '=', '5', '5-3', 'a', 'b'),
    ('XTRIM', 's3', 'MINID', '5-3'),
    ('XTRIM', 's3'),
    ('XTRIM', 's3', 'MAXLEN', '-1'),
    ('XTRIM', 's3', 'MAXLEN', '1', 'LIMIT', '1'),
    ('XADD', 's3', 'MAXLEN', '1', 'MINID', '1', '9-*', 'a', 'b'),
    ('TYPE', 's3'),
    ('OBJECT', 'ENCODING', 's3'),
    ('XADD', 's4', '18446744073709551615-18446744073709551615', 'a', 'b'),
    ('XADD', 's4', '*', 'a', 'b'),
    ('XADD', 's5', ' 5-1', 'a', 'b'),
    ('XADD', 's5', '007-0', 'a', 'b'),
    ('XADD', 's5', '+', 'a', 'b'),
    ('XADD', 's5', '-', 'a', 'b'),
    ('XADD', 's5', '10-*', 'a', 'b'),
    ('XADD', 's5', '10-*', 'a', 'b'),
    ('XRANGE', 's5', '-', '+'),
    ('XSETID', 's5', '5-5'),
    ('XSETID', 's5', '100-0', 'ENTRIESADDED', '1'),
    ('XSETID', 's5', '100-0', 'ENTRIESADDED', '10', 'MAXDELETEDID', '5-0'),
    ('XSETID', 'nokey', '1-1'),
    ('XSETID', 's5', '1-1', 'MAXDELETEDID', '2-2'),
    ('XINFO', 'STREAM', 's5'),
    ('XINFO', 'STREAM', 's5', 'FULL'),
    ('XINFO', 'STREAM', 'nokey'),
    ('XINFO', 'HELP'),
    ('XGROUP', 'HELP'),
    ('XINFO', 'STREAM', 's5', 'FULL', 'COUNT', 'x'),
    ('XINFO', 'STREAM', 's5', 'FOO'),
]

GROUPS = [
    ('XGROUP', 'CREATE', 's', 'g', '$'),
    ('XGROUP', 'CREATE', 's', 'g', '$', 'MKSTREAM'),
    ('XGROUP', 'CREATE', 's', 'g', '$', 'MKSTREAM'),
    ('XGROUP', 'CREATE', 's', 'g2', '0', 'ENTRIESREAD', 'x'),
    ('XGROUP', 'CREATE', 's', 'g2', '0', 'ENTRIESREAD', '-2'),
    ('XGROUP', 'CREATE', 's', 'g2', '0', 'FOO'),
    ('XGROUP', 'CREATE', 's', 'g2', 'bad'),
    ('XGROUP', 'CREATE', 's', 'g2', '0', 'ENTRIESREAD', '0'),
    ('XADD', 's', '1-0', 'a', '1'),
    ('XADD', 's', '2-0', 'a', '2'),
    ('XADD', 's', '3-0', 'a', '3'),
    ('XADD', 's', '4-0', 'b', '4'),
    ('XINFO', 'GROUPS', 's'),
    ('XREADGROUP', 'GROUP', 'g', 'c1', 'COUNT', '2', 'STREAMS', 's', '>'),
    ('XINFO', 'GROUPS', 's'),
    ('XREADGROUP', 'GROUP', 'g', 'c2', 'STREAMS', 's', '>'),
    ('XREADGROUP', 'GROUP', 'g', 'c2', 'STREAMS', 's', '>'),
    ('XREADGROUP', 'GROUP', 'g', 'c1', 'STREAMS', 's', '0'),
    ('XREADGROUP', 'GROUP', 'g', 'c1', 'COUNT', '1', 'STREAMS', 's', '0'),
    ('XREADGROUP', 'GROUP', 'nog', 'c1', 'STREAMS', 's', '>'),
    ('XREADGROUP', 'GROUP', 'g', 'c1', 'STREAMS', 's', '$'),
    ('XREAD', 'STREAMS', 's', '>'),
    ('XREAD', 'GROUP', 'g', 'c', 'STREAMS', 's', '>'),
    ('XREADGROUP', 'STREAMS', 's', '>'),
    ('XREAD', 'STREAMS', 's'),
    ('XREAD', 'COUNT', '1', 'STREAMS', 's', 's', '0', '1'),
    ('XREAD', 'STREAMS', 's', '$'),
    ('XREAD', 'STREAMS', 'nokey', '0'),
    ('XPENDING', 's', 'g'),
    ('XPENDING', 's', 'g', '-', '+', '10', 'nobody'),
    ('XPENDING', 's', 'g', 'IDLE', 'x', '-', '+', '1'),
    ('XPENDING', 's', 'g', 'IDLE', '0', '-', '+'),
    ('XPENDING', 's', 'nog'),
    ('XPENDING', 's', 'g', '-', '+'),
    ('XACK', 's', 'g', '1-0', '9-9'),
    ('XACK', 's', 'g', 'bad'),
    ('XACK', 's', 'nog', '1-0'),
    ('XPENDING', 's', 'g'),
    ('XDEL', 's', '2-0'),
    ('XCLAIM', 's', 'g', 'c3', '0', '2-0', '3-0', 'JUSTID'),
    ('XPENDING', 's', 'g'),
    ('XCLAIM', 's', 'g', 'c3', '0', '4-0', 'RETRYCOUNT', '7'),
    ('XCLAIM', 's', 'g', 'c3', 'x', '4-0'),
    ('XCLAIM', 's', 'g', 'c3', '0', '4-0', 'IDLE', 'x'),
    ('XCLAIM', 's', 'g', 'c3', '0', '4-0', 'BOGUS'),
    ('XCLAIM', 's', 'nog', 'c3', '0', '4-0'),
    ('XCLAIM', 's', 'g', 'c3', '0', '1-0', 'FORCE', 'JUSTID'),
    ('XAUTOCLAIM', 's', 'g', 'c4', '0', '0', 'COUNT', '1'),
    ('XAUTOCLAIM', 's', 'g', 'c4', '0', '0', 'JUSTID'),
    ('XAUTOCLAIM', 's', 'g', 'c4', '0', '0', 'COUNT', '0'),
    ('XAUTOCLAIM', 's', 'g', 'c4', '0', '0', 'COUNT', 'x'),
    ('XAUTOCLAIM', 's', 'g', 'c4', 'x', '0'),
    ('XAUTOCLAIM', 's', 'nog', 'c4', '0', '0'),
    ('XAUTOCLAIM', 's', 'g', 'c4', '0', '0', 'FOO'),
    ('XINFO', 'CONSUMERS', 's', 'nog'),
    ('XGROUP', 'CREATECONSUMER', 's', 'g', 'c9'),
    ('XGROUP', 'CREATECONSUMER', 's', 'g', 'c9'),
    ('XGROUP', 'DELCONSUMER', 's', 'g', 'c4'),
    ('XGROUP', 'DELCONSUMER', 's', 'g', 'zz'),
    ('XGROUP', 'SETID', 's', 'g', '0'),
    ('XGROUP', 'SETID', 's', 'g', '$', 'ENTRIESREAD', '3'),
    ('XGROUP', 'SETID', 's', 'nog', '0'),
    ('XGROUP', 'SETID', 'nokey', 'g', '0'),
    ('XINFO', 'GROUPS', 's'),
    ('XREADGROUP', 'GROUP', 'g2', 'c', 'NOACK', 'STREAMS', 's', '>'),
    ('XINFO', 'GROUPS', 's'),
    ('XGROUP', 'DESTROY', 's', 'g2'),
    ('XGROUP', 'DESTROY', 's', 'g2'),
    ('XGROUP', 'FOO', 's', 'g'),
    ('XINFO', 'GROUPS', 's'),
    ('XINFO', 'GROUPS', 'nokey'),
    ('XINFO', 'CONSUMERS', 's'),
    ('XINFO', 'FOO', 's'),
    ('SET', 'str', 'x'),
    ('XADD', 'str', '*', 'a', 'b'),
    ('XRANGE', 'str', '-', '+'),
    ('XINFO', 'STREAM', 'str'),
    ('XREAD', 'STREAMS', 'str', '0'),
    ('XGROUP', 'CREATE', 'str', 'g', '0'),
    ('XACK', 'str', 'g', '1-1'),
    ('XPENDING', 'str', 'g'),
    ('XCLAIM', 'str', 'g', 'c', '0', '1-1'),
    ('XLEN', 'str'),
    ('XTRIM', 'str', 'MAXLEN', '1'),
    ('XDEL', 'str', '1-1'),
    ('XSETID', 'str', '1-1'),
    ('XAUTOCLAIM', 'str', 'g', 'c', '0', '0'),
]

LAG = [
    ('DEL', 'l'),
    ('XADD', 'l', '1-0', 'a', '1'),
    ('XADD', 'l', '2-0', 'a', '1'),
    ('XADD', 'l', '3-0', 'a', '1'),
    ('XADD', 'l', '4-0', 'a', '1'),
    ('XADD', 'l', '5-0', 'a', '1'),
    ('XGROUP', 'CREATE', 'l', 'g1', '0'),
    ('XGROUP', 'CREATE', 'l', 'g2', '3-0'),
    ('XGROUP', 'CREATE', 'l', 'g3', '$'),
    ('XINFO', 'GROUPS', 'l'),
    ('XDEL', 'l', '2-0'),
    ('XINFO', 'GROUPS', 'l'),
    ('XREADGROUP', 'GROUP', 'g1', 'c', 'COUNT', '1', 'STREAMS', 'l', '>'),
    ('XINFO', 'GROUPS', 'l'),
    ('XREADGROUP', 'GROUP', 'g1', 'c', 'STREAMS', 'l', '>'),
    ('XINFO', 'GROUPS', 'l'),
    ('XDEL', 'l', '1-0'),
    ('XINFO', 'GROUPS', 'l'),
    ('XTRIM', 'l', 'MAXLEN', '0'),
    ('XINFO', 'GROUPS', 'l'),
    ('XINFO', 'STREAM', 'l'),
    ('XADD', 'l', '6-0', 'a', 'b'),
    ('XINFO', 'GROUPS', 'l'),
    ('XGROUP', 'SETID', 'l', 'g2', '1-0', 'ENTRIESREAD', '-1'),
    ('XINFO', 'GROUPS', 'l'),
]


@pytest.mark.parametrize('proto', [2, 3])
def test_basic_commands(compat, proto):
    if proto == 3:
        resp3(compat)
    for cmd in BASIC:
        compat.call(*cmd)


@pytest.mark.parametrize('proto', [2, 3])
def test_consumer_groups(compat, proto):
    if proto == 3:
        resp3(compat)
    for cmd in GROUPS + LAG:
        compat.call(*cmd)


# The clock fields (idle, seen-time, delivery-time) differ between two
# servers by the milliseconds between the two calls: masked, the rest of the
# reply is compared byte for byte.
_CLOCK_FIELDS = re.compile(
    rb'((?:\$4\r\nidle|\$9\r\nseen-time|\$13\r\ndelivery-time)\r\n):\d+\r\n')
# XPENDING's extended form: [id, consumer, idle, delivery count].
_PENDING_IDLE = re.compile(rb'(\*4\r\n\$\d+\r\n\d+-\d+\r\n\$\d+\r\n[^\r]*\r\n):\d+\r\n')
# XINFO STREAM FULL's PEL entries: [id, consumer, delivery-time, count] or,
# for a consumer's own PEL, [id, delivery-time, count].
_PEL_TIME = re.compile(rb'(\*[34]\r\n\$\d+\r\n\d+-\d+\r\n(?:\$\d+\r\n[^\r]*\r\n)?):\d+\r\n')


def _masked(reply):
    for pattern in (_CLOCK_FIELDS, _PENDING_IDLE, _PEL_TIME):
        reply = pattern.sub(rb'\1:<ms>\r\n', reply)
    return reply


def _call_masked(compat, *args):
    ra, rb = compat.a.call(*args), compat.b.call(*args)
    assert _masked(ra) == _masked(rb), 'reply differs for %r:\n pyredis: %r\n redis:   %r' % (
        args, ra, rb)
    return ra


@pytest.mark.parametrize('proto', [2, 3])
def test_pending_entries_with_clock_fields(compat, proto):
    """XINFO CONSUMERS, XPENDING's extended form with IDLE, XCLAIM's IDLE and
    LASTID, XINFO STREAM FULL with groups and PELs (COUNT too), and the
    history read of a deleted entry, with their clock fields masked."""
    if proto == 3:
        resp3(compat)
    for cmd in (('XADD', 'p', '1-0', 'f', 'v1'), ('XADD', 'p', '2-0', 'f', 'v2'),
                ('XADD', 'p', '3-0', 'f', 'v3'), ('XGROUP', 'CREATE', 'p', 'g', '0'),
                ('XREADGROUP', 'GROUP', 'g', 'alice', 'COUNT', '2', 'STREAMS', 'p', '>'),
                ('XREADGROUP', 'GROUP', 'g', 'bob', 'STREAMS', 'p', '>'),
                ('XCLAIM', 'p', 'g', 'carol', '0', '1-0', 'IDLE', '50000', 'LASTID', '9-0'),
                ('XCLAIM', 'p', 'g', 'carol', '0', '2-0', 'IDLE', '-5', 'JUSTID'),
                ('XCLAIM', 'p', 'g', 'carol', '0', '2-0', 'LASTID', 'x'),
                ('XCLAIM', 'p', 'g', 'carol', '0', '2-0', 'IDLE', 'x'),
                ('XINFO', 'GROUPS', 'p'),
                ('XPENDING', 'p', 'g'),
                ('XPENDING', 'p', 'g', 'IDLE', '40000', '-', '+', '10'),
                ('XPENDING', 'p', 'g', 'IDLE', '99999999', '-', '+', '10'),
                ('XPENDING', 'p', 'g', 'IDLE', '-1', '-', '+', '10'),
                ('XPENDING', 'p', 'g', 'IDLE', 'x', '-', '+', '10'),
                ('XPENDING', 'p', 'g', '-', '+', '10', 'carol'),
                ('XPENDING', 'p', 'g', '(1-0', '+', '1'),
                ('XDEL', 'p', '2-0'),
                ('XREADGROUP', 'GROUP', 'g', 'carol', 'STREAMS', 'p', '0'),
                ('XREADGROUP', 'GROUP', 'g', 'carol', 'COUNT', '1', 'STREAMS', 'p', '0')):
        _call_masked(compat, *cmd)
    for cmd in (('XINFO', 'CONSUMERS', 'p', 'g'),
                ('XPENDING', 'p', 'g', '-', '+', '10'),
                ('XINFO', 'STREAM', 'p', 'FULL'),
                ('XINFO', 'STREAM', 'p', 'FULL', 'COUNT', '1'),
                ('XINFO', 'STREAM', 'p', 'FULL', 'COUNT', '2')):
        _call_masked(compat, *cmd)


def _random_fields(rnd):
    kind = rnd.random()
    if kind < 0.5:
        return ['f1', str(rnd.randrange(-5000, 5000)), 'f2', 'v' * rnd.randrange(0, 70)]
    if kind < 0.8:
        return ['f1', str(rnd.randrange(1 << 40)), 'f2', 'x']
    return ['g%d' % rnd.randrange(3), 'w' * rnd.randrange(0, 300)]


@pytest.mark.parametrize('seed', [1, 2, 3])
def test_random_differential(compat, seed):
    rnd = random.Random(seed)
    entries = str(rnd.choice([3, 7, 100]))
    nbytes = str(rnd.choice([0, 180, 600, 4096]))
    compat.call('CONFIG', 'SET', 'stream-node-max-entries', entries)
    compat.call('CONFIG', 'SET', 'stream-node-max-bytes', nbytes)
    ms = 1
    ids = []
    try:
        for step in range(700):
            op = rnd.random()
            if op < 0.55:
                ms += rnd.choice([0, 0, 1, 5, 1000])
                eid = '%d-*' % ms if rnd.random() < 0.5 else '%d-%d' % (ms, rnd.randrange(5))
                trim = []
                if rnd.random() < 0.1:
                    trim = ['MAXLEN', rnd.choice(['~', '=']), str(rnd.randrange(0, 60))]
                r = compat.call('XADD', 's', *trim, eid, *_random_fields(rnd))
                if r.startswith(b'$'):
                    ids.append(r.split(b'\r\n')[1].decode())
            elif op < 0.7 and ids:
                compat.call('XDEL', 's', *rnd.sample(ids, min(len(ids), rnd.randrange(1, 4))))
            elif op < 0.75:
                compat.call('XTRIM', 's', 'MAXLEN', rnd.choice(['~', '=', '~']),
                            str(rnd.randrange(0, 80)))
            elif op < 0.8 and ids:
                compat.call('XTRIM', 's', 'MINID', rnd.choice(['~', '=']), rnd.choice(ids),
                            *(['LIMIT', str(rnd.randrange(0, 20))] if rnd.random() < 0.3
                              else []))
            elif op < 0.9 and ids:
                a, b = sorted(rnd.sample(ids, 2)) if len(ids) > 1 else (ids[0], ids[0])
                compat.call('XRANGE', 's', a, b, 'COUNT', str(rnd.randrange(1, 20)))
                compat.call('XREVRANGE', 's', '+', '(' + a)
            else:
                compat.call('XINFO', 'STREAM', 's')
                compat.call('XINFO', 'STREAM', 's', 'FULL', 'COUNT', '0')
        compat.call('XRANGE', 's', '-', '+')
        compat.call('XINFO', 'STREAM', 's', 'FULL', 'COUNT', '0')
    finally:
        for conn in (compat.a, compat.b):
            conn.call('CONFIG', 'SET', 'stream-node-max-entries', '100')
            conn.call('CONFIG', 'SET', 'stream-node-max-bytes', '4096')


def test_trie_node_count_matches_a_plain_trie():
    # radix-tree-nodes: checked against redis-server above; here the counter
    # against a brute-force count of a compressed trie's nodes.
    rnd = random.Random(5)
    for _ in range(50):
        s = st.Stream()
        s.masters = sorted({(rnd.randrange(1 << rnd.choice([8, 20, 44])) << 64) |
                            rnd.randrange(50) for _ in range(rnd.randrange(1, 40))})
        keys = [m.to_bytes(16, 'big') for m in s.masters]
        # Brute force: every distinct prefix that is a branching point or
        # a key is a node; every maximal single-child chain below a
        # branching point (or the root) adds a compressed node.
        prefixes = {k[:i] for k in keys for i in range(17)}
        children = {}
        for p in prefixes:
            if p:
                children.setdefault(p[:-1], set()).add(p[-1])
        nodes = 0
        for p in prefixes:
            n = len(children.get(p, ()))
            is_start = p == b'' or len(children.get(p[:-1], ())) > 1
            if n > 1 or len(p) == 16:
                nodes += 1      # a branching node or a leaf
            elif n == 1 and is_start:
                nodes += 1      # the compressed node starting here
        assert s.rax_nodes() == nodes


# -- blocking ---------------------------------------------------------------------------------

def _blocked(port, out, *args):
    conn = RawConn(port, timeout=10)
    try:
        out.append(conn.call(*args))
    finally:
        conn.close()


def _wait_blocked(port, n):
    conn = RawConn(port)
    try:
        for _ in range(200):
            info = conn.call('INFO', 'clients')
            if b'blocked_clients:%d\r\n' % n in info:
                return
            time.sleep(0.02)
    finally:
        conn.close()
    raise AssertionError('clients did not block')


def _blocking_scenario(port):
    res = []
    r = RawConn(port)
    r.call('XGROUP', 'CREATE', 'bs', 'g', '$', 'MKSTREAM')
    t1 = threading.Thread(target=_blocked, args=(port, res, 'XREAD', 'BLOCK', '0', 'STREAMS',
                                                 'other', 'bs', '0', '$'))
    t1.start()
    _wait_blocked(port, 1)
    t2 = threading.Thread(target=_blocked, args=(port, res, 'XREADGROUP', 'GROUP', 'g', 'c',
                                                 'BLOCK', '0', 'STREAMS', 'bs', '>'))
    t2.start()
    _wait_blocked(port, 2)
    _blocked(port, res, 'XREAD', 'BLOCK', '30', 'STREAMS', 'bs', '$')
    r.call('XADD', 'bs', '5-0', 'f', 'v')
    t1.join()
    t2.join()
    res.append(r.call('XPENDING', 'bs', 'g'))
    t3 = threading.Thread(target=_blocked, args=(port, res, 'XREADGROUP', 'GROUP', 'g', 'c',
                                                 'BLOCK', '0', 'STREAMS', 'bs', '>'))
    t3.start()
    _wait_blocked(port, 1)
    r.call('XGROUP', 'DESTROY', 'bs', 'g')
    t3.join()
    r.call('XGROUP', 'CREATE', 'bs', 'g', '$')
    t4 = threading.Thread(target=_blocked, args=(port, res, 'XREADGROUP', 'GROUP', 'g', 'c',
                                                 'COUNT', '1', 'BLOCK', '0', 'STREAMS', 'bs',
                                                 '>'))
    t4.start()
    _wait_blocked(port, 1)
    r.call('DEL', 'bs')
    t4.join()
    res.append(r.call('MULTI'))
    r.call('XREAD', 'BLOCK', '0', 'STREAMS', 'bs', '$')
    r.call('XREADGROUP', 'GROUP', 'g', 'c', 'BLOCK', '0', 'STREAMS', 'bs', '>')
    res.append(r.call('EXEC'))
    res.append(r.call('XREAD', 'BLOCK', 'x', 'STREAMS', 'bs', '$'))
    res.append(r.call('XREAD', 'BLOCK', '-1', 'STREAMS', 'bs', '$'))
    r.close()
    return res


def test_blocking_like_redis(pyredis, real_redis):
    assert _blocking_scenario(pyredis.port) == _blocking_scenario(real_redis.port)


def test_blocked_readers_served_in_order(pyredis):
    port = pyredis.port
    res = []
    threads = []
    for i in range(3):
        t = threading.Thread(target=_blocked, args=(port, res, 'XREAD', 'COUNT', '1', 'BLOCK',
                                                    '0', 'STREAMS', 's', '$'))
        t.start()
        threads.append(t)
        _wait_blocked(port, i + 1)
    r = pyredis.client()
    r.xadd('s', {'a': '1'}, id='1-0')
    for t in threads:
        t.join()
    assert len(res) == 3 and len(set(res)) == 1


# -- propagation --------------------------------------------------------------------------------

PROPAGATED = [
    ('XADD', 's', '1-*', 'a', '1'),
    ('XADD', 's', '1-5', 'a', '2'),
    ('XADD', 's', 'MAXLEN', '~', '1', '2-*', 'a', '3'),
    ('XTRIM', 's', 'MAXLEN', '=', '2'),
    ('XGROUP', 'CREATE', 's', 'g', '0'),
    ('XREADGROUP', 'GROUP', 'g', 'c', 'STREAMS', 's', '>'),
    ('XGROUP', 'CREATE', 's', 'g2', '0'),
    ('XREADGROUP', 'GROUP', 'g2', 'c2', 'NOACK', 'STREAMS', 's', '>'),
    ('XCLAIM', 's', 'g', 'c3', '0', '1-5', 'TIME', '1000', 'RETRYCOUNT', '3'),
    ('XDEL', 's', '1-5'),
    ('XAUTOCLAIM', 's', 'g', 'c4', '0', '0'),
    ('XACK', 's', 'g', '2-0'),
    ('XSETID', 's', '10-0'),
    ('XGROUP', 'SETID', 's', 'g', '1-0'),
    ('XGROUP', 'CREATECONSUMER', 's', 'g', 'c9'),
    ('XGROUP', 'DELCONSUMER', 's', 'g', 'c9'),
    ('XGROUP', 'DESTROY', 's', 'g2'),
    ('GEOADD', 'geo', '13.361389', '38.115556', 'Palermo'),
    ('GEOADD', 'geo', '15.087269', '37.502669', 'Catania'),
    ('GEOADD', 'geo', '15.087269', '37.502669', 'Catania'),
    ('GEOADD', 'geo', '15.1', '37.502669', 'Catania'),
]


def _aof_text(srv):
    data = b''
    for path in sorted(glob.glob(os.path.join(srv.dir, 'appendonlydir', '*.incr.aof'))):
        with open(path, 'rb') as f:
            data += f.read()
    # Delivery times are the servers' clocks.
    return re.sub(rb'\$4\r\nTIME\r\n\$13\r\n\d{13}', b'TIME <now>', data)


def test_propagation_matches_redis_aof(server_factory):
    ours = server_factory('pyredis', '--appendonly', 'yes', '--appendfsync', 'always')
    theirs = server_factory('redis', '--appendonly', 'yes', '--appendfsync', 'always')
    for srv in (ours, theirs):
        conn = RawConn(srv.port)
        for cmd in PROPAGATED:
            conn.call(*cmd)
        conn.close()
    assert _aof_text(ours) == _aof_text(theirs)


# -- keyspace events, types, memory ------------------------------------------------------------

EVENT_COMMANDS = [
    ('XADD', 'e', '1-0', 'a', '1'), ('XADD', 'e', 'MAXLEN', '0', '2-0', 'a', '1'),
    ('XADD', 'e', '3-0', 'a', '1'), ('XDEL', 'e', '3-0'), ('XTRIM', 'e', 'MAXLEN', '0'),
    ('XGROUP', 'CREATE', 'e', 'g', '$'), ('XGROUP', 'CREATECONSUMER', 'e', 'g', 'c'),
    ('XGROUP', 'DELCONSUMER', 'e', 'g', 'c'), ('XGROUP', 'SETID', 'e', 'g', '0'),
    ('XSETID', 'e', '9-0'), ('XREADGROUP', 'GROUP', 'g', 'c2', 'STREAMS', 'e', '>'),
    ('XCLAIM', 'e', 'g', 'c3', '0', '1-0', 'FORCE'), ('XGROUP', 'DESTROY', 'e', 'g'),
    ('XGROUP', 'CREATE', 'e2', 'g', '$', 'MKSTREAM'),
    ('XADD', 'e3', 'NOMKSTREAM', '1-0', 'a', 'b'),
    ('GEOADD', 'geo', '1', '1', 'm'), ('GEORADIUS', 'geo', '1', '1', '10', 'km', 'STORE', 'gs'),
    ('GEOSEARCHSTORE', 'gs2', 'geo', 'FROMMEMBER', 'm', 'BYRADIUS', '1', 'km', 'STOREDIST'),
    ('GEOSEARCHSTORE', 'gs2', 'geo', 'FROMMEMBER', 'm', 'BYRADIUS', '1', 'km'),
    ('DEL', 'e'),
]


def _events(srv):
    conn = RawConn(srv.port)
    conn.call('CONFIG', 'SET', 'notify-keyspace-events', 'KEA')
    sub = RawConn(srv.port)
    sub.send_command('PSUBSCRIBE', '__key*__:*')
    sub.read_reply()
    for cmd in EVENT_COMMANDS:
        conn.call(*cmd)
    conn.call('PUBLISH', 'end', 'x')
    sub.send_command('SUBSCRIBE', 'end')
    out = []
    while True:
        r = sub.read_reply()
        if r.startswith(b'*3\r\n$9\r\nsubscribe'):
            break
        out.append(r)
    conn.call('CONFIG', 'SET', 'notify-keyspace-events', '')
    conn.close()
    sub.close()
    return out


def test_keyspace_events_like_redis(pyredis, real_redis):
    ours = _events(pyredis)
    assert ours == _events(real_redis)
    assert any(b'xgroup-createconsumer' in e for e in ours)


@pytest.mark.parametrize('fields,value_len', [(1, 50), (1, 30), (2, 76), (3, 10), (1, 300)])
def test_nodes_split_by_bytes_like_redis(compat, fields, value_len):
    # A node closes once its listpack bytes plus the next entry's field
    # and value lengths reach stream-node-max-bytes: the listpack size
    # must be Redis's to the byte (each entry's flags take two bytes), or
    # the node boundaries (XINFO's radix-tree-keys, the RDB, "~" trimming)
    # differ. Fields change from entry to entry, so most entries are not
    # "same fields" ones.
    for i in range(300):
        fv = []
        for j in range(fields):
            fv += ['f%d' % ((i + j) % 7), 'y' * value_len]
        compat.call('XADD', 's', '%d-1' % (i + 1), *fv)
    compat.call('XINFO', 'STREAM', 's')
    compat.call('DUMP', 's')
    compat.call('MEMORY', 'USAGE', 's', 'SAMPLES', '0')
    compat.call('XADD', 's', 'MAXLEN', '~', '100', '1000-1', 'a', 'b')
    compat.call('XLEN', 's')


def test_type_scan_encoding_memory(compat):
    compat.run(('XADD', 's', '1-0', 'a', '1'), ('SET', 'k', 'v'), ('ZADD', 'z', '1', 'm'),
               ('SCAN', '0', 'TYPE', 'stream'), ('TYPE', 's'), ('OBJECT', 'ENCODING', 's'))
    # MEMORY USAGE follows Redis's accounting (pyredis/objsize.py): the
    # same figure, closed nodes, groups and PELs included.
    compat.call('MEMORY', 'USAGE', 's')
    for i in range(2, 500):
        compat.call('XADD', 's', '%d-0' % i, 'field', 'value %d' % i)
    compat.call('XGROUP', 'CREATE', 's', 'g', '0')
    compat.a.call('XREADGROUP', 'GROUP', 'g', 'c', 'STREAMS', 's', '>')
    compat.b.call('XREADGROUP', 'GROUP', 'g', 'c', 'STREAMS', 's', '>')
    compat.call('MEMORY', 'USAGE', 's', 'SAMPLES', '0')
    compat.call('MEMORY', 'USAGE', 's')


# -- redis-py ------------------------------------------------------------------------------------

def test_redis_py_worker_loop_recovers_after_a_consumer_dies(pyredis):
    r = pyredis.client(decode_responses=True)
    r.xgroup_create('jobs', 'workers', id='0', mkstream=True)
    for i in range(10):
        r.xadd('jobs', {'n': i})
    # A consumer reads five jobs and dies without acknowledging them.
    dead = r.xreadgroup('workers', 'dead', {'jobs': '>'}, count=5)
    assert len(dead[0][1]) == 5
    done = []

    def worker(name):
        w = pyredis.client(decode_responses=True)
        while True:
            got = w.xreadgroup('workers', name, {'jobs': '>'}, count=2, block=300)
            if not got:
                break
            for eid, fields in got[0][1]:
                done.append(int(fields['n']))
                w.xack('jobs', 'workers', eid)
        w.close()

    t = threading.Thread(target=worker, args=('alive',))
    t.start()
    t.join()
    assert sorted(done) == [5, 6, 7, 8, 9]
    # Recovery: the dead consumer's entries are claimed and processed.
    cursor, claimed, deleted = r.xautoclaim('jobs', 'workers', 'alive', min_idle_time=0,
                                            start_id='0-0', count=10)
    assert cursor == '0-0' and deleted == []
    for eid, fields in claimed:
        done.append(int(fields['n']))
        r.xack('jobs', 'workers', eid)
    assert sorted(done) == list(range(10))
    assert r.xpending('jobs', 'workers')['pending'] == 0
    info = r.xinfo_groups('jobs')[0]
    assert info['lag'] == 0 and info['entries-read'] == 10
    assert {c['name'] for c in r.xinfo_consumers('jobs', 'workers')} == {'dead', 'alive'}
    assert r.xrange('jobs', count=1)[0][1] == {'n': '0'}
    assert r.xinfo_stream('jobs')['length'] == 10
    assert r.xtrim('jobs', maxlen=3, approximate=False) == 7
    assert r.xlen('jobs') == 3


def test_redis_py_geo_methods(pyredis):
    r = pyredis.client(decode_responses=True)
    assert r.geoadd('Sicily', (13.361389, 38.115556, 'Palermo', 15.087269, 37.502669,
                               'Catania')) == 2
    assert r.geodist('Sicily', 'Palermo', 'Catania', unit='km') == 166.2742
    assert r.geohash('Sicily', 'Palermo', 'Catania') == ['sqc8b49rny0', 'sqdtr74hyu0']
    pos = r.geopos('Sicily', 'Palermo')[0]
    assert abs(pos[0] - 13.361389) < 1e-5
    assert r.georadius('Sicily', 15, 37, 200, unit='km', withdist=True, sort='ASC') == [
        ['Catania', 56.4413], ['Palermo', 190.4424]]
    assert r.geosearch('Sicily', longitude=15, latitude=37, radius=100, unit='km') == \
        ['Catania']
    assert r.geosearchstore('near', 'Sicily', member='Palermo', radius=200, unit='km') == 2


def test_range_list_matches_iteration():
    rnd = random.Random(11)
    s = st.Stream()
    ids = []
    for i in range(1, 3000):
        eid = (i << 64) | rnd.randrange(3)
        if ids and eid <= ids[-1]:
            continue
        s.append(eid, [b'f', b'%d' % i] if rnd.random() < 0.9 else [b'g', b'x'], 300, 50)
        ids.append(eid)
    for eid in rnd.sample(ids, 700):
        s.delete(eid)
    for _ in range(300):
        a, b = sorted((rnd.choice(ids) + rnd.randrange(-1, 2), rnd.choice(ids)))
        count = rnd.choice([0, 1, 5, 100])
        for rev in (False, True):
            want = list(s.iter_range(a, b, rev))
            if count:
                want = want[:count]
            assert s.range_list(a, b, count, rev) == want


def test_scripts_and_transactions(compat):
    """Inside a script BLOCK is refused (as Redis does for scripts), trims
    with "~" keep their default LIMIT; inside MULTI a blocking read answers
    as on timeout."""
    compat.run(
        ('XADD', 's', '1-0', 'a', 'b'),
        ('EVAL', "return redis.call('XREAD','BLOCK','0','STREAMS','s','$')", '0'),
        ('EVAL', "return redis.call('xread','STREAMS','s','0')", '0'),
        ('EVAL', "return redis.pcall('XREADGROUP','GROUP','g','c','BLOCK','10','STREAMS','s',"
                 "'>')", '0'),
        ('XGROUP', 'CREATE', 's', 'g', '0'),
        ('EVAL', "return redis.call('XREADGROUP','GROUP','g','c','STREAMS','s','>')", '0'),
        ('EVAL', "for i=2,30 do redis.call('XADD','s',i..'-0','f','v') end "
                 "return redis.call('XADD','s','MAXLEN','~','5','99-0','a','b')", '0'),
        ('XLEN', 's'),
        ('MULTI',),
        ('XREADGROUP', 'GROUP', 'g', 'c', 'BLOCK', '0', 'STREAMS', 's', '>'),
        ('XREAD', 'BLOCK', '0', 'STREAMS', 's', '$'),
        ('EXEC',),
    )


def _readgroup_when(port, op, setup=()):
    """The reply of an XREADGROUP BLOCK 2000 blocked on 'k' when ``op`` runs."""
    r = RawConn(port)
    r.call('FLUSHALL')
    r.call('XGROUP', 'CREATE', 'k', 'g', '$', 'MKSTREAM')
    r.call('XGROUP', 'CREATE', 'other', 'g', '$', 'MKSTREAM')
    for cmd in setup:
        r.call(*cmd)
    res = []
    t = threading.Thread(target=_blocked, args=(port, res, 'XREADGROUP', 'GROUP', 'g', 'c',
                                                'BLOCK', '2000', 'STREAMS', 'k', '>'))
    t.start()
    _wait_blocked(port, 1)
    r.call(*op)
    t.join()
    r.close()
    return res[0]


@pytest.mark.parametrize('op,setup', [
    (('SET', 'k', 'x'), ()),
    (('MSET', 'a', '1', 'k', 'x'), ()),
    (('DEL', 'k'), ()),
    (('EXPIRE', 'k', '0'), ()),
    (('FLUSHALL',), ()),
    (('FLUSHDB',), ()),
    (('SWAPDB', '0', '1'), (('SELECT', '1'), ('SET', 'k', 'v'), ('SELECT', '0'))),
    (('RENAME', 'other', 'k'), ()),
    (('XGROUP', 'DESTROY', 'k', 'g'), ()),
])
def test_readgroup_unblocked_when_its_stream_goes(pyredis, real_redis, op, setup):
    assert _readgroup_when(pyredis.port, op, setup) == _readgroup_when(real_redis.port, op,
                                                                       setup)
