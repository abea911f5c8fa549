"""Access control lists: users, their rules and selectors, the permission
check, the ACL log and the ACL file (Redis 7.0's acl.c).

A user is a list of selectors (the first is the "root" one, the rules given
outside parentheses); a command is allowed when any selector allows it:
the command (a per-selector bytearray indexed by command id, as Redis's
bitmap), every key it names (found with the command table's key specs,
each key checked against the patterns that carry the read/write
permission its spec's flags ask for) and, for PUBLISH/SUBSCRIBE/
PSUBSCRIBE/SPUBLISH/SSUBSCRIBE, every channel.

Command ids and categories come from the Redis 7.0 facts (pyredis.facts),
every command Redis has, implemented here or not, so that category rules,
ACL CAT and the way ACL LIST/GETUSER describe a user's commands (the same
greedy category fit as ACLDescribeSelectorCommandRules) come out as
Redis's. Redis walks its command dict in hash order, different in every
process, so the order of single +cmd/-cmd rules and of ACL CAT's names
varies in Redis too.

Speed: the check runs only for clients whose user is *restricted* (its
root selector lacks any of allcommands, allkeys, allchannels), and for most
of their commands it is not the full check. The trusted request path
(networking.Client._process_input) looks a client's commands up in its
user's own table (``User.table()``): the command table itself (DISPATCH)
for an unrestricted user, which costs those clients nothing. A restricted
user's table is built here, once per change of the rules (``User.update``
drops it, the first client to need it builds it again, and its clients
share it), and holds only the commands whose permission the command and its
key arguments decide:

- a command some selector allows, without keys or for a selector with
  allkeys: the real Command, as it is allowed whatever its arguments;
- a command with keys found by index/range key specs (or SET's): a
  ``Guard``, a stand-in of the real Command with the attributes the trusted
  path reads, the counters it adds to written through to the real Command
  (INFO commandstats stays exact), and a proc specialised for this user and
  command that checks the key arguments (positions from the key specs,
  computed once per command; a one-key command whose patterns are all
  prefixes, ``~app:*``, is a startswith, done in C by _speedups.KeyGuard
  when the extension is built) and then runs the real proc.

Everything else - commands with channel arguments, containers of
subcommands, key finders that read the arguments (keyword or numkeys specs,
SORT), AUTH and HELLO, commands the user may not run at all - is missing
from the table, so it takes Server.process_command and the full check (a
restricted user's client takes it for anything the trusted path does not run
inline), with the same replies as before. The guard's check only ever says
"allowed" on its own: when it cannot, the full check decides (a key another
selector's firstargs rule or a write-only pattern allows runs), and a denial
does what process_command's rejection does - the reply, the ACL LOG entry,
the error statistics, rejected_calls instead of calls (the trusted path
counts the call in its run; the guard takes it back) - so that replies,
files, stats and the log are those of the full path
(tests/test_call_paths.py runs a restricted user through both).
"""

import hashlib
import os
from functools import partial
from operator import attrgetter

from . import facts, log
from .commands import DISPATCH, TABLE, Command, lookup
from .util import glob_match, split_args
from . import clock

try:
    from ._speedups import KeyGuard
except ImportError:     # without the C extension, the same in Python (_guard_proc)
    KeyGuard = None

CATEGORIES = ('keyspace', 'read', 'write', 'set', 'sortedset', 'list', 'hash', 'string',
              'bitmap', 'hyperloglog', 'geo', 'stream', 'pubsub', 'admin', 'fast', 'slow',
              'blocking', 'dangerous', 'connection', 'transaction', 'scripting')
CATEGORY_BIT = {name: 1 << i for i, name in enumerate(CATEGORIES)}

# Permission check results (ACL_OK, ACL_DENIED_*), in Redis's values: the
# larger one wins when several selectors fail.
OK, DENIED_CMD, DENIED_KEY, DENIED_AUTH, DENIED_CHANNEL = 0, 1, 2, 3, 4
REASON_NAMES = {DENIED_CMD: b'command', DENIED_KEY: b'key', DENIED_CHANNEL: b'channel',
                DENIED_AUTH: b'auth'}
CTX_TOPLEVEL, CTX_MULTI, CTX_LUA = b'toplevel', b'multi', b'lua'

# Key pattern permissions.
READ, WRITE = 1, 2
ALL = READ | WRITE

# Commands whose arguments name channels (ACLDoesCommandHaveChannels).
CHANNEL_COMMANDS = {'publish': 'one', 'spublish': 'one', 'subscribe': 'all',
                    'ssubscribe': 'all', 'psubscribe': 'patterns'}

NOPERM_CMD = b"-NOPERM this user has no permissions to run the '%s' command\r\n"
NOPERM_KEY = (b'-NOPERM this user has no permissions to access one of the keys used as '
              b'arguments\r\n')
NOPERM_CHANNEL = (b'-NOPERM this user has no permissions to access one of the channels '
                  b'used as arguments\r\n')
WRONGPASS = b'-WRONGPASS invalid username-password pair or user is disabled.\r\n'


class SetUserError(Exception):
    """A rule ACLSetUser refuses: ``args[0]`` is Redis's message for it
    (ACLSetUserStringError)."""


ERR_ENOENT = 'Unknown command or category name in ACL'
ERR_EINVAL = 'Syntax error'
ERR_EEXIST = ("Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid "
              "and does not have any effect. Try 'resetkeys' to start with an empty list "
              "of patterns")
ERR_EISDIR = ("Adding a pattern after the * pattern (or the 'allchannels' flag) is not "
              "valid and does not have any effect. Try 'resetchannels' to start with an "
              "empty list of channels")
ERR_ENODEV = 'The password you are trying to remove from the user does not exist'
ERR_EBADMSG = ('The password hash must be exactly 64 characters and contain only lowercase '
               'hexadecimal characters')
ERR_EALREADY = 'Duplicate user found. A user can only be defined once in config files'
ERR_ECHILD = 'Allowing first-arg of a subcommand is not supported'


# -- the command universe ------------------------------------------------------------

