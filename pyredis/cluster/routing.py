"""Which node serves a command: cluster.c's getNodeByQuery and
clusterRedirectClient, and the cluster part of processCommand.

In cluster mode the server's ``cluster_route`` is ``Router.route``: every
client is gated (Server.update_gate), and Server._gated asks it, after the
ACL check and before the OOM check as processCommand does, whether the
command may run here. It answers None, or the redirection or error to send
(-MOVED, -ASK, -TRYAGAIN, -CROSSSLOT, -CLUSTERDOWN), having flagged the
transaction (a command queued in MULTI) or discarded it (EXEC) as Redis
does. Commands without keys (no key specs, not movable-keys, not EXEC) and
the master's stream are not routed. Out of cluster mode none of this
exists: the hook is None and the request path is unchanged.

The keys of a command are those of getKeysFromCommand: the legacy
first/last/step range (which, unlike the key specs, covers the channels of
SPUBLISH/SSUBSCRIBE/SUNSUBSCRIBE) unless the command's keys move, when the
key finder says. EXEC routes all its queued commands as one.

The client flags it needs (Redis's CLIENT_ASKING, CLIENT_READONLY) are kept
here by client id, not on the Client, so that nothing outside cluster mode
carries them: ASKING lasts one command (all of a MULTI block until EXEC),
READONLY until READWRITE or RESET. ``script_check`` is
scriptVerifyClusterState for redis.call inside EVAL/FCALL: a key of
another node, or of another slot than the script's first (unless the
script says allow-cross-slot-keys), is refused.
"""

from ..commands import command_keys
from ..commands.transactions import discard_transaction
from .slots import keyslot

CROSSSLOT_ERR = b"-CROSSSLOT Keys in request don't hash to the same slot\r\n"
TRYAGAIN_ERR = b'-TRYAGAIN Multiple keys request during rehashing of slot\r\n'
DOWN_ERR = b'-CLUSTERDOWN The cluster is down\r\n'
DOWN_RO_ERR = b'-CLUSTERDOWN The cluster is down and only accepts read commands\r\n'
UNBOUND_ERR = b'-CLUSTERDOWN Hash slot not served\r\n'

# getNodeByQuery's error codes (cluster.h's CLUSTER_REDIR_*).
NONE, CROSS_SLOT, UNSTABLE, ASK, MOVED, DOWN_STATE, DOWN_UNBOUND, DOWN_RO_STATE = range(8)
SHARD_PUBSUB = frozenset(('ssubscribe', 'sunsubscribe', 'spublish'))


def command_slot_keys(cmd, argv):
    """getKeysFromCommand: the key arguments of a command line."""
    if 'movablekeys' in cmd.flags:
        found = command_keys(cmd, argv)
        if found.__class__ is bytes:
            return ()
        return [argv[pos] for pos, _ in found]
    first = cmd.first_key
    if first <= 0:
        return ()
    argc = len(argv)
    last = cmd.last_key
    if last < 0:
        last += argc
    if last >= argc:
        last = argc - 1
    return argv[first:last + 1:cmd.key_step or 1]


