"""Embedded servers (pyredis.serve): the full server in a thread of the
test process, or in a child process, as a Python project uses it."""

import asyncio
import os
import socket
import threading

import pytest

import pyredis


def test_serve_in_a_thread():
    with pyredis.serve() as server:
        assert server.running and not server.isolated
        assert server.url == 'redis://127.0.0.1:%d/0' % server.port
        assert server.port != 6379
        r = server.client()
        assert r.ping()
        r.set('k', 'v')
        assert r.get('k') == b'v'
        # The same server as pyredis-server: INFO, CONFIG, the works.
        assert r.info('server')['process_id'] == os.getpid()
        assert r.config_get('dir') == {'dir': server.dir}
        assert r.config_get('save') == {'save': ''}
        directory = server.dir
    assert not server.running
    assert not os.path.exists(directory)        # its own temporary dir, removed


def test_directives_as_keywords(tmp_path):
    with pyredis.serve(maxmemory='10mb', maxmemory_policy='allkeys-lru', appendonly=True,
                       dir=str(tmp_path), databases=4) as server:
        r = server.client(decode_responses=True)
        assert r.config_get('maxmemory') == {'maxmemory': str(10 * 1024 * 1024)}
        assert r.config_get('maxmemory-policy') == {'maxmemory-policy': 'allkeys-lru'}
        assert r.config_get('appendonly') == {'appendonly': 'yes'}
        with pytest.raises(Exception, match='DB index is out of range'):
            r.select(4)
        r.set('kept', 'yes')
    # A dir of the caller's is left, with the server's files in it; a new
    # server on it finds the data again.
    assert (tmp_path / 'appendonlydir').is_dir()
    with pyredis.serve(appendonly=True, dir=str(tmp_path)) as server:
        assert server.client().get('kept') == b'yes'


def test_bad_directive_is_an_error():
    with pytest.raises(RuntimeError, match='maxmemory-policy'):
        pyredis.serve(maxmemory_policy='sometimes')


def test_several_servers_and_their_own_files(tmp_path):
    a_dir, b_dir = tmp_path / 'a', tmp_path / 'b'
    a_dir.mkdir()
    b_dir.mkdir()
    cwd = os.getcwd()
    with pyredis.serve(dir=str(a_dir)) as a, pyredis.serve(dir=str(b_dir)) as b:
        a.client().set('where', 'a')
        b.client().set('where', 'b')
        a.client().save()
        b.client().save()
        assert a.client().get('where') == b'a'
    assert os.getcwd() == cwd                   # nobody chdir()ed the process
    assert (a_dir / 'dump.rdb').exists() and (b_dir / 'dump.rdb').exists()
    with pyredis.serve(dir=str(b_dir)) as b:
        assert b.client().get('where') == b'b'


def test_master_and_replica_in_one_process():
    with pyredis.serve(repl_diskless_sync_delay=0) as master:
        master.client().set('x', 1)
        with pyredis.serve(replicaof=['127.0.0.1', master.port]) as replica:
            r = replica.client()
            for _ in range(200):
                if r.info('replication')['master_link_status'] == 'up':
                    break
                asyncio.run(asyncio.sleep(0.025))
            assert r.get('x') == b'1'
            assert master.client().info('replication')['connected_slaves'] == 1


def test_stopped_by_shutdown_command():
    server = pyredis.serve()
    try:
        server.client().shutdown(nosave=True)
    except Exception:
        pass        # the connection closes under the reply
    server._thread.join(10)
    assert not server.running
    server.stop()


def test_unix_socket():
    with pyredis.serve(unixsocket=True) as server:
        assert server.unix_socket.endswith('pyredis.sock')
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(server.unix_socket)
            s.sendall(b'PING\r\n')
            assert s.recv(16) == b'+PONG\r\n'


def test_isolated_in_a_child_process():
    with pyredis.serve(isolated=True, appendonly=True) as server:
        assert server.isolated
        r = server.client()
        assert r.info('server')['process_id'] != os.getpid()
        r.set('k', 'v')
        assert r.get('k') == b'v'
    assert not server.running


def test_async_with():
    async def main():
        async with pyredis.serve() as server:
            r = server.async_client()
            await r.set('a', 'b')
            value = await r.get('a')
            await r.aclose()
            return value
    assert asyncio.run(main()) == b'b'


def test_stop_after_the_event_loop_policy_changed():
    # A new policy (asyncio.set_event_loop_policy, uvloop.install()) no
    # longer knows the server thread's loop: stopping must not ask for it.
    errors = []
    hook, threading.excepthook = threading.excepthook, errors.append
    policy = asyncio.get_event_loop_policy()
    server = None
    try:
        server = pyredis.serve()
        server.client().ping()
        asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())
        stopping, server = server, None
        stopping.stop()
    finally:
        if server is not None:      # (the test failed before its stop)
            server.stop()
        threading.excepthook = hook
        asyncio.set_event_loop_policy(policy)
    assert errors == []
