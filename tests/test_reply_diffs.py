"""Reply and propagation differences found against redis-server 7.0.15,
each checked side by side with the real server: raw replies, keyspace
events, and the bytes written to the AOF (what replicas get too)."""

import glob
import os
import re
import socket
import time

import pytest

from helpers import RawConn


# -- propagated bytes ----------------------------------------------------------------

def _aof_bytes(srv):
    data = b''
    for path in sorted(glob.glob(os.path.join(srv.dir, 'appendonlydir', '*.incr.aof'))):
        with open(path, 'rb') as f:
            data += f.read()
    return data


# Absolute times in milliseconds differ by the few ms between the two runs.
_MS_TIME = re.compile(rb'\$13\r\n1\d{12}\r\n')


def _normalized(data):
    return _MS_TIME.sub(b'$13\r\n<ms>\r\n', data)


@pytest.fixture
def aof_pair(server_factory):
    args = ('--appendonly', 'yes', '--appendfsync', 'always')
    ours = server_factory('pyredis', *args)
    theirs = server_factory('redis', *args)
    conns = [RawConn(ours.port), RawConn(theirs.port)]
    for conn in conns:
        # No active expiry: only the commands decide when a key goes.
        assert conn.call('DEBUG', 'SET-ACTIVE-EXPIRE', '0') == b'+OK\r\n'
    yield ours, theirs, conns
    for conn in conns:
        conn.close()


def _both(conns, *args):
    replies = [conn.call(*args) for conn in conns]
    assert replies[0] == replies[1], (args, replies)
    return replies[0]


def _compare_aof(ours, theirs):
    a, b = _normalized(_aof_bytes(ours)), _normalized(_aof_bytes(theirs))
    assert a == b, '\npyredis: %r\nredis:   %r' % (a, b)
    return a


REWRITTEN = [
    ('SET', 'k', 'v', 'ex', '100'),
    ('SET', 'k', 'v', 'px', '100000'),
    ('set', 'k', 'v', 'EXAT', '99999999999'),
    ('SET', 'k', 'v', 'PXAT', '99999999999000'),
    ('SET', 'k', 'v', 'EX', '100', 'GET'),
    ('SET', 'k', 'v', 'ex', '100', 'NX'),
    ('SET', 'k2', 'v', 'KEEPTTL'),
    ('setex', 'k3', '100', 'v'),
    ('PSETEX', 'k3', '100000', 'v'),
    ('getex', 'k', 'ex', '100'),
    ('GETEX', 'k', 'PX', '100000'),
    ('GETEX', 'k', 'EXAT', '99999999999'),
    ('GETEX', 'k', 'persist'),
    ('GETEX', 'nokey', 'EX', '100'),
    ('expire', 'k', '100'),
    ('PEXPIRE', 'k', '100000'),
    ('EXPIREAT', 'k', '99999999999'),
    ('PEXPIREAT', 'k', '99999999999000'),
    ('EXPIRE', 'k', '100', 'NX'),
    ('EXPIRE', 'k', '200', 'XX'),
    ('SET', 'gone', 'v'),
    ('PEXPIRE', 'gone', '-1'),
    ('SET', 'gone', 'v'),
    ('EXPIREAT', 'gone', '1'),
    ('SET', 'gone', 'v', 'EX', '100'),
    ('GETEX', 'gone', 'EXAT', '1'),
    ('incrbyfloat', 'f', '1.5'),
    ('INCRBYFLOAT', 'f', '10e3'),
    ('HSET', 'h', 'a', '1'),
    ('hincrbyfloat', 'h', 'a', '1.5'),
    ('SADD', 's', 'only'),
    ('spop', 's'),
    ('SADD', 's', 'only'),
    ('SPOP', 's', '5'),
    ('zadd', 'z', '1', 'a', '2', 'b', '3', 'c', '4', 'd'),
    ('ZMPOP', '1', 'z', 'MIN', 'COUNT', '2'),
    ('zmpop', '2', 'nokey', 'z', 'max'),
    ('ZMPOP', '1', 'z', 'MAX', 'COUNT', '10'),
    ('RPUSH', 'l', 'a', 'b', 'c', 'd', 'e'),
    ('lmpop', '1', 'l', 'left', 'count', '3'),
    ('LMPOP', '2', 'nokey', 'l', 'RIGHT', 'COUNT', '10'),
    ('RPUSH', 'l', 'a', 'b', 'c'),
    ('BLMPOP', '0', '1', 'l', 'RIGHT', 'COUNT', '2'),
    ('blmove', 'l', 'l2', 'left', 'right', '0'),
    ('BRPOPLPUSH', 'l2', 'l3', '0'),
    ('blpop', 'l3', '0'),
    ('ZADD', 'z', '1', 'a', '2', 'b'),
    ('BZMPOP', '0', '1', 'z', 'MIN', 'COUNT', '5'),
    ('ZADD', 'z', '1', 'a', '2', 'b'),
    ('bzpopmax', 'z', '0'),
    ('SET', 'k', 'v'),
    ('GETDEL', 'k'),
]


