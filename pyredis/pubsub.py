"""The Pub/Sub registry (pubsub.c): who is subscribed to what, and delivery.

Each server has one ``PubSub`` (``server.pubsub``), set up by ``attach``.
It keeps three maps, all insertion-ordered so delivery follows
subscription order as Redis's client lists do:

    channels        channel -> {client: None}     SUBSCRIBE / PUBLISH
    patterns        pattern -> {client: None}     PSUBSCRIBE (glob, as KEYS)
    shard_channels  channel -> {client: None}     SSUBSCRIBE / SPUBLISH

and each Client keeps its own side (``subscriptions``, ``psubscriptions``,
``ssubscriptions``) so that unsubscribing on disconnect or RESET costs what
the client holds, not what the server holds. An entry disappears from the
server maps when its last subscriber leaves, which is what PUBSUB CHANNELS
and NUMPAT count.

Delivery appends the message to the subscriber's output list and schedules
one flush for the whole batch of receivers with ``call_soon``: a pipeline of
a thousand PUBLISHes to the same subscriber becomes one socket write, and a
message a client sends to itself lands in its buffer before the reply to the
command that produced it, as in Redis 7.0 (push first, then the reply).

Subscribers that stop reading are dropped when their pending output passes
the ``client-output-buffer-limit pubsub`` limits, as Redis does.

The same registry carries keyspace notifications: Server.notify publishes
``__keyspace@<db>__:<key>`` and ``__keyevent@<db>__:<event>`` through
``publish``.
"""

from .util import glob_match


def _bulk(v):
    return b'$%d\r\n%s\r\n' % (len(v), v)


class PubSub:
    __slots__ = ('server', 'channels', 'patterns', 'shard_channels', '_pending')

    def __init__(self, server):
        self.server = server
        self.channels = {}
        self.patterns = {}
        self.shard_channels = {}
        self._pending = set()

    # -- subscriptions ---------------------------------------------------------

    @staticmethod
    def _add(table, name, c):
        subs = table.get(name)
        if subs is None:
            subs = table[name] = {}
        subs[c] = None

    @staticmethod
    def _remove(table, name, c):
        subs = table.get(name)
        if subs is not None:
            subs.pop(c, None)
            if not subs:
                del table[name]

    def subscribe(self, c, channel):
        """True when this is a new subscription for the client."""
        if channel in c.subscriptions:
            return False
        c.subscriptions.add(channel)
        self._add(self.channels, channel, c)
        return True

    def unsubscribe(self, c, channel):
        if channel not in c.subscriptions:
            return False
        c.subscriptions.discard(channel)
        self._remove(self.channels, channel, c)
        return True

    def psubscribe(self, c, pattern):
        if pattern in c.psubscriptions:
            return False
        c.psubscriptions.add(pattern)
        self._add(self.patterns, pattern, c)
        return True

    def punsubscribe(self, c, pattern):
        if pattern not in c.psubscriptions:
            return False
        c.psubscriptions.discard(pattern)
        self._remove(self.patterns, pattern, c)
        return True

    def ssubscribe(self, c, channel):
        if channel in c.ssubscriptions:
            return False
        c.ssubscriptions.add(channel)
        self._add(self.shard_channels, channel, c)
        return True

    def sunsubscribe(self, c, channel):
        if channel not in c.ssubscriptions:
            return False
        c.ssubscriptions.discard(channel)
        self._remove(self.shard_channels, channel, c)
        return True

    def unsubscribe_all(self, c):
        """Drop every subscription of a client without notifying it
        (disconnect, RESET)."""
        for ch in c.subscriptions:
            self._remove(self.channels, ch, c)
        for p in c.psubscriptions:
            self._remove(self.patterns, p, c)
        for ch in c.ssubscriptions:
            self._remove(self.shard_channels, ch, c)
        c.subscriptions.clear()
        c.psubscriptions.clear()
        c.ssubscriptions.clear()

    # -- counts ------------------------------------------------------------------

    def num_channels(self):
        return len(self.channels)

    def num_patterns(self):
        return len(self.patterns)

    def num_shard_channels(self):
        return len(self.shard_channels)

    # -- delivery ------------------------------------------------------------------

    def publish(self, channel, message):
        """pubsubPublishMessage: deliver to the channel's subscribers, then
        to every client whose pattern matches; returns the receiver count
        (a client matching twice receives, and counts, twice)."""
        receivers = 0
        subs = self.channels.get(channel)
        if subs:
            tail = _bulk(channel) + _bulk(message)
            resp2 = b'*3\r\n$7\r\nmessage\r\n' + tail
            resp3 = b'>3\r\n$7\r\nmessage\r\n' + tail
            for c in subs:
                self._deliver(c, resp3 if c.resp == 3 else resp2)
                receivers += 1
        if self.patterns:
            tail = None
            for pattern, subs in self.patterns.items():
                if not glob_match(pattern, channel):
                    continue
                if tail is None:
                    tail = _bulk(channel) + _bulk(message)
                body = b'$8\r\npmessage\r\n' + _bulk(pattern) + tail
                for c in subs:
                    self._deliver(c, (b'>4\r\n' if c.resp == 3 else b'*4\r\n') + body)
                    receivers += 1
        return receivers

    def spublish(self, channel, message):
        receivers = 0
        subs = self.shard_channels.get(channel)
        if subs:
            body = b'$8\r\nsmessage\r\n' + _bulk(channel) + _bulk(message)
            for c in subs:
                self._deliver(c, (b'>3\r\n' if c.resp == 3 else b'*3\r\n') + body)
                receivers += 1
        return receivers

    def _deliver(self, c, msg):
        if c.closing:
            return
        c.out.append(msg)
        if not self._pending:
            loop = self.server.loop
            if loop is None:
                c.flush()
                return
            loop.call_soon(self._flush)
        self._pending.add(c)

    def _flush(self):
        pending, self._pending = self._pending, set()
        for c in pending:
            if c.out and not c.closing:
                # (The pubsub class's output limits are checked as the
                # messages are queued and written: Client.check_output_limits.)
                c.flush()


def attach(server):
    server.pubsub = PubSub(server)
    server.client_close_hooks.append(server.pubsub.unsubscribe_all)
