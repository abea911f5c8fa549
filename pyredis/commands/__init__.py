"""The command table: the spine of dispatch.

Each command is declared once. Its static facts (arity, flags, key
positions, ACL categories, tips, key specs, COMMAND DOCS) come from Redis
7.0 itself (pyredis/facts.py, generated from a real server), so COMMAND INFO/DOCS/
GETKEYS, the arity errors, the auth/readonly/OOM/loading/pub-sub checks and
MULTI queueing all read the same table that Redis has. A command family
module only provides handlers:

    @command('get')
    def get(c, argv):
        ...
        return reply_bytes

A handler receives the Client and the argument list (bytes, argv[0] being
the name as typed) and returns the encoded reply (bytes) or None when it has
already written its reply (or will, for blocking commands).

``@command`` only labels the function; nothing is registered by importing a
family. ``register_family(module)`` enters a module's labelled handlers (and
the value types it declares in VALUE_TYPES) in the table: pyredis.assembly
calls it for the explicit list of families.

Subcommands are declared as 'config|get'; the container command ('config')
is created from the spec and dispatches on argv[1].
"""

from .. import facts, values
from ..util import string2ll

TABLE = {}          # lower-case bytes name -> Command (top-level commands)
# What dispatch looks names up in: TABLE plus the upper-case spellings, so
# the usual "SET"/"set" cost one dict lookup (others fall back to lower()).
DISPATCH = {}


class Command:
    __slots__ = ('name', 'fullname', 'proc', 'arity', 'min_args', 'max_args',
                 'flags', 'first_key', 'last_key', 'key_step', 'info', 'docs',
                 'subcommands', 'parent', 'calls', 'rejected_calls',
                 'failed_calls', 'is_write', 'denyoom', 'no_auth', 'loading',
                 'stale', 'pubsub_ok', 'no_multi', 'admin', 'may_replicate',
                 'duration', 'keys_proc', 'inline_min', 'inline_max',
                 'acl_id', 'acl_keys', 'acl_channels', 'hist')

    def __init__(self, fullname, info, docs, parent=None):
        self.fullname = fullname
        self.name = fullname.split('|')[-1].encode()
        self.info = info
        self.docs = docs
        self.parent = parent
        self.proc = None
        self.keys_proc = None
        # Set by pyredis.acl: the command's id in users' permission maps,
        # whether it names keys, and which of its arguments are channels.
        self.acl_id = 0
        self.acl_keys = False
        self.acl_channels = None
        self.arity = info[1]
        self.min_args = abs(self.arity)
        self.max_args = self.arity if self.arity > 0 else 1 << 30
        self.flags = frozenset(info[2])
        self.first_key, self.last_key, self.key_step = info[3], info[4], info[5]
        self.subcommands = None
        self.calls = self.rejected_calls = self.failed_calls = 0
        self.duration = 0           # nanoseconds spent in the handler, all calls
        # latency-tracking: the calls' durations, an HDR histogram (hdr.py),
        # None until the first call is recorded.
        self.hist = None
        f = self.flags
        self.is_write = 'write' in f
        self.denyoom = 'denyoom' in f
        self.no_auth = 'no_auth' in f
        self.loading = 'loading' in f
        self.stale = 'stale' in f
        self.no_multi = 'no_multi' in f
        self.admin = 'admin' in f
        self.may_replicate = 'may_replicate' in f
        self.inline = not self.admin and fullname not in ('select', 'reset', 'info', 'auth',
                                                          'hello')
        self.pubsub_ok = fullname in ('ping', 'subscribe', 'ssubscribe', 'unsubscribe',
                                      'sunsubscribe', 'psubscribe', 'punsubscribe',
                                      'quit', 'reset')

    @property
    def inline(self):
        """Whether the trusted request path may run it inline (networking.py):
        not a container of subcommands, nothing that changes the client's
        database or the propagation targets (PSYNC, DEBUG, REPLICAOF are
        admin), all of which process_command handles in full; nor INFO,
        which reads the call counters the inline path adds up per run; nor
        AUTH and HELLO, which change the client's user and with it the
        table the inline path looks commands up in (acl.User.table).
        Stored as the argument counts the inline path accepts (none when it
        may not), so that path tests both with one comparison."""
        return self.inline_min <= self.inline_max

    @inline.setter
    def inline(self, value):
        if value:
            # (A variadic command's bound is kept under 2**30: run_requests
            # reads it whenever the command changes, for every request at
            # -P 1, and a one-digit int is read without a conversion loop.
            # No request has that many arguments: it would need 6 GB.)
            self.inline_min = self.min_args
            self.inline_max = min(self.max_args, (1 << 30) - 1)
        else:
            self.inline_min, self.inline_max = 1 << 31, 0

    def implemented(self):
        if self.subcommands is not None:
            return any(s.proc for s in self.subcommands.values())
        return self.proc is not None