class _Cmd:
    __slots__ = ('id', 'fullname', 'parent', 'subs', 'cats')

    def __init__(self, id_, fullname, parent, cats):
        self.id = id_
        self.fullname = fullname
        self.parent = parent
        self.subs = []
        self.cats = 0
        for cat in cats:
            self.cats |= CATEGORY_BIT.get(cat[1:], 0)


def _build_universe():
    """Every Redis 7.0 command and subcommand with an id (ACLGetCommandID's
    order does not matter: ids never leave the process)."""
    order = []
    by_name = {}
    for name, info in facts.INFO.items():
        top = _Cmd(len(order), name, None, info[6])
        order.append(top)
        by_name[name] = top
        for sub in info[9]:
            s = _Cmd(len(order), sub[0].decode(), top, sub[6])
            order.append(s)
            top.subs.append(s)
            by_name[s.fullname] = s
    return order, by_name


COMMANDS, BY_NAME = _build_universe()
NCOMMANDS = len(COMMANDS)
TOPS = [c for c in COMMANDS if c.parent is None]


def _category_ids(bit):
    """ACLSetSelectorCommandBitsForCategoryLogic's targets: each command of
    the category with, for a container, all its subcommands; and the ids
    ACLCountCategoryBitsForCommands counts."""
    changed = []
    counted = []
    for top in TOPS:
        if top.cats & bit:
            changed.append(top)
            counted.append(top.id)
        for sub in top.subs:
            if sub.cats & bit:
                changed.append(sub)
                counted.append(sub.id)
    return changed, counted


CATEGORY_CMDS = {name: _category_ids(CATEGORY_BIT[name]) for name in CATEGORIES}

# Selectors have room for the commands modules add later: +@all sets those
# bits too, so a user with +@all may run a module's commands, and a rule
# such as +@write given before the module was loaded does not cover them,
# as in Redis 7.0 (its bitmap has USER_COMMAND_BITS_COUNT bits).
USER_COMMAND_BITS = NCOMMANDS + 1024
_module_ids = {}    # a module command's name -> its id, kept when unloaded


def add_command(fullname, categories):
    """A module's command enters the universe (ACLGetCommandID: a name
    loaded again gets its old id), in its categories (names without @)."""
    cid = _module_ids.get(fullname)
    if cid is None:
        cid = len(COMMANDS)
        if cid >= USER_COMMAND_BITS:
            raise ValueError('too many module commands for the ACL bitmaps')
        _module_ids[fullname] = cid
        COMMANDS.append(None)
    entry = _Cmd(cid, fullname, None, ['@' + cat for cat in categories])
    COMMANDS[cid] = entry
    BY_NAME[fullname] = entry
    TOPS.append(entry)
    for cat in categories:
        changed, counted = CATEGORY_CMDS[cat]
        changed.append(entry)
        counted.append(cid)
    return entry


def remove_command(fullname):
    """An unloaded module's command leaves the universe (its id stays
    reserved for the name)."""
    entry = BY_NAME.pop(fullname, None)
    if entry is None:
        return
    TOPS.remove(entry)
    for changed, counted in CATEGORY_CMDS.values():
        if entry in changed:
            changed.remove(entry)
            counted.remove(entry.id)


def lookup_acl_command(name):
    """ACLLookupCommand: 'cmd' or 'container|sub', any case, or None."""
    parts = name.lower().split(b'|')
    if len(parts) > 2:
        return None
    try:
        base = BY_NAME.get(parts[0].decode())
    except UnicodeDecodeError:
        return None
    if base is None:
        return None
    if len(parts) == 1:
        return base
    if not base.subs:
        return None
    return BY_NAME.get(base.fullname + '|' + parts[1].decode('latin-1'))


def category_commands(name):
    """ACL CAT <category>: full names, or None for an unknown category."""
    cat = _category_name(name)
    if cat is None:
        return None
    return [COMMANDS[i].fullname.encode() for i in CATEGORY_CMDS[cat][1]]


def _category_name(name):
    try:
        low = name.lower().decode()
    except UnicodeDecodeError:
        return None
    return low if low in CATEGORY_BIT else None


def hash_password(password):
    return hashlib.sha256(password).hexdigest().encode()


def _valid_hash(h):
    return len(h) == 64 and all(c in b'0123456789abcdef' for c in h)


def has_spaces(s):
    """ACLStringHasSpaces: isspace() or NUL."""
    return any(c in b' \t\n\v\f\r\0' for c in s)


# -- selectors -----------------------------------------------------------------------

