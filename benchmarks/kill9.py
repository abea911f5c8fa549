"""kill -9 durability: pyredis vs redis-server, side by side.

A process crash must lose nothing that was acknowledged: with
``appendonly yes`` a reply goes out only once its write is in the file
(write(2) for ``everysec``, write(2) and fsync for ``always``); only an OS
crash may lose up to the fsync window. This script checks it the way an
operator would.

Kill loops. For each fsync policy (``always``, ``everysec``) and each server,
``--rounds`` times: start the server with ``appendonly yes`` in a temp dir
(the same dir every round, so the AOF grows across crashes as in real life),
let several connections hammer it - each one pipelines ``INCR ctr:<k>`` (a
few counters shared by all) with ``RPUSH seq:<conn> <n>`` (its own sequence
numbers, in order) - record every acknowledged reply, kill -9 the server at
a random moment (every other round aimed at the start of a second, when the
everysec fsync runs), restart it on the same dir (``aof-load-truncated
yes``) and check:

- every counter is at least the highest value acknowledged for it, and at
  most the INCRs sent (acknowledged or in flight);
- every list is exactly 1..m with m at least the last acknowledged number
  and at most the last one sent: a missing acknowledged number is a loss, a
  repeat or a gap a duplication/corruption.

Crashes during background saves. With a dataset large enough that the child
takes a while:

- BGSAVE, kill -9 the child: the server reports the failure, removes the
  child's temp file, keeps serving; kill -9 the server, restart: the last good
  dump.rdb (the one of the SAVE before) is loaded;
- BGSAVE, kill -9 the server and its child: restart loads the last good
  dump.rdb, whatever the child left (or the new one, whole, if the child
  renamed it just before the kill);
- BGREWRITEAOF, kill -9 the child, then the server; and BGREWRITEAOF, kill -9
  both: restart has every acknowledged write, no temp file is loaded.
  What is left in the directory is printed. A case whose child had already
  finished when the kill came is run again (five tries).

    python benchmarks/kill9.py                 # 20 kills per policy and server
    python benchmarks/kill9.py --rounds 5 --only pyredis -v
    python benchmarks/kill9.py --rounds 0      # only the BGSAVE/BGREWRITEAOF cases

The exit status is 1 when pyredis lost or broke anything. redis-server is
the reference, not judged: under ``everysec`` it postpones the write while
its background fsync runs (flushAppendOnlyFile) but still sends the replies,
so an aimed kill can make it lose acknowledged writes; pyredis writes
before it replies, whether an fsync runs or not.

Figures taken while other work runs on the machine are noisy (the kill
moments and the throughput move), not the verdicts.
"""

import argparse
import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

COUNTERS = 4        # ctr:0 .. ctr:3, shared by every connection


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def encode(*args):
    out = [b'*%d\r\n' % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b'$%d\r\n%s\r\n' % (len(a), a))
    return b''.join(out)


class Conn:
    """A blocking RESP connection for set-up and checks."""

    def __init__(self, port, timeout=60):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=timeout)
        self.f = self.sock.makefile('rb')

    def close(self):
        self.f.close()
        self.sock.close()

    def call(self, *args):
        self.sock.sendall(encode(*args))
        return self.read()

    def pipeline(self, cmds):
        self.sock.sendall(b''.join(encode(*c) for c in cmds))
        return [self.read() for _ in cmds]

    def read(self):
        line = self.f.readline()
        if not line:
            raise ConnectionError('closed')
        t, rest = line[:1], line[1:-2]
        if t in (b'+', b':'):
            return int(rest) if t == b':' else rest
        if t == b'-':
            return RuntimeError(rest.decode())
        if t == b'$':
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            return data[:-2]
        if t == b'*':
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ValueError('unexpected reply %r' % line)


def info(conn, section='persistence'):
    text = conn.call('INFO', section).decode()
    out = {}
    for line in text.splitlines():
        if ':' in line:
            k, v = line.split(':', 1)
            out[k] = v
    return out