def _container(name):
    cmd = TABLE.get(name.encode())
    if cmd is None:
        cmd = Command(name, facts.INFO[name], facts.DOCS.get(name))
        _register_top(cmd)
    if cmd.subcommands is None:
        cmd.subcommands = {}
        cmd.inline = False
    return cmd


def _register_top(cmd):
    name = cmd.fullname.encode()
    TABLE[name] = cmd
    DISPATCH[name] = cmd
    DISPATCH[name.upper()] = cmd


def unregister(name):
    """Remove a command from dispatch (rename-command NAME "")."""
    cmd = TABLE.get(name)
    DISPATCH.pop(name, None)
    DISPATCH.pop(name.upper(), None)
    return cmd


def command(fullname, keys=None):
    """Label the decorated function as the handler of a Redis command (a
    function may handle several: ``command('substr')(getrange)``).

    ``keys`` optionally gives a function (argv -> list of key indexes) for
    commands whose keys are not described by first/last/step (COMMAND
    GETKEYS uses it)."""
    def label(proc):
        if 'commands' not in proc.__dict__:
            proc.commands = []
        proc.commands.append((fullname, keys))
        return proc
    return label


def register_family(module):
    """Enter the handlers a family module labelled with @command, and the
    value types it declares (VALUE_TYPES: {python type: (TYPE name,
    function(server, value) -> OBJECT ENCODING)}), in the table."""
    seen = set()
    for proc in list(vars(module).values()):
        if (callable(proc) and getattr(proc, '__module__', None) == module.__name__
                and id(proc) not in seen):
            seen.add(id(proc))
            for fullname, keys in getattr(proc, 'commands', ()):
                _register(fullname, keys, proc)
    for cls, (name, encoding) in getattr(module, 'VALUE_TYPES', {}).items():
        values.register_type(cls, name, encoding)


def _register(fullname, keys, proc):
    if '|' in fullname:
        parent_name, sub = fullname.split('|')
        parent = _container(parent_name)
        info = next(s for s in facts.INFO[parent_name][9] if s[0].decode() == fullname)
        docs = (facts.DOCS.get(parent_name) or {}).get(b'subcommands', {}).get(fullname.encode())
        cmd = Command(fullname, info, docs, parent)
        parent.subcommands[sub.encode()] = cmd
    else:
        cmd = TABLE.get(fullname.encode())
        if cmd is None:
            cmd = Command(fullname, facts.INFO[fullname], facts.DOCS.get(fullname))
            _register_top(cmd)
    cmd.proc = proc
    cmd.keys_proc = keys


def lookup(name):
    """The top-level Command for a name (any case), or None."""
    cmd = TABLE.get(name)
    if cmd is None:
        cmd = TABLE.get(name.lower())
    return cmd


def all_commands():
    """Every implemented command, containers included, in table order."""
    return [c for c in TABLE.values() if c.implemented()]


# -- the keys of a command line -------------------------------------------------------

def command_keys(cmd, argv):
    """getKeysFromCommandWithSpecs: the keys of a command line as (position,
    key-spec flags) pairs - from the key specs when they are complete and
    their flags fixed, else from the command's own key finder - or an error
    reply from that finder. COMMAND GETKEYS and the ACL check use it."""
    specs = cmd.info[8]
    has_keyspec = any('not_key' not in s[b'flags'] for s in specs)
    if has_keyspec and not any('variable_flags' in s[b'flags'] for s in specs):
        keys = keys_from_specs(specs, argv)
        if keys is not None:
            return keys
    proc = KEY_FLAG_PROCS.get(cmd.fullname)
    if proc is not None:
        return proc(argv)
    if cmd.keys_proc is not None:
        found = cmd.keys_proc(argv)
        if found.__class__ is bytes:
            return found
        flags = tuple(specs[0][b'flags']) if specs else ()
        return [(i, flags) for i in found]
    if has_keyspec:
        return keys_from_specs(specs, argv) or []
    return []


