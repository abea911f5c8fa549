"""BGREWRITEAOF, DEBUG LOADAOF and the CONFIG SET hooks of the AOF.

The mechanics (fork, manifest switch, loading) live in pyredis/aof.py; this
module is the command surface.
"""

import os

from . import command
from .. import aof as aof_mod, log
from ..resp import OK, status, error


@command('bgrewriteaof')
def bgrewriteaof(c, argv):
    server = c.server
    aof = server.aof
    if aof.child_pid is not None:
        return error(b'ERR Background append only file rewriting already in progress')
    if aof.other_child_active() or server.in_exec:
        aof.rewrite_scheduled = True
        # A manual request is not subject to the failure back-off.
        aof.consecutive_failures = 0
        return status(b'Background append only file rewriting scheduled')
    if aof.rewrite_background():
        return status(b'Background append only file rewriting started')
    return error(b"ERR Can't execute an AOF background rewriting. Please check the server "
                 b"logs for more information.")


def debug_loadaof(c, argv):
    """DEBUG LOADAOF: flush the AOF, empty the keyspace and load the files
    the manifest on disk lists. As in Redis, a load that fails stops the
    server (exit 1): the dataset would be incomplete."""
    server = c.server
    aof = server.aof
    if aof.state == aof_mod.AOF_ON:
        aof.flush(True)
    for db in server.dbs:
        db.clear()
    try:
        aof.load_manifest_from_disk()
        aof.del_history_files()
        ret = aof.load_files()
    except aof_mod.AofFatal:
        ret = aof_mod.AOF_FAILED
    if ret not in (aof_mod.AOF_OK, aof_mod.AOF_EMPTY):
        os._exit(1)
    server.dirty = 0
    log.notice('Append Only File loaded by DEBUG LOADAOF')
    return OK


def attach(server):
    server.debug_subcommands[b'loadaof'] = debug_loadaof