class Server:
    """One server process on a directory that outlives it."""

    def __init__(self, kind, dirname, args):
        self.kind = kind
        self.dir = dirname
        self.args = list(args)
        self.port = None
        self.proc = None
        self.keep = False

    def start(self, timeout=120):
        self.port = free_port()
        if self.kind == 'redis':
            cmd = [shutil.which('redis-server')]
        else:
            cmd = [sys.executable, '-m', 'pyredis']
        cmd += ['--port', str(self.port), '--bind', '127.0.0.1', '--dir', self.dir,
                '--logfile', os.path.join(self.dir, 'server.log')] + self.args
        env = dict(os.environ, PYTHONPATH=ROOT)
        with open(os.path.join(self.dir, 'server.out'), 'ab') as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                         cwd=self.dir)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.keep = True
                raise RuntimeError('%s exited with %s at start (dir %s kept); log:\n%s' % (
                    self.kind, self.proc.returncode, self.dir, self.log_tail()))
            try:
                c = Conn(self.port, timeout=2)
                try:
                    if c.call('PING') == b'PONG':
                        return
                finally:
                    c.close()
            except (OSError, ConnectionError):
                pass
            time.sleep(0.05)
        raise RuntimeError('%s did not start' % self.kind)

    def log_tail(self, n=15):
        out = []
        for name in ('server.log', 'server.out'):
            try:
                with open(os.path.join(self.dir, name), errors='replace') as f:
                    out += f.readlines()[-n:]
            except OSError:
                pass
        return ''.join(out)

    def remove_dir(self):
        """The directory goes with the server, unless a failure is to be read."""
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill9()


def children_of(pid):
    """The pids of the processes whose parent is ``pid`` (the fork children)."""
    out = []
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name) as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces: the fields after the last ')'.
        fields = stat[stat.rindex(')') + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(name))
    return out



# -- the kill loop ---------------------------------------------------------------

class Load:
    """What the hammering connections sent and had acknowledged."""

    def __init__(self, nconns):
        self.ctr_acked = [0] * COUNTERS      # highest INCR reply per counter
        self.ctr_sent = [0] * COUNTERS       # INCRs sent (acknowledged or not)
        self.seq_acked = [0] * nconns        # last RPUSH acknowledged per connection
        self.seq_sent = [0] * nconns         # last number sent
        self.acked = 0                       # acknowledged writes, this round


