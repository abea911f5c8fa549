"""Replication commands: REPLICAOF / SLAVEOF, REPLCONF, PSYNC, SYNC, ROLE,
WAIT, and the INFO replication section.

The protocol and its state live in pyredis.replication (``server.replication``);
these handlers only parse arguments and reply with Redis's exact bytes.
"""


from . import command
from .. import log, replication, resp
from ..replication import ONLINE, REPL_CONNECTED, REPL_TRANSFER, cfg
from ..resp import OK, SYNTAX_ERR, NOT_INT_ERR, error, integer
from ..util import string2ll
from .failover import NO_FAILOVER, psync_failover
from ..resp import TIMEOUT_NEGATIVE_ERR
from .. import clock



def _replicaof(c, argv):
    server = c.server
    if server.cluster is not None:
        # The replicas of a cluster follow CLUSTER REPLICATE and failovers.
        return b'-ERR REPLICAOF not allowed in cluster mode.\r\n'
    repl = server.replication
    if argv[1].lower() == b'no' and argv[2].lower() == b'one':
        if repl.masterhost is not None:
            repl.unset_master()
            log.notice("MASTER MODE enabled (user request from '%s')" %
                       c.describe().decode('latin-1'))
        return OK
    if c.is_replica:
        return b'-ERR Command is not valid when client is a replica.\r\n'
    port = string2ll(argv[2])
    if port is None or port < 0 or port > 65535:
        return b'-ERR Invalid master port\r\n'
    host = argv[1].decode('latin-1')
    if repl.masterhost is not None and repl.masterhost.lower() == host.lower() \
            and repl.masterport == port:
        log.notice('REPLICAOF would result into synchronization with the master we are '
                   'already connected with. No operation performed.')
        return b'+OK Already connected to specified master\r\n'
    repl.set_master(host, port)
    log.notice("REPLICAOF %s:%d enabled (user request from '%s')" % (
        host, port, c.describe().decode('latin-1')))
    return OK


command('replicaof')(_replicaof)
command('slaveof')(_replicaof)


@command('replconf')
def replconf(c, argv):
    if len(argv) % 2 == 0:
        return SYNTAX_ERR
    repl = c.server.replication
    r = c.repl
    for j in range(1, len(argv), 2):
        opt = argv[j].lower()
        val = argv[j + 1]
        if opt == b'listening-port':
            port = string2ll(val)
            if port is None:
                return NOT_INT_ERR
            _link(c).listening_port = port
        elif opt == b'ip-address':
            if len(val) >= 256:      # NET_HOST_STR_LEN
                return error(b'ERR REPLCONF ip-address provided by replica instance is too '
                             b'long: %d bytes' % len(val))
            _link(c).announced_ip = val
        elif opt == b'capa':
            v = val.lower()
            if v == b'eof':
                _link(c).capa_eof = True
            elif v == b'psync2':
                _link(c).capa_psync2 = True
        elif opt == b'ack':
            # An ACK never gets a reply.
            if not c.is_replica or r is None:
                return None
            off = string2ll(val)
            if off is None:
                return None
            repl.replica_ack(c, off)
            return None
        elif opt == b'getack':
            if repl.masterhost is not None and c.is_master:
                repl.send_ack()
            return None
        elif opt == b'rdb-only':
            v = string2ll(val)
            if v is None or v not in (0, 1):
                return b'-ERR value is out of range, must be between 0 and 1\r\n'
        else:
            return error(b'ERR Unrecognized REPLCONF option: %s' % argv[j])
    return OK


def _link(c):
    if not isinstance(c.repl, replication.ReplicaLink):
        c.repl = replication.ReplicaLink()
    return c.repl


FAILING_OVER_ERR = b"-NOMASTERLINK Can't SYNC while failing over\r\n"


@command('psync')
def psync(c, argv):
    if c.is_replica:
        return None
    err = psync_failover(c, argv)
    if err is not None:
        return err
    if c.server.replication.failover.state != NO_FAILOVER:
        return FAILING_OVER_ERR
    offset = string2ll(argv[2])
    if offset is None:
        return NOT_INT_ERR
    _link(c)
    return c.server.replication.psync(c, argv[1].decode('latin-1'), offset)


@command('sync')
def sync(c, argv):
    if c.is_replica:
        return None
    if c.server.replication.failover.state != NO_FAILOVER:
        return FAILING_OVER_ERR
    _link(c)
    return c.server.replication.psync(c, None, -1)


@command('role')
def role(c, argv):
    repl = c.server.replication
    if repl.masterhost is None:
        rows = []
        for rc in repl.replicas:
            r = rc.repl
            if r.state != ONLINE:
                continue
            rows.append([repl.replica_ip(rc), b'%d' % r.listening_port, b'%d' % r.ack_off])
        return resp.encode([b'master', repl.master_repl_offset, rows], c.resp)
    state = repl.link_state
    offset = repl.master_repl_offset if repl.master_client is not None else -1
    return resp.encode([b'slave', repl.masterhost.encode('latin-1'), repl.masterport,
                        state.encode(), offset], c.resp)


