"""pyredis managed by the real Redis Sentinel (Debian's redis-sentinel 7.0).

Three redis-sentinel processes watch a master and its replicas; a redis-py
``Sentinel(...).master_for(...)`` client writes continuously, each write
followed by WAIT on the same connection so that we know which writes were
acknowledged by a replica. The master is killed with SIGKILL (or put to
sleep, or failed over by hand); Sentinel promotes a replica, reconfigures
the others, and the client carries on; the old master, back, is turned
into a replica. The Sentinels' own view (SENTINEL MASTER/MASTERS/SLAVES/
REPLICAS/SENTINELS, GET-MASTER-ADDR-BY-NAME) is checked after every step. The same
scenario runs with mixed sets (redis-server and pyredis together).

No assertion on timing: every wait is bounded only to end a broken run.
"""

import os
import re
import signal
import threading
import time

import pytest
import redis
from redis.sentinel import Sentinel

from helpers import REDIS_SERVER, RawConn, ServerProcess
from sentinel_helpers import NAME, REDIS_SENTINEL, SentinelSet, wait_for

needs_sentinel = pytest.mark.skipif(
    not REDIS_SENTINEL or not REDIS_SERVER,
    reason='redis-sentinel (and redis-server) are not installed: '
           'apt-get install redis-sentinel redis-server')

# failover-timeout also bounds how long Sentinel waits before reconfiguring
# a replica following the wrong master, and the gap between two failovers.
FAILOVER_TIMEOUT = 3000
# Sentinel's periods (INFO every 10 s, hello every 2 s, a returning old
# master converted after 4 hello periods) shortened as in Redis's own tests.
DEBUG = {'info-period': 500, 'publish-period': 500, 'ask-period': 500}


class Servers:
    """Every server a test starts, stopped at the end whatever happens."""

    def __init__(self):
        self.all = []

    def start(self, kind, *args, config_text='', password=None, **kw):
        # No 5 s wait for more replicas before a full sync's snapshot.
        args = ('--repl-diskless-sync-delay', '0') + args
        srv = ServerProcess(kind, args, config_text=config_text, **kw)
        srv.password = password
        self.all.append(srv)
        return srv

    def stop(self):
        for srv in self.all:
            srv.stop(signal.SIGKILL)


@pytest.fixture
def servers():
    s = Servers()
    yield s
    s.stop()


@pytest.fixture
def sentinels():
    started = []

    def start(master_port, **kw):
        kw.setdefault('failover_timeout', FAILOVER_TIMEOUT)
        kw.setdefault('debug', DEBUG)
        sset = SentinelSet(master_port, **kw)
        started.append(sset)
        return sset

    yield start
    for sset in started:
        sset.cleanup()


def cli(srv):
    return srv.client(socket_timeout=5, password=srv.password)


def info(srv, section='replication'):
    return cli(srv).info(section)


def link_up(srv, master):
    i = info(srv)
    return (i['role'] == 'slave' and i['master_port'] == master.port
            and i['master_link_status'] == 'up')


class Writer(threading.Thread):
    """SET k:<n> n, then WAIT <replicas> on the same connection (a pipeline),
    until stopped; errors (the master gone, a READONLY replica, timeouts)
    are retried. ``acked_before`` holds the writes a replica acknowledged
    before ``mark()`` was called."""

    def __init__(self, sset, wait_replicas=1, password=None):
        super().__init__(daemon=True)
        self.sentinel = Sentinel(sset.addrs(), socket_timeout=0.5)
        self.client = self.sentinel.master_for(NAME, socket_timeout=1, password=password)
        self.wait_replicas = wait_replicas
        self.n = 0
        self.acked = []
        self.ok_after_mark = []
        self.marked = False
        self.acked_before = None
        self.halt = threading.Event()
        self.errors = 0
        self.last_error = None

    def run(self):
        while not self.halt.is_set():
            self.n += 1
            key = 'k:%d' % self.n
            try:
                p = self.client.pipeline(transaction=False)
                p.set(key, self.n)
                p.execute_command('WAIT', self.wait_replicas, 100)
                _, replicas = p.execute()
            except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError,
                    redis.ResponseError) as e:
                self.errors += 1
                self.last_error = e
                time.sleep(0.05)
                continue
            if replicas >= self.wait_replicas:
                self.acked.append(key)
            if self.marked:
                if not self.ok_after_mark:
                    self.first_ok_after_mark = time.time()
                self.ok_after_mark.append(key)
            time.sleep(0.005)

    def mark(self):
        """Called just before the failure: what is acknowledged now must survive."""
        self.acked_before = list(self.acked)
        self.marked = True

    def stop(self):
        self.halt.set()
        self.join(10)


