"""DEBUG (debug.c): the subcommands Redis's tooling and tests use.

Subcommands that belong to a subsystem (RELOAD, LOADAOF) are given by that
subsystem through ``server.debug_subcommands``.
"""

import hashlib
import re
import struct
import time

from . import command
from .. import resp
from ..config import allow_protected_action
from ..resp import OK, help_reply, subcommand_syntax_error
from ..networking import REPLY_OFF, REPLY_SKIP
from ..stream import MAX_ID, Stream
from ..util import string2ll
from ..values import PackedHash, QuickList
from ..zset import ZSet


# -- DEBUG --------------------------------------------------------------------

DEBUG_DENIED = (b'-ERR DEBUG command not allowed. If the enable-debug-command option is set '
                b'to "local", you can run it from a local connection, otherwise you need to '
                b'set this option in the configuration file, and then restart the server.\r\n')


def debug_allowed(c):
    return allow_protected_action(c.server.config.enable_debug_command, c)


def _serialized_length(server, v):
    """rdbSavedObjectLen: the size of the value in an RDB file."""
    try:
        from .. import rdb
        return len(rdb.encode_value(v, rdb.Options(server.config))[1])
    except Exception:
        return len(v) if isinstance(v, (bytes, bytearray)) else 0


# Redis 7.0's own DEBUG HELP text (not every subcommand exists here).
DEBUG_HELP = [
    'AOF-FLUSH-SLEEP <microsec>',
    '    Server will sleep before flushing the AOF, this is used for testing.',
    'ASSERT',
    '    Crash by assertion failed.',
    'CHANGE-REPL-ID',
    '    Change the replication IDs of the instance.',
    '    Dangerous: should be used only for testing the replication subsystem.',
    'CONFIG-REWRITE-FORCE-ALL',
    '    Like CONFIG REWRITE but writes all configuration options, including',
    '    keywords not listed in original configuration file or default values.',
    'CRASH-AND-RECOVER [<milliseconds>]',
    '    Hard crash and restart after a <milliseconds> delay (default 0).',
    'DIGEST',
    '    Output a hex signature representing the current DB content.',
    'DIGEST-VALUE <key> [<key> ...]',
    '    Output a hex signature of the values of all the specified keys.',
    'ERROR <string>',
    '    Return a Redis protocol error with <string> as message. Useful for clients',
    '    unit tests to simulate Redis errors.',
    'LEAK <string>',
    '    Create a memory leak of the input string.',
    'LOG <message>',
    '    Write <message> to the server log.',
    'HTSTATS <dbid>',
    '    Return hash table statistics of the specified Redis database.',
    'HTSTATS-KEY <key>',
    "    Like HTSTATS but for the hash table stored at <key>'s value.",
    'LOADAOF',
    '    Flush the AOF buffers on disk and reload the AOF in memory.',
    'REPLICATE <string>',
    '    Replicates the provided string to replicas, allowing data divergence.',
    'MALLCTL <key> [<val>]',
    '    Get or set a malloc tuning integer.',
    'MALLCTL-STR <key> [<val>]',
    '    Get or set a malloc tuning string.',
    'OBJECT <key>',
    '    Show low level info about `key` and associated value.',
    'DROP-CLUSTER-PACKET-FILTER <packet-type>',
    '    Drop all packets that match the filtered type. Set to -1 allow all packets.',
    'OOM',
    '    Crash the server simulating an out-of-memory error.',
    'PANIC',
    '    Crash the server simulating a panic.',
    'POPULATE <count> [<prefix>] [<size>]',
    '    Create <count> string keys named key:<num>. If <prefix> is specified then',
    "    it is used instead of the 'key' prefix. These are not propagated to",
    '    replicas. Cluster slots are not respected so keys not belonging to the',
    '    current node can be created in cluster mode.',
    'PROTOCOL <type>',
    '    Reply with a test value of the specified type. <type> can be: string,',
    '    integer, double, bignum, null, array, set, map, attrib, push, verbatim,',
    '    true, false.',
    'RELOAD [option ...]',
    '    Save the RDB on disk and reload it back to memory. Valid <option> values:',
    '    * MERGE: conflicting keys will be loaded from RDB.',
    '    * NOFLUSH: the existing database will not be removed before load, but',
    '      conflicting keys will generate an exception and kill the server.',
    '    * NOSAVE: the database will be loaded from an existing RDB file.',
    '    Examples:',
    '    * DEBUG RELOAD: verify that the server is able to persist, flush and reload',
    '      the database.',
    '    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an',
    '      existing RDB file.',
    '    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB',
    '      file to the database.',
    'RESTART [<milliseconds>]',
    '    Graceful restart: save config, db, restart after a <milliseconds> delay (default 0).',
    'SDSLEN <key>',
    '    Show low level SDS string info representing `key` and value.',
    'SEGFAULT',
    '    Crash the server with sigsegv.',
    'SET-ACTIVE-EXPIRE <0|1>',
    '    Setting it to 0 disables expiring keys in background when they are not',
    '    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the',
    '    default.',
    'QUICKLIST-PACKED-THRESHOLD <size>',
    '    Sets the threshold for elements to be inserted as plain vs packed nodes',
    '    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.',
    'SET-SKIP-CHECKSUM-VALIDATION <0|1>',
    "    Enables or disables checksum checks for RDB files and RESTORE's payload.",
    'SLEEP <seconds>',
    '    Stop the server for <seconds>. Decimals allowed.',
    'STRINGMATCH-TEST',
    '    Run a fuzz tester against the stringmatchlen() function.',
    'STRUCTSIZE',
    '    Return the size of different Redis core C structures.',
    'LISTPACK <key>',
    '    Show low level info about the listpack encoding of <key>.',
    'QUICKLIST <key> [<0|1>]',
    '    Show low level info about the quicklist encoding of <key>.',
    '    The optional argument (0 by default) sets the level of detail',
    'CLIENT-EVICTION',
    '    Show low level client eviction pools info (maxmemory-clients).',
    'PAUSE-CRON <0|1>',
    '    Stop periodic cron job processing.',
    'REPLYBUFFER PEAK-RESET-TIME <NEVER||RESET|time>',
    '    Sets the time (in milliseconds) to wait between client reply buffer peak resets.',
    '    In case NEVER is provided the last observed peak will never be reset',
    '    In case RESET is provided the peak reset time will be restored to the default value',
    'REPLYBUFFER RESIZING <0|1>',
    '    Enable or disable the reply buffer resize cron job',
    'CLUSTERLINK KILL <to|from|all> <node-id>',
    '    Kills the link based on the direction to/from (both) with the provided node.',
]




