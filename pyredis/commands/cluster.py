"""CLUSTER: the nodes, slots and epochs side (cluster.c's clusterCommand).

INFO, NODES, MYID, SLOTS, SHARDS, ADDSLOTS[RANGE], DELSLOTS[RANGE],
FLUSHSLOTS, SETSLOT, MEET, FORGET, REPLICATE, REPLICAS/SLAVES, RESET,
SAVECONFIG, BUMPEPOCH, SET-CONFIG-EPOCH, COUNT-FAILURE-REPORTS, LINKS,
FAILOVER and HELP, with Redis 7.0's reply shapes (CLUSTER INFO and NODES are
verbatim strings in RESP3, SHARDS and LINKS maps) and error texts. The
keyspace subcommands (KEYSLOT, COUNTKEYSINSLOT, GETKEYSINSLOT) are
commands/cluster_keys.py's. The work is the Cluster's (cluster/node.py);
every handler first refuses when cluster mode is off, as clusterCommand does.
"""

from .. import log
from ..cluster import node as cnode
from ..cluster.bus import TYPE_NAMES
from ..cluster.state import CLUSTER_SLOTS, PFAIL, random_name
from ..resp import (ARITY_ERR, NOT_INT_ERR, OK, SYNTAX_ERR, bulk, error, help_reply, null,
                    subcommand_syntax_error)
from ..util import string2ll
from . import command
from .cluster_keys import DISABLED_ERR

HELP = (
    'ADDSLOTS <slot> [<slot> ...]',
    '    Assign slots to current node.',
    'ADDSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]',
    '    Assign slots which are between <start-slot> and <end-slot> to current node.',
    'BUMPEPOCH',
    '    Advance the cluster config epoch.',
    'COUNT-FAILURE-REPORTS <node-id>',
    '    Return number of failure reports for <node-id>.',
    'COUNTKEYSINSLOT <slot>',
    '    Return the number of keys in <slot>.',
    'DELSLOTS <slot> [<slot> ...]',
    '    Delete slots information from current node.',
    'DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]',
    '    Delete slots information which are between <start-slot> and <end-slot> from current '
    'node.',
    'FAILOVER [FORCE|TAKEOVER]',
    '    Promote current replica node to being a master.',
    'FORGET <node-id>',
    '    Remove a node from the cluster.',
    'GETKEYSINSLOT <slot> <count>',
    '    Return key names stored by current node in a slot.',
    'FLUSHSLOTS',
    '    Delete current node own slots information.',
    'INFO',
    '    Return information about the cluster.',
    'KEYSLOT <key>',
    '    Return the hash slot for <key>.',
    'MEET <ip> <port> [<bus-port>]',
    '    Connect nodes into a working cluster.',
    'MYID',
    '    Return the node id.',
    'NODES',
    '    Return cluster configuration seen by node. Output format:',
    '    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...',
    'REPLICATE <node-id>',
    '    Configure current node as replica to <node-id>.',
    'RESET [HARD|SOFT]',
    '    Reset current node (default: soft).',
    'SET-CONFIG-EPOCH <epoch>',
    '    Set config epoch of current node.',
    'SETSLOT <slot> (IMPORTING <node-id>|MIGRATING <node-id>|STABLE|NODE <node-id>)',
    '    Set slot state.',
    'REPLICAS <node-id>',
    '    Return <node-id> replicas.',
    'SAVECONFIG',
    '    Force saving cluster configuration on disk.',
    'SLOTS',
    '    Return information about slots range mappings. Each range is made of:',
    '    start, end, master and replicas IP addresses, ports and ids',
    'SHARDS',
    '    Return information about slot range mappings and the nodes associated with them.',
    'LINKS',
    '    Return information about all network links between this node and its peers.',
    '    Output format is an array where each array element is a map containing attributes '
    'of a link',
)

SLOT_ERR = b'-ERR Invalid or out of range slot\r\n'


def cluster_command(name):
    """Register a CLUSTER subcommand that refuses when cluster mode is off.
    A subcommand that changed the configuration has its reply written
    after nodes.conf is saved, at the end of the loop's turn (see
    Cluster.hold_replies)."""
    def wrap(fn):
        def handler(c, argv):
            cluster = c.server.cluster
            if cluster is None:
                return DISABLED_ERR
            reply = fn(c, argv, cluster)
            if getattr(cluster, 'todo', 0) & cnode.TODO_SAVE_CONFIG:
                cluster.hold_replies()
            return reply
        handler.__name__ = fn.__name__
        return command('cluster|' + name)(handler)
    return wrap