class Selector:
    __slots__ = ('root', 'allkeys', 'allchannels', 'allcommands', 'allowed', 'future',
                 'firstargs', 'patterns', 'channels', 'matchers')

    def __init__(self, root=False, allchannels=False):
        self.root = root
        self.allkeys = False
        self.allchannels = allchannels      # acl-pubsub-default
        self.allcommands = False
        self.allowed = bytearray(USER_COMMAND_BITS)
        # The reserved bit Redis sets with +@all only: "may run commands
        # added later", which decides whether a description starts with
        # +@all or -@all.
        self.future = False
        self.firstargs = {}                 # command id -> [first args allowed]
        self.patterns = []                  # [pattern, READ|WRITE]
        self.channels = []
        self.matchers = ()                  # the patterns compiled (compile())

    def copy(self):
        s = Selector.__new__(Selector)
        s.root, s.allkeys, s.allchannels = self.root, self.allkeys, self.allchannels
        s.allcommands, s.future = self.allcommands, self.future
        s.allowed = bytearray(self.allowed)
        s.firstargs = {k: list(v) for k, v in self.firstargs.items()}
        s.patterns = [list(p) for p in self.patterns]
        s.channels = list(self.channels)
        s.matchers = self.matchers
        return s

    def compile(self):
        """The key patterns as matchers: most patterns are a literal or a
        literal prefix and '*', which need no glob matcher."""
        out = []
        for pat, flags in self.patterns:
            body = pat[:-1] if pat.endswith(b'*') else pat
            if any(ch in body for ch in b'*?[\\'):
                out.append((flags, 2, pat))
            elif body is pat:
                out.append((flags, 0, pat))
            else:
                out.append((flags, 1, body))
        self.matchers = tuple(out)

    # ACLChangeSelectorPerm
    def change(self, cmd, allow):
        allowed = self.allowed
        allowed[cmd.id] = allow
        if not allow:
            self.allcommands = False
        self.firstargs.pop(cmd.id, None)
        for sub in cmd.subs:
            allowed[sub.id] = allow

    def set_all(self, allow):
        self.allowed = bytearray(b'\x01' * USER_COMMAND_BITS if allow else USER_COMMAND_BITS)
        self.allcommands = self.future = allow
        self.firstargs = {}

    def set_category(self, cat, allow):
        for cmd in CATEGORY_CMDS[cat][0]:
            self.change(cmd, allow)

    def apply(self, op):
        """ACLSetSelector: one rule; raises SetUserError."""
        low = op.lower()
        if low in (b'allkeys', b'~*'):
            self.allkeys = True
            self.patterns = []
        elif low == b'resetkeys':
            self.allkeys = False
            self.patterns = []
        elif low in (b'allchannels', b'&*'):
            self.allchannels = True
            self.channels = []
        elif low == b'resetchannels':
            self.allchannels = False
            self.channels = []
        elif low in (b'allcommands', b'+@all'):
            self.set_all(True)
        elif low in (b'nocommands', b'-@all'):
            self.set_all(False)
        elif op[:1] in (b'~', b'%'):
            self._add_key_pattern(op)
        elif op[:1] == b'&':
            if self.allchannels:
                raise SetUserError(ERR_EISDIR)
            pat = op[1:]
            if has_spaces(pat):
                raise SetUserError(ERR_EINVAL)
            if pat not in self.channels:
                self.channels.append(pat)
            self.allchannels = False
        elif op[:1] == b'+' and op[1:2] != b'@':
            self._allow_command(op[1:])
        elif op[:1] == b'-' and op[1:2] != b'@':
            cmd = lookup_acl_command(_c_str(op[1:]))
            if cmd is None:
                raise SetUserError(ERR_ENOENT)
            self.change(cmd, 0)
        elif op[:1] in (b'+', b'-') and op[1:2] == b'@':
            cat = _category_name(_c_str(op[2:]))
            if cat is None:
                raise SetUserError(ERR_ENOENT)
            self.set_category(cat, 1 if op[:1] == b'+' else 0)
        else:
            raise SetUserError(ERR_EINVAL)

    def _add_key_pattern(self, op):
        if self.allkeys:
            raise SetUserError(ERR_EEXIST)
        flags = 0
        offset = 1
        if op[:1] == b'%':
            n = len(op)
            while offset < n:
                ch = op[offset:offset + 1].upper()
                if ch == b'R' and not flags & READ:
                    flags |= READ
                elif ch == b'W' and not flags & WRITE:
                    flags |= WRITE
                elif ch == b'~':
                    offset += 1
                    break
                else:
                    raise SetUserError(ERR_EINVAL)
                offset += 1
            if not flags:
                # '%~pat' (or a bare '%') grants nothing: Redis refuses it.
                raise SetUserError(ERR_EINVAL)
        else:
            flags = ALL
        pat = op[offset:]
        if has_spaces(pat):
            raise SetUserError(ERR_EINVAL)
        for p in self.patterns:
            if p[0] == pat:
                p[1] |= flags
                break
        else:
            self.patterns.append([pat, flags])
        self.allkeys = False

    def _allow_command(self, name):
        name = _c_str(name)
        bar = name.rfind(b'|')
        if bar < 0:
            cmd = lookup_acl_command(name)
            if cmd is None:
                raise SetUserError(ERR_ENOENT)
            self.change(cmd, 1)
            return
        cmd = lookup_acl_command(name[:bar])
        if cmd is None:
            raise SetUserError(ERR_ENOENT)
        if cmd.parent is not None:
            raise SetUserError(ERR_ECHILD)
        sub = name[bar + 1:]
        if not sub:
            raise SetUserError(ERR_EINVAL)
        if cmd.subs:
            cmd = lookup_acl_command(name)
            if cmd is None:
                raise SetUserError(ERR_ENOENT)
            self.change(cmd, 1)
        else:
            log.warning('Deprecation warning: Allowing a first arg of an otherwise blocked '
                        'command is a misuse of ACL and may get disabled in the future '
                        '(offender: +%s)' % name.decode('latin-1'))
            args = self.firstargs.setdefault(cmd.id, [])
            if not any(a.lower() == sub.lower() for a in args):
                args.append(sub)

    # -- describing ---------------------------------------------------------------

    def describe_commands(self):
        """ACLDescribeSelectorCommandRules: +@all or -@all, then the
        categories that fit best, then single commands."""
        fake = Selector()
        additive = not self.future
        rules = [b'-@all' if additive else b'+@all']
        fake.set_all(not additive)
        temp = bytearray(self.allowed)
        applied = set()
        while True:
            best = None
            mindiff, maxsame = 1 << 62, 0
            for cat in CATEGORIES:
                if cat in applied:
                    continue
                ids = CATEGORY_CMDS[cat][1]
                on = sum(temp[i] for i in ids)
                off = len(ids) - on
                diff, same = (off, on) if additive else (on, off)
                if same > diff and (diff < mindiff or (diff == mindiff and same > maxsame)):
                    best, mindiff, maxsame = cat, diff, same
            if best is None:
                break
            fake.set_category(best, 1 if additive else 0)
            for cmd in CATEGORY_CMDS[best][0]:
                # The inverse on the scratch copy (ACLChangeSelectorPerm).
                v = 0 if additive else 1
                temp[cmd.id] = v
                for sub in cmd.subs:
                    temp[sub.id] = v
            rules.append((b'+@' if additive else b'-@') + best.encode())
            applied.add(best)
        allowed = self.allowed
        for top in TOPS:
            for cmd in [top] + top.subs:
                bit = allowed[cmd.id]
                if bit != fake.allowed[cmd.id]:
                    rules.append((b'+' if bit else b'-') + cmd.fullname.encode())
                    fake.change(cmd, bit)
                if not bit and cmd.id in self.firstargs:
                    for arg in self.firstargs[cmd.id]:
                        rules.append(b'+%s|%s' % (cmd.fullname.encode(), arg))
        return b' '.join(rules)

    def describe_keys(self):
        if self.allkeys:
            return [b'~*']
        return [_pattern_string(p) for p in self.patterns]

    def describe_channels(self):
        if self.allchannels:
            return [b'&*']
        return [b'&' + c for c in self.channels]

    def describe(self):
        """ACLDescribeSelector."""
        parts = self.describe_keys()
        if not self.allchannels:
            parts.append(b'resetchannels')
        parts += self.describe_channels()
        parts.append(self.describe_commands())
        return b' '.join(parts)

    def description_map(self):
        """aclAddReplySelectorDescription's three fields."""
        return {b'commands': self.describe_commands(),
                b'keys': b' '.join(self.describe_keys()),
                b'channels': b' '.join(self.describe_channels())}

    # -- checking ------------------------------------------------------------------

    def check_key(self, key, flags):
        """ACLSelectorCheckKey: ``flags`` are the READ/WRITE the key needs."""
        if self.allkeys:
            return True
        for pflags, kind, pat in self.matchers:
            if pflags & flags == flags and (
                    key == pat if kind == 0 else
                    key.startswith(pat) if kind == 1 else glob_match(pat, key)):
                return True
        return False

    def check_channel(self, channel, literal):
        if self.allchannels:
            return True
        return _channel_in(self.channels, channel, literal)

    def check(self, cmd, argv, keys):
        """ACLSelectorCheckCmd: (result, argument index). ``keys`` is a
        one-element list caching the command's (position, READ|WRITE) list
        across selectors."""
        cid = cmd.acl_id
        if not self.allcommands and not cmd.no_auth and not self.allowed[cid]:
            args = self.firstargs.get(cid)
            if not args or len(argv) < 2:
                return DENIED_CMD, 0
            first = argv[2 if cmd.parent is not None else 1].lower()
            if not any(a.lower() == first for a in args):
                return DENIED_CMD, 0
        if not self.allkeys and cmd.acl_keys:
            found = keys[0]
            if found is None:
                found = keys[0] = key_positions(cmd, argv)
            matchers = self.matchers
            for pos, need in found:
                key = argv[pos]
                # (check_key, inlined: this runs for every key of every
                # command of a restricted user.)
                for pflags, kind, pat in matchers:
                    if pflags & need == need and (
                            key == pat if kind == 0 else
                            key.startswith(pat) if kind == 1 else glob_match(pat, key)):
                        break
                else:
                    return DENIED_KEY, pos
        kind = cmd.acl_channels
        if kind is not None and not self.allchannels:
            if kind == 'one':
                positions = (1,)
            else:
                positions = range(1, len(argv))
            literal = kind == 'patterns'
            for pos in positions:
                if not _channel_in(self.channels, argv[pos], literal):
                    return DENIED_CHANNEL, pos
        return OK, 0