def check_sentinel_view(sset, master, replicas, down=()):
    """Each Sentinel agrees: ``master`` is the master, ``replicas`` are its
    healthy replicas, ``down`` are known but subjectively down. Asked every
    way a client may: SENTINEL MASTER and MASTERS, SLAVES and REPLICAS,
    SENTINELS and GET-MASTER-ADDR-BY-NAME; the replicas' offsets and
    priorities Sentinel reports are the servers' own (read from their INFO)."""
    run_id = info(master, 'server')['run_id']
    want = {r.port: info(r, 'server')['run_id'] for r in replicas}
    priority = {r.port: int(cli(r).config_get('replica-priority')['replica-priority'])
                for r in replicas}

    def agreed(port):
        if sset.master_addr(port) != ('127.0.0.1', master.port):
            return False
        m = sset.master(port)
        if not (m['flags'] == 'master' and m['runid'] == run_id
                and m['role-reported'] == 'master' and m['num-other-sentinels'] == 2):
            return False
        masters = sset.query('MASTERS', port=port)
        if [(e['name'], e['ip'], e['port'], e['flags'], e['runid'], e['role-reported'])
                for e in masters] != [(NAME, '127.0.0.1', str(master.port), 'master', run_id,
                                       'master')]:
            return False
        if masters[0]['num-slaves'] != str(len(want) + len(down)):
            return False
        seen = {int(r['port']): r for r in sset.replicas(port)}
        listed = {int(r['port']): r for r in sset.query('REPLICAS', NAME, port=port)}
        if set(listed) != set(seen):
            return False
        for p, rid in want.items():
            r, e = seen.get(p), listed[p] if p in listed else None
            if r is None or r['flags'] != 'slave' or r['runid'] != rid \
                    or r['role-reported'] != 'slave' or r['master-port'] != master.port \
                    or r['master-link-status'] != 'ok' or r['master-host'] != '127.0.0.1':
                return False
            if (e['flags'], e['runid'], e['role-reported'], e['master-host'], e['master-port'],
                    e['master-link-status'], e['slave-priority'], e['replica-announced']) != \
                    ('slave', rid, 'slave', '127.0.0.1', str(master.port), 'ok',
                     str(priority[p]), '1'):
                return False
            # Sentinel's copy of the replica's INFO slave_repl_offset: set
            # once Sentinel has read an INFO taken after the sync (the hello
            # messages it publishes on the master reach the replicas), and
            # never ahead of the server's own.
            offset = int(e['slave-repl-offset'])
            srv = next(x for x in replicas if x.port == p)
            own = info(srv).get('slave_repl_offset')     # (None while not a replica)
            if own is None or not 0 < offset <= int(own):
                return False
        for srv in down:
            r = seen.get(srv.port)
            if r is None or 's_down' not in r['flags']:
                return False
            if 's_down' not in listed[srv.port]['flags'].split(','):
                return False
        return len(sset.sentinels(port)) == 2

    for port in sset.ports:
        wait_for(lambda: agreed(port), 60, 0.2,
                 lambda: 'sentinel %d to agree: %r %r' % (
                     port, sset.query('MASTERS', port=port),
                     sset.query('REPLICAS', NAME, port=port)))
    m = sset.master()
    assert m['num-slaves'] == len(want) + len(down)
    assert m['quorum'] == 2
    # The same fields, in the same order, through both names.
    names = [list(r) for r in sset.query('REPLICAS', NAME)]
    assert names == [list(r) for r in sset.query('SLAVES', NAME)]
    assert all(n[:5] == ['name', 'ip', 'port', 'runid', 'flags'] for n in names)


