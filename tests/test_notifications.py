"""Keyspace notifications (notify-keyspace-events).

A subscriber listens on ``__key*__:*`` while another connection runs
commands; after each command a sentinel message marks the end of the
events it produced, so the exact event sequence per command (names, order,
keyspace vs keyevent channels) is compared with a real redis-server.
Expiry is checked end to end: an ``expired`` event arrives for a key that
nobody touches (active expiry) and for one found expired by a lookup.
"""

import time

import pytest

from helpers import RawConn

SENTINEL = b'*3\r\n$7\r\nmessage\r\n$8\r\nsentinel\r\n$1\r\nx\r\n'


def _pmessage(pattern, channel, data):
    return b'*4\r\n$8\r\npmessage\r\n' + b''.join(
        b'$%d\r\n%s\r\n' % (len(x), x) for x in (pattern, channel, data))


class EventRecorder:
    def __init__(self, srv, flags, pattern='__key*__:*'):
        self.cmd = RawConn(srv.port)
        self.cmd.call('CONFIG', 'SET', 'notify-keyspace-events', flags)
        self.sub = RawConn(srv.port)
        self.sub.call('PSUBSCRIBE', pattern)
        self.sub.call('SUBSCRIBE', 'sentinel')

    def run(self, *args):
        """The reply and the events (raw message bytes) a command produced."""
        reply = self.cmd.call(*args)
        self.cmd.call('PUBLISH', 'sentinel', 'x')
        events = []
        while True:
            m = self.sub.read_reply()
            if m == SENTINEL:
                return reply, events
            events.append(m)

    def close(self):
        self.cmd.call('CONFIG', 'SET', 'notify-keyspace-events', '')
        self.cmd.close()
        self.sub.close()


def _compare(pyredis, real_redis, flags, commands):
    out = []
    for srv in (pyredis, real_redis):
        rec = EventRecorder(srv, flags)
        try:
            out.append([rec.run(*c) for c in commands])
        finally:
            rec.close()
    for cmd, ours, theirs in zip(commands, *out):
        assert ours == theirs, '%r:\n pyredis: %r\n redis:   %r' % (cmd, ours, theirs)
    return out[0]


STRING_AND_KEYSPACE = [
    ('SET', 'k', 'v'),
    ('SET', 'k', 'v2'),
    ('SET', 'k', 'v3', 'NX'),
    ('SET', 'k', 'v3', 'XX', 'EX', '100'),
    ('SET', 'k', 'v4', 'KEEPTTL'),
    ('SET', 'k', 'v5', 'GET'),
    ('SETNX', 'k', 'x'),
    ('SETNX', 'n1', 'x'),
    ('SETEX', 'k', '100', 'v'),
    ('PSETEX', 'k', '100000', 'v'),
    ('GETSET', 'k', 'g'),
    ('MSET', 'a', '1', 'b', '2'),
    ('MSETNX', 'a', '1', 'c', '3'),
    ('MSETNX', 'd', '1', 'e', '3'),
    ('APPEND', 'a', 'xyz'),
    ('APPEND', 'newapp', 'xyz'),
    ('SETRANGE', 'a', '2', 'zz'),
    ('SETRANGE', 'newrange', '2', 'zz'),
    ('SETRANGE', 'a', '0', ''),
    ('INCR', 'num'),
    ('INCRBY', 'num', '5'),
    ('DECR', 'num'),
    ('DECRBY', 'num', '2'),
    ('INCRBYFLOAT', 'num', '1.5'),
    ('INCR', 'k'),                       # error: no event
    ('GETEX', 'a', 'EX', '100'),
    ('GETEX', 'a', 'PERSIST'),
    ('GETEX', 'a', 'PERSIST'),
    ('GETEX', 'a', 'PXAT', '1'),          # in the past: del
    ('GETDEL', 'b'),
    ('GETDEL', 'b'),
    ('GET', 'missing'),
    ('DEL', 'c', 'd', 'nokey'),
    ('UNLINK', 'e'),
    ('SET', 'r', '1'),
    ('RENAME', 'r', 'r2'),
    ('RENAMENX', 'r2', 'k'),
    ('RENAMENX', 'r2', 'r3'),
    ('COPY', 'r3', 'r4'),
    ('COPY', 'r3', 'r4', 'REPLACE'),
    ('MOVE', 'r4', '3'),
    ('EXPIRE', 'r3', '100'),
    ('PEXPIRE', 'r3', '100000'),
    ('EXPIREAT', 'r3', '99999999999'),
    ('EXPIRE', 'r3', '10', 'NX'),
    ('PERSIST', 'r3'),
    ('PERSIST', 'r3'),
    ('EXPIRE', 'r3', '-1'),               # deletes: del
    ('EXPIRE', 'nokey', '100'),
    ('SET', 'f', '1'),
    ('FLUSHDB',),
]


@pytest.mark.parametrize('flags', ['KEA', 'KA', 'EA', 'Kg', 'E$', 'KEx', 'KEAnm', 'Kn', 'Em'])
def test_events_match_redis(pyredis, real_redis, flags):
    _compare(pyredis, real_redis, flags, STRING_AND_KEYSPACE)


