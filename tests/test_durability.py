"""Durability under kill -9: nothing acknowledged is lost by a process crash.

With ``appendonly yes`` a reply goes out only once its write is in the file
(write(2) for ``appendfsync everysec``, write(2) and fsync for ``always``).
The end-to-end rounds are benchmarks/kill9.py's (read its docstring), a few
kills instead of twenty: connections hammer INCR and RPUSH of sequence
numbers, the server is killed at a random moment and restarted on the same
directory, and every acknowledged write must be there, nothing duplicated.
Then one kill -9 during BGSAVE and one during BGREWRITEAOF: the restart is
clean and has the last good data.

A kill lands in the window that matters (while the background fsync runs,
when redis-server postpones its write but not its replies) only now and
then, so the rounds alone cannot prove the everysec rule; the in-process
tests hold a background fsync open and check that the write still goes
before the reply, deterministically.
"""

import asyncio
import os
import sys
import threading

import pytest

from pyredis import aof as aof_module, config
from pyredis.assembly import create_server
from pyredis.networking import Client
from helpers import ROOT, FakeTransport

sys.path.insert(0, os.path.join(ROOT, 'benchmarks'))
import kill9  # noqa: E402


def req(*args):
    args = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    return b'*%d\r\n' % len(args) + b''.join(b'$%d\r\n%s\r\n' % (len(a), a) for a in args)


class RecordingTransport(FakeTransport):
    """Records, with each reply, how many bytes the AOF file held when it
    went out."""

    def __init__(self, path):
        super().__init__()
        self.path = path
        self.file_sizes = []

    def write(self, data):
        super().write(data)
        self.file_sizes.append(os.path.getsize(self.path))


@pytest.fixture
def everysec_server(tmp_path, monkeypatch):
    """An in-process server writing an everysec AOF, whose background fsync
    ends only when the test sets the returned event."""
    release = threading.Event()
    real_fsync = aof_module._fsync_fd

    def slow_fsync(fd, close):
        release.wait(10)
        real_fsync(fd, close)

    monkeypatch.setattr(aof_module, '_fsync_fd', slow_fsync)
    loop = asyncio.new_event_loop()
    server = create_server(config.Config())
    server.loop = loop
    aof = server.aof
    path = str(tmp_path / 'appendonly.aof.1.incr.aof')
    aof.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    aof.state = aof_module.AOF_ON
    aof.refresh_policy()
    assert aof.everysec
    aof.attach()
    client = Client(server)
    client.transport = RecordingTransport(path)
    server.clients[client.id] = client
    try:
        yield server, client, path, release
    finally:
        release.set()
        if aof._executor is not None:
            aof._executor.shutdown(wait=True)
        os.close(aof.fd)
        loop.close()


def spin(loop, until, turns=500):
    """Run the loop until ``until()`` holds (or ``turns`` short sleeps)."""
    for _ in range(turns):
        if until():
            return True
        loop.run_until_complete(asyncio.sleep(0.005))
    return until()


def test_everysec_writes_before_replying_while_the_fsync_runs(everysec_server):
    """Redis postpones the write while its background fsync runs, yet sends
    the replies: a kill -9 then loses acknowledged writes. pyredis writes
    anyway, before the reply; only the fsync waits."""
    server, client, path, release = everysec_server
    aof, loop = server.aof, server.loop
    client.data_received(req('SET', 'a', '1'))
    spin(loop, lambda: client.transport.written)
    assert client.transport.written == [b'+OK\r\n']
    assert client.transport.file_sizes[0] > 0     # written before the reply

    aof.background_fsync(aof.fd)
    assert aof.fsync_in_progress()
    size = os.path.getsize(path)
    client.data_received(req('INCR', 'n'))
    assert spin(loop, lambda: len(client.transport.written) == 2)
    assert client.transport.written[1] == b':1\r\n'
    assert client.transport.file_sizes[1] > size
    with open(path, 'rb') as f:
        assert f.read().endswith(req('INCR', 'n'))
    assert aof.fsync_in_progress()              # the fsync itself still runs
    assert aof.delayed_fsync == 0