# -- reply helpers -------------------------------------------------------------------------

def _bulk(s):
    return bulk(s.encode('latin-1') if isinstance(s, str) else s)


def _verbatim(c, text):
    raw = text.encode('latin-1')
    if c.resp == 3:
        return b'=%d\r\ntxt:%s\r\n' % (len(raw) + 4, raw)
    return _bulk(raw)


def _map_head(c, n):
    return b'%%%d\r\n' % n if c.resp == 3 else b'*%d\r\n' % (2 * n)


def _unknown(name):
    return error(b'ERR Unknown node %s' % name)


def _node_arg(cluster, raw):
    return cluster.lookup(raw.decode('latin-1'))


def _slot(arg):
    slot = string2ll(arg)
    if slot is None or slot < 0 or slot >= CLUSTER_SLOTS:
        return None
    return slot


def _empty_db0(c):
    return len(c.server.dbs[0].data) == 0


@command('cluster|help')
def cluster_help(c, argv):
    if c.server.cluster is None:
        return DISABLED_ERR
    return help_reply('CLUSTER', HELP)


# -- information ---------------------------------------------------------------------------

def info_text(cluster):
    """genClusterInfoString."""
    assigned = ok = pfail = fail = 0
    for n in cluster.nodes.values():       # numslots: the slots each one owns
        if not n.numslots:
            continue
        assigned += n.numslots
        if n.failed():
            fail += n.numslots
        elif n.flags & PFAIL:
            pfail += n.numslots
        else:
            ok += n.numslots
    me = cluster.myself
    myepoch = me.slaveof.config_epoch if (me.is_slave() and me.slaveof is not None) \
        else me.config_epoch
    lines = [
        'cluster_state:%s' % ('ok' if cluster.state_ok else 'fail'),
        'cluster_slots_assigned:%d' % assigned,
        'cluster_slots_ok:%d' % ok,
        'cluster_slots_pfail:%d' % pfail,
        'cluster_slots_fail:%d' % fail,
        'cluster_known_nodes:%d' % len(cluster.nodes),
        'cluster_size:%d' % cluster.size,
        'cluster_current_epoch:%d' % cluster.current_epoch,
        'cluster_my_epoch:%d' % myepoch,
    ]
    for kind, stats in (('sent', cluster.stats_sent), ('received', cluster.stats_received)):
        for j, count in enumerate(stats):
            if count:
                lines.append('cluster_stats_messages_%s_%s:%d' % (TYPE_NAMES[j], kind, count))
        lines.append('cluster_stats_messages_%s:%d' % (kind, sum(stats)))
    lines.append('total_cluster_links_buffer_limit_exceeded:%d' %
                 cluster.links_buffer_limit_exceeded)
    return '\r\n'.join(lines) + '\r\n'


@cluster_command('info')
def cluster_info(c, argv, cluster):
    return _verbatim(c, info_text(cluster))


@cluster_command('nodes')
def cluster_nodes(c, argv, cluster):
    return _verbatim(c, cluster.describe_all())


@cluster_command('myid')
def cluster_myid(c, argv, cluster):
    return _bulk(cluster.myself.name)


def _endpoint_fields(c, cluster, node):
    """addNodeToNodeReply: preferred endpoint, port, id, the other endpoints."""
    kind = c.server.config.cluster_preferred_endpoint_type
    if kind == 'unknown-endpoint':
        head = null(c.resp)
    else:
        head = _bulk(cluster.redirect_endpoint(node))
    extra = []
    if kind != 'ip':
        extra.append(_bulk('ip') + _bulk(node.ip))
    if kind != 'hostname' and node.hostname:
        extra.append(_bulk('hostname') + _bulk(node.hostname))
    return (b'*4\r\n' + head + b':%d\r\n' % node.port + _bulk(node.name)
            + _map_head(c, len(extra)) + b''.join(extra))