def test_rewritten_commands_propagate_as_redis(aof_pair):
    ours, theirs, conns = aof_pair
    for args in REWRITTEN:
        _both(conns, *args)
    data = _compare_aof(ours, theirs)
    assert b'PXAT' in data and b'PEXPIREAT' in data and b'ZPOPMIN' in data


def test_blocked_commands_served_later_propagate_as_redis(aof_pair):
    """BLMPOP/BZMPOP/BLMOVE/BLPOP blocked, then served by another client's
    push: propagated as the pop that was actually done."""
    ours, theirs, conns = aof_pair
    served = [
        (('BLMPOP', '0', '2', 'l', 'l2', 'LEFT', 'COUNT', '5'), ('RPUSH', 'l2', 'a', 'b', 'c')),
        (('BLMOVE', 'src', 'dst', 'LEFT', 'RIGHT', '0'), ('RPUSH', 'src', 'x', 'y')),
        (('BZMPOP', '0', '1', 'z', 'MAX', 'COUNT', '3'), ('ZADD', 'z', '1', 'a', '2', 'b')),
        (('BZPOPMIN', 'z2', '0'), ('ZADD', 'z2', '1', 'a')),
        (('BRPOP', 'q', '0'), ('LPUSH', 'q', '1', '2')),
        (('BRPOPLPUSH', 'q2', 'q3', '0'), ('LPUSH', 'q2', '1')),
    ]
    for blocking, push in served:
        waiters = []
        for srv in (ours, theirs):
            w = RawConn(srv.port)
            w.send_command(*blocking)
            waiters.append(w)
        time.sleep(0.2)
        _both(conns, *push)
        replies = [w.read_reply() for w in waiters]
        assert replies[0] == replies[1], (blocking, replies)
        for w in waiters:
            w.close()
    _compare_aof(ours, theirs)


def test_lazy_expiry_by_scan_and_randomkey_propagates_plain_del(aof_pair):
    ours, theirs, conns = aof_pair
    for cmd in (('SCAN', '0'), ('RANDOMKEY',), ('SCAN', '0', 'COUNT', '100'), ('KEYS', '*'),
                ('EXISTS', 'e1', 'e2')):
        _both(conns, 'SET', 'e1', 'v', 'PX', '1')
        _both(conns, 'SET', 'e2', 'v', 'PX', '1')
        time.sleep(0.01)
        _both(conns, *cmd)
    _both(conns, 'SET', 'end', '1')
    # The keys' order in a SCAN differs between the two hash tables: runs
    # of DELs are compared sorted.
    runs = []
    for srv in (ours, theirs):
        commands = re.split(rb'(?=\*\d+\r\n\$)', _normalized(_aof_bytes(srv)))
        out, dels = [], []
        for cmd in commands:
            if cmd.startswith(b'*2\r\n$3\r\nDEL\r\n'):
                dels.append(cmd)
                continue
            out += sorted(dels) + [cmd]
            dels = []
        runs.append(out + sorted(dels))
    assert runs[0] == runs[1]
    # SCAN and RANDOMKEY (the first three) propagate plain DELs.
    assert runs[0][:12].count(b'*1\r\n$5\r\nMULTI\r\n') == 0


