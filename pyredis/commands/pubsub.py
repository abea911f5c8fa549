"""Pub/Sub commands (pubsub.c): SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE,
PUNSUBSCRIBE, SSUBSCRIBE, SUNSUBSCRIBE, PUBLISH, SPUBLISH and PUBSUB.

The registry and message delivery live in pyredis/pubsub.py; this module
only speaks the protocol. Every (un)subscription is confirmed with its own
three-element reply - an array in RESP2, a push (``>``) in RESP3 - carrying
the client's subscription count afterwards: channels plus patterns for the
classic commands, shard channels alone for the S* ones, as Redis 7.0 counts
them. Entering or leaving subscribed mode changes which commands a RESP2
client may run, so every handler here refreshes the client's gate.

PUBLISH and SPUBLISH do not change the dataset, but Redis forces them into
the replication stream (not the AOF) so that clients subscribed on
replicas receive the messages too; so does this module.
"""

from . import command
from ..resp import bulk, integer, help_reply, bulk_array, subcommand_syntax_error
from ..util import glob_match


def _confirm(c, kind, name, count):
    head = b'>3\r\n' if c.resp == 3 else b'*3\r\n'
    if name is None:
        name_part = b'_\r\n' if c.resp == 3 else b'$-1\r\n'
    else:
        name_part = bulk(name)
    return head + bulk(kind) + name_part + integer(count)


def _pushed(c, confirmations):
    """The confirmations are pushed (Redis's CLIENT_PUSHING): CLIENT REPLY
    OFF/SKIP do not silence them, so they go to the client's output here
    instead of being returned to call(), which would drop them."""
    c.out.append(b''.join(confirmations))
    return None


def _count(c):
    return len(c.subscriptions) + len(c.psubscriptions)


@command('subscribe')
def subscribe(c, argv):
    ps = c.server.pubsub
    out = []
    for ch in argv[1:]:
        ps.subscribe(c, ch)
        out.append(_confirm(c, b'subscribe', ch, _count(c)))
    c.update_gate()
    return _pushed(c, out)


@command('psubscribe')
def psubscribe(c, argv):
    ps = c.server.pubsub
    out = []
    for p in argv[1:]:
        ps.psubscribe(c, p)
        out.append(_confirm(c, b'psubscribe', p, _count(c)))
    c.update_gate()
    return _pushed(c, out)


@command('ssubscribe')
def ssubscribe(c, argv):
    if c.server.in_exec:
        # Inside EXEC (Redis: a DENY_BLOCKING client) the confirmations
        # could not be told apart from the EXEC replies.
        return b"-ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client\r\n"
    ps = c.server.pubsub
    out = []
    for ch in argv[1:]:
        ps.ssubscribe(c, ch)
        out.append(_confirm(c, b'ssubscribe', ch, len(c.ssubscriptions)))
    c.update_gate()
    return _pushed(c, out)


def _unsubscribe_generic(c, argv, held, remove, kind, count):
    out = []
    if len(argv) == 1:
        if not held:
            return _pushed(c, [_confirm(c, kind, None, count(c))])
        for name in list(held):
            remove(c, name)
            out.append(_confirm(c, kind, name, count(c)))
    else:
        for name in argv[1:]:
            remove(c, name)
            out.append(_confirm(c, kind, name, count(c)))
    c.update_gate()
    return _pushed(c, out)


@command('unsubscribe')
def unsubscribe(c, argv):
    return _unsubscribe_generic(c, argv, c.subscriptions, c.server.pubsub.unsubscribe,
                                b'unsubscribe', _count)


@command('punsubscribe')
def punsubscribe(c, argv):
    return _unsubscribe_generic(c, argv, c.psubscriptions, c.server.pubsub.punsubscribe,
                                b'punsubscribe', _count)


@command('sunsubscribe')
def sunsubscribe(c, argv):
    return _unsubscribe_generic(c, argv, c.ssubscriptions, c.server.pubsub.sunsubscribe,
                                b'sunsubscribe', lambda c: len(c.ssubscriptions))


def _propagate(c, argv, shard):
    # In cluster mode the message goes over the cluster bus (PUBLISH or
    # PUBLISHSHARD: clusterPropagatePublish), not the replication stream.
    cluster = getattr(c.server, 'cluster', None)
    if cluster is not None:
        cluster.publish(argv[1], argv[2], shard)
    else:
        _propagate_to_replicas(c, argv)


def _propagate_to_replicas(c, argv):
    """forceCommandPropagation(c, PROPAGATE_REPL): subscribers connected to
    replicas get the message too. Only the replication stream carries it;
    the AOF does not (inside EXEC it joins the transaction's block)."""
    server = c.server
    if not server.propagate_targets:
        return
    if server.in_exec:
        server.also_propagate(c.db.id, list(argv))
        return
    repl = getattr(server, 'replication', None)
    if repl is not None and repl.feed in server.propagate_targets:
        repl.feed([(c.db.id, list(argv))])


@command('publish')
def publish(c, argv):
    receivers = c.server.pubsub.publish(argv[1], argv[2])
    _propagate(c, argv, False)
    return integer(receivers)


@command('spublish')
def spublish(c, argv):
    receivers = c.server.pubsub.spublish(argv[1], argv[2])
    _propagate(c, argv, True)
    return integer(receivers)


# -- PUBSUB ---------------------------------------------------------------------

PUBSUB_HELP = [
    'CHANNELS [<pattern>]',
    "    Return the currently active channels matching a <pattern> (default: '*').",
    'NUMPAT',
    '    Return number of subscriptions to patterns.',
    'NUMSUB [<channel> ...]',
    '    Return the number of subscribers for the specified channels, excluding',
    '    pattern subscriptions(default: no channels).',
    'SHARDCHANNELS [<pattern>]',
    "    Return the currently active shard level channels matching a <pattern> "
    "(default: '*').",
    'SHARDNUMSUB [<shardchannel> ...]',
    '    Return the number of subscribers for the specified shard level channel(s)',
]


@command('pubsub|help')
def pubsub_help(c, argv):
    return help_reply('PUBSUB', PUBSUB_HELP)


def _channel_list(argv, table, subname):
    if len(argv) > 3:
        return subcommand_syntax_error(argv)
    pattern = argv[2] if len(argv) == 3 else None
    return bulk_array([ch for ch in table
                       if pattern is None or glob_match(pattern, ch)])


@command('pubsub|channels')
def pubsub_channels(c, argv):
    return _channel_list(argv, c.server.pubsub.channels, b'CHANNELS')


@command('pubsub|shardchannels')
def pubsub_shardchannels(c, argv):
    return _channel_list(argv, c.server.pubsub.shard_channels, b'SHARDCHANNELS')


def _numsub(argv, table):
    out = [b'*%d\r\n' % (2 * (len(argv) - 2))]
    for ch in argv[2:]:
        out.append(bulk(ch))
        out.append(integer(len(table.get(ch, ()))))
    return b''.join(out)


@command('pubsub|numsub')
def pubsub_numsub(c, argv):
    return _numsub(argv, c.server.pubsub.channels)


@command('pubsub|shardnumsub')
def pubsub_shardnumsub(c, argv):
    return _numsub(argv, c.server.pubsub.shard_channels)


@command('pubsub|numpat')
def pubsub_numpat(c, argv):
    return integer(c.server.pubsub.num_patterns())


def _reset(c):
    # RESET leaves every channel silently, as a disconnect does.
    c.server.pubsub.unsubscribe_all(c)


def attach(server):
    server.reset_hooks.append(_reset)
