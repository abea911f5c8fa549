"""The cluster bus links and nodes.conf saves, each checked on pyredis and on
redis-server 7.0 alike where Redis has the behaviour: DEBUG CLUSTERLINK KILL,
cluster-link-sendbuf-limit (links.tcl's "Disconnect link when send buffer
limit reached": a paused peer, pub/sub messages until the link to it is
freed), mem_cluster_links, and the save of nodes.conf once per turn of the
event loop, before the replies of that turn leave.
"""

import os
import signal
import subprocess
import time

import pytest

import pyredis

from cluster_helpers import ClusterNodes, cluster_port, info_field, node_id, wait_for
from helpers import REDIS_SERVER, RawConn, ServerProcess

KINDS = ['pyredis', pytest.param('redis', marks=pytest.mark.skipif(
    REDIS_SERVER is None, reason='redis-server is not installed'))]

# sizeof(clusterLink) + RCVBUF_INIT_LEN: an idle link in mem_cluster_links.
IDLE_LINK_MEMORY = 64 + 1024


def _kernel_buffers_max():
    """The most a loopback TCP connection's two kernel buffers can hold:
    the sender's tcp_wmem maximum plus the receiver's tcp_rmem maximum."""
    total = 0
    for name in ('tcp_wmem', 'tcp_rmem'):
        try:
            with open('/proc/sys/net/ipv4/' + name) as f:
                total += int(f.read().split()[2])
        except (OSError, ValueError, IndexError):
            total += 8 * 1024 * 1024
    return total


def _links(node, peer):
    """CLUSTER LINKS of ``node`` with ``peer``, by direction."""
    r = node.client()
    out = {}
    for fields in r.execute_command('CLUSTER LINKS'):
        link = dict(zip(fields[::2], fields[1::2]))
        link = {k.decode(): v.decode() if isinstance(v, bytes) else v for k, v in link.items()}
        if link['node'] == peer:
            out[link['direction']] = link
    return out


def _both_links(node, peer):
    links = _links(node, peer)
    return links if len(links) == 2 else None


def _pair(kind):
    """Two masters of ``kind`` that know each other, all slots served."""
    nodes = ClusterNodes([kind, kind])
    try:
        a, b = nodes
        a.client().execute_command('CLUSTER ADDSLOTSRANGE 0 8191')
        b.client().execute_command('CLUSTER ADDSLOTSRANGE 8192 16383')
        a.client().execute_command('CLUSTER MEET 127.0.0.1 %d' % b.port)
        nodes.wait_ok()
        bid = node_id(b)
        wait_for(lambda: _both_links(a, bid), 30, what='two links with the peer')
        return nodes, bid
    except BaseException:
        nodes.stop()
        raise


# -- DEBUG CLUSTERLINK --------------------------------------------------------------------

@pytest.mark.parametrize('kind', KINDS)
def test_debug_clusterlink_kill(kind):
    nodes, bid = _pair(kind)
    with nodes:
        a = nodes[0]
        for direction, killed in (('to', {'to'}), ('FROM', {'from'}), ('all', {'to', 'from'})):
            before = wait_for(lambda: _both_links(a, bid), 30, what='both links')
            assert RawConn(a.port).call('DEBUG', 'CLUSTERLINK', 'KILL', direction,
                                        bid) == b'+OK\r\n'

            def renewed():
                now = _both_links(a, bid)
                return now and all(
                    (now[d]['create-time'] != before[d]['create-time']) == (d in killed)
                    for d in ('to', 'from'))
            wait_for(renewed, 30, what='the %s link(s) made again' % direction)
        conn = RawConn(a.port)
        for args, reply in (
                ((bid,), b'+OK\r\n'),
                (('to', 'f' * 40), b'-ERR Unknown node ' + b'f' * 40 + b'\r\n'),
                (('to', 'abc'), b'-ERR Unknown node abc\r\n'),
                (('to',), b"-ERR unknown subcommand or wrong number of arguments for "
                          b"'CLUSTERLINK'. Try DEBUG HELP.\r\n"),
                (('to', bid, 'x'), b"-ERR unknown subcommand or wrong number of arguments "
                                   b"for 'CLUSTERLINK'. Try DEBUG HELP.\r\n")):
            if args == (bid,):
                continue
            assert conn.call('DEBUG', 'CLUSTERLINK', 'KILL', *args) == reply, args
        assert conn.call('DEBUG', 'CLUSTERLINK', 'STAB', 'to', bid).startswith(
            b"-ERR unknown subcommand or wrong number of arguments for 'CLUSTERLINK'")
        # Redis 7.0's debug.c adds its +OK after this error: two replies.
        conn.send_command('DEBUG', 'CLUSTERLINK', 'KILL', 'sideways', bid)
        conn.send_command('PING')
        assert conn.read_reply() == b'-ERR Unknown direction sideways\r\n'
        assert conn.read_reply() == b'+OK\r\n'
        assert conn.read_reply() == b'+PONG\r\n'


@pytest.mark.parametrize('kind', KINDS)
def test_debug_clusterlink_out_of_cluster_mode(kind):
    s = ServerProcess(kind)
    try:
        conn = RawConn(s.port)
        assert conn.call('DEBUG', 'CLUSTERLINK', 'KILL', 'to', 'abc') == (
            b'-ERR Debug option only available for cluster mode enabled setup!\r\n')
        assert conn.call('DEBUG', 'CLUSTERLINK', 'KILL', 'to') == (
            b"-ERR unknown subcommand or wrong number of arguments for 'CLUSTERLINK'. "
            b"Try DEBUG HELP.\r\n")
    finally:
        s.stop()


# -- cluster-link-sendbuf-limit --------------------------------------------------------------