def _quicklist_info(server, v):
    """DEBUG OBJECT's quicklist fields: the list's own nodes, or (with a
    lowered QUICKLIST-PACKED-THRESHOLD, or without the C extension) those
    RPUSH would build."""
    from .. import rdb
    if rdb.PACKED_THRESHOLD == 1 << 30 and hasattr(v, 'nodes'):
        sizes = [len(n) for n in v.nodes()]
        nodes = len(sizes) or 1
        return b' ql_nodes:%d ql_avg_node:%.2f ql_listpack_max:%d ql_compressed:%d ' \
            b'ql_uncompressed_size:%d' % (len(sizes), len(v) / nodes, v.fill,
                                          server.config.list_compress_depth != 0, sum(sizes))
    fill = server.config.list_max_listpack_size
    sizes = []
    run = []
    for x in v:
        if len(x) >= rdb.PACKED_THRESHOLD:
            if run:
                sizes += [len(n) for n in rdb.quicklist_nodes(run, fill)]
                run = []
            sizes.append(len(x))
        else:
            run.append(x)
    if run:
        sizes += [len(n) for n in rdb.quicklist_nodes(run, fill)]
    nodes = len(sizes) or 1
    return b' ql_nodes:%d ql_avg_node:%.2f ql_listpack_max:%d ql_compressed:%d ' \
        b'ql_uncompressed_size:%d' % (len(sizes), len(v) / nodes, fill,
                                      server.config.list_compress_depth != 0, sum(sizes))


# -- DEBUG DIGEST (debug.c's computeDatasetDigest) --------------------------------------

_TYPE_IDS = {bytes: 0, bytearray: 0, QuickList: 1, set: 2, ZSet: 3, dict: 4, Stream: 6}
if PackedHash is not None:
    _TYPE_IDS[PackedHash] = 4


