"""Clients that never read their replies, against each output buffer class,
pyredis and redis-server side by side.

For each class a fresh server gets `client-output-buffer-limit <class> 1mb
512kb 5`, and a client that never reads (4 KB receive buffer):

- normal: sends 200 GETs of a 1 MB value;
- pubsub: subscribes, then another client publishes 200 messages of 1 MB;
- replica: connects as a replica (REPLCONF + PSYNC) with the full sync
  done, then 200 SETs of 1 MB are written on the server.

The report gives whether and when the server closed the connection (how
many of the 200 had been sent, and after how long), and the server's peak
RSS meanwhile (sampled every 20 ms from /proc).

    python benchmarks/slow_reader.py
"""

import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import rss, start  # noqa: E402

BIG = b'x' * (1 << 20)


def enc(*args):
    return b'*%d\r\n' % len(args) + b''.join(b'$%d\r\n%s\r\n' % (len(a), a) for a in args)


class Peak(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, False

    def run(self):
        while not self.stop:
            try:
                self.peak = max(self.peak, rss(self.pid))
            except OSError:
                return
            time.sleep(0.02)


def closed(port):
    """True once the server dropped the client named 'slow' (asked from
    another connection: the slow one has unread replies in its way)."""
    return b'name=slow ' not in command(port, b'CLIENT', b'LIST')


def slow_socket(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(('127.0.0.1', port))
    return s


def command(port, *args):
    with socket.create_connection(('127.0.0.1', port)) as s:
        s.sendall(enc(*args))
        return s.recv(1 << 16)


def run(kind, cls):
    proc, port = start(kind, ['--client-output-buffer-limit', '%s 1mb 512kb 5' % cls,
                              '--repl-diskless-sync', 'no'])
    peak = Peak(proc.pid)
    peak.start()
    sent, t0, when = 0, time.time(), None
    try:
        writer = socket.create_connection(('127.0.0.1', port))
        wf = writer.makefile('rb')
        writer.sendall(enc(b'SET', b'big', BIG))
        wf.readline()
        slow = slow_socket(port)
        slow.sendall(enc(b'CLIENT', b'SETNAME', b'slow'))
        slow.recv(16)
        if cls == 'pubsub':
            slow.sendall(enc(b'SUBSCRIBE', b'ch'))
        elif cls == 'replica':
            # One at a time: PSYNC behind unwritten replies is refused.
            slow.sendall(enc(b'REPLCONF', b'listening-port', b'1'))
            slow.recv(16)
            slow.sendall(enc(b'PSYNC', b'?', b'-1'))
        time.sleep(0.5)
        t0 = time.time()
        for sent in range(1, 201):
            if cls == 'normal':
                slow.sendall(enc(b'GET', b'big'))
            elif cls == 'pubsub':
                writer.sendall(enc(b'PUBLISH', b'ch', BIG))
                wf.readline()
            else:
                writer.sendall(enc(b'SET', b'k%d' % sent, BIG))
                wf.readline()
            time.sleep(0.01)
            if closed(port):
                when = time.time() - t0
                break
        if when is None:
            deadline = time.time() + 10
            while time.time() < deadline and not closed(port):
                time.sleep(0.05)
            if closed(port):
                when = time.time() - t0
        slow.close()
        writer.close()
    finally:
        peak.stop = True
        peak.join()
        proc.terminate()
        proc.wait()
    return sent, when, peak.peak


def main():
    print('%-8s %-8s %-34s %s' % ('class', 'server', 'closed', 'peak RSS'))
    for cls in ('normal', 'pubsub', 'replica'):
        for kind in ('pyredis', 'redis'):
            sent, when, peak = run(kind, cls)
            what = ('after %d of 200, %.2f s' % (sent, when)) if when is not None \
                else 'never (%d sent)' % sent
            print('%-8s %-8s %-34s %.0f MB' % (cls, kind, what, peak / 2 ** 20), flush=True)


if __name__ == '__main__':
    main()
