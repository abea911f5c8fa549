"""Pub/Sub: SUBSCRIBE/PSUBSCRIBE/SSUBSCRIBE, their UNSUBSCRIBEs, PUBLISH,
SPUBLISH, PUBSUB, the RESP2 subscriber-mode restrictions and RESP3 pushes.

Message formats are compared byte for byte with a real redis-server: the
same subscriber/publisher script runs against both servers. redis-py's
PubSub object is exercised in RESP2 and RESP3.
"""

import time

import pytest

from helpers import RawConn


def _both(pyredis, real_redis, script, conns=2, hello3=()):
    """Run (conn index, args, replies to read[, 'unordered']) steps on both
    servers and compare every reply read. Redis delivers pattern matches in
    its hash table's order, so such steps are compared as sorted lists."""
    results = []
    for srv in (pyredis, real_redis):
        cs = [RawConn(srv.port) for _ in range(conns)]
        for i in hello3:
            cs[i].call('HELLO', '3')      # the reply holds the client id
        out = []
        try:
            for i, args, n, *_ in script:
                if args:
                    cs[i].send_command(*args)
                out.append([cs[i].read_reply() for _ in range(n)])
        finally:
            for c in cs:
                c.close()
        results.append(out)
    for step, ours, theirs in zip(script, *results):
        if len(step) > 3:
            ours, theirs = sorted(ours), sorted(theirs)
        assert ours == theirs, '%r:\n pyredis: %r\n redis:   %r' % (step, ours, theirs)
    return results[0]


def test_subscribe_confirmations(compat):
    compat.raw(b'*1\r\n$11\r\nUNSUBSCRIBE\r\n')
    compat.raw(b'*1\r\n$12\r\nPUNSUBSCRIBE\r\n')
    compat.raw(b'*1\r\n$12\r\nSUNSUBSCRIBE\r\n')
    compat.raw(b'*4\r\n$9\r\nSUBSCRIBE\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\na\r\n', replies=3)
    compat.raw(b'*3\r\n$10\r\nPSUBSCRIBE\r\n$2\r\nx*\r\n$2\r\nx*\r\n', replies=2)
    compat.raw(b'*3\r\n$10\r\nSSUBSCRIBE\r\n$2\r\ns1\r\n$2\r\ns2\r\n', replies=2)
    compat.call('PING')
    compat.call('PING', 'hello')
    compat.raw(b'*3\r\n$12\r\nSUNSUBSCRIBE\r\n$2\r\ns2\r\n$2\r\nzz\r\n', replies=2)
    compat.raw(b'*1\r\n$12\r\nSUNSUBSCRIBE\r\n')
    compat.raw(b'*3\r\n$11\r\nUNSUBSCRIBE\r\n$1\r\nb\r\n$1\r\nnope\r\n', replies=2)
    compat.raw(b'*1\r\n$11\r\nUNSUBSCRIBE\r\n')
    compat.raw(b'*1\r\n$12\r\nPUNSUBSCRIBE\r\n')
    # Out of subscriber mode: ordinary commands work again.
    compat.call('GET', 'x')


@pytest.mark.parametrize('cmd', [('GET', 'x'), ('SET', 'x', 'y'), ('PUBLISH', 'a', 'b'),
                                 ('CONFIG', 'GET', 'maxmemory'), ('MULTI',), ('PUBSUB', 'NUMPAT'),
                                 ('ECHO', 'x')],
                         ids=lambda c: ' '.join(c))
def test_resp2_subscriber_mode_restrictions(compat, cmd):
    for sub, unsub in (('SUBSCRIBE', 'UNSUBSCRIBE'), ('PSUBSCRIBE', 'PUNSUBSCRIBE'),
                       ('SSUBSCRIBE', 'SUNSUBSCRIBE')):
        compat.call(sub, 'chan')
        compat.call(*cmd)
        compat.call(unsub)
    compat.call(*cmd)


def test_resp2_allowed_in_subscriber_mode(compat):
    compat.call('SUBSCRIBE', 'a')
    compat.call('PING')
    compat.call('PING', 'x')
    assert compat.call('RESET') == b'+RESET\r\n'
    compat.call('GET', 'x')
    compat.call('SUBSCRIBE', 'a')
    assert compat.call('QUIT') == b'+OK\r\n'


