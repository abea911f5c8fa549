"""The keyspace side of cluster mode: CLUSTER KEYSLOT, COUNTKEYSINSLOT,
GETKEYSINSLOT, and ASKING, READONLY, READWRITE (cluster.c).

``attach`` does nothing unless cluster-enabled is yes; then database 0
keeps its per-slot key index (cluster/slots.py) and the server routes
commands through cluster/routing.py's Router. The rest of CLUSTER (the
nodes, the slots' owners, SETSLOT...) is commands/cluster.py's.
"""

from ..cluster import slots
from ..cluster.routing import Router
from ..resp import NOT_INT_ERR, OK, integer
from ..util import string2ll
from . import command

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


def attach(server):
    if not server.config.cluster_enabled:
        return
    slots.enable(server.dbs[0])
    router = server.cluster_router = Router(server)
    server.cluster_route = router.route
    server.client_close_hooks.append(router.forget)
    server.reset_hooks.append(router.reset)