def wait_settled(sset, candidates, quiet=3.0, timeout=90):
    """The master the Sentinels name once they have all named it, as a
    master, with every other candidate linked to it, for ``quiet`` seconds:
    (master, the other candidates). Sometimes the Sentinels fail over a
    second time, from the promoted replica to another one, with
    redis-server's sets too: their logs show +sdown of the new master a
    down-after period after the switch and +odown with the quorum at once,
    as if the votes about the old master still counted. A test that took
    the first switch for the last would then wait for a master that is not
    one any more."""
    def settled():
        addrs = {sset.master_addr(p) for p in sset.ports}
        if len(addrs) != 1 or any(sset.master(p)['flags'] != 'master' for p in sset.ports):
            return None
        port = addrs.pop()[1]
        new = next((r for r in candidates if r.port == port), None)
        if new is None:
            return None
        rest = [r for r in candidates if r is not new]
        return (new, rest) if all(link_up(r, new) for r in rest) else None

    deadline = time.time() + timeout
    held, since = None, 0.0
    while time.time() < deadline:
        try:
            state = settled()
        except (redis.RedisError, OSError):
            state = None
        now = time.time()
        if state is None or held is None or state[0] is not held[0]:
            held, since = state, now
        elif now - since >= quiet:
            return held
        time.sleep(0.2)
    raise AssertionError('the Sentinels did not settle on a master: %r' % (
        [sset.master_addr(p) for p in sset.ports],))


def check_no_loss(srv, keys):
    c = cli(srv)
    missing = []
    for i in range(0, len(keys), 500):
        chunk = keys[i:i + 500]
        vals = c.mget(chunk)
        missing += [k for k, v in zip(chunk, vals) if v is None]
    assert not missing, '%d acknowledged writes lost: %s' % (len(missing), missing[:10])


SETS = {
    'pyredis': ('pyredis', ['pyredis', 'pyredis']),
    'redis-master-pyredis-replicas': ('redis', ['pyredis', 'pyredis']),
    'pyredis-master-redis-replica': ('pyredis', ['redis']),
}


@needs_sentinel
@pytest.mark.parametrize('name', list(SETS))
def test_kill9_failover(name, servers, sentinels):
    master_kind, replica_kinds = SETS[name]
    kill9_failover(servers, sentinels, master_kind, replica_kinds)


def kill9_failover(servers, sentinels, master_kind, replica_kinds, config_text='',
                   password=None, sentinel_extra=()):
    def start(kind, *args, **kw):
        return servers.start(kind, *args, config_text=config_text, password=password, **kw)

    master = start(master_kind)
    replicas = [start(k, '--replicaof', '127.0.0.1', str(master.port)) for k in replica_kinds]
    for r in replicas:
        wait_for(lambda: link_up(r, master), 30, what='replica linked')
    sset = sentinels(master.port, extra=sentinel_extra)
    check_sentinel_view(sset, master, replicas)
    old_replid = info(master)['master_replid']

    # No acknowledged write can be lost: the Sentinels read INFO every 500 ms
    # (DEBUG) and see the master down only after 1 s, so they choose the
    # replica from offsets read after the kill, frozen by it: the promoted
    # replica has the highest, the others are behind it (partial resync).
    writer = Writer(sset, password=password)
    writer.start()
    try:
        wait_for(lambda: len(writer.acked) >= 50, 60, what='acknowledged writes')
        writer.mark()
        kill_time = time.time()
        master.kill()

        # Sentinel elects a leader, which promotes a replica and
        # reconfigures the other(s).
        wait_for(lambda: all(sset.master_addr(p)[1] != master.port for p in sset.ports),
                 60, 0.1, 'failover')
        first = sset.master_addr()[1]
        new, others = wait_settled(sset, replicas)
        assert info(new)['role'] == 'master'
        check_sentinel_view(sset, new, others, down=[master])
        # PSYNC2: the promoted replica keeps the old master's history as its
        # replid2, and the other replicas continue from it with a partial
        # resynchronization (after a second failover, from the first
        # promoted replica's history).
        if new.port == first:
            assert info(new)['master_replid2'] == old_replid
            assert int(info(new, 'stats')['sync_partial_ok']) == len(others)
        assert int(info(new, 'stats')['sync_full']) == 0

        # The client carries on on the new master.
        wait_for(lambda: len(writer.ok_after_mark) >= 20, 60,
                 what=lambda: 'writes on the new master (%r)' % writer.last_error)
        assert cli(new).exists(writer.ok_after_mark[-1])
        print('first write after the kill acknowledged in %.2f s' % (
            writer.first_ok_after_mark - kill_time))

        # The old master comes back: Sentinel makes it a replica.
        old = start(master_kind, port=master.port, cwd=master.dir)
        wait_for(lambda: link_up(old, new), 60, what='old master turned into a replica')
        check_sentinel_view(sset, new, others + [old])
    finally:
        writer.stop()
    check_no_loss(new, writer.acked_before)
    # The promoted replica's CONFIG REWRITE dropped its replicaof line; the
    # reconfigured ones persisted theirs.
    with open(os.path.join(new.dir, 'test.conf')) as f:
        assert not re.search(r'^(replicaof|slaveof) ', f.read(), re.M)
    for r in others + [old]:
        with open(os.path.join(r.dir, 'test.conf')) as f:
            assert 'replicaof 127.0.0.1 %d\n' % new.port in f.read()


