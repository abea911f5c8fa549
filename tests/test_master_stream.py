"""A master's command stream read as Redis reads it, compared with a real
redis-server replica.

A fake master (a few lines of asyncio) answers the replica's handshake with
+FULLRESYNC and an empty RDB, then sends a stream, malformed or not. What
the replica makes of it must be what a redis-server replica makes of it:
the same keys, the same offset, the link dropped (or not) with the cached
master discarded (the next PSYNC is '? -1'), the same log lines, and no
traceback. Redis reads the stream with the client parser: no
proto-max-bulk-len, empty lines allowed (keepalives), any other inline
request is a desync.
"""

import asyncio
import time

import pytest

from helpers import REDIS_SERVER, RawConn, ServerProcess, free_port

# An empty dataset, as redis-server 7.0.15 saves it.
EMPTY_RDB = bytes.fromhex(
    '524544495330303130fa0972656469732d76657206372e302e3135fa0a72656469732d62697473c040fa0563'
    '74696d65c2d884146bfa08757365642d6d656dc2d8b40e00fa08616f662d62617365c000ffd71a44d2bf71d4'
    '22')


def cmd(*args):
    return b'*%d\r\n' % len(args) + b''.join(b'$%d\r\n%s\r\n' % (len(a), a) for a in args)


SET_A, SET_C = cmd(b'SET', b'a', b'1'), cmd(b'SET', b'c', b'3')

STREAMS = {
    'well-formed': [SET_A, SET_C],
    'keepalive-newlines': [SET_A, b'\n', b'\r\n', SET_C],
    'inline-request': [SET_A, b'SET b 2\r\n', SET_C],
    'simple-string': [SET_A, b'+OK\r\n', SET_C],
    'integer-element': [SET_A, b'*3\r\n$3\r\nSET\r\n$1\r\nb\r\n:2\r\n', SET_C],
    'null-element': [SET_A, b'*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$-1\r\n', SET_C],
    'nested-array': [SET_A, b'*2\r\n$3\r\nGET\r\n*1\r\n$1\r\nb\r\n', SET_C],
    'bad-length': [SET_A, b'*1\r\n$x\r\n', SET_C],
    'empty-multibulk': [SET_A, b'*0\r\n', SET_C],
    'junk-after-payload': [SET_A, b'*3\r\n$3\r\nSETxx$1\r\nb\r\n$1\r\n2\r\n', SET_C],
    # (proto-max-bulk-len does not apply to a master.)
    'bulk-over-max-len': [cmd(b'SET', b'a', b'x' * 1100000)],
}


MALFORMED = {'inline-request', 'simple-string', 'integer-element', 'null-element',
             'nested-array', 'bad-length'}


class FakeMaster:
    """Accepts the replica; the first connection gets a full sync and the
    stream, later ones (reconnections) a full sync only."""

    def __init__(self, chunks):
        self.chunks = chunks
        self.port = free_port()
        self.psyncs = []

    async def handle(self, reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                if not line.startswith(b'*'):
                    continue                        # (a newline)
                argv = []
                for _ in range(int(line[1:])):
                    size = int((await reader.readline())[1:])
                    argv.append((await reader.readexactly(size + 2))[:-2])
                name = argv[0].upper()
                if name == b'PING':
                    writer.write(b'+PONG\r\n')
                elif name == b'REPLCONF' and argv[1].lower() != b'ack':
                    writer.write(b'+OK\r\n')
                elif name == b'PSYNC':
                    first = not self.psyncs
                    self.psyncs.append(argv[1:])
                    writer.write(b'+FULLRESYNC %s 0\r\n$%d\r\n%s' % (
                        b'a' * 40 if first else b'b' * 40, len(EMPTY_RDB), EMPTY_RDB))
                    if first:
                        await writer.drain()
                        await asyncio.sleep(0.2)    # the RDB loaded
                        for chunk in self.chunks:
                            writer.write(chunk)
                            await writer.drain()
                            await asyncio.sleep(0.01)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass


def offset(srv):
    info = RawConn(srv.port).call('INFO', 'replication').decode()
    line = next(l for l in info.split('\r\n') if l.startswith('slave_repl_offset:'))
    return int(line.split(':')[1])


async def replicate(kind, chunks):
    master = FakeMaster(chunks)
    server = await asyncio.start_server(master.handle, '127.0.0.1', master.port)
    srv = None
    try:
        srv = ServerProcess(kind, ['--replicaof', '127.0.0.1', str(master.port),
                                   '--proto-max-bulk-len', '1mb'])
        deadline = time.time() + 10
        # Done when the replica came back for a new sync, or applied it all.
        while (len(master.psyncs) < 2 and offset(srv) < len(b''.join(chunks))
               and time.time() < deadline):
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        conn = RawConn(srv.port)
        keys = sorted(conn.call('KEYS', '*').split(b'\r\n'))
        log = srv.read_log()
        lines = [l.split(' # ', 1)[-1].split(' from client: ')[0] for l in log.splitlines()
                 if 'rotocol' in l or 'CRITICAL' in l or 'inline protocol' in l]
        return dict(psyncs=master.psyncs, keys=keys, offset=offset(srv), log=lines,
                    traceback='Traceback' in log)
    finally:
        if srv is not None:
            srv.stop()
        server.close()


@pytest.mark.skipif(not REDIS_SERVER, reason='redis-server is not installed')
@pytest.mark.parametrize('name', sorted(STREAMS))
def test_master_stream_read_as_redis_reads_it(name):
    async def both():
        return await asyncio.gather(replicate('pyredis', STREAMS[name]),
                                    replicate('redis', STREAMS[name]))

    ours, theirs = asyncio.run(both())
    assert not ours['traceback']
    assert ours == theirs
    if name in MALFORMED:
        # The link dropped with the cached master: a full resync follows.
        assert ours['psyncs'][1:2] == [[b'?', b'-1']]
        assert any(line.startswith('Protocol error (') for line in ours['log'])
    else:
        assert len(ours['psyncs']) == 1