def _sha1(data):
    return hashlib.sha1(data).digest()


def _xor(digest, data):
    """xorDigest: digest ^= SHA1(data); order-independent."""
    h = _sha1(data)
    return bytes(a ^ b for a, b in zip(digest, h))


def _mix(digest, data):
    """mixDigest: digest = SHA1(digest ^ SHA1(data)); order-dependent."""
    return _sha1(_xor(digest, data))


def _score(d):
    return b'%.17g' % d


def value_digest(db, key, v, digest=bytes(20)):
    """xorObjectDigest."""
    t = type(v)
    # (5: OBJ_MODULE. A module type's value adds nothing more: pyredis's
    # module types have no digest callback, and in Redis a type without
    # one adds nothing.)
    digest = _mix(digest, _TYPE_IDS.get(t, 5).to_bytes(4, 'big'))
    if t is bytes or t is bytearray:
        digest = _mix(digest, bytes(v))
    elif t is QuickList:
        for e in v:
            digest = _mix(digest, e)
    elif t is set:
        for e in v:
            digest = _xor(digest, e)
    elif t is ZSet:
        for member, score in v.items():
            ele = _mix(_mix(bytes(20), member), _score(score))
            digest = _xor(digest, ele)
    elif t is dict or t is PackedHash:
        for field, value in v.items():
            digest = _xor(digest, _mix(_mix(bytes(20), field), value))
    elif t is Stream:
        for eid, fv in v.iter_range(0, MAX_ID):
            digest = _mix(digest, b'%d.%d' % (eid >> 64, eid & ((1 << 64) - 1)))
            for x in fv:
                digest = _mix(digest, x)
    if key in db.expires:
        digest = _xor(digest, b'!!expire!!')
    return digest


def dataset_digest(server):
    final = bytes(20)
    for db in server.dbs:
        if not db.data:
            continue
        final = _mix(final, db.id.to_bytes(4, 'big'))
        for key, v in db.data.items():
            final = _xor(final, value_digest(db, key, v, _mix(bytes(20), key)))
    return final


# DEBUG PROTOCOL <type>: a test value of each reply type.
_PROTOCOL = {
    b'string': (b'$11\r\nHello World\r\n',) * 2,
    b'integer': (b':12345\r\n',) * 2,
    b'double': (b'$5\r\n3.141\r\n', b',3.141\r\n'),
    b'bignum': (b'$37\r\n1234567999999999999999999999999999999\r\n',
                b'(1234567999999999999999999999999999999\r\n'),
    b'null': (b'$-1\r\n', b'_\r\n'),
    b'array': (b'*3\r\n:0\r\n:1\r\n:2\r\n',) * 2,
    b'set': (b'*3\r\n:0\r\n:1\r\n:2\r\n', b'~3\r\n:0\r\n:1\r\n:2\r\n'),
    b'map': (b'*6\r\n:0\r\n:0\r\n:1\r\n:1\r\n:2\r\n:0\r\n',
             b'%3\r\n:0\r\n#f\r\n:1\r\n#t\r\n:2\r\n#f\r\n'),
    b'attrib': (b'$39\r\nSome real reply following the attribute\r\n',
                b'|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n'
                b'$39\r\nSome real reply following the attribute\r\n'),
    b'push': (b'-ERR RESP2 is not supported by this command\r\n',
              b'>2\r\n$16\r\nserver-cpu-usage\r\n:42\r\n'
              b'$40\r\nSome real reply following the push reply\r\n'),
    b'verbatim': (b'$25\r\nThis is a verbatim\nstring\r\n',
                  b'=29\r\ntxt:This is a verbatim\nstring\r\n'),
    b'true': (b':1\r\n', b'#t\r\n'),
    b'false': (b':0\r\n', b'#f\r\n'),
}


def _protocol(c, name):
    replies = _PROTOCOL.get(name)
    if replies is None:
        return (b'-ERR Wrong protocol type name. Please use one of the following: '
                b'string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|'
                b'true|false\r\n')
    return replies[c.resp == 3]


POSITIVE_ERR = b'-ERR value is out of range, must be positive\r\n'