# -- replies -----------------------------------------------------------------------------

def test_expiretime_rounds_to_the_nearest_second(compat):
    for ms in ('1796505981499', '1796505981500', '1796505981501', '1796505981999'):
        compat.call('SET', 'k', 'v', 'PXAT', ms)
        compat.call('EXPIRETIME', 'k')
        compat.call('PEXPIRETIME', 'k')
    compat.call('EXPIRETIME', 'nokey')
    compat.call('SET', 'p', 'v')
    compat.call('EXPIRETIME', 'p')


def test_expire_overflow_errors(compat):
    compat.call('SET', 'n', '1')
    for cmd in ('EXPIRE', 'EXPIREAT', 'PEXPIRE', 'PEXPIREAT'):
        for when in ('-9223372036854776', '-9223372036854775', '9223372036854776',
                     '9223372036854775', '-9223372036854775808', '9223372036854775807'):
            compat.call('SET', 'n', '1')
            compat.call(cmd, 'n', when)
            compat.call('EXISTS', 'n')
    for cmd in (('SET', 'n', '1', 'EX', '-9223372036854776'),
                ('SET', 'n', '1', 'EX', '9223372036854776'),
                ('GETEX', 'n', 'EX', '-9223372036854776')):
        compat.call(*cmd)


def test_incrbyfloat_result_encoding(compat):
    compat.call('INCRBYFLOAT', 'f', '1.5')
    compat.call('OBJECT', 'ENCODING', 'f')
    for cmd in (('SET', 'n', '123'), ('APPEND', 'n', '4'), ('SETRANGE', 'm', '0', '12'),
                ('SET', 'm', '12345678901234567890'), ('SET', 'x', '-0'), ('MSET', 'a', '5'),
                ('SETNX', 'b', '7'), ('GETSET', 'b', '8'), ('INCR', 'c'), ('APPEND', 'c', '')):
        compat.call(*cmd)
        compat.call('OBJECT', 'ENCODING', cmd[1])


def _events(port, *commands):
    sub = RawConn(port)
    sub.call('CONFIG', 'SET', 'notify-keyspace-events', 'KEA')
    sub.call('PSUBSCRIBE', '__key*__:*')
    c = RawConn(port)
    for cmd in commands:
        c.call(*cmd)
    c.call('PUBLISH', 'end', 'x')
    sub.send_command('PING')
    out = []
    while True:
        reply = sub.read_reply()
        if reply.startswith(b'*2\r\n$4\r\npong'):
            break
        out.append(reply)
    sub.close()
    c.close()
    return out


def test_smove_fires_sadd_only_when_added(pyredis, real_redis):
    cmds = [('SADD', 'a', 'm', 'n'), ('SADD', 'b', 'm'), ('SMOVE', 'a', 'b', 'm'),
            ('SMOVE', 'a', 'b', 'n'), ('SMOVE', 'b', 'c', 'x'), ('SMOVE', 'b', 'b', 'm')]
    ours = _events(pyredis.port, *cmds)
    theirs = _events(real_redis.port, *cmds)
    assert ours == theirs


def test_smove_watch_on_destination_only_when_added(compat):
    """The destination is a modified key only when the member was added:
    a WATCH on it is not broken otherwise."""
    w = [compat.a, compat.b]
    compat.call('SADD', 'src', 'm')
    compat.call('SADD', 'dst', 'm')
    compat.call('WATCH', 'dst')
    for conn, port in zip(w, (compat.ours.port, compat.theirs.port)):
        other = RawConn(port)
        assert other.call('SMOVE', 'src', 'dst', 'm') == b':1\r\n'
        other.close()
    compat.call('MULTI')
    compat.call('PING')
    compat.call('EXEC')