def _replica_available(cluster, node):
    """isReplicaAvailable: not failed, and with some data (a replica still
    at offset 0 is loading)."""
    if node.failed():
        return False
    offset = cluster.repl_offset() if node is cluster.myself else node.repl_offset
    return offset != 0


@cluster_command('slots')
def cluster_slots(c, argv, cluster):
    out = []
    for n in list(cluster.nodes.values()):
        if not n.is_master() or n.numslots == 0:
            continue
        for start, end in n.slot_ranges():
            parts = [b':%d\r\n:%d\r\n' % (start, end), _endpoint_fields(c, cluster, n)]
            for s in n.slaves:
                if not _replica_available(cluster, s):
                    continue
                parts.append(_endpoint_fields(c, cluster, s))
            out.append(b'*%d\r\n' % (len(parts) + 1) + b''.join(parts))
    return b'*%d\r\n' % len(out) + b''.join(out)


def _shard_node(c, cluster, node):
    """addNodeDetailsToShardReply."""
    fields = [_bulk('id') + _bulk(node.name)]
    if node.port:
        fields.append(_bulk('port') + b':%d\r\n' % node.port)
    fields.append(_bulk('ip') + _bulk(node.ip))
    fields.append(_bulk('endpoint') + _bulk(cluster.redirect_endpoint(node)))
    if node.hostname:
        fields.append(_bulk('hostname') + _bulk(node.hostname))
    offset = cluster.repl_offset() if node is cluster.myself else node.repl_offset
    fields.append(_bulk('role') + _bulk('replica' if node.is_slave() else 'master'))
    fields.append(_bulk('replication-offset') + b':%d\r\n' % offset)
    if node.failed():
        health = 'fail'
    elif node.is_slave() and offset == 0:
        health = 'loading'
    else:
        health = 'online'
    fields.append(_bulk('health') + _bulk(health))
    return _map_head(c, len(fields)) + b''.join(fields)


@cluster_command('shards')
def cluster_shards(c, argv, cluster):
    out = []
    for n in list(cluster.nodes.values()):
        if not n.is_master():
            continue
        ranges = n.slot_ranges()
        slots = b'*%d\r\n' % (2 * len(ranges)) + b''.join(
            b':%d\r\n:%d\r\n' % r for r in ranges)
        members = [n] + list(n.slaves)
        nodes = b'*%d\r\n' % len(members) + b''.join(_shard_node(c, cluster, m)
                                                     for m in members)
        out.append(_map_head(c, 2) + _bulk('slots') + slots + _bulk('nodes') + nodes)
    return b'*%d\r\n' % len(out) + b''.join(out)


def _link_reply(c, link, node):
    used = link.send_buffer_size()
    events = 'rw' if used else 'r'
    return (_map_head(c, 6)
            + _bulk('direction') + _bulk('from' if link.inbound else 'to')
            + _bulk('node') + _bulk(node.name)
            + _bulk('create-time') + b':%d\r\n' % link.ctime
            + _bulk('events') + _bulk(events)
            + _bulk('send-buffer-allocated') + b':%d\r\n' % used
            + _bulk('send-buffer-used') + b':%d\r\n' % used)


@cluster_command('links')
def cluster_links(c, argv, cluster):
    out = []
    for n in list(cluster.nodes.values()):
        if n.link is not None:
            out.append(_link_reply(c, n.link, n))
        if n.inbound_link is not None:
            out.append(_link_reply(c, n.inbound_link, n))
    return b'*%d\r\n' % len(out) + b''.join(out)


def _replicas(c, argv, cluster):
    n = _node_arg(cluster, argv[2])
    if n is None:
        return _unknown(argv[2])
    if n.is_slave():
        return b'-ERR The specified node is not a master\r\n'
    return b'*%d\r\n' % len(n.slaves) + b''.join(_bulk(cluster.describe(s)) for s in n.slaves)


@cluster_command('replicas')
def cluster_replicas(c, argv, cluster):
    return _replicas(c, argv, cluster)


@cluster_command('slaves')
def cluster_slaves(c, argv, cluster):
    return _replicas(c, argv, cluster)


@cluster_command('count-failure-reports')
def cluster_count_failure_reports(c, argv, cluster):
    n = _node_arg(cluster, argv[2])
    if n is None:
        return _unknown(argv[2])
    return b':%d\r\n' % cluster.failure_reports_count(n)