def _populate(c, argv):
    """DEBUG POPULATE count [prefix] [size]: keys prefix:N holding value:N
    (cut or NUL-padded to size), the existing ones left alone; neither
    propagated nor counted as changes, as in Redis."""
    from ..util import string2ll
    # (getPositiveLongFromObjectOrReply: one error for both.)
    count = string2ll(argv[2])
    if count is None or count < 0:
        return POSITIVE_ERR
    size = 0
    if len(argv) == 5:
        size = string2ll(argv[4])
        if size is None or size < 0:
            return POSITIVE_ERR
    prefix = argv[3] if len(argv) >= 4 else b'key'
    db = c.db
    server = c.server
    for j in range(count):
        key = (b'%s:%d' % (prefix, j))[:127]
        if db.lookup_write(key) is not None:
            continue
        val = b'value:%d' % j
        if size:
            val = val[:size].ljust(size, b'\0')
        db.add(key, val)
        if db.watched:
            server.signal_modified(db, key)
    return OK


def _f32(x):
    """x as a C float: dictGetStats's averages and shares are floats."""
    return struct.unpack('f', struct.pack('f', x))[0]


def _table_stats(table):
    """_dictGetStatsHt's text for each table of a keyspace or expires table
    (two while it rehashes). Over a dict (no C extension), the chains that a
    table of Redis's size for it would have."""
    if hasattr(table, 'chain_stats'):
        tables = table.chain_stats()
    else:
        size = 4 if table else 0
        while size < len(table):
            size <<= 1
        chains = {}
        for key in table:
            chains[hash(key) & (size - 1)] = chains.get(hash(key) & (size - 1), 0) + 1
        vec = [0] * 50
        vec[0] = size - len(chains)
        for n in chains.values():
            vec[min(n, 49)] += 1
        tables = [(size, len(table), len(chains), max(chains.values(), default=0),
                   len(table), vec)]
    out = []
    for t, (size, used, slots, longest, counted, vec) in enumerate(tables):
        out.append('Hash table %d stats (%s):\n' % (
            t, 'main hash table' if t == 0 else 'rehashing target'))
        if not used:
            out.append('No stats available for empty dictionaries\n')
            continue
        out.append(' table size: %d\n number of elements: %d\n different slots: %d\n'
                   ' max chain length: %d\n avg chain length (counted): %.02f\n'
                   ' avg chain length (computed): %.02f\n Chain length distribution:\n' % (
                       size, used, slots, longest, _f32(counted / slots), _f32(used / slots)))
        for i, n in enumerate(vec[:-1]):
            if n:
                out.append('   %d: %d (%.02f%%)\n' % (i, n, _f32(_f32(n / size) * 100)))
    return ''.join(out)


def _atoi(s):
    """C's atoi: the leading integer, 0 for none ("x" or "00" turn a
    switch off as surely as "0")."""
    m = re.match(rb'\s*([+-]?\d+)', s)
    return int(m.group(1)) if m else 0


_LEAKED = []


def _stringmatch_fuzz(cycles=20000):
    """stringmatchlen_fuzz_test: random patterns against random strings
    (up to 31 bytes of 7-bit characters each), for the matcher not to
    crash or hang. Redis runs ten million cycles of its C matcher; the
    Python one gets fewer."""
    import random
    from ..util import glob_match
    total = 0
    for _ in range(cycles):
        s = bytes(random.randrange(128) for _ in range(random.randrange(32)))
        p = bytes(random.randrange(128) for _ in range(random.randrange(32)))
        total += bool(glob_match(p, s))
    print('Total matches: %d' % total, flush=True)


def _sdslen(c, key):
    """DEBUG SDSLEN: the key's and the string value's sds figures (length,
    spare room, allocation). The key is an sdsdup of the request's
    argument; the value's figures are objsize.string_sds's model (embstr:
    the sds inside the object's single allocation, no spare room). Redis
    finds the key in the dict itself (dictFind): no expiry, no hit or miss
    counted, as DEBUG OBJECT."""
    from ..objsize import ROBJ, _sds_new, je_size, string_sds
    from ..values import object_encoding
    v = c.db.data.get(key)
    if v is None:
        return b'-ERR no such key\r\n'
    enc = (object_encoding(c.server, v) if type(v) is bytes or type(v) is bytearray
           else None)
    if enc != b'embstr' and enc != b'raw':
        return b'-ERR Not an sds encoded string.\r\n'
    kalloc, kusable = _sds_new(len(key))
    if enc == b'embstr':
        vlen, vavail, vmem = len(v), 0, je_size(ROBJ + 3 + len(v) + 1) - ROBJ
    else:
        vlen, vavail, vmem = string_sds(v)
    return resp.status(b'key_sds_len:%d, key_sds_avail:%d, key_zmalloc: %d, '
                       b'val_sds_len:%d, val_sds_avail:%d, val_zmalloc: %d' % (
                           len(key), kalloc - len(key), kusable, vlen, vavail, vmem))