def _channel_in(channels, channel, literal):
    for pat in channels:
        if (pat == channel) if literal else glob_match(pat, channel):
            return True
    return False


def _pattern_string(p):
    pat, flags = p
    if flags == ALL:
        return b'~' + pat
    return (b'%R~' if flags == READ else b'%W~') + pat


def _c_str(b):
    """What C's string functions see of an argument: up to a NUL."""
    nul = b.find(b'\0')
    return b if nul < 0 else b[:nul]


def _need(flags):
    need = 0
    for f in flags:
        if f == 'access':
            need |= READ
        elif f in ('insert', 'delete', 'update'):
            need |= WRITE
    return need


def key_positions(cmd, argv):
    """The keys of a command line with the permission each needs (what
    ACLSelectorCheckKey derives from getKeysFromCommandWithSpecs' flags)."""
    simple = cmd.acl_keys
    argc = len(argv)
    if simple.__class__ is not tuple:
        if simple is not True:
            return simple(argv)
    elif len(simple) == 1 and simple[0][1] == 0 and simple[0][0] < argc:
        return ((simple[0][0], simple[0][4]),)     # one key (GET, SET, INCR...)
    else:
        # Index and range specs (most commands): the arithmetic of
        # getKeysUsingKeySpecs without reading the specs again.
        out = []
        for first, lastkey, step, limit, need in simple:
            if lastkey >= 0:
                last = first + lastkey
            elif not limit:
                last = argc + lastkey
            else:
                last = first + ((argc - first) // limit + lastkey)
            if last >= argc or last < first or first >= argc:
                break       # a spec that does not apply: the general way
            for pos in range(first, last + 1, step):
                out.append((pos, need))
        else:
            return out
    from .commands import command_keys
    found = command_keys(cmd, argv)
    if found.__class__ is bytes:
        return []
    return [(pos, _need(flags)) for pos, flags in found]


def _set_keys(argv):
    # setGetKeys: SET's key is also read with GET.
    for a in argv[3:]:
        if a.lower() == b'get':
            return ((1, READ | WRITE),)
    return ((1, WRITE),)


def _compile_keys(cmd):
    """cmd.acl_keys: False for a command without keys, a tuple of (first,
    lastkey, step, limit, permission) when its key specs are all index and
    range specs with fixed flags, a function(argv) -> positions for SET,
    else True (found by command_keys)."""
    from .commands import KEY_FLAG_PROCS
    specs = [s for s in cmd.info[8] if 'not_key' not in s[b'flags']]
    if not specs and cmd.keys_proc is None and cmd.fullname not in KEY_FLAG_PROCS:
        return False
    if cmd.fullname == 'set':
        return _set_keys
    if cmd.keys_proc is not None or cmd.fullname in KEY_FLAG_PROCS:
        return True
    out = []
    for s in specs:
        bs, fk, flags = s[b'begin_search'], s[b'find_keys'], s[b'flags']
        if (bs[b'type'] != b'index' or fk[b'type'] != b'range' or 'incomplete' in flags
                or 'variable_flags' in flags):
            return True
        spec = fk[b'spec']
        out.append((bs[b'spec'][b'index'], spec[b'lastkey'], spec[b'keystep'],
                    spec[b'limit'], _need(flags)))
    return tuple(out)


# -- a restricted user's command table (the header says why) -------------------------

class Guard(Command):
    """A restricted user's stand-in for a command with keys: a copy of the
    Command (the trusted request path reads it as one), its counters written
    through to the real one, and ``proc``, the key check in front of the
    real proc. (A copy, not a __getattr__ proxy: a class with __getattr__
    makes every attribute read slower, those of the request path included.)"""
    __slots__ = ('real',)

    def __init__(self, real, proc):
        for attr in _COPIED:
            try:
                setattr(self, attr, getattr(real, attr))
            except AttributeError:
                pass
        self.real = real
        self.proc = proc

    def __repr__(self):
        return '<Guard %s>' % self.fullname

    # The counters the request path adds to, written through to the real
    # Command (read with attrgetter: no Python frame).
    calls = property(attrgetter('real.calls'), lambda self, v: setattr(self.real, 'calls', v))
    failed_calls = property(attrgetter('real.failed_calls'),
                            lambda self, v: setattr(self.real, 'failed_calls', v))
    rejected_calls = property(attrgetter('real.rejected_calls'),
                              lambda self, v: setattr(self.real, 'rejected_calls', v))
    duration = property(attrgetter('real.duration'),
                        lambda self, v: setattr(self.real, 'duration', v))


# The counters stay the real Command's (INFO commandstats).
_COPIED = [a for a in Command.__slots__
           if a not in ('proc', 'calls', 'failed_calls', 'rejected_calls', 'duration')]


def _denied(real, c, argv):
    """The guard's check did not allow the command: the full check decides,
    and a denial is process_command's rejection (Server.reject) - the reply
    appended, not returned, so that the trusted path does not count it as a
    failed call - with the call the trusted path counts in its run taken
    back."""
    server = c.server
    err = server.acl.check_client(c, real, argv)
    if err is None:
        return real.proc(c, argv)
    server.reject(c, err, real)
    real.calls -= 1
    return None


def _guard_proc(real, selectors):
    """The proc of a Guard: ``selectors`` are the user's selectors that
    allow the command (none has allkeys). (Handlers are registered once,
    before any server runs: the real proc is taken here, not per call.)"""
    proc = real.proc
    spec = real.acl_keys
    if spec is _set_keys:
        # SET's key needs READ too with GET: a pattern that grants both
        # allows it either way (a write-only one is the full check's).
        single = (1, READ | WRITE)
    elif len(spec) == 1 and spec[0][1] == 0 and spec[0][0] < real.min_args:
        single = (spec[0][0], spec[0][4])       # one key, always there (GET, INCR...)
    else:
        single = None
    if single is None:
        def allowed(argv):
            found = key_positions(real, argv)
            for s in selectors:
                for pos, need in found:
                    if not s.check_key(argv[pos], need):
                        break
                else:
                    return True
            return False

        def guarded(c, argv):
            if allowed(argv):
                return proc(c, argv)
            return _denied(real, c, argv)
        return guarded
    pos, need = single
    # One key: allowed when any selector's pattern granting what it needs
    # matches it.
    literals, prefixes, globs = set(), [], []
    for s in selectors:
        for pflags, kind, pat in s.matchers:
            if pflags & need == need:
                (literals.add if kind == 0 else prefixes.append if kind == 1
                 else globs.append)(pat)
    if prefixes and not literals and not globs and KeyGuard is not None:
        # (The closure below, in C.)
        return KeyGuard(pos, tuple(prefixes), proc, partial(_denied, real))
    if len(prefixes) == 1 and not literals and not globs:
        prefix = prefixes[0]

        def guarded(c, argv):
            if argv[pos].startswith(prefix):
                return proc(c, argv)
            return _denied(real, c, argv)
        return guarded
    prefixes = tuple(prefixes)

    def guarded(c, argv):
        key = argv[pos]
        if key in literals or key.startswith(prefixes) or any(
                glob_match(g, key) for g in globs):
            return proc(c, argv)
        return _denied(real, c, argv)
    return guarded


def _table_entry(user, cmd):
    """What a restricted user's table holds for a command: the Command,
    a Guard, or None (not there: process_command and the full check)."""
    if (cmd.subcommands is not None or cmd.proc is None or cmd.no_auth
            or cmd.acl_channels is not None):
        return None
    cid = cmd.acl_id
    selectors = [s for s in user.selectors if s.allcommands or s.allowed[cid]]
    if not selectors:
        return None
    if not cmd.acl_keys or any(s.allkeys for s in selectors):
        return cmd
    if cmd.acl_keys is True:
        return None
    return Guard(cmd, _guard_proc(cmd, selectors))


def dispatch_table(user):
    """A restricted user's table: DISPATCH's names (both spellings share
    an entry) for the commands that are there."""
    entries = {}
    table = {}
    for name, cmd in DISPATCH.items():
        entry = entries.get(id(cmd), False)
        if entry is False:
            entry = entries[id(cmd)] = _table_entry(user, cmd)
        if entry is not None:
            table[name] = entry
    return table


# -- users ---------------------------------------------------------------------------

USER_FLAGS = (b'on', b'off', b'nopass', b'skip-sanitize-payload', b'sanitize-payload')


class User:
    __slots__ = ('name', 'flags', 'passwords', 'selectors', 'restricted', 'dispatch')

    def __init__(self, name, acl_pubsub_all=False):
        self.name = name
        self.flags = {b'off'}
        self.passwords = []                 # sha256 hex digests (bytes)
        self.selectors = [Selector(root=True, allchannels=acl_pubsub_all)]
        self.restricted = True
        self.dispatch = None                # table() once built

    @property
    def enabled(self):
        return b'on' in self.flags

    @property
    def nopass(self):
        return b'nopass' in self.flags

    def copy_from(self, other):
        """ACLCopyUser: the rules, not the name."""
        self.flags = set(other.flags)
        self.passwords = list(other.passwords)
        self.selectors = [s.copy() for s in other.selectors]
        self.update()

    def update(self):
        """Whether commands of this user's clients need the check at all;
        the key patterns compiled."""
        for s in self.selectors:
            s.compile()
        root = self.selectors[0]
        self.restricted = not (root.allcommands and root.allkeys and root.allchannels)
        self.dispatch = None

    def table(self):
        """The table the trusted request path looks this user's commands up
        in (the header says what it holds)."""
        t = self.dispatch
        if t is None:
            t = self.dispatch = dispatch_table(self) if self.restricted else DISPATCH
        return t

    def apply(self, op, pubsub_all=False):
        """ACLSetUser: one rule (raises SetUserError)."""
        if not op:
            return
        low = op.lower()
        flags = self.flags
        if low == b'on':
            flags.add(b'on')
            flags.discard(b'off')
        elif low == b'off':
            flags.add(b'off')
            flags.discard(b'on')
        elif low == b'skip-sanitize-payload':
            flags.add(b'skip-sanitize-payload')
            flags.discard(b'sanitize-payload')
        elif low == b'sanitize-payload':
            flags.discard(b'skip-sanitize-payload')
            flags.add(b'sanitize-payload')
        elif low == b'nopass':
            flags.add(b'nopass')
            self.passwords = []
        elif low == b'resetpass':
            flags.discard(b'nopass')
            self.passwords = []
        elif op[:1] in (b'>', b'#'):
            if op[:1] == b'>':
                h = hash_password(op[1:])
            else:
                h = op[1:]
                if not _valid_hash(h):
                    raise SetUserError(ERR_EBADMSG)
            if h not in self.passwords:
                self.passwords.append(h)
            flags.discard(b'nopass')
        elif op[:1] in (b'<', b'!'):
            if op[:1] == b'<':
                h = hash_password(op[1:])
            else:
                h = op[1:]
                if not _valid_hash(h):
                    raise SetUserError(ERR_EBADMSG)
            if h not in self.passwords:
                raise SetUserError(ERR_ENODEV)
            self.passwords.remove(h)
        elif op[:1] == b'(' and op[-1:] == b')':
            s = Selector(allchannels=pubsub_all)
            args = split_args(op[1:-1]) or []
            for a in args:
                s.apply(a)
            self.selectors.append(s)
        elif low == b'clearselectors':
            del self.selectors[1:]
        elif low == b'reset':
            self.apply(b'resetpass')
            self.apply(b'resetkeys')
            self.apply(b'resetchannels')
            if pubsub_all:
                self.apply(b'allchannels')
            self.apply(b'off')
            self.apply(b'sanitize-payload')
            self.apply(b'clearselectors')
            self.apply(b'-@all')
        else:
            self.selectors[0].apply(op)

    def describe(self):
        """ACLDescribeUser: the rules in ACL LIST / ACL file form."""
        parts = [f for f in USER_FLAGS if f in self.flags]
        parts += [b'#' + p for p in self.passwords]
        out = b' '.join(parts)
        for s in self.selectors:
            d = s.describe()
            if s.root:
                out = out + b' ' + d if out else d
            else:
                out += b' (' + d + b')'
        return out

    def check_password(self, password):
        if not self.enabled:
            return False
        if self.nopass:
            return True
        return hash_password(password) in self.passwords

    def check(self, cmd, argv):
        """ACLCheckAllUserCommandPerm: (result, argument index) - the
        command's result when no selector allows it, else the last key or
        channel no selector could match."""
        relevant, last = DENIED_CMD, 0
        keys = [None]
        for s in self.selectors:
            res, idx = s.check(cmd, argv, keys)
            if res == OK:
                return OK, 0
            if res > relevant or (res == relevant and idx > last):
                relevant, last = res, idx
        return relevant, last

    def check_key(self, key, flags):
        return any(s.check_key(key, flags) for s in self.selectors)

    def check_channel(self, channel, literal=False):
        return any(s.check_channel(channel, literal) for s in self.selectors)

    def unrestricted_key_access(self, cmd, argv, flags=READ):
        """ACLUserCheckCmdWithUnrestrictedKeyAccess: some selector allows the
        command and any key (SORT BY/GET)."""
        keys = [None]
        for s in self.selectors:
            if s.check(cmd, argv, keys)[0] == OK and (
                    s.allkeys or any(p == b'*' and f & flags == flags for p, f in s.patterns)):
                return True
        return False


class _Superuser:
    """The user of clients that may run anything (the master's link)."""
    name = b'(superuser)'
    restricted = False
    enabled = True

    @staticmethod
    def table():
        return DISPATCH


SUPERUSER = _Superuser()


def merge_selector_args(args):
    """ACLMergeSelectorArguments: a selector spread over several arguments
    is joined. Returns (rules, None) or (None, index of the unmatched '(')."""
    out = []
    current = None
    start = -1
    for j, op in enumerate(args):
        if op[:1] == b'(' and op[-1:] != b')':
            current = op
            start = j
            continue
        if start != -1:
            current += b' ' + op
            if op[-1:] == b')':
                start = -1
                out.append(current)
            continue
        out.append(op)
    if start != -1:
        return None, start
    return out, None


# -- the ACL state of a server -------------------------------------------------------

class LogEntry:
    __slots__ = ('count', 'reason', 'context', 'object', 'username', 'ctime', 'cinfo')


class ACL:
    """The users of one server, its ACL log, and the checks the server's
    gates and the command families call."""

    def __init__(self, server):
        self.server = server
        self.users = {}
        self.log = []               # newest first
        self.default = self._create_default()
        self.users[b'default'] = self.default
        # Command objects get their id and what the check needs to know.
        for cmd in TABLE.values():
            prepare_command(cmd)
            for sub in (cmd.subcommands or {}).values():
                prepare_command(sub)
        self.set_default_password(server.config.requirepass)

    @property
    def pubsub_all(self):
        return self.server.config.acl_pubsub_default == 'allchannels'

    def _create_default(self):
        u = User(b'default', self.pubsub_all)
        for op in (b'+@all', b'~*', b'&*', b'on', b'nopass'):
            u.apply(op)
        u.update()
        return u

    def new_user(self, name):
        return User(name, self.pubsub_all)

    def set_default_password(self, password):
        """ACLUpdateDefaultUserPassword (requirepass)."""
        u = self.default
        u.apply(b'resetpass')
        if password:
            u.apply(b'>' + password.encode('utf-8', 'surrogateescape'))
        else:
            u.apply(b'nopass')
        self.changed()

    def requires_auth(self):
        """authRequired's server half: new connections must authenticate."""
        d = self.default
        return not d.nopass or not d.enabled

    def changed(self):
        """Users' rules changed: recompute who is restricted and every
        client's gate."""
        for u in self.users.values():
            u.update()
        self.server.update_gate()

    def get(self, name):
        return self.users.get(name)

    def sorted_users(self):
        return [self.users[k] for k in sorted(self.users)]

    # -- authentication ----------------------------------------------------------

    def authenticate(self, c, username, password, argv):
        """ACLAuthenticateUser for the AUTH or HELLO ``argv`` the client
        runs: True, or False with the failure logged (its object: the
        command's name as typed)."""
        u = self.users.get(username)
        if u is not None and u.check_password(password):
            c.authenticated = True
            c.user = u
            c.update_gate()
            return True
        self.add_log(c, DENIED_AUTH, CTX_MULTI if c.multi is not None else CTX_TOPLEVEL,
                     username=username, obj=argv[0], request=(lookup(argv[0]), argv))
        return False

    # -- the permission check -------------------------------------------------------

    def check_client(self, c, cmd, argv):
        """processCommand's ACL gate: None, or the error reply (logged)."""
        res, idx = c.user.check(cmd, argv)
        if res == OK:
            return None
        self.add_log(c, res, CTX_MULTI if c.multi is not None else CTX_TOPLEVEL,
                     argv=argv, cmd=cmd, idx=idx, request=(cmd, argv))
        if res == DENIED_CMD:
            return NOPERM_CMD % cmd.fullname.encode()
        if res == DENIED_KEY:
            return NOPERM_KEY
        return NOPERM_CHANNEL

    def check_exec(self, c, cmd, argv):
        """EXEC's second look at a queued command: the rules may have
        changed since it was queued. None, or the error reply."""
        if not c.user.restricted:
            return None
        res, idx = c.user.check(cmd, argv)
        if res == OK:
            return None
        self.add_log(c, res, CTX_MULTI, argv=argv, cmd=cmd, idx=idx, request=(cmd, argv))
        reason = {DENIED_CMD: b'no permission to execute the command or subcommand',
                  DENIED_KEY: b'no permission to touch the specified keys',
                  DENIED_CHANNEL: b'no permission to access one of the channels used as '
                                  b'arguments'}[res]
        return (b'-NOPERM ACLs rules changed between the moment the transaction was '
                b'accumulated and the EXEC call. This command is no longer allowed for the '
                b'following reason: %s\r\n' % reason)

    def check_script(self, caller, cmd, argv, request=None):
        """scriptVerifyACL: None, or the message the script gets, logged
        with the caller running ``request`` (its EVAL or FCALL argv); not
        logged without one (redis.acl_check_cmd's question)."""
        user = caller.user
        if not user.restricted:
            return None
        res, idx = user.check(cmd, argv)
        if res == OK:
            return None
        if request is not None:
            self.add_log(caller, res, CTX_LUA, argv=argv, cmd=cmd, idx=idx,
                         request=(lookup(request[0]), request))
        if res == DENIED_CMD:
            return b"The user executing the script can't run this command or subcommand"
        if res == DENIED_KEY:
            return (b"The user executing the script can't access at least one of the keys "
                    b"mentioned in the command arguments")
        return (b"The user executing the script can't publish to the channel mentioned in "
                b"the command")

    # -- the ACL log ------------------------------------------------------------------

    def add_log(self, c, reason, context, request, argv=None, cmd=None, idx=0, username=None,
                obj=None):
        """addACLLogEntry: grouped with a similar entry of the last 10
        (same reason, context, object and user, within a minute).
        ``request``: (Command, argv) of what the client ``c`` runs (a
        script's caller: its EVAL), for its client-info, which Redis takes
        at that moment, the command being already its lastcmd (set before
        the gates; pyredis's call() sets it after the run, so here)."""
        e = LogEntry()
        e.count = 1
        e.reason = reason
        e.context = context
        e.username = username if username is not None else c.user.name
        e.ctime = int(clock.time() * 1000)
        if obj is not None:
            e.object = obj
        elif reason == DENIED_CMD:
            e.object = cmd.fullname.encode()
        else:
            e.object = argv[idx]
        c.last_cmd = request[0]
        e.cinfo = self.server.describe_client(c, request[1])
        for i, old in enumerate(self.log[:10]):
            if (old.reason == e.reason and old.context == e.context
                    and abs(old.ctime - e.ctime) <= 60000 and old.object == e.object
                    and old.username == e.username):
                old.cinfo, old.ctime = e.cinfo, e.ctime
                old.count += 1
                del self.log[i]
                self.log.insert(0, old)
                return
        self.log.insert(0, e)
        del self.log[self.server.config.acllog_max_len:]

    # -- users changing -------------------------------------------------------------------

    def kill_clients_of(self, user, current):
        """ACLFreeUserAndKillClients: the user is gone (ACL DELUSER, LOAD)."""
        for c in list(self.server.clients.values()):
            if c.user is user:
                c.user = self.default
                c.authenticated = False
                c.update_gate()
                if c is current:
                    c.close_after_reply = True
                    c.closing = True
                else:
                    c.close()

    def kill_pubsub_clients(self, new, original):
        """ACLKillPubsubClientsIfNeeded: subscribers of ``original`` whose
        channels ``new`` no longer allows are disconnected."""
        if any(s.allchannels for s in new.selectors):
            return
        upcoming = [ch for s in new.selectors for ch in s.channels]
        if all(ch in upcoming for s in original.selectors for ch in s.channels):
            return
        for c in list(self.server.clients.values()):
            if c.user is not original or not (c.subscriptions or c.psubscriptions
                                               or c.ssubscriptions):
                continue
            if (any(not _channel_in(upcoming, p, True) for p in c.psubscriptions)
                    or any(not _channel_in(upcoming, ch, False) for ch in c.subscriptions)
                    or any(not _channel_in(upcoming, ch, False) for ch in c.ssubscriptions)):
                c.close()

    # -- the ACL file ---------------------------------------------------------------------

    def load_configured(self, users):
        """ACLLoadConfiguredUsers: the 'user' lines of redis.conf. Returns
        an error message to log before exiting, or None."""
        for argv in users:
            argv = [a.encode('utf-8', 'surrogateescape') if isinstance(a, str) else a
                    for a in argv]
            name = argv[0]
            if has_spaces(name):
                return 'Spaces not allowed in ACL usernames'
            rules, _ = merge_selector_args(argv[1:])
            u = self.users.get(name)
            if u is None:
                u = self.users[name] = self.new_user(name)
            else:
                u.apply(b'reset', self.pubsub_all)
            for op in rules or ():
                try:
                    u.apply(op, self.pubsub_all)
                except SetUserError as e:
                    return "Error loading ACL rule '%s' for the user named '%s': %s" % (
                        op.decode('latin-1'), name.decode('latin-1'), e.args[0])
            if not u.enabled:
                log.notice("The user '%s' is disabled (there is no 'on' modifier in the "
                           "user description). Make sure this is not a configuration "
                           "error." % name.decode('latin-1'))
        self.changed()
        return None

    def load_file(self, path, current=None):
        """ACLLoadFromFile: all or nothing. Returns None or the errors (one
        line, as Redis)."""
        name = self.server.config.aclfile
        try:
            with open(path, 'rb') as f:
                data = f.read()
        except OSError as e:
            return "Error loading ACLs, opening file '%s': %s" % (name, e.strerror)
        nul = data.find(b'\0')
        if nul >= 0:
            data = data[:nul]
        errors = []
        users = {}
        for i, line in enumerate(data.split(b'\n')):
            linenum = i + 1
            line = line.strip(b' \t\r\n')
            if not line:
                continue
            argv = [a for a in line.split(b' ')]
            # sdssplitlen on single spaces: empty arguments stay.
            if argv[0] != b'user' or len(argv) < 2:
                errors.append('%s:%d should start with user keyword followed by the '
                              'username. ' % (name, linenum))
                continue
            uname = argv[1]
            if has_spaces(uname):
                errors.append("'%s:%d: username '%s' contains invalid characters. " % (
                    name, linenum, uname.decode('latin-1')))
                continue
            if uname in users:
                errors.append("WARNING: Duplicate user '%s' found on line %d. " % (
                    uname.decode('latin-1'), linenum))
                continue
            u = users[uname] = self.new_user(uname)
            rules, bad = merge_selector_args(argv[2:])
            if rules is None:
                errors.append('%s:%d: Unmatched parenthesis in selector definition.' % (
                    name, linenum))
                rules = []
            for op in rules:
                op = op.strip(b'\t\r\n')
                try:
                    u.apply(op, self.pubsub_all)
                except SetUserError as e:
                    if e.args[0] == ERR_ENOENT:
                        # (Only a name is shown: other rules may hold passwords.)
                        errors.append("%s:%d: Error in applying operation '%s': %s. " % (
                            name, linenum, op.decode('utf-8', 'surrogateescape'), e.args[0]))
                    else:
                        errors.append('%s:%d: %s. ' % (name, linenum, e.args[0]))
        if errors:
            return ''.join(errors) + ('WARNING: ACL errors detected, no change to the '
                                      'previously active ACL rules was performed')
        new_default = users.pop(b'default', None) or self._create_default()
        self.default.copy_from(new_default)
        old = self.users
        self.users = {b'default': self.default}
        self.users.update(users)
        for uname, u in old.items():
            if uname != b'default':
                self.kill_clients_of(u, current)
        self.changed()
        return None

    def save_file(self, path):
        """ACLSaveToFile: a temp file renamed over the old one. Returns
        True, or False with the reason logged."""
        content = b''.join(b'user %s %s\n' % (u.name, u.describe())
                           for u in self.sorted_users())
        tmp = '%s.tmp-%d-%d' % (path, os.getpid(), int(clock.time() * 1000))
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o644)
        except OSError as e:
            log.warning('Opening temp ACL file for ACL SAVE: %s' % e.strerror)
            return False
        try:
            try:
                os.write(fd, content)
            except OSError as e:
                log.warning('Writing ACL file for ACL SAVE: %s' % e.strerror)
                return False
            os.fsync(fd)
            os.close(fd)
            fd = -1
            try:
                os.rename(tmp, path)
            except OSError as e:
                log.warning('Renaming ACL file for ACL SAVE: %s' % e.strerror)
                return False
            tmp = None
            return True
        finally:
            if fd != -1:
                os.close(fd)
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass

    def user_lines(self):
        """CONFIG REWRITE's 'user' lines (when no aclfile is used)."""
        return ['user %s %s' % (u.name.decode('utf-8', 'surrogateescape'),
                                u.describe().decode('utf-8', 'surrogateescape'))
                for u in self.sorted_users()]