@pytest.mark.parametrize('kind', KINDS)
def test_link_over_the_sendbuf_limit_is_freed(kind):
    """links.tcl: with the peer stopped (SIGSTOP), 128 KB PUBLISHes fill the
    link to it; past cluster-link-sendbuf-limit the cron frees that link
    (the log says so, total_cluster_links_buffer_limit_exceeded counts it),
    a new one is made, and the link from the peer stays."""
    nodes, bid = _pair(kind)
    with nodes:
        a, b = nodes
        ra = a.client()
        # Idle links: the struct and the initial receive buffer each.
        wait_for(lambda: ra.info('memory')['mem_cluster_links'] == 2 * IDLE_LINK_MEMORY, 30,
                 what='mem_cluster_links of two idle links')
        # No timeout may free the link to the stopped peer first.
        ra.config_set('cluster-node-timeout', 3600 * 1000)
        ra.config_set('cluster-link-sendbuf-limit', 256 * 1024)
        assert info_field(a, 'total_cluster_links_buffer_limit_exceeded') == '0'
        before = _both_links(a, bid)
        os.kill(b.proc.pid, signal.SIGSTOP)
        try:
            most = 0               # (how full the link was seen: sampled, for the message)
            # The link's own buffer grows only once the kernel's send buffer and the
            # stopped peer's receive buffer are full, so publish at least their
            # combined maximum first (tcp_rmem's maximum is 32 MB on some machines).
            kernel = _kernel_buffers_max()
            message = 128 * 1024
            for i in range(kernel // message + 100):
                ra.publish('channel', 'x' * message)
                if i * message < kernel and (i % 16 or int(info_field(
                        a, 'total_cluster_links_buffer_limit_exceeded')) == 0):
                    continue
                link = _links(a, bid).get('to')
                if link is not None and link['create-time'] == before['to']['create-time']:
                    used = link['send-buffer-used']
                    assert link['send-buffer-allocated'] >= used
                    assert link['events'] == ('rw' if used else 'r')
                    most = max(most, used)
                if int(info_field(a, 'total_cluster_links_buffer_limit_exceeded')) >= 1:
                    break
                time.sleep(0.1)
            else:
                raise AssertionError('the link was not freed; it held up to %d bytes' % most)
            after = wait_for(lambda: _both_links(a, bid), 30, what='a new link to the peer')
            assert after['to']['create-time'] > before['to']['create-time']
            assert after['from']['create-time'] == before['from']['create-time']
            log = a.read_log()
            assert ('Freeing cluster link(to node %s, used memory: ' % bid) in log
            assert 'due to exceeding send buffer memory limit.' in log
            assert int(ra.info('memory')['mem_cluster_links']) > 0
        finally:
            os.kill(b.proc.pid, signal.SIGCONT)
        # (The link made again may fill and be freed too before the loop sees it.)
        assert int(info_field(a, 'total_cluster_links_buffer_limit_exceeded')) >= 1


# -- nodes.conf: once per turn, before the replies ------------------------------------------

def test_nodes_conf_is_saved_once_per_turn_before_the_replies():
    """Configuration changes that arrive together (three CLUSTER ADDSLOTS from
    two clients while the loop is busy, a PING from a third client read
    first) are saved in one write of nodes.conf, and no reply of that turn
    leaves before it: the file already holds the slots when +OK arrives."""
    s = pyredis.serve(cluster_port(), cluster_enabled=True, enable_debug_command='yes')
    try:
        cluster = s.server.cluster
        saves = []
        original = cluster.save_config

        def slow_save(*args):
            time.sleep(0.3)         # a reply sent before the save would win the race
            ok = original(*args)
            saves.append(time.monotonic())
            return ok
        cluster.save_config = slow_save
        conf = os.path.join(s.server.config.dir, 'nodes.conf')
        sleeper, first, second, third = conns = [RawConn(s.port) for _ in range(4)]
        for conn in conns:          # (accepted and read by the loop before it sleeps)
            assert conn.call('PING') == b'+PONG\r\n'
        sleeper.send_command('DEBUG', 'SLEEP', '0.5')
        time.sleep(0.1)
        first.send_command('PING')
        time.sleep(0.01)
        second.send(b'CLUSTER ADDSLOTS 1\r\nCLUSTER ADDSLOTS 2\r\n')
        time.sleep(0.01)
        third.send_command('CLUSTER', 'ADDSLOTS', '3')
        assert second.read_reply() == b'+OK\r\n'
        with open(conf) as f:
            myself = [line for line in f if 'myself' in line][0]
        assert myself.rstrip('\n').endswith(' 1-3'), myself
        assert saves
        assert second.read_reply() == b'+OK\r\n'
        assert third.read_reply() == b'+OK\r\n'
        assert first.read_reply() == b'+PONG\r\n'
        assert sleeper.read_reply() == b'+OK\r\n'
        assert len(saves) == 1
        # A reply that needs no save is not held.
        assert first.call('CLUSTER', 'KEYSLOT', 'x') == b':16287\r\n'
        assert len(saves) == 1
        if REDIS_SERVER is not None:
            # Each save renames a new file over nodes.conf: the lock goes with
            # it, and a redis-server given the file refuses it.
            p = subprocess.run([REDIS_SERVER, '--port', str(cluster_port()), '--bind',
                                '127.0.0.1', '--cluster-enabled', 'yes',
                                '--cluster-config-file', conf, '--save', ''],
                               capture_output=True, timeout=30, cwd=s.server.config.dir)
            assert p.returncode != 0
            assert b'already used by a different Redis Cluster node' in p.stdout + p.stderr
    finally:
        s.stop()