# -- slots ---------------------------------------------------------------------------------

def _check_assignments(cluster, marks, delete, start, end):
    """checkSlotAssignmentsOrReply: an error, or None."""
    for slot in range(start, end + 1):
        if delete and cluster.slots[slot] is None:
            return error(b'ERR Slot %d is already unassigned' % slot)
        if not delete and cluster.slots[slot] is not None:
            return error(b'ERR Slot %d is already busy' % slot)
        if slot in marks:
            return error(b'ERR Slot %d specified multiple times' % slot)
        marks.add(slot)
    return None


def _update_slots(cluster, marks, delete):
    me = cluster.myself
    for slot in sorted(marks):
        cluster.importing_slots_from[slot] = None
        if delete:
            cluster.del_slot(slot)
        else:
            cluster.add_slot(me, slot)
    cluster.do_before_sleep(cnode.TODO_UPDATE_STATE | cnode.TODO_SAVE_CONFIG)
    return OK


def _slots(c, argv, cluster, delete):
    parsed = []
    for arg in argv[2:]:
        slot = _slot(arg)
        if slot is None:
            return SLOT_ERR
        parsed.append(slot)
    marks = set()
    for slot in parsed:
        err = _check_assignments(cluster, marks, delete, slot, slot)
        if err:
            return err
    return _update_slots(cluster, marks, delete)


def _slots_range(c, argv, cluster, delete):
    if len(argv) % 2 == 1:
        return ARITY_ERR % (b'cluster|' + argv[1].lower())
    marks = set()
    for j in range(2, len(argv), 2):
        start = _slot(argv[j])
        if start is None:
            return SLOT_ERR
        end = _slot(argv[j + 1])
        if end is None:
            return SLOT_ERR
        if start > end:
            return error(b'ERR start slot number %d is greater than end slot number %d' % (
                start, end))
        err = _check_assignments(cluster, marks, delete, start, end)
        if err:
            return err
    return _update_slots(cluster, marks, delete)


@cluster_command('addslots')
def cluster_addslots(c, argv, cluster):
    return _slots(c, argv, cluster, False)


@cluster_command('delslots')
def cluster_delslots(c, argv, cluster):
    return _slots(c, argv, cluster, True)


@cluster_command('addslotsrange')
def cluster_addslotsrange(c, argv, cluster):
    return _slots_range(c, argv, cluster, False)


@cluster_command('delslotsrange')
def cluster_delslotsrange(c, argv, cluster):
    return _slots_range(c, argv, cluster, True)


@cluster_command('flushslots')
def cluster_flushslots(c, argv, cluster):
    if not _empty_db0(c):
        return b'-ERR DB must be empty to perform CLUSTER FLUSHSLOTS.\r\n'
    cluster.del_node_slots(cluster.myself)
    cluster.do_before_sleep(cnode.TODO_UPDATE_STATE | cnode.TODO_SAVE_CONFIG)
    return OK


def _keys_in_slot(c, slot):
    data = c.server.dbs[0].data
    count = getattr(data, 'count_in_slot', None)
    return count(slot) if count is not None else 0


