"""Database commands (db.c): DBSIZE, FLUSHDB, FLUSHALL, SWAPDB.

Emptying a database (``Server.empty_database``) runs ``server.flush_hooks``
(blocking keys, eviction state), and FLUSHALL also ``server.flushall_hooks``
(the save Redis makes when save points are set), so this module knows
nothing of those subsystems. Keyspace hits and misses, counted per database,
are reset here on CONFIG RESETSTAT.
"""

from . import command
from ..resp import OK, integer, SYNTAX_ERR
from .connection import get_int
from ..resp import DB_INDEX_ERR


@command('dbsize')
def dbsize(c, argv):
    return integer(len(c.db.data))


def _flush_mode(c, argv):
    """getFlushCommandFlags: True for ASYNC (or no argument with
    lazyfree-lazy-user-flush), False for SYNC, None for a syntax error."""
    if len(argv) > 2:
        return None
    if len(argv) == 2:
        mode = argv[1].lower()
        if mode not in (b'sync', b'async'):
            return None
        return mode == b'async'
    return c.server.config.lazyfree_lazy_user_flush


@command('flushdb')
def flushdb(c, argv):
    lazy = _flush_mode(c, argv)
    if lazy is None:
        return SYNTAX_ERR
    server = c.server
    server.dirty += len(c.db.data) + 1
    server.empty_database(c.db, lazy)
    return OK


@command('flushall')
def flushall(c, argv):
    lazy = _flush_mode(c, argv)
    if lazy is None:
        return SYNTAX_ERR
    server = c.server
    for db in server.dbs:
        server.dirty += len(db.data)
        server.empty_database(db, lazy)
    server.dirty += 1
    for hook in server.flushall_hooks:
        hook(server)
    return OK


@command('swapdb')
def swapdb(c, argv):
    if c.server.config.cluster_enabled:
        return b'-ERR SWAPDB is not allowed in cluster mode\r\n'
    a = get_int(argv[1], b'ERR invalid first DB index')
    b = get_int(argv[2], b'ERR invalid second DB index')
    server = c.server
    n = len(server.dbs)
    if a < 0 or a >= n or b < 0 or b >= n:
        return DB_INDEX_ERR
    if a != b:
        da, db = server.dbs[a], server.dbs[b]
        # WATCHed keys of both databases may now see different values.
        server.touch_all_watched_keys_in_db(da, db)
        server.touch_all_watched_keys_in_db(db, da)
        # XREADGROUP clients on a stream that goes away are told.
        da.signal_deleted_streams(db)
        db.signal_deleted_streams(da)
        for attr in ('data', 'expires', 'lru', 'avg_ttl', 'expire_scan', 'expire_scan_pos',
                     'scan_index'):
            va, vb = getattr(da, attr), getattr(db, attr)
            setattr(da, attr, vb)
            setattr(db, attr, va)
        for d in (da, db):
            for key in d.blocking_keys:
                if key in d.data:
                    server.signal_key_ready(d, key)
        server.dirty += 1
    return OK


def _reset_db_stats(server):
    # Keyspace hits/misses are counted per database on the lookup path.
    for db in server.dbs:
        db.hits = db.misses = 0


def attach(server):
    server.resetstat_hooks.append(_reset_db_stats)
