"""A set of real redis-sentinel processes watching servers (test_sentinel.py,
benchmarks/sentinel_failover.py).

``SentinelSet`` writes one config file per Sentinel in a temporary dir
(free ports, ``sentinel monitor mymaster 127.0.0.1 <port> 2``, short
``down-after-milliseconds``/``failover-timeout``, no hostname resolution)
and starts them, optionally with shorter periods (``debug``: SENTINEL
DEBUG's info-period, publish-period, ...); ``stop()`` kills them all.
``wait_for`` polls a condition without any timing assertion: its timeout
only bounds a broken run (SENTINEL_TRACE=1 prints how long each wait took).
"""

import os
import shutil
import subprocess
import tempfile
import time

import redis

from helpers import free_port

REDIS_SENTINEL = shutil.which('redis-sentinel')
NAME = 'mymaster'


def wait_for(cond, timeout=60, interval=0.1, what='condition'):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            value = cond()
            if value:
                if os.environ.get('SENTINEL_TRACE'):
                    print('%6.2fs %s' % (time.time() - deadline + timeout, what))
                return value
        except (redis.RedisError, OSError) as e:
            last = e
        time.sleep(interval)
    if callable(what):
        what = what()
    raise AssertionError('timed out waiting for %s (last error: %r)' % (what, last))


class SentinelSet:
    def __init__(self, master_port, count=3, quorum=2, down_after=1000,
                 failover_timeout=10000, extra=(), loglevel='verbose', debug=None):
        self.dir = tempfile.mkdtemp(prefix='pyredis-sentinel-')
        self.ports = []
        self.procs = []
        self.logs = []
        try:
            for i in range(count):
                port = free_port()
                path = os.path.join(self.dir, 'sentinel-%d.conf' % i)
                logpath = os.path.join(self.dir, 'sentinel-%d.log' % i)
                lines = [
                    'port %d' % port,
                    'bind 127.0.0.1',
                    'daemonize no',
                    'dir %s' % self.dir,
                    'logfile %s' % logpath,
                    'loglevel %s' % loglevel,
                    'sentinel resolve-hostnames no',
                    'sentinel monitor %s 127.0.0.1 %d %d' % (NAME, master_port, quorum),
                    'sentinel down-after-milliseconds %s %d' % (NAME, down_after),
                    'sentinel failover-timeout %s %d' % (NAME, failover_timeout),
                    'sentinel parallel-syncs %s 1' % NAME,
                ] + list(extra)
                with open(path, 'w') as f:
                    f.write('\n'.join(lines) + '\n')
                proc = subprocess.Popen([REDIS_SENTINEL, path], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, cwd=self.dir)
                self.ports.append(port)
                self.procs.append(proc)
                self.logs.append(logpath)
            for port in self.ports:
                wait_for(lambda: self.client(port).ping(), timeout=15, what='sentinel up')
                if debug:
                    # SENTINEL DEBUG (7.0) shortens Sentinel's fixed periods,
                    # as Redis's own Sentinel tests do.
                    args = [str(x) for kv in debug.items() for x in kv]
                    self.client(port).execute_command('SENTINEL', 'DEBUG', *args)
        except BaseException:
            self.stop()
            raise

    def client(self, port=None):
        return redis.Redis('127.0.0.1', port or self.ports[0], decode_responses=True,
                           socket_timeout=5)

    def addrs(self):
        return [('127.0.0.1', p) for p in self.ports]

    def each(self):
        return [self.client(p) for p in self.ports]

    def master_addr(self, port=None):
        r = self.client(port).execute_command('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', NAME)
        return (r[0], int(r[1])) if r else None

    def master(self, port=None):
        return self.client(port).sentinel_master(NAME)

    def replicas(self, port=None):
        return self.client(port).sentinel_slaves(NAME)

    def sentinels(self, port=None):
        return self.client(port).sentinel_sentinels(NAME)

    def query(self, *args, port=None):
        """A SENTINEL query that answers a list of flat field/value arrays
        (MASTERS, REPLICAS, SLAVES, SENTINELS), as a list of dicts of
        strings: read as sent, without redis-py's parsing of the reply."""
        conn = redis.Connection('127.0.0.1', port or self.ports[0], decode_responses=True,
                                socket_timeout=5)
        try:
            conn.send_command('SENTINEL', *args)
            reply = conn.read_response()
        finally:
            conn.disconnect()
        return [entry if isinstance(entry, dict) else dict(zip(entry[::2], entry[1::2]))
                for entry in reply]

    def read_logs(self):
        out = []
        for path in self.logs:
            try:
                with open(path, encoding='utf-8', errors='replace') as f:
                    out.append('--- %s\n%s' % (path, f.read()))
            except OSError:
                pass
        return '\n'.join(out)

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
        for proc in self.procs:
            proc.wait()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
