"""Bitmap commands: raw replies compared with redis-server, including the
BITFIELD overflow arithmetic over many values, and error cases."""

import random


def test_setbit_getbit(compat):
    compat.run(
        ('SETBIT', 'b', '7', '1'), ('SETBIT', 'b', '7', '1'), ('SETBIT', 'b', '100', '1'),
        ('GET', 'b'), ('GETBIT', 'b', '7'), ('GETBIT', 'b', '6'), ('GETBIT', 'b', '100000'),
        ('GETBIT', 'nokey', '0'), ('SETBIT', 'b', '100', '0'), ('STRLEN', 'b'),
        ('OBJECT', 'ENCODING', 'b'),
        ('SET', 'n', '12'), ('GETBIT', 'n', '2'), ('SETBIT', 'n', '0', '1'), ('GET', 'n'),
        ('OBJECT', 'ENCODING', 'n'),
        ('SETBIT', 'b', '-1', '1'), ('SETBIT', 'b', 'x', '1'), ('SETBIT', 'b', '0', '2'),
        ('SETBIT', 'b', '0', '-1'), ('SETBIT', 'b', '0', 'x'),
        ('SETBIT', 'b', '4294967296', '1'), ('GETBIT', 'b', '-1'), ('GETBIT', 'b', 'x'),
        ('RPUSH', 'l', 'x') if False else ('ZADD', 'l', '1', 'x'),
        ('SETBIT', 'l', '0', '1'), ('GETBIT', 'l', '0'), ('SETBIT', 'l', 'x', '1'),
    )


def test_bitcount(compat):
    compat.run(
        ('SET', 's', 'foobar\x00\xff'),
        ('BITCOUNT', 's'), ('BITCOUNT', 's', '0', '0'), ('BITCOUNT', 's', '1', '1'),
        ('BITCOUNT', 's', '-2', '-1'), ('BITCOUNT', 's', '-1', '-2'), ('BITCOUNT', 's', '2', '1'),
        ('BITCOUNT', 's', '0', '100'), ('BITCOUNT', 's', '-100', '-50'),
        ('BITCOUNT', 's', '0', '0', 'BYTE'), ('BITCOUNT', 's', '1', '1', 'BIT'),
        ('BITCOUNT', 's', '5', '30', 'bit'), ('BITCOUNT', 's', '-5', '-1', 'BIT'),
        ('BITCOUNT', 's', '3', '3', 'BIT'), ('BITCOUNT', 's', '9', '14', 'BIT'),
        ('BITCOUNT', 's', '0', '1', 'FOO'), ('BITCOUNT', 's', '0'),
        ('BITCOUNT', 's', 'x', '1'), ('BITCOUNT', 's', '0', 'x'),
        ('BITCOUNT', 's', '-1', '-3', 'FOO'),
        ('BITCOUNT', 'nokey'), ('BITCOUNT', 'nokey', 'x', 'y'),
        ('SET', 'e', ''), ('BITCOUNT', 'e'), ('BITCOUNT', 'e', '0', '-1', 'BIT'),
        ('ZADD', 'z', '1', 'a'), ('BITCOUNT', 'z'),
    )


def test_bitpos(compat):
    compat.run(
        ('SET', 's', '\xff\xf0\x00'), ('BITPOS', 's', '0'), ('BITPOS', 's', '1'),
        ('BITPOS', 's', '0', '0'), ('BITPOS', 's', '1', '2'), ('BITPOS', 's', '0', '2', '-1'),
        ('BITPOS', 's', '1', '2', '-1'), ('BITPOS', 's', '0', '0', '0'),
        ('BITPOS', 's', '0', '5', '20', 'BIT'), ('BITPOS', 's', '1', '13', '20', 'BIT'),
        ('BITPOS', 's', '0', '3', '7', 'BIT'), ('BITPOS', 's', '0', '3', '-1', 'bit'),
        ('BITPOS', 's', '1', '-5', '-1', 'BIT'), ('BITPOS', 's', '0', '1', '0'),
        ('BITPOS', 's', '0', '0', '1', 'BYTE'), ('BITPOS', 's', '1', '0', '1', 'FOO'),
        ('SET', 'ones', '\xff\xff'), ('BITPOS', 'ones', '0'), ('BITPOS', 'ones', '0', '0'),
        ('BITPOS', 'ones', '0', '0', '-1'), ('BITPOS', 'ones', '0', '1', '10', 'BIT'),
        ('BITPOS', 'ones', '0', '3', 'x'),
        ('SET', 'zeros', '\x00\x00'), ('BITPOS', 'zeros', '1'), ('BITPOS', 'zeros', '0'),
        ('SET', 'e', ''), ('BITPOS', 'e', '0'), ('BITPOS', 'e', '1'),
        ('BITPOS', 'nokey', '0'), ('BITPOS', 'nokey', '1'), ('BITPOS', 'nokey', '2'),
        ('BITPOS', 's', '2'), ('BITPOS', 's', 'x'), ('BITPOS', 's', '1', 'x'),
        ('BITPOS', 's', '1', '0', '1', 'BIT', 'extra'),
        ('ZADD', 'z', '1', 'a'), ('BITPOS', 'z', '1'),
    )