# The users of Sentinel's documentation: Sentinel's own with only the
# commands it sends, replication's, and the application's (requirepass).
ACL_CONFIG = """\
user default on >app-secret ~* &* +@all
user sentinel-user on >sentinel-secret allchannels +multi +slaveof +ping +exec +subscribe \
+config|rewrite +role +publish +info +client|setname +client|kill +script|kill
user replica-user on >replica-secret +psync +replconf +ping
masteruser replica-user
masterauth replica-secret
"""


@needs_sentinel
def test_kill9_failover_with_acl_users(servers, sentinels):
    """Sentinel authenticates as a user limited to the commands it sends
    (sentinel auth-user/auth-pass), replicas as a replication user, the
    application with the default user's password; a pyredis master with a
    pyredis and a redis-server replica fails over."""
    kill9_failover(servers, sentinels, 'pyredis', ['pyredis', 'redis'],
                   config_text=ACL_CONFIG, password='app-secret',
                   sentinel_extra=['sentinel auth-user %s sentinel-user' % NAME,
                                   'sentinel auth-pass %s sentinel-secret' % NAME])


@needs_sentinel
@pytest.mark.parametrize('kind', ['pyredis', 'redis'])
def test_sentinel_kills_a_busy_script(kind, servers, sentinels):
    """A master stuck in a script answers -BUSY; once it is subjectively
    down Sentinel sends SCRIPT KILL, which pyredis serves during the script
    as redis-server does. (Whether the Sentinels reach ODOWN and fail over
    before the kill lands is a race Sentinel has with redis-server too.)"""
    master = servers.start(kind, '--busy-reply-threshold', '100')
    replica = servers.start(kind, '--replicaof', '127.0.0.1', str(master.port))
    wait_for(lambda: link_up(replica, master), 30, what='replica linked')
    sset = sentinels(master.port)
    check_sentinel_view(sset, master, [replica])
    conn = RawConn(master.port, timeout=60)
    reply = conn.call('EVAL', 'while true do end', '0')
    conn.close()
    assert reply.startswith(b'-ERR Script killed by user with SCRIPT KILL...')

    def settled():
        addrs = {sset.master_addr(p) for p in sset.ports}
        # (no Sentinel still seeing it down, voting or failing over)
        if len(addrs) != 1 or any(sset.master(p)['flags'] != 'master' for p in sset.ports):
            return None
        new = master if addrs.pop()[1] == master.port else replica
        old = replica if new is master else master
        return link_up(old, new) and (new, old)

    new, old = wait_for(settled, 60, 0.2, 'the set to settle')
    check_sentinel_view(sset, new, [old])