def test_lookups_that_leave_idletime_alone(compat):
    # An absolute deadline, so EXPIRETIME/PEXPIRETIME are the same on both;
    # TTL and PTTL count down between the two calls, so only their shape and
    # rough value are compared.
    deadline = str(int(time.time() * 1000) + 100_000)
    compat.call('SET', 'k', 'v', 'PXAT', deadline)
    compat.call('RPUSH', 'l', 'a')
    time.sleep(2.1)
    for key in ('k', 'l'):
        for cmd in (('TTL', key), ('PTTL', key)):
            ours, theirs = compat.a.call(*cmd), compat.b.call(*cmd)
            assert abs(int(ours[1:-2]) - int(theirs[1:-2])) <= 1000, (cmd, ours, theirs)
        for cmd in (('TYPE', key), ('EXISTS', key),
                    ('OBJECT', 'ENCODING', key), ('OBJECT', 'REFCOUNT', key),
                    ('EXPIRETIME', key), ('PEXPIRETIME', key)):
            compat.call(*cmd)
        idle = [int(conn.call('OBJECT', 'IDLETIME', key)[1:-2]) for conn in
                (compat.a, compat.b)]
        assert idle[0] >= 2 and idle[1] >= 2, idle
    # GET touches it.
    compat.call('GET', 'k')
    compat.call('OBJECT', 'IDLETIME', 'k')


def test_lookup_statistics_of_notouch_lookups(compat):
    compat.call('SET', 'k', 'v')
    compat.call('CONFIG', 'RESETSTAT')
    for cmd in (('EXISTS', 'k', 'nokey'), ('TYPE', 'k'), ('TYPE', 'nokey'), ('TTL', 'k'),
                ('OBJECT', 'ENCODING', 'k'), ('OBJECT', 'ENCODING', 'nokey')):
        compat.call(*cmd)
    stats = []
    for conn in (compat.a, compat.b):
        info = conn.call('INFO', 'stats')
        stats.append(re.findall(rb'keyspace_(?:hits|misses):\d+', info))
    assert stats[0] == stats[1]


@pytest.mark.parametrize('proto', [2, 3])
def test_pubsub_pushes_reach_a_client_with_replies_off(pyredis, real_redis, proto):
    def run(port):
        s = socket.create_connection(('127.0.0.1', port), timeout=2)
        c = RawConn(port)
        sub = RawConn(port)
        sub.sock = s
        if proto == 3:
            sub.call('HELLO', '3')
        sub.send(b'CLIENT REPLY OFF\r\nSUBSCRIBE ch\r\nPSUBSCRIBE p*\r\nPING\r\n')
        out = [sub.read_reply(), sub.read_reply()]
        c.call('PUBLISH', 'ch', 'hello')
        c.call('PUBLISH', 'pq', 'x')
        out += [sub.read_reply(), sub.read_reply()]
        sub.send(b'UNSUBSCRIBE ch\r\nCLIENT REPLY ON\r\nPING\r\n')
        out += [sub.read_reply()]
        if proto == 3:
            out += [sub.read_reply(), sub.read_reply()]
        c.close()
        sub.close()
        return out
    assert run(pyredis.port) == run(real_redis.port)


def test_zrandmember_listpack_forms(compat, pyredis, real_redis):
    compat.call('ZADD', 'z', '1', 'a', '2', 'b', '3', 'c', '4', 'd', '5', 'e', '1.5', 'f')
    for proto in (2, 3):
        for conn in (compat.a, compat.b):
            conn.call('HELLO', str(proto))
        # Whole-set forms are deterministic.
        for args in (('6',), ('7',), ('100',), ('6', 'WITHSCORES'), ('100', 'WITHSCORES'),
                     ('0',), ('0', 'WITHSCORES'), ('-0',), ('x',), ('1', 'WITHSCORES', 'x'),
                     ('-9223372036854775808',), ('-9223372036854775807', 'WITHSCORES'),
                     ('9223372036854775807',)):
            compat.call('ZRANDMEMBER', 'z', *args)
        for args in ((), ('3',), ('-3',), ('3', 'WITHSCORES')):
            compat.call('ZRANDMEMBER', 'nokey', *args)
    # Random forms: the same shape and only the set's members.
    members = {b'a': b'1', b'b': b'2', b'c': b'3', b'd': b'4', b'e': b'5', b'f': b'1.5'}
    for srv in (pyredis, real_redis):
        r = srv.client()
        for count in range(1, 6):
            got = r.zrandmember('z', count)
            assert len(got) == count and len(set(got)) == count
            assert set(got) <= set(members)
            got = r.zrandmember('z', -count * 3, withscores=True)
            assert len(got) == count * 6
            for m, s in zip(got[::2], got[1::2]):
                assert members[m] == s