def test_bitpos_random(compat):
    rnd = random.Random(5)
    for i in range(15):
        val = bytes(rnd.choice([0, 255, rnd.randrange(256)]) for _ in range(rnd.randrange(1, 12)))
        compat.a.call('SET', 'r', val)
        compat.b.call('SET', 'r', val)
        for _ in range(10):
            bit = str(rnd.randrange(2))
            a, b = str(rnd.randrange(-100, 100)), str(rnd.randrange(-100, 100))
            compat.call('BITPOS', 'r', bit, a, b, 'BIT')
            compat.call('BITPOS', 'r', bit, a, 'BIT') if False else compat.call('BITPOS', 'r',
                                                                                  bit, a)
            compat.call('BITCOUNT', 'r', a, b, 'BIT')
            compat.call('BITCOUNT', 'r', a, b)


def test_bitop(compat):
    compat.run(
        ('SET', 'a', 'abcdef'), ('SET', 'b', '\xff\x00'), ('SET', 'c', 'x'),
        ('BITOP', 'AND', 'd', 'a', 'b'), ('GET', 'd'), ('BITOP', 'or', 'd', 'a', 'b', 'c'),
        ('GET', 'd'), ('BITOP', 'XOR', 'd', 'a', 'b', 'nokey'), ('GET', 'd'),
        ('BITOP', 'NOT', 'd', 'a'), ('GET', 'd'), ('OBJECT', 'ENCODING', 'd'),
        ('BITOP', 'AND', 'd', 'a', 'nokey'), ('GET', 'd'),
        ('BITOP', 'AND', 'd', 'nokey', 'nokey2'), ('EXISTS', 'd'),
        ('BITOP', 'NOT', 'd', 'a', 'b'), ('BITOP', 'NAND', 'd', 'a'),
        ('ZADD', 'z', '1', 'a'), ('BITOP', 'AND', 'd', 'a', 'z'),
        ('BITOP', 'AND', 'a', 'a'), ('GET', 'a'),
    )


def test_bitfield(compat):
    compat.run(
        ('BITFIELD', 'f', 'SET', 'i8', '0', '100', 'GET', 'i8', '0', 'GET', 'u4', '0'),
        ('BITFIELD', 'f', 'INCRBY', 'i8', '0', '100'),
        ('BITFIELD', 'f', 'OVERFLOW', 'SAT', 'INCRBY', 'i8', '0', '100', 'GET', 'i8', '0'),
        ('BITFIELD', 'f', 'OVERFLOW', 'FAIL', 'INCRBY', 'i8', '0', '100', 'GET', 'i8', '0'),
        ('BITFIELD', 'f', 'SET', 'u8', '#1', '255', 'INCRBY', 'u8', '#1', '10',
         'OVERFLOW', 'SAT', 'INCRBY', 'u8', '#1', '300', 'INCRBY', 'u8', '#1', '-1000',
         'OVERFLOW', 'FAIL', 'INCRBY', 'u8', '#1', '1'),
        ('BITFIELD', 'f', 'SET', 'u3', '5', '-1', 'SET', 'i64', '20', '-9223372036854775808',
         'INCRBY', 'i64', '20', '-1', 'GET', 'i64', '20', 'GET', 'u63', '20'),
        ('BITFIELD', 'f', 'OVERFLOW', 'SAT', 'SET', 'i8', '0', '-9223372036854775808',
         'SET', 'u8', '0', '-5', 'SET', 'i4', '0', '9'),
        ('GET', 'f'),
        ('BITFIELD', 'f'), ('BITFIELD', 'nokey', 'GET', 'u8', '0'), ('EXISTS', 'nokey'),
        ('BITFIELD', 'f', 'GET', 'u64', '0'), ('BITFIELD', 'f', 'GET', 'i65', '0'),
        ('BITFIELD', 'f', 'GET', 'I8', '0'), ('BITFIELD', 'f', 'GET', 'u0', '0'),
        ('BITFIELD', 'f', 'GET', 'u8', '-1'), ('BITFIELD', 'f', 'GET', 'u8', '#x'),
        ('BITFIELD', 'f', 'GET', 'u8'), ('BITFIELD', 'f', 'FOO', 'u8', '0'),
        ('BITFIELD', 'f', 'SET', 'u8', '0', 'x'), ('BITFIELD', 'f', 'OVERFLOW', 'NOPE'),
        ('BITFIELD', 'f', 'OVERFLOW'), ('BITFIELD', 'f', 'GET', 'i8', '#-1'),
        ('BITFIELD_RO', 'f', 'GET', 'i8', '0', 'GET', 'u2', '#3'),
        ('BITFIELD_RO', 'f', 'SET', 'i8', '0', '1'), ('BITFIELD_RO', 'f', 'FOO'),
        ('BITFIELD_RO', 'f', 'INCRBY', 'i8', '0', 'x'),
        ('ZADD', 'z', '1', 'a'), ('BITFIELD', 'z', 'GET', 'u8', '0'),
        ('BITFIELD', 'z', 'SET', 'u8', '0', '1'),
    )