@needs_sentinel
def test_partition_and_manual_failover(servers, sentinels):
    """A master stalled by DEBUG SLEEP is failed over and demoted when it
    wakes; then SENTINEL FAILOVER by hand; a replica-priority 0 replica is
    never promoted. Writes acknowledged by every replica survive both."""
    master = servers.start('pyredis')
    never = servers.start('pyredis', '--replicaof', '127.0.0.1', str(master.port),
                          '--replica-priority', '0')
    other = servers.start('pyredis', '--replicaof', '127.0.0.1', str(master.port))
    for r in (never, other):
        wait_for(lambda: link_up(r, master), 30, what='replica linked')
    sset = sentinels(master.port)
    check_sentinel_view(sset, master, [never, other])
    prio = {int(r['port']): r['slave-priority'] for r in sset.replicas()}
    assert prio == {never.port: 0, other.port: 100}

    writer = Writer(sset, wait_replicas=2)
    writer.start()
    try:
        wait_for(lambda: len(writer.acked) >= 30, 60, what='acknowledged writes')
        # The master stops answering for a while, as behind a partition.
        writer.mark()
        stall = RawConn(master.port)
        stall.send_command('DEBUG', 'SLEEP', '4')
        wait_for(lambda: all(sset.master_addr(p)[1] == other.port for p in sset.ports),
                 60, 0.1, 'failover away from the stalled master')
        assert stall.read_reply() == b'+OK\r\n'
        stall.close()
        wait_for(lambda: link_up(master, other), 60, what='stalled master demoted')
        wait_for(lambda: link_up(never, other), 60, what='priority-0 replica follows')
        check_sentinel_view(sset, other, [never, master])
        first = writer.acked_before
        check_no_loss(other, first)

        # By hand: the only promotable replica is the old master.
        wait_for(lambda: len(writer.acked) >= len(first) + 20, 60, what='writes resumed')
        before = list(writer.acked)
        wait_for(lambda: 'failover' not in sset.master()['flags'], 60, what='failover ended')
        assert sset.client().execute_command('SENTINEL', 'FAILOVER', NAME) in (b'OK', 'OK', True)
        wait_for(lambda: all(sset.master_addr(p)[1] == master.port for p in sset.ports),
                 60, 0.1, 'manual failover')
        wait_for(lambda: link_up(other, master), 60, what='previous master demoted')
        wait_for(lambda: link_up(never, master), 60, what='priority-0 replica follows')
        check_sentinel_view(sset, master, [never, other])
        wait_for(lambda: len(writer.ok_after_mark) > 0
                 and master.client().exists(writer.ok_after_mark[-1]), 60,
                 what='writes on the new master')
    finally:
        writer.stop()
    # Acknowledged by both replicas: none lost across either failover.
    check_no_loss(master, before)
    check_no_loss(master, writer.acked)
    assert info(never)['role'] == 'slave'


def _failover_transaction(srv, *replicaof):
    """Sentinel's reconfiguration, sent the way sentinelSendSlaveOf sends it."""
    conn = srv.raw()
    conn.call('CLIENT', 'SETNAME', 'sentinel-0000-cmd')
    replies = [conn.call(*cmd) for cmd in (
        ('MULTI',), ('SLAVEOF',) + replicaof, ('CONFIG', 'REWRITE'),
        ('CLIENT', 'KILL', 'TYPE', 'normal'), ('CLIENT', 'KILL', 'TYPE', 'pubsub'),
        ('EXEC',))]
    conn.close()
    return replies


@pytest.mark.skipif(not REDIS_SERVER, reason='redis-server is not installed')
def test_failover_transaction_like_redis(servers):
    """The transaction Sentinel sends to promote and to demote a server gets
    redis-server's replies, and CONFIG REWRITE persists the new role."""
    out = {}
    for kind in ('redis', 'pyredis'):
        master = servers.start(kind)
        replica = servers.start(kind, '--replicaof', '127.0.0.1', str(master.port))
        wait_for(lambda: link_up(replica, master), 30, what='replica linked')
        bystander = replica.raw()
        bystander.call('CLIENT', 'SETNAME', 'app')
        subscriber = replica.raw()
        subscriber.call('SUBSCRIBE', '__sentinel__:hello')
        promote = _failover_transaction(replica, 'NO', 'ONE')
        killed = (bystander.closed(2), subscriber.closed(2))
        demote = _failover_transaction(master, '127.0.0.1', str(replica.port))
        wait_for(lambda: link_up(master, replica), 30, what='demoted master linked')
        files = []
        for srv in (replica, master):
            with open(os.path.join(srv.dir, 'test.conf')) as f:
                files.append([ln.replace(str(replica.port), 'PORT') for ln in f.read().split('\n')
                              if ln.startswith(('replicaof', 'slaveof'))])
        out[kind] = (promote, killed, demote, files)
    assert out['pyredis'] == out['redis']
    assert out['pyredis'][3] == [[], ['replicaof 127.0.0.1 PORT']]


def _info_fields(srv, section):
    """INFO lines as (name, value) with what differs between two runs
    (ids, ports, offsets, times) masked; the fields Sentinel parses keep
    their shape."""
    raw = RawConn(srv.port).call('INFO', section).decode()
    out = []
    for line in raw.split('\r\n')[1:]:
        if ':' not in line:
            continue
        name, value = line.split(':', 1)
        value = re.sub(r'\b[0-9a-f]{40}\b', 'ID', value)
        value = re.sub(r'(port=|^)\d{4,5}$', r'\1PORT', value) if 'port' in name or \
            name.startswith('slave') and name[5:].isdigit() else value
        value = re.sub(r'port=\d+', 'port=PORT', value)
        value = re.sub(r'(offset=|lag=)\d+', r'\1N', value)
        if name.endswith(('offset', '_seconds_ago', 'down_since_seconds', 'histlen',
                          'first_byte_offset')) or name == 'master_port':
            value = 'N' if value.lstrip('-').isdigit() and value != '-1' else value
        out.append((name, value))
    return out