def _client_eviction(c):
    """DEBUG CLIENT-EVICTION: the client memory usage buckets of
    maxmemory-clients (powers of two from 32 KB to 4 GB). pyredis keeps no
    buckets: the clients maxmemory-clients may evict (normal and pub/sub,
    not NO-EVICT) are put in theirs now, at their current memory."""
    server = c.server
    if not server.config.maxmemory_clients:
        return b'-ERR maxmemory-clients is disabled.\r\n'
    lo, hi = 15, 33         # CLIENT_MEM_USAGE_BUCKET_MIN_LOG / _MAX_LOG
    sums = [0] * (hi - lo + 1)
    counts = [0] * (hi - lo + 1)
    for other in server.clients.values():
        if (other.is_replica or other.is_master or other.no_evict or other.closing
                or other.transport is None):
            continue
        mem = other.memory()
        j = min(max(mem.bit_length(), lo), hi) - lo
        sums[j] += mem
        counts[j] += 1
    out = []
    for j in range(hi - lo + 1):
        low = 0 if j == 0 else 1 << (j - 1 + lo)
        if j == hi - lo:
            out.append('bucket %10d+            : ' % low)
        else:
            out.append('bucket %10d - %10d: ' % (low, (1 << (j + lo)) - 1))
        out.append('tot-mem: %10d, clients: %d\n' % (sums[j], counts[j]))
    return resp.encode(resp.Verbatim(''.join(out).encode()), c.resp)