def test_errors(compat):
    for args in (('SUBSCRIBE',), ('PSUBSCRIBE',), ('SSUBSCRIBE',), ('PUBLISH', 'a'),
                 ('PUBLISH', 'a', 'b', 'c'), ('SPUBLISH', 'a'), ('PUBSUB',),
                 ('PUBSUB', 'NOPE'), ('PUBSUB', 'CHANNELS', 'a', 'b'),
                 ('PUBSUB', 'SHARDCHANNELS', 'a', 'b'), ('PUBSUB', 'NUMPAT', 'x'),
                 ('PUBSUB', 'HELP'), ('PUBSUB', 'help', 'x')):
        compat.call(*args)


def test_publish_and_message_formats(pyredis, real_redis):
    script = [
        (0, ('SUBSCRIBE', 'news', 'sport'), 2),
        (0, ('PSUBSCRIBE', 'n*', 'h?llo', 'x[ab]'), 3),
        (1, ('PUBLISH', 'news', 'hello world'), 1),
        (0, None, 2),                      # message + pmessage n*
        (1, ('PUBLISH', 'sport', ''), 1),
        (0, None, 1),
        (1, ('PUBLISH', 'hallo', 'bin\x00\r\nary'), 1),
        (0, None, 1),
        (1, ('PUBLISH', 'xb', 'm'), 1),
        (0, None, 1),
        (1, ('PUBLISH', 'nobody', 'm'), 1),   # matches n*
        (0, None, 1),
        (1, ('PUBLISH', 'zzz', 'm'), 1),
        (1, ('PUBSUB', 'NUMPAT'), 1),
        (1, ('PUBSUB', 'NUMSUB', 'news', 'sport', 'zzz'), 1),
        (1, ('PUBSUB', 'CHANNELS', 's*'), 1),
        (1, ('PUBSUB', 'CHANNELS', 'nothing*'), 1),
        (0, ('PUNSUBSCRIBE', 'n*'), 1),
        (1, ('PUBLISH', 'news', 'again'), 1),
        (0, None, 1),
        (1, ('PUBSUB', 'NUMPAT'), 1),
    ]
    out = _both(pyredis, real_redis, script)
    assert out[3][0] == b'*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$11\r\nhello world\r\n'
    assert out[3][1] == b'*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$11\r\nhello world\r\n'
    assert out[2] == [b':2\r\n']


def test_pubsub_channels_lists_active_channels(pyredis, real_redis):
    lists = []
    for srv in (pyredis, real_redis):
        a, b = RawConn(srv.port), RawConn(srv.port)
        a.send_command('SUBSCRIBE', 'c1', 'c2', 'd1')
        for _ in range(3):
            a.read_reply()
        a.send_command('SSUBSCRIBE', 's1', 's2')
        a.read_reply(), a.read_reply()
        import redis
        r = srv.client()
        lists.append((sorted(r.pubsub_channels()), sorted(r.pubsub_channels('c*')),
                      sorted(r.execute_command('PUBSUB', 'SHARDCHANNELS')),
                      r.execute_command('PUBSUB', 'SHARDNUMSUB', 's1', 'x'),
                      r.pubsub_numsub('c1', 'zz')))
        r.close()
        a.close()
        b.close()
    assert lists[0] == lists[1]
    assert lists[0][0] == [b'c1', b'c2', b'd1']


def test_client_subscribed_twice_receives_twice(pyredis, real_redis):
    script = [
        (0, ('SUBSCRIBE', 'ch'), 1),
        (0, ('PSUBSCRIBE', 'c*', 'ch'), 2),
        (1, ('PUBLISH', 'ch', 'x'), 1),
        (0, None, 3, 'unordered'),
    ]
    out = _both(pyredis, real_redis, script)
    assert out[2] == [b':3\r\n']


def test_shard_channels(pyredis, real_redis):
    script = [
        (0, ('SSUBSCRIBE', 'sh', 'sh2'), 2),
        (0, ('SUBSCRIBE', 'sh'), 1),          # counts are kept apart
        (1, ('SPUBLISH', 'sh', 'payload'), 1),
        (0, None, 1),
        (1, ('PUBLISH', 'sh', 'classic'), 1),
        (0, None, 1),
        (1, ('SPUBLISH', 'none', 'x'), 1),
        (1, ('PUBSUB', 'SHARDNUMSUB', 'sh', 'sh2', 'none'), 1),
        (0, ('SUNSUBSCRIBE', 'sh'), 1),
        (1, ('SPUBLISH', 'sh', 'gone'), 1),
        (1, ('PUBSUB', 'SHARDCHANNELS'), 1),
    ]
    out = _both(pyredis, real_redis, script)
    assert out[3] == [b'*3\r\n$8\r\nsmessage\r\n$2\r\nsh\r\n$7\r\npayload\r\n']