@pytest.mark.skipif(not REDIS_SERVER, reason='redis-server is not installed')
def test_info_fields_sentinel_reads_like_redis(servers):
    """INFO replication (role, master_host/port, master_link_status,
    master_link_down_since_seconds, slave_repl_offset, slave_priority,
    slave_read_only, replica_announced, slaveN ip/port/state/offset/lag,
    master_repl_offset) and run_id, on a master, on a replica with an
    announced address and priority 0, and on that replica once its master is
    gone: the same fields in the same order as redis-server."""
    out = {}
    for kind in ('redis', 'pyredis'):
        master = servers.start(kind)
        replica = servers.start(kind, '--replicaof', '127.0.0.1', str(master.port),
                                '--replica-announce-ip', '10.0.0.9', '--replica-priority', '0')
        wait_for(lambda: link_up(replica, master), 30, what='replica linked')
        cli(master).set('k', 'v')
        wait_for(lambda: info(master)['slave0']['offset'] == info(master)['master_repl_offset'],
                 30, what='replica acknowledged')
        states = [_info_fields(master, 'replication'), _info_fields(replica, 'replication'),
                  [f for f in _info_fields(master, 'server') if f[0] == 'run_id']]
        master.kill()
        wait_for(lambda: info(replica)['master_link_status'] == 'down', 30, what='link down')
        states.append(_info_fields(replica, 'replication'))
        out[kind] = states
    assert out['pyredis'] == out['redis']
    assert ('master_link_down_since_seconds', 'N') in out['pyredis'][3]
    assert ('slave_priority', '0') in out['pyredis'][1]
    assert out['pyredis'][0][2] == ('slave0', 'ip=10.0.0.9,port=PORT,state=online,offset=N,lag=N')


@pytest.mark.skipif(not REDIS_SERVER, reason='redis-server is not installed')
def test_restarted_master_keeps_its_history(servers):
    """A master restarted from the RDB its SHUTDOWN saved keeps its
    replication history as replid2 (Redis 7.0): its replica continues with
    a partial resync, and the keys that expired while it was down reach the
    replica as DELs from the backlog."""
    out = {}
    for kind in ('redis', 'pyredis'):
        master = servers.start(kind, '--save', '900 1')
        replica = servers.start(kind, '--replicaof', '127.0.0.1', str(master.port))
        wait_for(lambda: link_up(replica, master), 30, what='replica linked')
        c = cli(master)
        for i in range(50):
            c.set('k%d' % i, i)
        c.set('long', 1, ex=1000)
        c.set('short', 1, px=1000)
        replid = info(master)['master_replid']
        conn = master.raw()
        conn.send_command('SHUTDOWN')
        assert conn.closed(10)
        master.proc.wait(10)
        time.sleep(1.1)             # 'short' expires while the master is down
        again = servers.start(kind, '--save', '900 1', port=master.port, cwd=master.dir)
        i = info(again)
        assert i['master_replid2'] == replid
        assert int(i['second_repl_offset']) == int(i['repl_backlog_first_byte_offset'])
        wait_for(lambda: link_up(replica, again), 30, what='replica back')
        wait_for(lambda: cli(replica).dbsize() == 51, 30, what="the expired key's DEL")
        stats = info(again, 'stats')
        out[kind] = (stats['sync_partial_ok'], stats['sync_full'],
                     'keys loaded: 51, keys expired: 1.' in again.read_log())
    assert out['pyredis'] == out['redis'] == (1, 0, True)


SENTINEL_USER = ('sentinel-user on >sentinel-secret allchannels +multi +slaveof +ping +exec '
                 '+subscribe +config|rewrite +role +publish +info +client|setname '
                 '+client|kill +script|kill').split()
NOREPLICAS = b'-NOREPLICAS Not enough good replicas to write.\r\n'