def test_bitfield_overflow_random(compat):
    rnd = random.Random(11)
    for _ in range(40):
        args = ['BITFIELD', 'r']
        for _ in range(6):
            signed = rnd.random() < 0.5
            bits = rnd.randrange(1, 65 if signed else 64)
            typ = ('i' if signed else 'u') + str(bits)
            off = str(rnd.randrange(0, 40))
            val = str(rnd.choice([rnd.randrange(-300, 300), rnd.randrange(-2 ** 63, 2 ** 63),
                                  2 ** 63 - 1, -2 ** 63, 0, 1, -1]))
            op = rnd.choice(['SET', 'INCRBY', 'GET', 'OVERFLOW'])
            if op == 'OVERFLOW':
                args += ['OVERFLOW', rnd.choice(['WRAP', 'SAT', 'FAIL'])]
            elif op == 'GET':
                args += ['GET', typ, off]
            else:
                args += [op, typ, off, val]
        compat.call(*args)
    compat.call('GET', 'r')


def test_bitfield_resp3_nulls(compat):
    compat.a.call('HELLO', '3')
    compat.b.call('HELLO', '3')
    compat.run(('BITFIELD', 'f', 'OVERFLOW', 'FAIL', 'SET', 'u2', '0', '7', 'GET', 'u2', '0'))


def _events(compat, commands):
    """Run commands on both servers with keyspace events on; return the
    (channel, key) events each server published."""
    subs = []
    for srv in (compat.ours, compat.theirs):
        r = srv.client()
        r.config_set('notify-keyspace-events', 'KEA')
        p = r.pubsub()
        p.psubscribe('__keyevent@0__:*')
        p.get_message(timeout=1)
        subs.append((r, p))
    compat.run(*commands)
    out = []
    for r, p in subs:
        r.set('end-marker', '1')
        got = []
        while True:
            m = p.get_message(timeout=2)
            if m is None or m['data'] == b'end-marker':
                break
            if m['type'] == 'pmessage':
                got.append((m['channel'], m['data']))
        p.close()
        r.config_set('notify-keyspace-events', '')
        out.append(got)
    return out


def test_keyspace_events(compat):
    ours, theirs = _events(compat, [
        ('SETBIT', 'b', '3', '1'), ('SETBIT', 'b', '3', '1'), ('SETBIT', 'b', '3', '0'),
        ('BITFIELD', 'b', 'SET', 'u8', '0', '1', 'GET', 'u8', '0'),
        ('BITFIELD', 'b', 'GET', 'u8', '0'), ('BITFIELD', 'b', 'OVERFLOW', 'FAIL',
                                              'INCRBY', 'u2', '0', '9'),
        ('BITOP', 'NOT', 'd', 'b'), ('BITOP', 'AND', 'd', 'nokey'),
    ])
    assert ours == theirs
    assert (b'__keyevent@0__:setbit', b'b') in ours