async def hammer(port, i, load, rng, stop_at):
    """One connection: pipelines of INCR + RPUSH, 1 to 4 pairs deep."""
    try:
        reader, writer = await asyncio.open_connection('127.0.0.1', port)
    except OSError:
        return
    seq = load.seq_acked[i]
    try:
        while time.monotonic() < stop_at:
            depth = rng.randint(1, 4)
            batch, ctrs = [], []
            for _ in range(depth):
                k = rng.randrange(COUNTERS)
                seq += 1
                ctrs.append(k)
                load.ctr_sent[k] += 1
                batch.append(encode('INCR', 'ctr:%d' % k))
                batch.append(encode('RPUSH', 'seq:%d' % i, seq))
            load.seq_sent[i] = seq
            writer.write(b''.join(batch))
            for n, k in enumerate(ctrs):
                line = await reader.readline()
                if not line.startswith(b':'):
                    raise ConnectionError(line)
                v = int(line[1:])
                if v > load.ctr_acked[k]:
                    load.ctr_acked[k] = v
                load.acked += 1
                line = await reader.readline()
                if not line.startswith(b':'):
                    raise ConnectionError(line)
                load.seq_acked[i] = seq - depth + n + 1
                load.acked += 1
    except (ConnectionError, OSError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def run_load(server, load, nconns, rng, kill_after, aim):
    """Hammer until ``kill_after`` seconds have passed, then kill -9 the server
    while the connections are still sending. ``aim``: then wait for the
    next second of the clock and kill 0 to 120 ms into it, when everysec's
    once-a-second fsync starts (from a cron at hz 10) and may hold back
    writes: the moment a server that replies before writing loses
    acknowledged writes."""
    stop_at = time.monotonic() + kill_after + 7
    tasks = [asyncio.ensure_future(hammer(server.port, i, load, rng, stop_at))
             for i in range(nconns)]
    await asyncio.sleep(kill_after)
    if aim:
        now = time.time()
        await asyncio.sleep(int(now) + 1 - now + rng.uniform(0.0, 0.12))
    server.kill9()
    await asyncio.gather(*tasks)


def verify(port, load, nconns):
    """Lost acknowledged writes, and anything else wrong (duplicates, values
    above what was sent), after a restart."""
    c = Conn(port)
    lost, problems = 0, []
    try:
        for k in range(COUNTERS):
            v = c.call('GET', 'ctr:%d' % k)
            v = int(v) if v is not None else 0
            if v < load.ctr_acked[k]:
                lost += load.ctr_acked[k] - v
            if v > load.ctr_sent[k]:
                problems.append('ctr:%d is %d, only %d INCRs sent' % (k, v, load.ctr_sent[k]))
            # The next round goes on from what survived.
            load.ctr_acked[k] = load.ctr_sent[k] = v
        for i in range(nconns):
            items = c.call('LRANGE', 'seq:%d' % i, 0, -1)
            nums = [int(x) for x in items]
            m = len(nums)
            if nums != list(range(1, m + 1)):
                problems.append('seq:%d is not 1..%d' % (i, m))
            if m < load.seq_acked[i]:
                lost += load.seq_acked[i] - m
            if m > load.seq_sent[i]:
                problems.append('seq:%d has %d entries, %d sent' % (i, m, load.seq_sent[i]))
            load.seq_acked[i] = load.seq_sent[i] = m
    finally:
        c.close()
    return lost, problems


def kill_loop(kind, policy, rounds, nconns, seed, verbose, kill_range=(0.3, 2.5)):
    rng = random.Random(seed)
    d = tempfile.mkdtemp(prefix='kill9-%s-%s-' % (kind, policy))
    args = ['--save', '', '--appendonly', 'yes', '--appendfsync', policy,
            '--aof-load-truncated', 'yes']
    server = Server(kind, d, args)
    load = Load(nconns)
    total_acked = total_lost = 0
    all_problems = []
    try:
        server.start()
        for r in range(rounds):
            load.acked = 0
            kill_after = rng.uniform(*kill_range)
            aim = r % 2 == 1
            asyncio.run(run_load(server, load, nconns, rng, kill_after, aim))
            server.start()
            lost, problems = verify(server.port, load, nconns)
            total_acked += load.acked
            total_lost += lost
            all_problems += problems
            if verbose:
                print('  %-8s %-8s round %2d: killed after %.2f s%s, %6d acked, %d lost%s' % (
                    kind, policy, r + 1, kill_after, ' (aimed)' if aim else '', load.acked, lost,
                    ' ' + '; '.join(problems) if problems else ''), flush=True)
    finally:
        server.stop()
        server.remove_dir()
    return total_acked, total_lost, all_problems


# -- crashes during background saves ----------------------------------------------------

DATA_KEYS = 300000
PAD = 'x' * 100     # values of about 110 bytes: the child writes some 35 MB


def fill(port, prefix, n, tag):
    c = Conn(port)
    try:
        step = 1000
        for base in range(0, n, step):
            c.pipeline([('SET', '%s%d' % (prefix, i), '%s-%d-%s' % (tag, i, PAD))
                        for i in range(base, min(n, base + step))])
    finally:
        c.close()


def check_data(port, prefix, n, tags):
    """The version every key holds when all hold the same one of ``tags``
    (and nothing else is there), else a description of what is wrong."""
    c = Conn(port)
    try:
        size = c.call('DBSIZE')
        if size != n:
            return 'DBSIZE %d, expected %d' % (size, n)
        found = None
        step = 1000
        for base in range(0, n, step):
            keys = ['%s%d' % (prefix, i) for i in range(base, min(n, base + step))]
            vals = c.call('MGET', *keys)
            for i, v in zip(range(base, base + step), vals):
                tag = v.split(b'-', 1)[0].decode() if v else None
                if found is None and tag in tags:
                    found = tag
                if v != ('%s-%d-%s' % (found, i, PAD)).encode():
                    return 'key %s%d is %r, not version %s' % (prefix, i, v, found)
    finally:
        c.close()
    return found


def process_state(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0]
    except OSError:
        return None


def kill_live(pid):
    """kill -9 ``pid`` if it is still running (not a zombie): True if it was."""
    if process_state(pid) in (None, 'Z', 'X'):
        return False
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


def wait_gone(pid, timeout=10):
    """Until ``pid`` is dead (a zombie counts: its parent may be gone)."""
    deadline = time.time() + timeout
    while time.time() < deadline and process_state(pid) not in (None, 'Z', 'X'):
        time.sleep(0.005)


def wait_child(server, field, timeout=30):
    """The pid of the fork child once ``field`` of INFO persistence says it
    runs (the child is the server's only child process)."""
    deadline = time.time() + timeout
    c = Conn(server.port)
    try:
        while time.time() < deadline:
            if info(c).get(field) == '1':
                kids = children_of(server.proc.pid)
                if kids:
                    return kids[0]
            time.sleep(0.001)
    finally:
        c.close()
    raise RuntimeError('no %s child seen' % field)


def wait_field(server, field, value, timeout=30):
    deadline = time.time() + timeout
    c = Conn(server.port)
    try:
        while time.time() < deadline:
            if info(c).get(field) == value:
                return True
            time.sleep(0.01)
    finally:
        c.close()
    return False


def listing(d):
    out = []
    for root, _, files in os.walk(d):
        for f in sorted(files):
            if f in ('server.log', 'server.out'):
                continue
            out.append(os.path.relpath(os.path.join(root, f), d))
    return sorted(out)


def attempts(case, tries=5):
    """Run ``case`` until its kill found the child still working (a small
    dataset's child may finish first): the result of the last try."""
    for _ in range(tries):
        res = case()
        if res.get('child alive at kill', True):
            return res
    res['restart'] = 'ERROR the child always finished before the kill'
    return res


def bgsave_case(kind, victim, rng, keys=DATA_KEYS):
    """BGSAVE over a changed dataset, kill -9 the child, or the server and
    then the child, mid-save; restart: the last good save is loaded (or, if
    the child renamed its file before it died, the new one, whole)."""
    def case():
        d = tempfile.mkdtemp(prefix='kill9-bgsave-%s-' % kind)
        server = Server(kind, d, ['--save', '', '--appendonly', 'no'])
        result = {}
        try:
            server.start()
            fill(server.port, 'k:', keys, 'A')
            c = Conn(server.port)
            assert c.call('SAVE') == b'OK'
            c.close()
            fill(server.port, 'k:', keys, 'B')
            c = Conn(server.port)
            c.call('BGSAVE')
            c.close()
            child = wait_child(server, 'rdb_bgsave_in_progress')
            time.sleep(rng.uniform(0.0, 0.02))
            if victim == 'child':
                result['child alive at kill'] = kill_live(child)
                wait_gone(child)
                ok = wait_field(server, 'rdb_bgsave_in_progress', '0')
                c = Conn(server.port)
                status = info(c).get('rdb_last_bgsave_status')
                c.close()
                result['server after'] = ('bgsave err, serving' if ok and status == 'err'
                                          else 'bgsave status %s' % status)
                result['left after child kill'] = listing(d)
                server.kill9()
            else:
                server.kill9()
                result['child alive at kill'] = kill_live(child)
                wait_gone(child)
            result['left at restart'] = listing(d)
            server.start()
            tag = check_data(server.port, 'k:', keys, ('A', 'B'))
            result['restart'] = {'A': 'last good (A)', 'B': 'new save, whole (B)'}.get(tag, tag)
        except Exception as e:      # reported, not raised: the table goes on
            result['restart'] = 'ERROR %s' % e
        finally:
            server.stop()
            server.remove_dir()
        return result
    return attempts(case)


def bgrewrite_case(kind, victim, rng, keys=DATA_KEYS):
    """BGREWRITEAOF, acknowledged writes going on meanwhile, kill -9 the
    child, or the server and then the child: restart has every acknowledged
    write."""
    def case():
        d = tempfile.mkdtemp(prefix='kill9-bgrewrite-%s-' % kind)
        server = Server(kind, d, ['--save', '', '--appendonly', 'yes',
                                  '--appendfsync', 'everysec', '--aof-load-truncated', 'yes',
                                  '--auto-aof-rewrite-percentage', '0'])
        result = {}
        try:
            server.start()
            fill(server.port, 'k:', keys, 'A')
            c = Conn(server.port)
            c.call('BGREWRITEAOF')
            child = wait_child(server, 'aof_rewrite_in_progress')
            # Acknowledged writes while the child works: they go to the new
            # incr file, which the rewrite must not lose.
            during = rng.randint(1, 500)
            c.pipeline([('SET', 'k:%d' % i, 'C-%d-%s' % (i, PAD)) for i in range(during)])
            c.close()
            time.sleep(rng.uniform(0.0, 0.02))
            if victim == 'child':
                result['child alive at kill'] = kill_live(child)
                wait_gone(child)
                ok = wait_field(server, 'aof_rewrite_in_progress', '0')
                c = Conn(server.port)
                status = info(c).get('aof_last_bgrewrite_status')
                # More acknowledged writes after the failed rewrite.
                c.call('SET', 'after', 'yes')
                c.close()
                result['server after'] = ('rewrite err, serving' if ok and status == 'err'
                                          else 'rewrite status %s' % status)
                result['left after child kill'] = listing(d)
                server.kill9()
            else:
                server.kill9()
                result['child alive at kill'] = kill_live(child)
                wait_gone(child)
            result['left at restart'] = listing(d)
            server.start()
            c = Conn(server.port)
            try:
                bad = None
                size = c.call('DBSIZE')
                expect = keys + (1 if victim == 'child' else 0)
                if size != expect:
                    bad = 'DBSIZE %d, expected %d' % (size, expect)
                step = 1000
                for base in range(0, keys, step):
                    names = ['k:%d' % i for i in range(base, min(keys, base + step))]
                    for i, v in zip(range(base, base + step), c.call('MGET', *names)):
                        want = '%s-%d-%s' % ('C' if i < during else 'A', i, PAD)
                        if bad is None and v != want.encode():
                            bad = 'k:%d lost its acknowledged value' % i
                if victim == 'child' and bad is None and c.call('GET', 'after') != b'yes':
                    bad = 'the write after the failed rewrite is lost'
            finally:
                c.close()
            result['restart'] = bad or 'all acked (%d during the rewrite)' % during
        except Exception as e:
            result['restart'] = 'ERROR %s' % e
        finally:
            server.stop()
            server.remove_dir()
        return result
    return attempts(case)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--rounds', type=int, default=20, help='kills per policy and server')
    ap.add_argument('--conns', type=int, default=8, help='hammering connections')
    ap.add_argument('--only', choices=('pyredis', 'redis'), help='one server only')
    ap.add_argument('--policies', default='always,everysec')
    ap.add_argument('--no-bg', action='store_true', help='skip the BGSAVE/BGREWRITEAOF cases')
    ap.add_argument('--seed', type=int, default=None)
    ap.add_argument('-v', '--verbose', action='store_true', help='one line per kill')
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    print('seed %d' % seed)
    kinds = [args.only] if args.only else ['pyredis', 'redis']
    rows = []
    failed = False
    for policy in args.policies.split(',') if args.rounds else ():
        for kind in kinds:
            t = time.time()
            acked, lost, problems = kill_loop(kind, policy, args.rounds, args.conns, seed,
                                              args.verbose)
            rows.append((policy, kind, args.rounds, acked, lost, len(problems), time.time() - t))
            # The exit status judges pyredis; redis-server is the reference.
            failed |= kind == 'pyredis' and bool(lost or problems)
            for p in problems[:5]:
                print('  %s %s: %s' % (kind, policy, p))
    print()
    if rows:
        print('%-9s %-8s %6s %10s %6s %9s %8s' % ('appendfsync', 'server', 'kills', 'acked',
                                                  'lost', 'problems', 'time'))
    for policy, kind, rounds, acked, lost, nprob, secs in rows:
        print('%-11s %-8s %4d %10d %6d %9d %7.0fs' % (policy, kind, rounds, acked, lost, nprob,
                                                       secs))
    if not args.no_bg:
        rng = random.Random(seed)
        print()
        for case, fn in (('BGSAVE', bgsave_case), ('BGREWRITEAOF', bgrewrite_case)):
            for victim in ('child', 'server+child'):
                for kind in kinds:
                    res = fn(kind, victim, rng)
                    ok = res.get('restart', '').startswith(('last good', 'new save', 'all acked'))
                    failed |= kind == 'pyredis' and not ok
                    print('%-12s kill -9 %-12s %-8s restart: %s' % (case, victim, kind,
                                                                    res.get('restart')))
                    for k in ('child alive at kill', 'server after', 'left after child kill',
                              'left at restart'):
                        if k in res:
                            print('%38s %s: %s' % ('', k, res[k]))
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