def keys_from_specs(specs, argv):
    """getKeysUsingKeySpecs: the keys every key spec finds, or None when a
    spec does not apply (Redis then asks the command's key finder)."""
    argc = len(argv)
    out = []
    for spec_ in specs:
        if 'not_key' in spec_[b'flags']:
            continue        # (GET_KEYSPEC_DEFAULT: channels of shard pub/sub)
        bs, fk = spec_[b'begin_search'], spec_[b'find_keys']
        if bs[b'type'] == b'index':
            first = bs[b'spec'][b'index']
        elif bs[b'type'] == b'keyword':
            keyword = bs[b'spec'][b'keyword'].lower()
            startfrom = bs[b'spec'][b'startfrom']
            if startfrom > 0:
                candidates = range(startfrom, argc)
            else:
                candidates = range(argc + startfrom, 0, -1)
            first = 0
            for i in candidates:
                if i >= argc or i < 1:
                    break
                if argv[i].lower() == keyword:
                    first = i + 1
                    break
            if not first:
                continue
        else:
            return None
        if fk[b'type'] == b'range':
            lastkey, limit = fk[b'spec'][b'lastkey'], fk[b'spec'][b'limit']
            if lastkey >= 0:
                last = first + lastkey
            elif not limit:
                last = argc + lastkey
            else:
                last = first + ((argc - first) // limit + lastkey)
            step = fk[b'spec'][b'keystep']
        elif fk[b'type'] == b'keynum':
            idx = first + fk[b'spec'][b'keynumidx']
            if idx >= argc:
                return None
            numkeys = string2ll(argv[idx])
            if numkeys is None or numkeys < 0:
                return None
            first += fk[b'spec'][b'firstkey']
            last = first + numkeys - 1
            step = fk[b'spec'][b'keystep']
        else:
            return None
        if last >= argc or last < first or first >= argc:
            return None
        if 'incomplete' in spec_[b'flags']:
            return None
        flags = tuple(spec_[b'flags'])
        out.extend((i, flags) for i in range(first, last + 1, step))
    return out


def _set_key_flags(argv):
    # setGetKeys: with GET the key is also read.
    for a in argv[3:]:
        if a.lower() == b'get':
            return [(1, ('RW', 'access', 'update'))]
    return [(1, ('OW', 'update'))]


def _bitfield_key_flags(argv):
    # bitfieldGetKeys: read-only unless a SET/INCRBY (or a syntax error).
    i = 2
    while i < len(argv):
        left = len(argv) - i - 1
        arg = argv[i].lower()
        if arg == b'get' and left >= 2:
            i += 3
        elif arg == b'overflow' and left >= 1:
            i += 2
        else:
            return [(1, ('RW', 'access', 'update'))]
    return [(1, ('RO', 'access'))]


# Commands whose key flags depend on the arguments (getkeys_proc in Redis).
def _sort_key_flags(argv):
    # sortGetKeys: the sorted key, and the last STORE's key (BY and GET
    # patterns are not keys: SORT checks them itself).
    keys = [(1, ('RO', 'access'))]
    store = None
    i = 2
    skips = {b'limit': 2, b'get': 1, b'by': 1}
    while i < len(argv):
        arg = argv[i].lower()
        if arg in skips:
            i += skips[arg]
        elif arg == b'store' and i + 1 < len(argv):
            store = (i + 1, ('OW', 'update'))
        i += 1
    if store is not None:
        keys.append(store)
    return keys


def _sort_ro_key_flags(argv):
    # sortROGetKeys: the sorted key only (its key specs have an 'unknown'
    # one, for BY and GET, so Redis asks this finder).
    return [(1, ('RO', 'access'))]


def _migrate_key_flags(argv):
    # migrateGetKeys (its second key spec is incomplete, so Redis asks
    # this finder): argv[3], or the keys after KEYS, looked for from the
    # sixth argument on, stepping over AUTH's and AUTH2's arguments. KEYS
    # with a key named in argv[3] finds nothing.
    first, num = 3, 1
    i = 6
    while i < len(argv):
        arg = argv[i].lower()
        if arg == b'keys':
            if argv[3]:
                return []
            first = i + 1
            num = len(argv) - first
            break
        i += {b'auth': 2, b'auth2': 3}.get(arg, 1)
    return [(j, ('RW', 'access', 'delete')) for j in range(first, first + num)]


KEY_FLAG_PROCS = {'set': _set_key_flags, 'bitfield': _bitfield_key_flags,
                  'sort': _sort_key_flags, 'sort_ro': _sort_ro_key_flags,
                  'migrate': _migrate_key_flags}
