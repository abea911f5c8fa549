"""Puts the server together: the one module that knows every part.

Nothing registers itself by being imported. The command families listed in
FAMILIES enter their handlers in the command table when ``load_commands``
runs, and each new Server gets its subsystems from the ``attach(server)``
functions in ATTACH, in that order: they fill the extension points that
``Server.__init__`` declares (cron, start-up, shutdown, client-close, RESET,
FLUSH and RESETSTAT hooks, CONFIG SET functions, DEBUG subcommands, INFO
sections). Adding a family or a subsystem is one line here.

Imports point one way, from low level to high, and this module sits at the
top, under the command line only (tests/test_layers.py walks them).
"""

from . import aof, evict, metrics, pubsub, replication, tracking
from .commands import (aof_cmd, bitmaps, blocking, clock_cmd, cluster_keys, config_cmd, connection,
                       database, debug, functions, geo, hashes, hyperloglog, info, introspection,
                       keys, lists, latency, lolwut, memory, migrate, module_cmd, monitor, pause,
                       persistence,
                       register_family, scripting, sets, slowlog, sort, streams, strings,
                       transactions, zsets)
from .commands import tracking as tracking_cmds
from .commands import acl as acl_cmds
from .commands import pubsub as pubsub_cmds
from .commands import replication as replication_cmds
from .commands import server as server_cmds
from .commands import cluster as cluster_cmds
from .cluster import links as cluster_links
from .commands import failover
from .server import Server

FAMILIES = (connection, server_cmds, database, info, debug, introspection, keys, strings,
            config_cmd, lists, hashes, sets, zsets, geo, streams, bitmaps, hyperloglog,
            transactions, pubsub_cmds, sort, persistence, replication_cmds, memory, blocking,
            aof_cmd, scripting, functions, acl_cmds, monitor, slowlog, pause, latency,
            tracking_cmds, cluster_cmds, cluster_keys, lolwut, migrate, module_cmd, failover)

# In order: the eviction's CONFIG SET functions replace the generic ones of
# config_cmd, and the AOF wraps the persistence INFO section.
ATTACH = (config_cmd.attach, database.attach, hashes.attach, transactions.attach,
          pubsub.attach, pubsub_cmds.attach, persistence.attach, replication.attach,
          replication_cmds.attach, evict.attach, memory.attach, blocking.attach,
          aof.attach_server, aof_cmd.attach, scripting.attach, functions.attach,
          acl_cmds.attach, metrics.attach, monitor.attach, slowlog.attach, pause.attach,
          latency.attach, tracking.attach, clock_cmd.attach,
          cluster_links.attach, cluster_cmds.attach, cluster_keys.attach,
          migrate.attach, failover.attach, sets.attach, server_cmds.attach,
          # Last: the loadmodule lines, before start() loads the dataset.
          module_cmd.attach)

_loaded = False


def load_commands():
    """Fill the command table (once per process)."""
    global _loaded
    if not _loaded:
        for family in FAMILIES:
            register_family(family)
        _loaded = True


def create_server(config):
    """A Server for ``config`` with every command and subsystem."""
    load_commands()
    server = Server(config)
    for attach in ATTACH:
        attach(server)
    return server