def test_resp3_push_messages(pyredis, real_redis):
    script = [
        (0, ('SUBSCRIBE', 'a'), 1),
        (0, ('PSUBSCRIBE', 'a*'), 1),
        (0, ('SSUBSCRIBE', 'sa'), 1),
        (0, ('GET', 'x'), 1),                 # RESP3: any command in subscriber mode
        (0, ('SET', 'x', '1'), 1),
        (0, ('PING',), 1),
        (1, ('PUBLISH', 'a', 'm1'), 1),
        (0, None, 2),
        (1, ('SPUBLISH', 'sa', 'm2'), 1),
        (0, None, 1),
        # A client publishing to itself gets the pushes before the reply.
        (0, ('PUBLISH', 'a', 'self'), 3),
        (0, ('UNSUBSCRIBE',), 1),
        (0, ('PUNSUBSCRIBE',), 1),
        (0, ('SUNSUBSCRIBE',), 1),
        (0, ('UNSUBSCRIBE',), 1),
    ]
    out = _both(pyredis, real_redis, script, hello3=(0,))
    assert out[0] == [b'>3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n']
    assert out[7][0] == b'>3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nm1\r\n'
    assert out[10][2] == b':2\r\n'
    assert out[-1] == [b'>3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n']


def test_glob_patterns_as_keys(pyredis, real_redis):
    patterns = ['*', 'h?llo', 'h*llo', 'h[ae]llo', 'h[^e]llo', 'h[a-b]llo', 'h\\*llo',
                '[z-a]*', 'news.*']
    channels = ['hello', 'hallo', 'hxllo', 'heeello', 'h*llo', 'hbllo', 'news.tech', 'zed']
    script = [(0, ('PSUBSCRIBE',) + tuple(patterns), len(patterns))]
    for ch in channels:
        script.append((1, ('PUBLISH', ch, 'm'), 1))
    outs = _both(pyredis, real_redis, script)
    counts = [int(o[0][1:-2]) for o in outs[1:]]
    assert counts == [5, 7, 5, 3, 6, 6, 3, 2]


def test_disconnect_and_reset_unsubscribe(pyredis):
    a = RawConn(pyredis.port)
    a.call('SUBSCRIBE', 'gone')
    a.send_command('PSUBSCRIBE', 'g*')
    a.read_reply()
    b = RawConn(pyredis.port)
    assert b.call('PUBSUB', 'NUMSUB', 'gone') == b'*2\r\n$4\r\ngone\r\n:1\r\n'
    a.close()
    deadline = time.time() + 5
    while time.time() < deadline and b.call('PUBSUB', 'NUMPAT') != b':0\r\n':
        time.sleep(0.01)
    assert b.call('PUBSUB', 'NUMSUB', 'gone') == b'*2\r\n$4\r\ngone\r\n:0\r\n'
    assert b.call('PUBSUB', 'CHANNELS') == b'*0\r\n'
    c = RawConn(pyredis.port)
    c.call('SSUBSCRIBE', 'x')
    c.call('RESET')
    assert b.call('PUBSUB', 'SHARDCHANNELS') == b'*0\r\n'
    assert b.call('PUBLISH', 'gone', 'm') == b':0\r\n'
    b.close()
    c.close()


def test_client_list_shows_subscriptions(pyredis):
    a = RawConn(pyredis.port)
    a.call('SUBSCRIBE', 'x')
    a.call('PSUBSCRIBE', 'y*')
    a.call('SSUBSCRIBE', 'z')
    b = RawConn(pyredis.port)
    out = b.call('CLIENT', 'LIST', 'TYPE', 'pubsub')
    assert b' sub=1 psub=1 ssub=1 ' in out and b'flags=P ' in out
    a.close()
    b.close()


def test_many_messages_pipelined(pyredis):
    sub = RawConn(pyredis.port)
    sub.call('SUBSCRIBE', 'bulk')
    pub = RawConn(pyredis.port)
    n = 2000
    pub.send(b''.join(b'*3\r\n$7\r\nPUBLISH\r\n$4\r\nbulk\r\n$%d\r\n%d\r\n' % (len(b'%d' % i), i)
                      for i in range(n)))
    for i in range(n):
        assert pub.read_reply() == b':1\r\n'
    for i in range(n):
        assert sub.read_reply() == b'*3\r\n$7\r\nmessage\r\n$4\r\nbulk\r\n$%d\r\n%d\r\n' % (
            len(b'%d' % i), i)
    sub.close()
    pub.close()


