"""The quality of the approximated LRU (allkeys-lru), pyredis against
redis-server, in the spirit of ``redis-cli --lru-test``.

    python benchmarks/lru_quality.py                 # one run, seed 1
    python benchmarks/lru_quality.py --runs 3 --seed 7
    python benchmarks/lru_quality.py --pattern cache-aside

Prints, for each run, the GET hit ratio of pyredis, of redis-server and of
an exact LRU cache simulated here on the same stream (and of random
eviction, for scale), with the number of keys each held.

The workload is redis-cli's LRUTestMode: keys ``lru:<n>`` drawn with its
powerLawRand(1, keyspace, 6.2) (about 80% of the accesses go to 20% of
the keys), in cycles of 250 pipelined ``SET key val`` then 250 pipelined
``GET key``, the GET replies counted as hits or misses. ``--pattern
cache-aside`` sends GETs only and SETs each missed key in the next batch
(a read-through cache). The random generator is seeded, so every server
sees the same keys in the same order.

What makes the comparison fair:

* Same number of keys. The two servers do not count memory the same way
  (a key costs pyredis about twice the bytes it costs Redis), so a same
  maxmemory would compare cache sizes, not eviction. redis-server runs
  with a fixed ``--redis-maxmemory``; during the warm-up pyredis's
  maxmemory is steered (by the bytes one more key costs it, learnt from
  each step) until the mean of two DBSIZE readings
  is within ``--tolerance`` of redis-server's, then frozen for the
  measurement.
* Same time line. Both LRU clocks have Redis's one-second resolution: the
  idle time an eviction sees depends on how many requests arrived per
  second, and a server three times faster under a free-running client
  would see three times more keys tied at the same idle time. So one
  client drives both servers in lockstep (each batch is sent to both, then
  both replies are read) at a paced ``--rate`` of commands per second: the
  two servers receive the same commands in the same seconds.
* Both run allkeys-lru with the default maxmemory-samples 5.

Two references are simulated here on the same key stream from its first
batch (so they are warm when the measurement starts) and counted over the
same batches, for a cache of redis-server's mean key count: exact LRU, the
bound that sampling approximates, and random eviction, the floor. On this
workload (independent requests, skewed but stable popularity) the two are
only a few points apart: the popular keys stay cached under any policy.
"""

import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict

import hiredis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BATCH = 250                 # LRU_CYCLE_PIPELINE_SIZE
ALPHA = 6.2                 # redis-cli's LRUTestGenKey exponent


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


# -- the servers ------------------------------------------------------------------