def prepare_command(cmd):
    """What the check needs to know of a command-table entry."""
    entry = BY_NAME.get(cmd.fullname)
    cmd.acl_id = entry.id if entry is not None else 0
    cmd.acl_keys = _compile_keys(cmd)
    cmd.acl_channels = CHANNEL_COMMANDS.get(cmd.fullname)


def check_user_directive(argv, loaded):
    """ACLAppendUserForLoading: a 'user' line of redis.conf checked on a
    scratch user when it is read (unknown commands pass: they are found
    when the users are loaded). ``loaded``: the earlier lines' [name, rules].
    Returns the configuration error, or None."""
    argv = [a.encode('utf-8', 'surrogateescape') if isinstance(a, str) else a for a in argv]
    loaded = {(u[0].encode('utf-8', 'surrogateescape') if isinstance(u[0], str) else u[0])
              for u in loaded}

    def error(index, message):
        # Redis names argv[index] with the index of the rule among the
        # rules, not in the line: kept as it is.
        return "Error in user declaration '%s': %s" % (
            argv[index].decode('utf-8', 'surrogateescape'), message)

    if argv[1] in loaded:
        return error(1, ERR_EALREADY)
    rules, bad = merge_selector_args(argv[2:])
    if rules is None:
        # (Redis reports whatever errno held: an unknown name, as a rule
        # before this one looked it up.)
        return error(bad, ERR_ENOENT)
    scratch = User(b'__fakeuser:0__')
    for j, op in enumerate(rules):
        try:
            scratch.apply(op)
        except SetUserError as e:
            if e.args[0] != ERR_ENOENT:
                return error(j, e.args[0])
    return None