class StaleWriter(threading.Thread):
    """A client that stays on one server (the old master cut off from the
    Sentinels): SET s:<n> n over a raw connection, every reply kept."""

    def __init__(self, srv, password):
        super().__init__(daemon=True)
        self.srv, self.password = srv, password
        self.replies = []
        self.halt = threading.Event()

    def run(self):
        conn = self.srv.raw()
        conn.call('AUTH', self.password)
        n = 0
        while not self.halt.is_set():
            n += 1
            self.replies.append(('s:%d' % n, conn.call('SET', 's:%d' % n, n)))
            time.sleep(0.01)
        conn.close()

    def accepted(self):
        return [k for k, r in self.replies if r == b'+OK\r\n']

    def stop(self):
        self.halt.set()
        self.join(10)


SCRIPT_AND_MULTI_CASES = [
    ('EVAL', "return redis.call('set', 'k', 2)", '0'),
    ('EVAL', "return redis.pcall('set', 'k', 2)", '0'),
    ('EVAL', "redis.call('get', 'x'); return redis.call('incr', 'k')", '0'),
    ('EVAL', "#!lua\nreturn redis.call('set', 'k', 2)", '0'),
    ('EVAL_RO', "#!lua\nreturn 1", '0'),
    ('EVAL', "#!lua flags=no-writes\nreturn redis.call('get', 'k')", '0'),
    ('EVAL', "return redis.call('get', 'k')", '0'),
    ('FUNCTION', 'LOAD', "#!lua name=lib\nredis.register_function('f', function() "
                         "return redis.call('set', 'k', '1') end)"),
    ('MULTI',), ('SET', 'k', 'v'), ('EXEC',),
    ('MULTI',), ('GET', 'k'), ('EXEC',),
]


@pytest.mark.skipif(not REDIS_SERVER, reason='redis-server is not installed')
def test_min_replicas_refusals_match_redis(servers):
    """Without its good replica, a master refuses a script's first write
    (scriptVerifyWriteCommandAllow), a script declaring writes before it
    runs, and EXEC of a queued write, with redis-server's bytes."""
    out = {}
    for kind in ('redis', 'pyredis'):
        conn = servers.start(kind, '--min-replicas-to-write', '1').raw()
        out[kind] = [conn.call(*args) for args in SCRIPT_AND_MULTI_CASES]
        conn.close()
    assert out['pyredis'] == out['redis']
    assert out['pyredis'][0].startswith(NOREPLICAS[:-2] + b' script: ')