@command('debug')
def debug(c, argv):
    if not debug_allowed(c):
        return DEBUG_DENIED
    sub = argv[1].lower()
    server = c.server
    if sub == b'sleep' and len(argv) == 3:
        from ..util import strtod
        # As nanosleep(): a negative or unparsable time sleeps not at all.
        secs = strtod(argv[2]) or 0
        if secs > 0:
            time.sleep(secs)
        return OK
    if sub == b'set-active-expire' and len(argv) == 3:
        server.active_expire_enabled = bool(_atoi(argv[2]))
        return OK
    if sub == b'object' and len(argv) == 3:
        db = c.db
        if argv[2] not in db.data:
            return b'-ERR no such key\r\n'
        from .keys import object_refcount
        from ..values import object_encoding
        v = db.data[argv[2]]
        enc = object_encoding(server, v)
        lru = db.lru.get(argv[2], server.lruclock)
        idle = (server.lruclock - lru) & ((1 << 24) - 1)
        refcount = int(object_refcount(c, [b'object', b'refcount', argv[2]])[1:-2])
        return resp.status(b'Value at:0x%x refcount:%d encoding:%s serializedlength:%d '
                           b'lru:%d lru_seconds_idle:%d%s' % (
                               id(v), refcount, enc, _serialized_length(server, v), lru, idle,
                               _quicklist_info(server, v) if enc == b'quicklist' else b''))
    if sub == b'digest' and len(argv) == 2:
        return b'+%s\r\n' % dataset_digest(server).hex().encode()
    if sub == b'digest-value':
        # (Logically expired keys too: no lookup.)
        out = [b'*%d\r\n' % (len(argv) - 2)]
        for key in argv[2:]:
            v = c.db.data.get(key)
            d = value_digest(c.db, key, v) if v is not None else bytes(20)
            out.append(b'+%s\r\n' % d.hex().encode())
        return b''.join(out)
    if sub == b'populate' and 3 <= len(argv) <= 5:
        return _populate(c, argv)
    if sub == b'quicklist-packed-threshold' and len(argv) == 3:
        from ..config import memtoull
        from ..rdb import set_packed_threshold
        size = memtoull(argv[2].decode('latin-1'))
        if size is None or not set_packed_threshold(size):
            return b'-ERR argument must be a memory value bigger than 1 and smaller than 4gb\r\n'
        return OK
    if sub == b'log' and len(argv) == 3:
        from .. import log
        log.warning('DEBUG LOG: %s' % argv[2].decode('utf-8', 'replace'))
        return OK
    if sub == b'error' and len(argv) == 3:
        # Redis builds the error itself and sends it with addReplyProto,
        # which bypasses afterErrorReply: neither total_error_replies, nor
        # errorstats, nor the command's failed_calls count it. So it goes
        # to the output here instead of through call() (which would).
        if not c.reply_mode & (REPLY_OFF | REPLY_SKIP):
            c.out.append(b'-%s\r\n' % argv[2].replace(b'\r', b' ').replace(b'\n', b' '))
        return None
    if sub == b'protocol' and len(argv) == 3:
        return _protocol(c, argv[2].lower())
    if sub == b'replybuffer' and len(argv) == 4:
        # (No reply buffer resizing here: the settings are accepted.)
        what = argv[2].lower()
        if what == b'peak-reset-time':
            if argv[3].lower() not in (b'never', b'reset') and string2ll(argv[3]) is None:
                return resp.NOT_INT_ERR
            return OK
        if what == b'resizing':
            return OK
    if sub in (b'listpack', b'quicklist') and len(argv) == 3:
        v = c.db.data.get(argv[2])
        if v is None:
            return b'-ERR no such key\r\n'
        from ..values import object_encoding
        if object_encoding(server, v) != sub:
            return b'-ERR Not a %s encoded object.\r\n' % sub
        return b'+%s structure printed on stdout\r\n' % sub.capitalize()
    if sub == b'htstats' and len(argv) == 3:
        dbid = string2ll(argv[2])
        if dbid is None:
            return resp.NOT_INT_ERR
        if dbid < 0 or dbid >= len(server.dbs):
            return b'-ERR Out of range database\r\n'
        db = server.dbs[dbid]
        text = '[Dictionary HT]\n%s[Expires HT]\n%s' % (_table_stats(db.data),
                                                        _table_stats(db.expires))
        return resp.encode(resp.Verbatim(text.encode()), c.resp)
    if sub == b'change-repl-id' and len(argv) == 2:
        repl = getattr(server, 'replication', None)
        if repl is not None:
            from .. import log
            log.warning('Changing replication IDs after receiving DEBUG change-repl-id')
            repl.change_replid()
            repl.clear_replid2()
        return OK
    if sub == b'stringmatch-test' and len(argv) == 2:
        _stringmatch_fuzz()
        return b'+Apparently Redis did not crash: test passed\r\n'
    if sub == b'sdslen' and len(argv) == 3:
        return _sdslen(c, argv[2])
    if sub == b'pause-cron' and len(argv) == 3:
        server.cron_paused = bool(_atoi(argv[2]))
        return OK
    if sub == b'set-skip-checksum-validation' and len(argv) == 3:
        server.skip_checksum_validation = bool(_atoi(argv[2]))
        return OK
    if sub == b'set-disable-deny-scripts' and len(argv) == 3:
        server.script_disable_deny_script = bool(_atoi(argv[2]))
        return OK
    if sub == b'aof-flush-sleep' and len(argv) == 3:
        aof = getattr(server, 'aof', None)
        if aof is not None:
            aof.flush_sleep_us = max(_atoi(argv[2]), 0)
        return OK
    if sub == b'leak' and len(argv) == 3:
        # "Create a memory leak of the input string": a copy nobody frees.
        _LEAKED.append(bytes(argv[2]))
        return OK
    if sub == b'client-eviction' and len(argv) == 2:
        return _client_eviction(c)
    if sub in (b'mallctl', b'mallctl-str') and len(argv) >= 3:
        # Redis built with jemalloc answers mallctl's ENOENT for a name it
        # does not know; pyredis has no jemalloc, so it knows none.
        return b'-ERR No such file or directory\r\n'
    handler = server.debug_subcommands.get(sub)
    if handler is not None:
        return handler(c, argv)
    if sub == b'help' and len(argv) == 2:
        return help_reply('DEBUG', DEBUG_HELP)
    return subcommand_syntax_error(argv)