@cluster_command('setslot')
def cluster_setslot(c, argv, cluster):
    me = cluster.myself
    if me.is_slave():
        return b'-ERR Please use SETSLOT only with masters.\r\n'
    slot = _slot(argv[2])
    if slot is None:
        return SLOT_ERR
    action = argv[3].lower()
    n = None
    if action == b'migrating' and len(argv) == 5:
        if cluster.slots[slot] is not me:
            return error(b"ERR I'm not the owner of hash slot %d" % slot)
        n = _node_arg(cluster, argv[4])
        if n is None:
            return error(b"ERR I don't know about node %s" % argv[4])
        if n.is_slave():
            return b'-ERR Target node is not a master\r\n'
        cluster.migrating_slots_to[slot] = n
    elif action == b'importing' and len(argv) == 5:
        if cluster.slots[slot] is me:
            return error(b"ERR I'm already the owner of hash slot %d" % slot)
        n = _node_arg(cluster, argv[4])
        if n is None:
            return error(b"ERR I don't know about node %s" % argv[4])
        if n.is_slave():
            return b'-ERR Target node is not a master\r\n'
        cluster.importing_slots_from[slot] = n
    elif action == b'stable' and len(argv) == 4:
        cluster.importing_slots_from[slot] = None
        cluster.migrating_slots_to[slot] = None
    elif action == b'node' and len(argv) == 5:
        n = _node_arg(cluster, argv[4])
        if n is None:
            return _unknown(argv[4])
        if n.is_slave():
            return b'-ERR Target node is not a master\r\n'
        keys = _keys_in_slot(c, slot)
        if cluster.slots[slot] is me and n is not me and keys:
            return error(b"ERR Can't assign hashslot %d to a different node while I still "
                         b"hold keys for this hash slot." % slot)
        if keys == 0 and cluster.migrating_slots_to[slot] is not None:
            cluster.migrating_slots_to[slot] = None
        was_mine = cluster.slots[slot] is me
        cluster.del_slot(slot)
        cluster.add_slot(n, slot)
        if was_mine and n is not me and me.numslots == 0 and \
                c.server.config.cluster_allow_replica_migration:
            cluster.set_master(n)
            cluster.do_before_sleep(cnode.TODO_SAVE_CONFIG | cnode.TODO_UPDATE_STATE
                                    | cnode.TODO_FSYNC_CONFIG)
        if n is me and cluster.importing_slots_from[slot] is not None:
            cluster.bump_epoch_without_consensus()
            cluster.importing_slots_from[slot] = None
            cluster.broadcast_pong(cnode.BROADCAST_ALL)
    else:
        return b'-ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP\r\n'
    cluster.do_before_sleep(cnode.TODO_SAVE_CONFIG | cnode.TODO_UPDATE_STATE)
    return OK


# -- nodes ---------------------------------------------------------------------------------

@cluster_command('meet')
def cluster_meet(c, argv, cluster):
    port = string2ll(argv[3])
    if port is None:
        return error(b'ERR Invalid TCP base port specified: %s' % argv[3])
    if len(argv) == 5:
        cport = string2ll(argv[4])
        if cport is None:
            return error(b'ERR Invalid TCP bus port specified: %s' % argv[4])
    elif len(argv) > 5:
        return subcommand_syntax_error(argv)
    else:
        cport = port + 10000
    if cluster.start_handshake(argv[2].decode('latin-1'), port, cport) == 'invalid':
        return error(b'ERR Invalid node address specified: %s:%s' % (argv[2], argv[3]))
    return OK


@cluster_command('forget')
def cluster_forget(c, argv, cluster):
    n = _node_arg(cluster, argv[2])
    if n is None:
        return _unknown(argv[2])
    me = cluster.myself
    if n is me:
        return b"-ERR I tried hard but I can't forget myself...\r\n"
    if me.is_slave() and me.slaveof is n:
        return b"-ERR Can't forget my master!\r\n"
    cluster.blacklist_add(n)
    cluster.del_node(n)
    cluster.do_before_sleep(cnode.TODO_UPDATE_STATE | cnode.TODO_SAVE_CONFIG)
    return OK


@cluster_command('replicate')
def cluster_replicate(c, argv, cluster):
    n = _node_arg(cluster, argv[2])
    if n is None:
        return _unknown(argv[2])
    me = cluster.myself
    if n is me:
        return b"-ERR Can't replicate myself\r\n"
    if n.is_slave():
        return b'-ERR I can only replicate a master, not a replica.\r\n'
    if me.is_master() and (me.numslots != 0 or not _empty_db0(c)):
        return b'-ERR To set a master the node must be empty and without assigned slots.\r\n'
    cluster.set_master(n)
    cluster.do_before_sleep(cnode.TODO_UPDATE_STATE | cnode.TODO_SAVE_CONFIG)
    return OK


@cluster_command('reset')
def cluster_reset(c, argv, cluster):
    hard = False
    if len(argv) == 3:
        mode = argv[2].lower()
        if mode == b'hard':
            hard = True
        elif mode != b'soft':
            return SYNTAX_ERR
    elif len(argv) > 3:
        return subcommand_syntax_error(argv)
    me = cluster.myself
    if me.is_master() and len(c.db.data) != 0:
        return b"-ERR CLUSTER RESET can't be called with master nodes containing keys\r\n"
    reset(c.server, cluster, hard)
    return OK


