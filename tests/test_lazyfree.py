"""Lazy freeing: UNLINK, FLUSHALL/FLUSHDB ASYNC and the lazyfree-lazy-*
directives, side by side with redis-server: the same replies, the data gone
at once for the clients, and the same lazyfree_pending_objects /
lazyfreed_objects counts once the background freeing is done."""

import os
import time

import pytest

KINDS = ['pyredis', 'redis']


def _fill(r, n=20000):
    pipe = r.pipeline(transaction=False)
    for base in range(0, n, 1000):
        pipe.mset({b'key:%d' % i: b'v' for i in range(base, base + 1000)})
    pipe.sadd('bigset', *range(5000))
    pipe.hset('bighash', mapping={i: i for i in range(5000)})
    pipe.zadd('bigz', {str(i): i for i in range(5000)})
    pipe.rpush('biglist', *range(5000))
    pipe.sadd('smallset', *range(10))
    pipe.execute()


def _settled(r):
    deadline = time.time() + 10
    while time.time() < deadline:
        mem = r.info('memory')
        if mem['lazyfree_pending_objects'] == 0:
            return mem['lazyfreed_objects']
        time.sleep(0.05)
    raise AssertionError('lazy freeing never finished')


@pytest.mark.parametrize('kind', KINDS)
def test_unlink_and_flush_async(server_factory, kind):
    r = server_factory(kind).client()
    _fill(r)
    assert r.unlink('bigset', 'bighash', 'bigz', 'biglist', 'smallset', 'nokey') == 5
    assert r.exists('bigset', 'bighash', 'bigz', 'biglist', 'smallset') == 0
    # The big set, hash and zset are freed lazily; the list (a few
    # quicklist nodes: a few allocations) and the small set at once.
    assert _settled(r) == 3
    r.execute_command('FLUSHALL', 'ASYNC')
    assert r.dbsize() == 0
    assert _settled(r) == 3 + 20000
    _fill(r)
    r.execute_command('FLUSHDB', 'SYNC')
    assert r.dbsize() == 0
    assert _settled(r) == 3 + 20000


@pytest.mark.parametrize('kind', KINDS)
def test_lazy_user_directives(server_factory, kind):
    srv = server_factory(kind, '--lazyfree-lazy-user-del', 'yes',
                         '--lazyfree-lazy-user-flush', 'yes')
    r = srv.client()
    _fill(r)
    assert r.delete('bigset', 'smallset') == 2
    assert _settled(r) == 1
    r.flushdb()
    assert r.dbsize() == 0
    assert _settled(r) == 1 + 20000 + 3


@pytest.mark.parametrize('kind', KINDS)
def test_lazy_expire(server_factory, kind):
    r = server_factory(kind, '--lazyfree-lazy-expire', 'yes').client()
    r.sadd('s', *range(1000))
    r.pexpire('s', 1)
    time.sleep(0.05)
    assert r.exists('s') == 0       # the lazy expiry on access
    assert _settled(r) == 1


@pytest.mark.parametrize('kind', KINDS)
def test_flush_syntax(server_factory, kind):
    srv = server_factory(kind)
    conn = srv.raw()
    assert conn.call('FLUSHALL', 'LAZY') == b'-ERR syntax error\r\n'
    assert conn.call('FLUSHDB', 'ASYNC', 'SYNC') == b'-ERR syntax error\r\n'
    assert conn.call('FLUSHDB', 'async') == b'+OK\r\n'
    conn.close()


@pytest.mark.parametrize('kind', KINDS)
def test_long_list_is_freed_lazily(server_factory, kind):
    r = server_factory(kind).client()
    for _ in range(10):
        r.rpush('l', *([b'x' * 100] * 10000))
    r.rpush('short', *([b'y' * 100] * 1000))     # about 13 nodes: at once
    assert r.unlink('l', 'short') == 2
    assert _settled(r) == 1


@pytest.mark.parametrize('kind', KINDS)
def test_lazy_expiry_propagates_unlink(server_factory, kind, tmp_path):
    srv = server_factory(kind, '--appendonly', 'yes', '--lazyfree-lazy-expire', 'yes',
                         cwd=str(tmp_path))
    r = srv.client()
    r.set('gone', 'v', px=20)
    r.set('kept', 'v')
    time.sleep(0.1)
    assert r.get('gone') is None
    incr = [n for n in os.listdir(tmp_path / 'appendonlydir') if n.endswith('.incr.aof')]
    text = (tmp_path / 'appendonlydir' / incr[0]).read_bytes()
    assert b'$6\r\nUNLINK\r\n$4\r\ngone\r\n' in text
    assert b'$3\r\nDEL\r\n' not in text
