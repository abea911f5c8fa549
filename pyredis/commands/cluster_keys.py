"""The keyspace side of cluster mode: CLUSTER KEYSLOT, COUNTKEYSINSLOT,
GETKEYSINSLOT, and ASKING, READONLY, READWRITE (cluster.c).

``attach`` does nothing unless cluster-enabled is yes; then database 0
keeps its per-slot key index (cluster/slots.py) and the server routes
commands through cluster/routing.py's Router. The rest of CLUSTER (the
nodes, the slots' owners, SETSLOT...) is commands/cluster.py's.
"""

from ..cluster import slots
from ..cluster.routing import DOWN_ERR, MOVED, UNBOUND_ERR, Router
from ..resp import NOT_INT_ERR, OK, integer
from ..util import string2ll
from . import command
from .blocking import BlockState, unblock
from .pubsub import sunsubscribe

DISABLED_ERR = b'-ERR This instance has cluster support disabled\r\n'


def _router(c):
    return c.server.cluster_router


@command('cluster|keyslot')
def cluster_keyslot(c, argv):
    if not c.server.config.cluster_enabled:
        return DISABLED_ERR
    return integer(slots.keyslot(argv[2]))


@command('cluster|countkeysinslot')
def cluster_countkeysinslot(c, argv):
    if not c.server.config.cluster_enabled:
        return DISABLED_ERR
    slot = string2ll(argv[2])
    if slot is None:
        return NOT_INT_ERR
    if slot < 0 or slot >= slots.CLUSTER_SLOTS:
        return b'-ERR Invalid slot\r\n'
    return integer(c.server.dbs[0].data.count_in_slot(slot))


@command('cluster|getkeysinslot')
def cluster_getkeysinslot(c, argv):
    if not c.server.config.cluster_enabled:
        return DISABLED_ERR
    slot = string2ll(argv[2])
    if slot is None:
        return NOT_INT_ERR
    count = string2ll(argv[3])
    if count is None:
        return NOT_INT_ERR
    if slot < 0 or slot >= slots.CLUSTER_SLOTS or count < 0:
        return b'-ERR Invalid slot or number of keys\r\n'
    keys = c.server.dbs[0].data.keys_in_slot(slot, count)
    return b'*%d\r\n' % len(keys) + b''.join(b'$%d\r\n%s\r\n' % (len(k), k) for k in keys)


@command('asking')
def asking(c, argv):
    if not c.server.config.cluster_enabled:
        return DISABLED_ERR
    _router(c).asking.add(c.id)
    return OK


@command('readonly')
def readonly(c, argv):
    if not c.server.config.cluster_enabled:
        return DISABLED_ERR
    _router(c).readonly.add(c.id)
    return OK


@command('readwrite')
def readwrite(c, argv):
    if not c.server.config.cluster_enabled:
        return DISABLED_ERR
    _router(c).readonly.discard(c.id)
    return OK


def redirect_blocked_clients(server):
    """clusterRedirectBlockedClientIfNeeded, from the cron: a client
    blocked on a key of a slot this node no longer serves (nor imports) is
    unblocked with -MOVED (-CLUSTERDOWN when the slot is unassigned or the
    cluster is down), as its key will never be written here."""
    cluster = getattr(server, 'cluster', None)
    if cluster is None or not server.blocked_clients or cluster.myself is None:
        return
    router = server.cluster_router
    myself = cluster.myself
    for c in list(server.clients.values()):
        state = c.blocked
        if state.__class__ is not BlockState or not state.keys:
            continue
        if not cluster.state_ok:
            err = DOWN_ERR
        else:
            slot = slots.keyslot(state.keys[0])
            node = cluster.slots[slot]
            if (c.id in router.readonly and c.last_cmd is not None and not c.last_cmd.is_write
                    and not myself.is_master() and myself.slaveof is node):
                node = myself
            if node is myself or cluster.importing_slots_from[slot] is not None:
                continue
            err = UNBOUND_ERR if node is None else router.redirect(node, slot, MOVED)
        server.error_replied(err)
        unblock(c, err)


def drop_lost_shard_channels(server):
    """removeChannelsInSlot (clusterDelSlot): the shard channels of a slot
    this shard no longer serves lose their subscribers, each told with a
    sunsubscribe message. Checked from the cron, so within a cron period
    of the slot's loss (Redis: at once)."""
    cluster = getattr(server, 'cluster', None)
    pubsub = server.pubsub
    if cluster is None or pubsub is None or not pubsub.shard_channels or cluster.myself is None:
        return
    myself = cluster.myself
    for channel in list(pubsub.shard_channels):
        slot = slots.keyslot(channel)
        owner = cluster.slots[slot]
        if (owner is myself or (owner is not None and myself.slaveof is owner)
                or cluster.importing_slots_from[slot] is not None):
            continue
        for c in list(pubsub.shard_channels.get(channel, ())):
            sunsubscribe(c, [b'SUNSUBSCRIBE', channel])     # (pushed to c.out)
            c.flush()


def cron(server):
    redirect_blocked_clients(server)
    drop_lost_shard_channels(server)


def attach(server):
    if not server.config.cluster_enabled:
        return
    slots.enable(server.dbs[0])
    router = server.cluster_router = Router(server)
    server.cluster_route = router.route
    server.client_close_hooks.append(router.forget)
    server.reset_hooks.append(router.reset)
    server.cron_hooks.append(lambda: cron(server))