def test_inline_and_multibulk_agree(compat):
    compat.raw(b'PING\r\nSET k v\r\nGET k\r\n', 3)
    compat.raw(b'PING\nPING hello\r\n', 2)


def test_quicklist_plain_nodes(server_factory):
    """Elements at or above quicklist-packed-threshold are "plain" nodes:
    the list commands over them, OBJECT ENCODING and DUMP as redis-server."""
    from conftest import Compat
    compat = Compat(server_factory('pyredis'), server_factory('redis'))
    for arg in ('5gb', 'x', '-1', '0', '1kb', '100'):
        compat.call('DEBUG', 'QUICKLIST-PACKED-THRESHOLD', arg)
    big, big2 = 'a' * 150, 'b' * 100
    compat.call('RPUSH', 'l', 'x', big, 'y', 'z', big2, big)
    compat.call('OBJECT', 'ENCODING', 'l')
    compat.call('DUMP', 'l')
    compat.call('RPUSH', 'p', big, big2)
    compat.call('DUMP', 'p')
    for cmd in (('LSET', 'l', '1', 'small'), ('LSET', 'l', '0', big),
                ('LINSERT', 'l', 'BEFORE', 'y', big), ('LINSERT', 'l', 'AFTER', big2, 'q'),
                ('LPOS', 'l', big, 'COUNT', '0'), ('LPOS', 'l', big, 'RANK', '-1'),
                ('LINDEX', 'l', '2'), ('LREM', 'l', '1', big), ('LREM', 'l', '-1', big),
                ('LTRIM', 'l', '1', '-1'), ('LMOVE', 'l', 'l2', 'LEFT', 'RIGHT'),
                ('LMOVE', 'l', 'l2', 'RIGHT', 'LEFT'), ('LPUSH', 'l', big),
                ('RPOPLPUSH', 'l', 'l'), ('LLEN', 'l'), ('LRANGE', 'l', '0', '-1'),
                ('LRANGE', 'l2', '0', '-1'), ('OBJECT', 'ENCODING', 'l2')):
        compat.call(*cmd)
    compat.call('DEBUG', 'QUICKLIST-PACKED-THRESHOLD', '0')
    compat.call('RPUSH', 'n', 'x', big, 'y')
    compat.call('DUMP', 'n')
    compat.close()


def test_subcommand_syntax_errors_name_the_subcommand_as_typed(compat):
    """addReplySubcommandSyntaxError: the subcommand as the client typed it
    (up to a NUL, 128 bytes at most) and the container's name upper-cased."""
    compat.call('XADD', 's', '1-1', 'f', 'v')
    for cmd in (('ACL', 'CAT', 'a', 'b'), ('acl', 'GenPass', '1', '2'),
                ('ACL', 'LOG', '1', '2'), ('DEBUG', 'nosuch'), ('debug', 'x' * 200),
                ('PUBSUB', 'channels', 'a', 'b'), ('PUBSUB', 'ShardChannels', 'a', 'b'),
                ('CLIENT', 'Pause', '10', 'WRITE', 'x'),
                ('XGROUP', 'CREATE', 's', 'g', '$', 'NOPE'),
                ('XGROUP', 'SETID', 's', 'g', '$', 'x'),
                ('XINFO', 'STREAM', 's', 'FULL', 'x'), ('xinfo', 'Stream', 's', 'x')):
        compat.call(*cmd)