class Server:
    """A redis-server or pyredis child process and one pipelined socket."""

    def __init__(self, kind, maxmemory):
        self.kind = kind
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix='lru-quality-')
        if kind == 'redis':
            cmd = [shutil.which('redis-server')]
        else:
            cmd = [sys.executable, '-m', 'pyredis']
        cmd += ['--port', str(self.port), '--bind', '127.0.0.1', '--save', '',
                '--appendonly', 'no', '--dir', self.dir,
                '--maxmemory', str(maxmemory), '--maxmemory-policy', 'allkeys-lru',
                '--maxmemory-samples', '5']
        env = dict(os.environ)
        env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, cwd=self.dir, env=env)
        deadline = time.time() + 20
        while True:
            try:
                self.sock = socket.create_connection(('127.0.0.1', self.port), timeout=0.5)
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError('%s did not start' % kind)
                time.sleep(0.05)
        self.sock.settimeout(60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = hiredis.Reader()
        # The first INFO leaves redis-server holding some 30 KB more (its
        # reply buffers grow): ask once now, so that this happens before
        # the key counts are matched, not in the middle of the measurement.
        self.info('memory')
        self.info('stats')

    def send(self, data):
        self.sock.sendall(data)

    def replies(self, n):
        out = []
        reader = self.reader
        while len(out) < n:
            r = reader.gets()
            if r is False:
                data = self.sock.recv(1 << 20)
                if not data:
                    raise ConnectionError('%s closed the connection' % self.kind)
                reader.feed(data)
                continue
            out.append(r)
        return out

    def call(self, *args):
        self.send(encode([str(a).encode() if not isinstance(a, bytes) else a for a in args]))
        r = self.replies(1)[0]
        if isinstance(r, hiredis.ReplyError):
            raise r
        return r

    def info(self, section):
        text = self.call('INFO', section).decode()
        return dict(line.split(':', 1) for line in text.splitlines() if ':' in line)

    def dbsize(self):
        return self.call('DBSIZE')

    def stop(self):
        try:
            self.sock.close()
        except AttributeError:
            pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def encode(args):
    out = [b'*%d\r\n' % len(args)]
    for a in args:
        out.append(b'$%d\r\n%s\r\n' % (len(a), a))
    return b''.join(out)


# -- the workload -------------------------------------------------------------------

def key_stream(keyspace, seed):
    """redis-cli's powerLawRand(1, keyspace, 6.2), seeded."""
    rnd = random.Random(seed).random
    top = keyspace + 1
    a1 = ALPHA + 1
    lo = 1.0
    span = top ** a1 - lo
    inv = 1.0 / a1
    while True:
        pl = (span * rnd() + lo) ** inv
        yield b'lru:%d' % (top - 1 - int(pl) + 1)


def batches(keyspace, seed, pattern):
    """The key stream cut into batches: (keys to SET, keys to GET). Under
    cache-aside the SETs are the previous batch's misses, which depend on
    the cache: None here, the caller fills them in."""
    nxt = key_stream(keyspace, seed).__next__
    while True:
        if pattern == 'lru-test':
            yield [nxt() for _ in range(BATCH)], [nxt() for _ in range(BATCH)]
        else:
            yield None, [nxt() for _ in range(BATCH)]


def reference(keyspace, seed, pattern, capacity, first, last, policy='lru'):
    """The GET hit ratio (percent) of a cache of ``capacity`` keys with
    exact LRU (``policy='lru'``) or random eviction (``'random'``, seeded)
    over batches [first, last) of the stream, after batches [0, first)
    warmed it up."""
    lru = policy == 'lru'
    cache = OrderedDict()       # lru: oldest first
    keys, pos = [], {}          # random: O(1) random pick and removal
    pick = random.Random(seed).randrange
    hits = misses = 0
    missed = []
    for i, (sets, gets) in enumerate(batches(keyspace, seed, pattern)):
        if i >= last:
            break
        for k in (missed if sets is None else sets):
            if lru:
                if k in cache:
                    cache.move_to_end(k)
                else:
                    cache[k] = None
                    if len(cache) > capacity:
                        cache.popitem(last=False)
            elif k not in pos:
                pos[k] = len(keys)
                keys.append(k)
                if len(keys) > capacity:
                    victim = keys[pick(len(keys))]
                    j = pos.pop(victim)
                    tail = keys.pop()
                    if tail is not victim:
                        keys[j] = tail
                        pos[tail] = j
        missed = []
        for k in gets:
            if lru and k in cache:
                cache.move_to_end(k)
            elif lru or k not in pos:
                missed.append(k)
        if i >= first:
            hits += len(gets) - len(missed)
            misses += len(missed)
    return 100.0 * hits / (hits + misses)


def _set(k):
    return b'*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$3\r\nval\r\n' % (len(k), k)


def _get(k):
    return b'*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n' % (len(k), k)


class Driver:
    """Sends the same batches to every server in lockstep, paced."""

    def __init__(self, servers, keyspace, seed, rate, pattern):
        self.servers = servers
        self.batches = batches(keyspace, seed, pattern)
        self.rate = rate
        self.hits = [0] * len(servers)
        self.misses = [0] * len(servers)
        self.counting = False
        self.missed = [[] for _ in servers]     # cache-aside: keys to SET next
        self.sent = 0           # batches
        self.commands = 0
        self.start = None

    def _pace(self):
        if self.start is None:
            self.start = time.monotonic()
        delay = self.start + self.commands / self.rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def batch(self):
        """One LRU-test cycle (250 SETs then 250 GETs), or one cache-aside
        batch (the previous batch's missed keys SET, then 250 GETs)."""
        self._pace()
        sets, gets = next(self.batches)
        tail = b''.join(map(_get, gets))
        if sets is not None:
            payload = b''.join(map(_set, sets)) + tail
            payloads = [payload] * len(self.servers)
            nsets = [len(sets)] * len(self.servers)
        else:
            payloads = [b''.join(map(_set, m)) + tail for m in self.missed]
            nsets = [len(m) for m in self.missed]
        for srv, data in zip(self.servers, payloads):
            srv.send(data)
        for i, srv in enumerate(self.servers):
            replies = srv.replies(nsets[i] + len(gets))
            for r in replies:
                if isinstance(r, hiredis.ReplyError):
                    raise RuntimeError('%s: %s' % (srv.kind, r))
            missed = [k for k, r in zip(gets, replies[nsets[i]:]) if r is None]
            self.missed[i] = missed
            if self.counting:
                self.misses[i] += len(missed)
                self.hits[i] += len(gets) - len(missed)
        self.sent += 1
        self.commands += max(nsets) + len(gets)

    def run_for(self, seconds, every=0.5, on_tick=None):
        end = time.monotonic() + seconds
        tick = time.monotonic() + every
        while time.monotonic() < end:
            self.batch()
            if on_tick is not None and time.monotonic() >= tick:
                tick += every
                on_tick()


def measure(keyspace=100000, redis_maxmemory=2 * 1024 * 1024, rate=20000, seed=1,
            warmup=12.0, seconds=15.0, tolerance=0.02, pattern='lru-test', log=None):
    """One comparison. Returns a dict with the hit ratios (percent), the
    key counts and the achieved rate."""
    def say(msg):
        if log is not None:
            log(msg)

    redis = Server('redis', redis_maxmemory)
    # A first guess for pyredis (a key costs it more bytes than Redis),
    # steered during the warm-up.
    ours = Server('pyredis', redis_maxmemory * 2)
    servers = [ours, redis]
    try:
        drv = Driver(servers, keyspace, seed, rate, pattern)
        # Warm-up: fill both caches; once redis-server's key count is
        # steady, steer pyredis's maxmemory towards it.
        history = []
        state = {'max': redis_maxmemory * 2, 'ok': 0, 'per_key': 100.0,
                 'last': None, 'settle': 0, 'readings': []}

        def steer():
            target = redis.dbsize()
            history.append(target)
            if len(history) < 4 or abs(history[-1] - history[-3]) > 0.01 * target:
                return      # redis-server is still filling
            n = ours.dbsize()
            if state['settle']:
                state['settle'] -= 1    # let the last change take effect
                return
            # pyredis's count moves by a percent or two between evictions:
            # steer on the mean of two readings.
            readings = state['readings']
            readings.append(n)
            if len(readings) < 2:
                return
            n = sum(readings) / len(readings)
            del readings[:]
            if abs(n - target) <= tolerance * target:
                state['ok'] += 1
                return
            state['ok'] = 0
            # Steer on the marginal bytes of one more key (its objects; the
            # dict tables are sized by the churn, not by each key), learnt
            # from the previous step when it moved the count.
            last = state['last']
            if last is not None and abs(n - last[1]) > 20 and state['max'] != last[0]:
                slope = (state['max'] - last[0]) / (n - last[1])
                if 30 <= slope <= 1000:
                    state['per_key'] = slope
            state['last'] = (state['max'], n)
            step = (target - n) * state['per_key']
            step = max(-0.1 * state['max'], min(0.1 * state['max'], step))
            state['max'] = int(state['max'] + step)
            say('steer: redis-server %d keys, pyredis %d keys, maxmemory -> %d'
                % (target, n, state['max']))
            ours.call('CONFIG', 'SET', 'maxmemory', state['max'])
            state['settle'] = 1

        drv.run_for(warmup, on_tick=steer)
        # Keep steering until the counts agree on consecutive readings (a
        # bounded extension of the warm-up).
        extra = 0.0
        while state['ok'] < 2 and extra < warmup:
            drv.run_for(1.0, on_tick=steer)
            extra += 1.0
        say('warm-up done: redis-server %d keys, pyredis maxmemory %d -> %d keys'
            % (history[-1], state['max'], ours.dbsize()))
        # Measurement: the same stream continues; counts from now on.
        drv.counting = True
        sizes = [[], []]
        ev0 = [int(s.info('stats')['evicted_keys']) for s in servers]

        def sample():
            for i, s in enumerate(servers):
                sizes[i].append(s.dbsize())

        first, c0, t0 = drv.sent, drv.commands, time.monotonic()
        drv.run_for(seconds, on_tick=sample)
        elapsed = time.monotonic() - t0
        ev1 = [int(s.info('stats')['evicted_keys']) for s in servers]
    finally:
        for s in servers:
            s.stop()
    redis_keys = sum(sizes[1]) / len(sizes[1])
    capacity = round(redis_keys)
    exact = reference(keyspace, seed, pattern, capacity, first, drv.sent, 'lru')
    rand = reference(keyspace, seed, pattern, capacity, first, drv.sent, 'random')

    def pct(h, m):
        return 100.0 * h / (h + m) if h + m else 0.0

    return {
        'pyredis': pct(drv.hits[0], drv.misses[0]),
        'redis': pct(drv.hits[1], drv.misses[1]),
        'exact': exact,
        'random': rand,
        'pyredis_keys': sum(sizes[0]) / len(sizes[0]),
        'redis_keys': redis_keys,
        'pyredis_keys_range': (min(sizes[0]), max(sizes[0])),
        'redis_keys_range': (min(sizes[1]), max(sizes[1])),
        'exact_keys': capacity,
        'pyredis_maxmemory': state['max'],
        'redis_maxmemory': redis_maxmemory,
        'evicted': (ev1[0] - ev0[0], ev1[1] - ev0[1]),
        'rate': (drv.commands - c0) / elapsed,
        'gets': drv.hits[1] + drv.misses[1],
    }


def report(r):
    return ('pyredis %.2f%% (%d keys, %d..%d, maxmemory %d) | redis-server %.2f%% '
            '(%d keys, %d..%d, maxmemory %d) | exact LRU %.2f%%, random eviction %.2f%% '
            '(%d keys) | '
            '%d GETs at %.0f commands/s, evicted %d / %d'
            % (r['pyredis'], r['pyredis_keys'], r['pyredis_keys_range'][0],
               r['pyredis_keys_range'][1], r['pyredis_maxmemory'],
               r['redis'], r['redis_keys'], r['redis_keys_range'][0],
               r['redis_keys_range'][1], r['redis_maxmemory'],
               r['exact'], r['random'], r['exact_keys'], r['gets'], r['rate'],
               r['evicted'][0], r['evicted'][1]))


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--keyspace', type=int, default=100000,
                   help='keys lru:1..N (redis-cli --lru-test N)')
    p.add_argument('--redis-maxmemory', type=int, default=2 * 1024 * 1024)
    p.add_argument('--rate', type=int, default=20000, help='commands per second')
    p.add_argument('--warmup', type=float, default=12.0, help='seconds')
    p.add_argument('--seconds', type=float, default=15.0, help='measured seconds')
    p.add_argument('--seed', type=int, default=1)
    p.add_argument('--runs', type=int, default=1, help='seeds seed, seed+1, ...')
    p.add_argument('--tolerance', type=float, default=0.02,
                   help='key count match required before measuring')
    p.add_argument('--pattern', choices=('lru-test', 'cache-aside'), default='lru-test')
    a = p.parse_args()
    if not shutil.which('redis-server'):
        raise SystemExit('redis-server is not installed')
    for i in range(a.runs):
        r = measure(a.keyspace, a.redis_maxmemory, a.rate, a.seed + i, a.warmup,
                    a.seconds, a.tolerance, a.pattern,
                    log=lambda m: print('  ' + m, file=sys.stderr))
        print('seed %d: %s' % (a.seed + i, report(r)), flush=True)


if __name__ == '__main__':
    main()