def test_everysec_fsync_slower_than_two_seconds_counts_as_delayed(everysec_server):
    """Redis's account of a slow disk is kept: an fsync still running two
    seconds after the first write it would have held back counts in
    aof_delayed_fsync, once per two seconds."""
    server, client, path, release = everysec_server
    aof, loop = server.aof, server.loop
    aof.background_fsync(aof.fd)
    n = 0
    for _second in range(5):
        for _ in range(2):
            client.data_received(req('INCR', 'n'))
            n += 1
            assert spin(loop, lambda: len(client.transport.written) == n)
        server.unixtime += 1
    # Two writes a second: Redis holds back those of t and t+1, writes the
    # first of t+2 anyway (counted), holds back the next ones again, and
    # writes the first of t+4 (counted).
    assert aof.delayed_fsync == 2
    info = server.info_sections['persistence'](server)
    assert ('aof_delayed_fsync', 2) in info
    assert ('aof_pending_bio_fsync', 1) in info
    release.set()
    assert spin(loop, lambda: not aof.fsync_in_progress())
    client.data_received(req('INCR', 'n'))
    assert spin(loop, lambda: len(client.transport.written) == n + 1)
    assert aof.slow_fsync_start == 0


def test_always_replies_after_the_fsync(tmp_path, monkeypatch):
    events = []
    real = os.fdatasync

    def fdatasync(fd):
        events.append(('fsync', os.path.getsize(path)))
        real(fd)

    monkeypatch.setattr(aof_module.os, 'fdatasync', fdatasync)
    loop = asyncio.new_event_loop()
    server = create_server(config.Config())
    server.config.appendfsync = 'always'
    server.loop = loop
    aof = server.aof
    path = str(tmp_path / 'appendonly.aof.1.incr.aof')
    aof.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        aof.state = aof_module.AOF_ON
        aof.refresh_policy()
        assert aof.always
        aof.attach()
        client = Client(server)
        client.transport = FakeTransport()
        client.transport.write = lambda data: events.append(('reply', data))
        server.clients[client.id] = client
        client.data_received(req('INCR', 'n') + req('INCR', 'n'))
        assert events == []                     # held until the loop's turn
        spin(loop, lambda: events)
        size = os.path.getsize(path)
        assert events == [('fsync', size), ('reply', b':1\r\n:2\r\n')]
    finally:
        os.close(aof.fd)
        loop.close()


# -- kill -9, end to end ------------------------------------------------------------

ROUNDS = 3


@pytest.mark.parametrize('policy', ['always', 'everysec'])
def test_kill9_loses_no_acknowledged_write(policy):
    acked, lost, problems = kill9.kill_loop('pyredis', policy, ROUNDS, nconns=4, seed=7,
                                            verbose=False, kill_range=(0.2, 1.2))
    assert acked > 0
    assert lost == 0
    assert problems == []


def test_kill9_during_bgsave_restarts_with_the_last_good_dump():
    res = kill9.bgsave_case('pyredis', 'server+child', kill9.random.Random(3), keys=60000)
    # (The new file if the child renamed it before the kill: whole too.)
    assert res['restart'] in ('last good (A)', 'new save, whole (B)'), res
    res = kill9.bgsave_case('pyredis', 'child', kill9.random.Random(4), keys=60000)
    assert res['restart'] == 'last good (A)', res
    assert res['server after'] == 'bgsave err, serving', res
    # The child's temp file is removed when the server reaps it.
    assert not any(f.startswith('temp-') for f in res['left after child kill']), res


def test_kill9_during_bgrewriteaof_keeps_every_acknowledged_write():
    res = kill9.bgrewrite_case('pyredis', 'server+child', kill9.random.Random(5), keys=60000)
    assert res['restart'].startswith('all acked'), res
    res = kill9.bgrewrite_case('pyredis', 'child', kill9.random.Random(6), keys=60000)
    assert res['restart'].startswith('all acked'), res
    assert res['server after'] == 'rewrite err, serving', res
    assert not any(os.path.basename(f).startswith('temp-rewriteaof')
                   for f in res['left after child kill']), res