WAIT_ON_REPLICA = (b'-ERR WAIT cannot be used with replica instances. Please also note that '
                   b'since Redis 4.0 if a replica is configured to be writable (which is not '
                   b'the default) writes to replicas are just local and are not propagated.\r\n')


@command('wait')
def wait(c, argv):
    server = c.server
    repl = server.replication
    if repl.masterhost is not None:
        return WAIT_ON_REPLICA
    numreplicas = string2ll(argv[1])
    if numreplicas is None:
        return NOT_INT_ERR
    timeout = string2ll(argv[2])
    if timeout is None:
        return b'-ERR timeout is not an integer or out of range\r\n'
    if timeout < 0:
        return TIMEOUT_NEGATIVE_ERR
    offset = repl.master_repl_offset
    acked = repl.acked(offset)
    if acked >= numreplicas or server.in_exec or c.multi is not None:
        return integer(acked)
    repl.block_wait(c, numreplicas, timeout, offset)
    return None


# -- INFO -----------------------------------------------------------------------

def info_replication(server):
    repl = server.replication
    now = clock.time()
    out = []
    if repl.masterhost is None:
        out.append(('role', 'master'))
    else:
        out.append(('role', 'slave'))
        out.append(('master_host', repl.masterhost))
        out.append(('master_port', repl.masterport))
        up = repl.link_state == REPL_CONNECTED
        out.append(('master_link_status', 'up' if up else 'down'))
        out.append(('master_last_io_seconds_ago', int(now - repl.last_io) if up else -1))
        out.append(('master_sync_in_progress', int(repl.link_state == REPL_TRANSFER)))
        out.append(('slave_read_repl_offset', repl.master_repl_offset))
        out.append(('slave_repl_offset', repl.master_repl_offset))
        if repl.link_state == REPL_TRANSFER:
            total = repl.sync_total
            out.append(('master_sync_total_bytes', total))
            out.append(('master_sync_read_bytes', repl.sync_read))
            out.append(('master_sync_left_bytes', total - repl.sync_read if total >= 0 else -1))
            out.append(('master_sync_perc', '%.2f' % (
                repl.sync_read * 100.0 / total if total > 0 else 0)))
            out.append(('master_sync_last_io_seconds_ago', int(now - repl.sync_last_io)))
        if not up:
            out.append(('master_link_down_since_seconds',
                        int(now - repl.down_since) if repl.down_since else -1))
        out.append(('slave_priority', cfg(server, 'replica_priority', 100)))
        out.append(('slave_read_only', int(bool(cfg(server, 'replica_read_only', True)))))
        out.append(('replica_announced', int(bool(cfg(server, 'replica_announced', True)))))
    out.append(('connected_slaves', len(repl.replicas)))
    if cfg(server, 'min_replicas_to_write', 0) and cfg(server, 'min_replicas_max_lag', 10):
        out.append(('min_slaves_good_slaves', repl.good_replicas))
    for i, rc in enumerate(repl.replicas):
        r = rc.repl
        out.append(('slave%d' % i, 'ip=%s,port=%d,state=%s,offset=%d,lag=%d' % (
            repl.replica_ip(rc).decode('latin-1'), r.listening_port, r.state, r.ack_off,
            int(now - r.ack_time))))
    out += [
        ('master_failover_state', repl.failover.state),
        ('master_replid', repl.replid),
        ('master_replid2', repl.replid2),
        ('master_repl_offset', repl.master_repl_offset),
        ('second_repl_offset', repl.second_replid_offset),
        ('repl_backlog_active', int(repl.backlog is not None)),
        ('repl_backlog_size', repl.backlog_size()),
        ('repl_backlog_first_byte_offset', repl.backlog_first_byte()),
        ('repl_backlog_histlen', repl.histlen()),
    ]
    return out


def info_stats(server):
    """The stats section with the replication counters filled in."""
    from .info import SECTIONS
    repl = server.replication
    values = {
        'sync_full': repl.stat_sync_full,
        'sync_partial_ok': repl.stat_sync_partial_ok,
        'sync_partial_err': repl.stat_sync_partial_err,
        'total_net_repl_input_bytes': repl.stat_net_repl_in,
        'total_net_repl_output_bytes': repl.stat_net_repl_out,
    }
    return [(k, values.get(k, v)) for k, v in SECTIONS['stats'](server)]


def _install_info(server):
    server.info_sections['replication'] = info_replication
    if 'stats' not in server.info_sections:
        server.info_sections['stats'] = info_stats


def _apply_gate(server):
    server.replication.update_gate()


def attach(server):
    _install_info(server)
    for name in ('min-replicas-to-write', 'min-replicas-max-lag', 'replica-serve-stale-data'):
        server.on_config_set(name, _apply_gate)