def reset(server, cluster, hard):
    """clusterReset."""
    me = cluster.myself
    if me.is_slave():
        cluster.set_node_as_master(me)
        cluster.unset_replication_master()
        for db in server.dbs:
            server.empty_database(db)
    cluster.close_all_slots()
    cluster.reset_manual_failover()
    for j in range(CLUSTER_SLOTS):
        cluster.del_slot(j)
    for n in list(cluster.nodes.values()):
        if n is not me:
            cluster.del_node(n)
    if hard:
        cluster.current_epoch = 0
        cluster.last_vote_epoch = 0
        me.config_epoch = 0
        log.warning('configEpoch set to 0 via CLUSTER RESET HARD')
        cluster.rename_node(me, random_name())
        log.notice("Node hard reset, now I'm %.40s" % me.name)
    cluster.do_before_sleep(cnode.TODO_SAVE_CONFIG | cnode.TODO_UPDATE_STATE
                            | cnode.TODO_FSYNC_CONFIG)


@cluster_command('saveconfig')
def cluster_saveconfig(c, argv, cluster):
    if cluster.save_config():
        return OK
    return b'-ERR error saving the cluster node config: Input/output error\r\n'


@cluster_command('bumpepoch')
def cluster_bumpepoch(c, argv, cluster):
    bumped = cluster.bump_epoch_without_consensus()
    return b'+%s %d\r\n' % (b'BUMPED' if bumped else b'STILL', cluster.myself.config_epoch)


@cluster_command('set-config-epoch')
def cluster_set_config_epoch(c, argv, cluster):
    epoch = string2ll(argv[2])
    if epoch is None:
        return NOT_INT_ERR
    if epoch < 0:
        return error(b'ERR Invalid config epoch specified: %d' % epoch)
    if len(cluster.nodes) > 1:
        return (b'-ERR The user can assign a config epoch only when the node does not know '
                b'any other node.\r\n')
    me = cluster.myself
    if me.config_epoch != 0:
        return b'-ERR Node config epoch is already non-zero\r\n'
    me.config_epoch = epoch
    log.warning('configEpoch set to %d via CLUSTER SET-CONFIG-EPOCH' % epoch)
    if cluster.current_epoch < epoch:
        cluster.current_epoch = epoch
    cluster.do_before_sleep(cnode.TODO_UPDATE_STATE | cnode.TODO_SAVE_CONFIG)
    return OK


@cluster_command('failover')
def cluster_failover(c, argv, cluster):
    force = takeover = False
    if len(argv) == 3:
        opt = argv[2].lower()
        if opt == b'force':
            force = True
        elif opt == b'takeover':
            takeover = force = True
        else:
            return SYNTAX_ERR
    elif len(argv) > 3:
        return subcommand_syntax_error(argv)
    err = cluster.manual_failover(force, takeover)
    if err:
        return error(b'ERR ' + err.encode())
    return OK


# -- DEBUG CLUSTERLINK ---------------------------------------------------------------------

def debug_clusterlink(c, argv):
    """DEBUG CLUSTERLINK KILL <to|from|all> <node-id> (debug.c): free the
    links with a node; the cron opens the outbound one again, the peer the
    inbound one. Redis 7.0 crashes when the link to free is not there (or
    when DEBUG CLUSTERLINK has no third argument): here that frees nothing."""
    if len(argv) != 5 or argv[2].lower() != b'kill':
        return subcommand_syntax_error(argv)
    cluster = c.server.cluster
    if cluster is None:
        return b'-ERR Debug option only available for cluster mode enabled setup!\r\n'
    n = _node_arg(cluster, argv[4])
    if n is None:
        return _unknown(argv[4])
    direction = argv[3].lower()
    if direction == b'from':
        cluster.free_link(n.inbound_link)
    elif direction == b'to':
        cluster.free_link(n.link)
    elif direction == b'all':
        cluster.free_link(n.link)
        cluster.free_link(n.inbound_link)
    else:
        # debug.c goes on after this error and adds its +OK: two replies.
        return error(b'ERR Unknown direction %s' % argv[3]) + OK
    return OK


def attach(server):
    server.debug_subcommands[b'clusterlink'] = debug_clusterlink