def test_slow_subscriber_dropped_at_output_limit(server_factory):
    srv = server_factory('pyredis', '--client-output-buffer-limit', 'pubsub', '1mb', '256kb', '60')
    sub = RawConn(srv.port)
    sub.sock.setsockopt(__import__('socket').SOL_SOCKET, __import__('socket').SO_RCVBUF, 4096)
    sub.call('SUBSCRIBE', 'firehose')
    pub = RawConn(srv.port)
    payload = b'x' * 65536
    sent = 0
    # The subscriber never reads: kernel buffers fill, then the server's.
    while pub.call('PUBLISH', 'firehose', payload) == b':1\r\n':
        sent += 1
        assert sent < 2000, 'slow subscriber was never disconnected'
    assert pub.call('PUBSUB', 'NUMSUB', 'firehose') == b'*2\r\n$8\r\nfirehose\r\n:0\r\n'
    assert 'overcoming of output buffer limits' in srv.read_log()
    sub.close()
    pub.close()


def test_publish_reaches_subscribers_on_replicas(server_factory):
    master = server_factory('pyredis')
    replica = server_factory('pyredis', '--replicaof', '127.0.0.1', str(master.port))
    r = replica.client()
    deadline = time.time() + 15
    while r.info('replication').get('master_link_status') != 'up':
        assert time.time() < deadline, 'replica did not connect'
        time.sleep(0.05)
    p = r.pubsub(ignore_subscribe_messages=True)
    p.subscribe('alerts')
    p.ssubscribe('shard-alerts')
    m = master.client()
    m.publish('alerts', 'fire')
    m.execute_command('SPUBLISH', 'shard-alerts', 'smoke')
    assert _get(p)['data'] == b'fire'
    assert _get(p)['data'] == b'smoke'
    p.close()
    r.close()
    m.close()


# -- redis-py's PubSub, RESP2 and RESP3 -------------------------------------------

def _get(p, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = p.get_message(timeout=0.2)
        if m is not None:
            return m
    raise AssertionError('no message')


@pytest.mark.parametrize('protocol', [2, 3])
def test_redis_py_pubsub(pyredis, protocol):
    r = pyredis.client(protocol=protocol)
    p = r.pubsub()
    p.subscribe('chat')
    assert _get(p) == {'type': 'subscribe', 'pattern': None, 'channel': b'chat', 'data': 1}
    p.psubscribe('ch*')
    assert _get(p)['type'] == 'psubscribe'
    assert r.publish('chat', 'hi') == 2
    m1, m2 = _get(p), _get(p)
    assert m1 == {'type': 'message', 'pattern': None, 'channel': b'chat', 'data': b'hi'}
    assert m2 == {'type': 'pmessage', 'pattern': b'ch*', 'channel': b'chat', 'data': b'hi'}
    assert r.pubsub_numsub('chat') == [(b'chat', 1)]
    assert r.pubsub_numpat() == 1
    p.unsubscribe('chat')
    assert _get(p)['type'] == 'unsubscribe'
    p.punsubscribe()
    assert _get(p) == {'type': 'punsubscribe', 'pattern': None, 'channel': b'ch*', 'data': 0}
    assert r.publish('chat', 'nobody') == 0
    p.close()
    r.close()


@pytest.mark.parametrize('protocol', [2, 3])
def test_redis_py_pubsub_handlers_and_thread(pyredis, protocol):
    r = pyredis.client(protocol=protocol)
    p = r.pubsub(ignore_subscribe_messages=True)
    got = []
    p.subscribe(**{'jobs': got.append})
    t = p.run_in_thread(sleep_time=0.01)
    try:
        deadline = time.time() + 5
        while r.pubsub_numsub('jobs')[0][1] == 0 and time.time() < deadline:
            time.sleep(0.01)
        for i in range(20):
            r.publish('jobs', 'job-%d' % i)
        deadline = time.time() + 5
        while len(got) < 20 and time.time() < deadline:
            time.sleep(0.01)
    finally:
        t.stop()
        t.join(5)
    assert [m['data'] for m in got] == [b'job-%d' % i for i in range(20)]
    p.close()
    r.close()


def test_redis_py_resp3_regular_commands_while_subscribed(pyredis):
    r = pyredis.client(protocol=3)
    p = r.pubsub()
    p.subscribe('x')
    _get(p)
    # On a RESP3 connection the subscribed client may run any command.
    conn = p.connection
    conn.send_command('SET', 'k', 'v')
    assert conn.read_response() == b'OK'
    conn.send_command('GET', 'k')
    assert conn.read_response() == b'v'
    p.close()
    r.close()