@needs_sentinel
@pytest.mark.parametrize('kind', ['pyredis', 'redis'])
def test_min_replicas_to_write_bounds_the_loss(kind, servers, sentinels):
    """min-replicas-to-write 1, min-replicas-max-lag 2 on every server of a
    set watched by Sentinel (redis-server's run is the oracle). Replicas
    stopped (SIGSTOP): the master refuses writes with Redis's -NOREPLICAS,
    Sentinel sees the replicas down and does not fail over; resumed, writes
    go on. Then the master is cut off from the Sentinels only (their ACL
    user deleted, as behind a partition): they fail over; a client stuck on
    the old master writes there until its replicas leave, then gets
    -NOREPLICAS and nothing more is accepted. The user back, Sentinel turns
    the old master into a replica: what it accepted alone is gone, and no
    write acknowledged with WAIT 1 is lost."""
    def start(*args, **kw):
        return servers.start(kind, '--min-replicas-to-write', '1',
                             '--min-replicas-max-lag', '2', *args, config_text=ACL_CONFIG,
                             password='app-secret', **kw)

    master = start()
    replicas = [start('--replicaof', '127.0.0.1', str(master.port)) for _ in range(2)]
    for r in replicas:
        wait_for(lambda: link_up(r, master), 30, what='replica linked')
    sset = sentinels(master.port, extra=['sentinel auth-user %s sentinel-user' % NAME,
                                         'sentinel auth-pass %s sentinel-secret' % NAME])
    check_sentinel_view(sset, master, replicas)
    writer = Writer(sset, password='app-secret')
    writer.start()
    stale = None
    try:
        wait_for(lambda: len(writer.acked) >= 30, 60, what='acknowledged writes')

        # The replicas stop answering: once their last ACK is older than
        # min-replicas-max-lag, the master refuses writes (reads go on).
        probe = master.raw()
        probe.call('AUTH', 'app-secret')
        for r in replicas:
            r.proc.send_signal(signal.SIGSTOP)
        try:
            wait_for(lambda: probe.call('SET', 'probe', '1') == NOREPLICAS, 30,
                     what='-NOREPLICAS')
            assert probe.call('GET', 'probe') in (b'$-1\r\n', b'$1\r\n1\r\n')
            assert probe.call('EVAL', "return redis.pcall('set', 'probe', 2)", '0') == NOREPLICAS
            assert info(master)['min_slaves_good_slaves'] == 0
            refused = writer.errors
            wait_for(lambda: writer.errors > refused + 3, 30, what='the client refused')
            assert 'Not enough good replicas' in str(writer.last_error)
            # Sentinel sees the replicas down, not the master.
            wait_for(lambda: all('s_down' in r['flags'].split(',')
                                 for p in sset.ports
                                 for r in sset.query('REPLICAS', NAME, port=p)), 30,
                     what='replicas subjectively down')
            assert all(sset.master_addr(p) == ('127.0.0.1', master.port) for p in sset.ports)
        finally:
            for r in replicas:
                r.proc.send_signal(signal.SIGCONT)
        wait_for(lambda: probe.call('SET', 'probe', '3') == b'+OK\r\n', 30, what='writes again')
        probe.close()
        check_sentinel_view(sset, master, replicas)

        # The Sentinels lose the master; clients and replicas do not.
        acked = len(writer.acked)
        wait_for(lambda: len(writer.acked) >= acked + 20, 60, what='acknowledged writes')
        writer.mark()
        stale = StaleWriter(master, 'app-secret')
        stale.start()
        wait_for(lambda: stale.accepted(), 30, what='the stale client writing')
        admin = cli(master)
        assert admin.execute_command('ACL', 'DELUSER', 'sentinel-user') == 1
        wait_for(lambda: all(sset.master_addr(p)[1] != master.port for p in sset.ports),
                 60, 0.1, 'failover')
        # The old master, left without replicas, refuses the stale client.
        wait_for(lambda: stale.replies[-1][1] == NOREPLICAS, 30, what='-NOREPLICAS')
        first_refused = len(stale.replies) - 1
        wait_for(lambda: len(stale.replies) > first_refused + 20, 30, what='more stale writes')
        stale.stop()
        after = [r for _, r in stale.replies[first_refused:]]
        assert set(after) == {NOREPLICAS}, after[:5]
        accepted = stale.accepted()
        assert accepted

        # The Sentinels reach it again and make it a replica of the new one.
        assert admin.execute_command('ACL', 'SETUSER', *SENTINEL_USER) in (b'OK', 'OK', True)

        def settled():
            addrs = {sset.master_addr(p) for p in sset.ports}
            if len(addrs) != 1 or any(sset.master(p)['flags'] != 'master' for p in sset.ports):
                return None
            port = addrs.pop()[1]
            new = next((r for r in replicas if r.port == port), None)
            if new is None:
                return None
            rest = [r for r in replicas + [master] if r is not new]
            return all(link_up(r, new) for r in rest) and (new, rest)

        try:
            new, rest = wait_for(settled, 60, 0.2, 'old master turned into a replica')
        except AssertionError:
            print(sset.read_logs())
            raise
        others = [r for r in rest if r is not master]
        # (Sometimes the Sentinels fail over a second time, from the
        # promoted replica to the other one, with redis-server's sets too:
        # their logs show +sdown of the new master a down-after period after
        # the switch and +odown with the quorum at once, as if the votes
        # about the old master still counted.)
        switches = sset.read_logs().count('# +switch-master')
        print('%d +switch-master events logged by the 3 Sentinels' % switches)
        check_sentinel_view(sset, new, others + [master])
        wait_for(lambda: len(writer.ok_after_mark) >= 20, 60,
                 what=lambda: 'writes on the new master (%r)' % writer.last_error)
    finally:
        writer.stop()
        if stale is not None:
            stale.stop()
    check_no_loss(new, writer.acked_before)
    wait_for(lambda: cli(master).exists(writer.ok_after_mark[-1]), 30,
             what='the old master in sync')
    check_no_loss(master, writer.acked_before)
    # What the cut-off master accepted alone is bounded by min-replicas-max-lag
    # (here: until its replicas left) and lost; the rest reached the new master.
    on_new = cli(new).mget(accepted)
    lost = [k for k, v in zip(accepted, on_new) if v is None]
    print('%d writes accepted by the cut-off master, %d of them lost' % (
        len(accepted), len(lost)))
    # The stream is ordered: what is lost is the tail, what the promoted
    # replica had not received when it was promoted.
    assert lost == accepted[len(accepted) - len(lost):]
    if lost:
        assert cli(master).exists(*lost) == 0