class Router:
    def __init__(self, server):
        self.server = server
        self.asking = set()         # ids of clients that sent ASKING
        self.readonly = set()       # ids of clients that sent READONLY
        # id -> the hash slot of the client's current routed command, or -1
        # (Redis's c->slot), which a script's calls must keep to.
        self.slot_of = {}
        self._routed = {}           # Command -> whether processCommand routes it

    @property
    def cluster(self):
        return self.server.cluster

    def forget(self, c):
        self.asking.discard(c.id)
        self.readonly.discard(c.id)
        self.slot_of.pop(c.id, None)

    def reset(self, c):
        # RESET (clearClientConnectionState) drops ASKING and READONLY.
        self.asking.discard(c.id)
        self.readonly.discard(c.id)

    def routing_of(self, cmd):
        """How processCommand routes ``cmd``: False (no keys: never), the
        position of its one key when it always has exactly one there (GET,
        SET, INCR...: the fast case), or True (getNodeByQuery in full)."""
        routed = self._routed.get(cmd)
        if routed is None:
            if not ('movablekeys' in cmd.flags or cmd.info[8] or cmd.fullname == 'exec'):
                routed = False
            elif ('movablekeys' not in cmd.flags and cmd.fullname != 'exec'
                  and 0 < cmd.first_key == cmd.last_key < cmd.min_args):
                routed = cmd.first_key
            else:
                routed = True
            self._routed[cmd] = routed
        return routed

    # -- processCommand --------------------------------------------------------

    def processed(self, c, cmd):
        """resetClient's part, for a command refused (Server.reject; ``cmd``
        None when unknown): ASKING lasts one command, whatever became of it,
        or the MULTI block, and ASKING itself does not end it."""
        if (self.asking and c.id in self.asking and c.multi is None
                and (cmd is None or cmd.name != b'asking')):
            self.asking.discard(c.id)

    def route(self, c, cmd, argv):
        """The cluster part of processCommand: None to run the command, else
        the error reply (the transaction flagged or discarded)."""
        asking = False
        if self.asking and c.id in self.asking:
            asking = True
            # resetClient: the flag lasts one command, or the MULTI block.
            name = cmd.name
            if name != b'asking' and ((c.multi is None and name != b'multi')
                                      or name == b'exec' or name == b'discard'):
                self.asking.discard(c.id)
        if c.is_master:
            return None
        routed = self.routing_of(cmd)
        if routed is False:
            return None
        if routed is not True:
            # One key, in a slot this node serves, stable, the cluster up:
            # getNodeByQuery can only answer myself.
            cluster = self.server.cluster
            slot = keyslot(argv[routed])
            if (cluster.state_ok and cluster.slots[slot] is cluster.myself
                    and cluster.migrating_slots_to[slot] is None
                    and cluster.importing_slots_from[slot] is None):
                return None
        if cmd.name == b'exec':
            if c.multi is None:
                return None
            commands = c.multi
        else:
            commands = ((cmd, argv),)
        node, slot, code = self.node_by_query(c, cmd, commands, asking)
        self.slot_of[c.id] = slot
        if node is self.cluster.myself:
            return None
        if cmd.name == b'exec':
            discard_transaction(c)
        elif c.multi is not None:
            c.dirty_exec = True     # flagTransaction
        return self.redirect(node, slot, code)

    def redirect(self, node, slot, code):
        """clusterRedirectClient's reply."""
        if code == CROSS_SLOT:
            return CROSSSLOT_ERR
        if code == UNSTABLE:
            return TRYAGAIN_ERR
        if code == DOWN_STATE:
            return DOWN_ERR
        if code == DOWN_RO_STATE:
            return DOWN_RO_ERR
        if code == DOWN_UNBOUND:
            return UNBOUND_ERR
        return b'-%s %d %s:%d\r\n' % (b'ASK' if code == ASK else b'MOVED', slot,
                                      self.cluster.redirect_endpoint(node).encode(), node.port)

    def node_by_query(self, c, cmd, commands, asking, readonly=None):
        """getNodeByQuery (Redis 7.0): (node, slot, error code). ``node``
        is myself when the command runs here, None on an error."""
        cluster = self.cluster
        myself = cluster.myself
        first = None
        node = None
        slot = -1
        multiple_keys = migrating = importing = False
        missing = existing = 0
        shard_pubsub = False
        is_write = False
        db = self.server.dbs[0]
        for mcmd, margv in commands:
            if mcmd.is_write:
                is_write = True
            if mcmd.fullname in SHARD_PUBSUB:
                shard_pubsub = True
            for key in command_slot_keys(mcmd, margv):
                this = keyslot(key)
                if first is None:
                    first = key
                    slot = this
                    node = cluster.slots[slot]
                    if node is None:
                        return None, slot, DOWN_UNBOUND
                    if node is myself and cluster.migrating_slots_to[slot] is not None:
                        migrating = True
                    elif cluster.importing_slots_from[slot] is not None:
                        importing = True
                else:
                    if slot != this:
                        return None, slot, CROSS_SLOT
                    if importing and not multiple_keys and key != first:
                        multiple_keys = True
                if (migrating or importing) and not shard_pubsub:
                    if db.exists(key):
                        existing += 1
                    else:
                        missing += 1
        if node is None:
            return myself, -1, NONE
        if not cluster.state_ok:
            config = self.server.config
            if shard_pubsub:
                if not config.cluster_allow_pubsubshard_when_down:
                    return None, slot, DOWN_STATE
            elif not config.cluster_allow_reads_when_down:
                return None, slot, DOWN_STATE
            elif is_write:
                return None, slot, DOWN_RO_STATE
        if (migrating or importing) and cmd.name == b'migrate':
            return myself, slot, NONE
        if migrating and missing:
            # (Some of the keys here, some gone: TRYAGAIN, as 7.0.15 does.)
            if existing:
                return None, slot, UNSTABLE
            return cluster.migrating_slots_to[slot], slot, ASK
        if importing and (asking or 'asking' in cmd.flags):
            if multiple_keys and missing:
                return None, slot, UNSTABLE
            return myself, slot, NONE
        if readonly is None:
            readonly = c.id in self.readonly
        if ((readonly or shard_pubsub) and not is_write and not myself.is_master()
                and myself.slaveof is node):
            return myself, slot, NONE
        return node, slot, (MOVED if node is not myself else NONE)

    # -- scripts -------------------------------------------------------------

    def script_check(self, caller, cmd, argv, allow_cross_slot):
        """scriptVerifyClusterState: an error message (without the code)
        for a redis.call this node must not run, else None."""
        if caller.is_master:
            return None
        node, slot, code = self.node_by_query(caller, cmd, ((cmd, argv),),
                                              caller.id in self.asking)
        if node is not self.cluster.myself:
            if code == DOWN_RO_STATE:
                return (b'Script attempted to execute a write command while the cluster is '
                        b'down and readonly')
            if code == DOWN_STATE:
                return b'Script attempted to execute a command while the cluster is down'
            return b'Script attempted to access a non local key in a cluster node'
        if slot != -1 and not allow_cross_slot:
            current = self.slot_of.get(caller.id, -1)
            if current == -1:
                self.slot_of[caller.id] = slot
            elif current != slot:
                return b'Script attempted to access keys that do not hash to the same slot'
        return None
