"""Start Redis Cluster nodes for tests: pyredis or redis-server, mixed.

``ClusterNodes(kinds)`` starts one node per entry of ``kinds`` ('pyredis'
or 'redis') with cluster-enabled yes, each in its own directory, on a free
port whose cluster bus port (port + 10000) is free too; everything on
127.0.0.1. Use it as a context manager (or call stop()): every node is
stopped even when the test fails. ``create(replicas=1)`` runs
``redis-cli --cluster create`` over them and waits for cluster_state:ok on
every node. ``WriteLoad`` is a redis-py RedisCluster writing all the time
from a thread, with a log, by phase of the test, of what its client
handled on its own (redirections followed, errors its retries hid).
"""

import collections
import os
import socket
import subprocess
import threading
import time

from redis.cluster import ClusterNode as PyClusterNode, RedisCluster
from redis.exceptions import AskError, MovedError, TryAgainError

from helpers import REDIS_CLI, ServerProcess

NODE_TIMEOUT = 2000


def _free(port):
    with socket.socket() as s:
        try:
            s.bind(('127.0.0.1', port))
        except OSError:
            return False
    return True


def cluster_port():
    """A free port P below 55536 with P + 10000 free too."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            port = s.getsockname()[1]
        if port + 10000 <= 65535 and _free(port + 10000):
            return port
        # ephemeral ports are often high: try a random low one
        import random
        port = random.randint(20000, 50000)
        if _free(port) and _free(port + 10000):
            return port
    raise RuntimeError('no free port pair')


def start_node(kind='pyredis', node_timeout=NODE_TIMEOUT, args=(), port=None, cwd=None):
    port = port or cluster_port()
    return ServerProcess(kind, cwd=cwd, args=['--cluster-enabled', 'yes',
                                     '--cluster-config-file', 'nodes.conf',
                                     '--cluster-node-timeout', str(node_timeout),
                                     '--appendonly', 'no', '--repl-diskless-sync-delay', '0']
                         + list(args), port=port)


def cli(*args, timeout=60, check=True):
    p = subprocess.run([REDIS_CLI] + [str(a) for a in args], capture_output=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    out = p.stdout.decode('utf-8', 'replace') + p.stderr.decode('utf-8', 'replace')
    if check and p.returncode != 0:
        raise AssertionError('redis-cli %s failed (%d):\n%s' % (' '.join(map(str, args)),
                                                                 p.returncode, out))
    return out


def wait_for(predicate, timeout=30, interval=0.1, what='condition'):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as e:   # a node may be restarting
            last = e
        time.sleep(interval)
    raise AssertionError('timed out waiting for %s (last: %r)' % (what, last))


def raw_text(node, *args):
    """A command's bulk reply as text (over a raw socket: redis-py parses
    CLUSTER INFO and NODES into dicts)."""
    r = node.raw()
    try:
        reply = r.call(*args)
    finally:
        r.close()
    if not reply.startswith((b'$', b'=')):
        raise AssertionError('%r: %r' % (args, reply))
    body = reply.split(b'\r\n', 1)[1][:-2]
    if reply.startswith(b'='):
        body = body[4:]
    return body.decode()


def info_field(node, field, section='cluster'):
    text = raw_text(node, 'CLUSTER', 'INFO') if section == 'cluster' else \
        raw_text(node, 'INFO', section)
    for line in text.split('\r\n'):
        if line.startswith(field + ':'):
            return line.split(':', 1)[1]
    return None


class ClusterNodes:
    def __init__(self, kinds, node_timeout=NODE_TIMEOUT, args=()):
        self.nodes = []
        try:
            for kind in kinds:
                self.nodes.append(start_node(kind, node_timeout, args))
        except BaseException:
            self.stop()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def __getitem__(self, i):
        return self.nodes[i]

    def __iter__(self):
        return iter(self.nodes)

    def __len__(self):
        return len(self.nodes)

    def stop(self):
        for n in self.nodes:
            try:
                n.stop(timeout=5)
            except Exception:
                pass

    def restart_as(self, i, kind, node_timeout=NODE_TIMEOUT):
        """Stop node ``i`` and start a ``kind`` node on its port and directory
        (so on its nodes.conf)."""
        old = self.nodes[i]
        old.stop()
        self.nodes[i] = start_node(kind, node_timeout, port=old.port, cwd=old.dir)
        return self.nodes[i]

    def addrs(self):
        return ['127.0.0.1:%d' % n.port for n in self.nodes]

    def create(self, replicas=1):
        out = cli('--cluster', 'create', *self.addrs(), '--cluster-replicas', replicas,
                  '--cluster-yes')
        self.wait_ok()
        return out

    def alive(self):
        return [n for n in self.nodes if n.proc.poll() is None]

    def wait_ok(self, nodes=None, timeout=60):
        for n in nodes or self.alive():
            wait_for(lambda: info_field(n, 'cluster_state') == 'ok', timeout,
                     what='cluster_state:ok on %d' % n.port)

    def wait_agree(self, timeout=60):
        """Every live node sees every other, none in handshake or failing, and
        they agree on the slots and masters (the config converged)."""
        def views():
            seen = []
            for n in self.alive():
                lines = raw_text(n, 'CLUSTER', 'NODES').strip().split('\n')
                view = set()
                for line in lines:
                    f = line.split(' ')
                    flags = set(f[2].split(','))
                    if flags & {'handshake', 'fail?', 'fail', 'noaddr'}:
                        return False
                    flags.discard('myself')
                    view.add((f[0], f[1].split('@')[0], tuple(sorted(flags)), f[3],
                              tuple(f[8:])))
                seen.append(view)
            return len(seen[0]) == len(self.alive()) and all(v == seen[0] for v in seen)
        return wait_for(views, timeout, what='the nodes to agree')

    def check(self, node=None):
        node = node or self.alive()[0]
        return cli('--cluster', 'check', '127.0.0.1:%d' % node.port)

    def logs(self):
        return '\n'.join('== %s %d\n%s' % (n.kind, n.port, n.read_log()[-3000:])
                         for n in self.nodes)


def nodes_conf(node):
    with open(os.path.join(node.dir, 'nodes.conf')) as f:
        return f.read()


def node_id(node):
    return raw_text(node, 'CLUSTER', 'MYID')


def nodes_table(node):
    """CLUSTER NODES of ``node`` as {id: fields}."""
    out = {}
    for line in raw_text(node, 'CLUSTER', 'NODES').strip().split('\n'):
        f = line.split(' ')
        out[f[0]] = f
    return out


def replicas_of(cluster, master):
    """The nodes (of ``cluster``) that replicate ``master``, by their own view."""
    mid = node_id(master)
    out = []
    for n in cluster.alive():
        if n is master:
            continue
        me = nodes_table(n)[node_id(n)]
        if me[3] == mid:
            out.append(n)
    return out


def is_master(node):
    return 'master' in nodes_table(node)[node_id(node)][2].split(',')


class LoggingCluster(RedisCluster):
    """A RedisCluster that counts, under its current ``phase``, what it
    handled without the caller seeing it: the redirections it followed
    (MOVED, ASK, TRYAGAIN: redis-py reports each to _record_error_metric)
    and every error that left a node's attempt (_execute_command), which
    cluster_error_retry_attempts then retries (ConnectionError,
    ClusterDownError...) or raises."""

    phase = 'start'

    def __init__(self, *args, **kwargs):
        self.seen = collections.Counter()
        self.details = []       # (phase, node, error) of the errors that left an attempt
        super().__init__(*args, **kwargs)

    def _execute_command(self, target_node, *args, **kwargs):
        try:
            return super()._execute_command(target_node, *args, **kwargs)
        except Exception as e:
            self.seen[self.phase, 'left the attempt: ' + type(e).__name__] += 1
            self.details.append((self.phase, target_node.name, repr(e)))
            raise

    def _record_error_metric(self, error, *args, **kwargs):
        if isinstance(error, (MovedError, AskError, TryAgainError)):
            self.seen[self.phase, type(error).__name__] += 1
        return super()._record_error_metric(error, *args, **kwargs)

    def during(self, phase):
        """What was seen during ``phase``: {kind: count}."""
        return {kind: n for (p, kind), n in self.seen.items() if p == phase}


class WriteLoad(threading.Thread):
    """SET k:<i> <n> over and over, on keys of every slot; INCR c:<j> too
    (``counters``). ``phase`` names the part of the test the writes belong
    to: the client's log is kept by phase, and so is each key's last
    acknowledged write."""

    def __init__(self, port, counters=True, retries=20, max_errors=20):
        super().__init__(daemon=True)
        self.max_errors = max_errors
        self.rc = LoggingCluster(startup_nodes=[PyClusterNode('127.0.0.1', port)],
                                 cluster_error_retry_attempts=retries)
        self.with_counters = counters
        self.stop_event = threading.Event()
        self.written = {}
        self.phase_of = {}
        self.counters = {}
        self.errors = []
        self.error_phases = collections.Counter()
        self.ops = 0
        self.ops_by_phase = collections.Counter()

    @property
    def phase(self):
        return self.rc.phase

    @phase.setter
    def phase(self, value):
        self.rc.phase = value

    def run(self):
        n = 0
        while not self.stop_event.is_set():
            n += 1
            key = 'k:%d' % (n % 5000)
            phase = self.phase
            try:
                self.rc.set(key, n)
                self.written[key] = str(n)
                self.phase_of[key] = phase
                self.ops += 1
                self.ops_by_phase[phase] += 1
                if self.with_counters:
                    ckey = 'c:%d' % (n % 300)
                    self.rc.incr(ckey)
                    self.counters[ckey] = self.counters.get(ckey, 0) + 1
                    self.ops += 1
            except Exception as e:     # anything the client did not follow
                self.errors.append(repr(e))
                self.error_phases[phase] += 1
                if len(self.errors) > self.max_errors:
                    return
                time.sleep(0.05)

    def stop(self):
        self.stop_event.set()
        self.join(30)

    def verify(self, phases=None):
        """Every key (or every key last written in one of ``phases``) reads
        back its last acknowledged value; every counter its count."""
        for key, value in self.written.items():
            if phases is None or self.phase_of[key] in phases:
                assert self.rc.get(key) == value.encode(), key
        if phases is None:
            for key, value in self.counters.items():
                assert int(self.rc.get(key)) == value, key