def test_event_formats(pyredis, real_redis):
    out = _compare(pyredis, real_redis, 'KEA', [('SELECT', '2'), ('SET', 'k', 'v')])
    assert out[1][1] == [_pmessage(b'__key*__:*', b'__keyspace@2__:k', b'set'),
                         _pmessage(b'__key*__:*', b'__keyevent@2__:set', b'k')]


def test_no_events_when_disabled(pyredis, real_redis):
    out = _compare(pyredis, real_redis, '', [('SET', 'k', 'v'), ('DEL', 'k')])
    assert all(events == [] for _, events in out)


def test_config_set_validation(compat):
    compat.call('CONFIG', 'SET', 'notify-keyspace-events', 'KEA')
    compat.call('CONFIG', 'GET', 'notify-keyspace-events')
    for flags in ('gK$lxshzetEdmn', 'Kn', 'n', 'Ed', 'g$lshzxet', 'Elm', 'AKE', 'Ax'):
        compat.call('CONFIG', 'SET', 'notify-keyspace-events', flags)
        compat.call('CONFIG', 'GET', 'notify-keyspace-events')
    compat.call('CONFIG', 'SET', 'notify-keyspace-events', 'Q')
    compat.call('CONFIG', 'SET', 'notify-keyspace-events', '')
    compat.call('CONFIG', 'GET', 'notify-keyspace-events')


def _wait_for_expired(srv, lazy):
    sub = RawConn(srv.port, timeout=10)
    cmd = RawConn(srv.port)
    try:
        cmd.call('CONFIG', 'SET', 'notify-keyspace-events', 'Ex')
        if lazy:
            cmd.call('DEBUG', 'SET-ACTIVE-EXPIRE', '0')
        sub.call('SUBSCRIBE', '__keyevent@0__:expired')
        cmd.call('SET', 'short', 'lived', 'PX', '50')
        cmd.call('SET', 'long', 'lived', 'EX', '1000')
        if lazy:
            time.sleep(0.1)
            assert cmd.call('GET', 'short') == b'$-1\r\n'
        # Active expiry: nobody touches the key, the server's cron finds it.
        return sub.read_reply()
    finally:
        cmd.call('DEBUG', 'SET-ACTIVE-EXPIRE', '1')
        cmd.call('CONFIG', 'SET', 'notify-keyspace-events', '')
        sub.close()
        cmd.close()


@pytest.mark.parametrize('lazy', [False, True], ids=['active', 'lazy'])
def test_expired_event(pyredis, real_redis, lazy):
    ours = _wait_for_expired(pyredis, lazy)
    theirs = _wait_for_expired(real_redis, lazy)
    assert ours == theirs == (
        b'*3\r\n$7\r\nmessage\r\n$22\r\n__keyevent@0__:expired\r\n$5\r\nshort\r\n')


def test_expired_event_with_redis_py_resp3(pyredis):
    """The brief's end-to-end case: redis-py subscribed in RESP3 receives
    the expired event of a key no client touches after setting it."""
    import redis
    r = pyredis.client(protocol=3)
    r.config_set('notify-keyspace-events', 'KEx')
    p = r.pubsub(ignore_subscribe_messages=True)
    p.psubscribe('__key*@0__:*')
    r.set('session:1', 'data', px=100)
    got = []
    deadline = time.time() + 10
    while len(got) < 2 and time.time() < deadline:
        m = p.get_message(timeout=0.2)
        if m is not None:
            got.append((m['channel'], m['data']))
    assert sorted(got) == [(b'__keyevent@0__:expired', b'session:1'),
                           (b'__keyspace@0__:session:1', b'expired')]
    p.close()
    r.config_set('notify-keyspace-events', '')
    r.close()


def test_evicted_event_plumbing():
    """Eviction deletes through Server.delete_evicted, which counts, fires
    'evicted' and propagates a DEL (checked in-process)."""
    from pyredis import config as config_mod
    from pyredis.assembly import create_server
    from pyredis.networking import Client
    from pyredis.notify import NotifyFlags
    srv = create_server(config_mod.load(None, []))
    ops = []
    srv.propagate_targets.append(ops.extend)
    srv.notify_flags = NotifyFlags.parse('KEe')
    sub = Client(srv)
    srv.pubsub.psubscribe(sub, b'*')

    class HeldLoop:      # keep deliveries in sub.out instead of flushing
        def call_soon(self, fn):
            pass
    srv.loop = HeldLoop()
    db = srv.dbs[0]
    db.set(b'victim', b'v')
    srv.delete_evicted(db, b'victim')
    srv.flush_propagation()
    assert b'victim' not in db.data
    assert srv.stat.evicted_keys == 1
    assert [argv for _, argv in ops] == [[b'DEL', b'victim']]
    assert sub.out == [_pmessage(b'*', b'__keyspace@0__:victim', b'evicted'),
                       _pmessage(b'*', b'__keyevent@0__:evicted', b'victim')]
