"""COMMAND and its subcommands (server.c): COUNT, LIST, INFO, DOCS, GETKEYS,
GETKEYSANDFLAGS, HELP.

Everything they report comes from the command table, whose facts are Redis
7.0's own (pyredis/facts.py); key positions are found with the key specs,
as Redis 7.0 does.
"""

from . import command, all_commands, lookup, TABLE
from .. import facts
from .. import resp
from ..resp import integer, help_reply, SYNTAX_ERR
from ..util import string2ll, glob_match


# -- COMMAND ------------------------------------------------------------------

# Redis lists commands and subcommands in the order of its command dict,
# which depends on the hash seed of each start; pyredis shows the
# implemented ones in facts.py's order (by name).
_SPEC_ORDER = {name: i for i, name in enumerate(facts.INFO)}


def implemented_commands():
    return sorted(all_commands(), key=lambda x: _SPEC_ORDER.get(x.fullname, 1 << 30))


def implemented_subcommands(cmd):
    """cmd's implemented subcommands, in Redis's order."""
    order = {s[0]: i for i, s in enumerate(cmd.info[9])}
    subs = [s for s in cmd.subcommands.values() if s.proc is not None]
    return sorted(subs, key=lambda s: order.get(s.fullname.encode(), 1 << 30))


def command_info(cmd):
    info = list(cmd.info)
    if cmd.subcommands is not None:
        info[9] = [command_info(s) for s in implemented_subcommands(cmd)]
    return info


@command('command')
def command_(c, argv):
    return resp.encode([command_info(x) for x in implemented_commands()], c.resp)


@command('command|count')
def command_count(c, argv):
    return integer(len(all_commands()))


@command('command|list')
def command_list(c, argv):
    names = []
    for x in implemented_commands():
        names.append(x.fullname.encode())
        if x.subcommands:
            names.extend(s.fullname.encode() for s in implemented_subcommands(x))
    if len(argv) == 2:
        return resp.bulk_array(names)
    if len(argv) == 5 and argv[2].lower() == b'filterby':
        kind, val = argv[3].lower(), argv[4]
        if kind == b'pattern':
            names = [n for n in names if glob_match(val, n, nocase=True)]
        elif kind == b'aclcat':
            cat = b'@' + val.lower()
            names = [n for n in names if cat in [x.encode() for x in _find(n).info[6]]]
        elif kind == b'module':
            names = []
        else:
            return SYNTAX_ERR
        return resp.bulk_array(names)
    return SYNTAX_ERR


def _find(fullname):
    parts = fullname.split(b'|')
    cmd = TABLE.get(parts[0])
    if len(parts) == 2 and cmd is not None and cmd.subcommands:
        return cmd.subcommands.get(parts[1])
    return cmd


def _lookup_for_info(name):
    cmd = _find(name.lower())
    if cmd is None or not cmd.implemented():
        return None
    return cmd


@command('command|info')
def command_info_cmd(c, argv):
    if len(argv) == 2:
        return command_(c, argv)
    out = []
    for name in argv[2:]:
        cmd = _lookup_for_info(name)
        out.append(command_info(cmd) if cmd is not None else None)
    return resp.encode(out, c.resp)


def command_docs(cmd):
    docs = dict(cmd.docs or {})
    if cmd.subcommands is not None and b'subcommands' in docs:
        docs[b'subcommands'] = {s.fullname.encode(): command_docs(s)
                                for s in implemented_subcommands(cmd)}
    return docs


@command('command|docs')
def command_docs_cmd(c, argv):
    out = {}
    if len(argv) == 2:
        for x in implemented_commands():
            out[x.fullname.encode()] = command_docs(x)
    else:
        for name in argv[2:]:
            cmd = _lookup_for_info(name)
            if cmd is not None:
                out[cmd.fullname.encode()] = command_docs(cmd)
    return resp.encode(out, c.resp)


def get_keys(argv):
    """Keys of a full command line, as COMMAND GETKEYS finds them: a list of
    (position, flags) pairs, or an error reply (getKeysSubcommandImpl)."""
    cmd = lookup(argv[0])
    if cmd is not None and cmd.subcommands is not None and len(argv) >= 2:
        cmd = cmd.subcommands.get(argv[1].lower())
    if cmd is None:
        return b'-ERR Invalid command specified\r\n'
    specs = cmd.info[8]
    has_keyspec = any('not_key' not in s[b'flags'] for s in specs)
    if not has_keyspec and cmd.keys_proc is None and cmd.fullname not in KEY_FLAG_PROCS:
        return b'-ERR The command has no key arguments\r\n'
    if len(argv) < cmd.min_args or len(argv) > cmd.max_args:
        return b'-ERR Invalid number of arguments specified for command\r\n'
    keys = None
    if has_keyspec and not any('variable_flags' in s[b'flags'] for s in specs):
        keys = keys_from_specs(specs, argv)
    if keys is None:
        # The command's own key finder, as Redis falls back to getkeys_proc.
        proc = KEY_FLAG_PROCS.get(cmd.fullname)
        if proc is not None:
            keys = proc(argv)
        elif cmd.keys_proc is not None:
            found = cmd.keys_proc(argv)
            if found.__class__ is bytes:
                return found
            flags = tuple(specs[0][b'flags']) if specs else ()
            keys = [(i, flags) for i in found]
        elif has_keyspec:
            keys = keys_from_specs(specs, argv) or []
        else:
            keys = []
    if not keys and 'no_mandatory_keys' not in cmd.flags:
        return b'-ERR Invalid arguments specified for command\r\n'
    return keys


def keys_from_specs(specs, argv):
    """getKeysUsingKeySpecs: the keys every key spec finds, or None when a
    spec does not apply (Redis then asks the command's key finder)."""
    argc = len(argv)
    out = []
    for spec_ in specs:
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
KEY_FLAG_PROCS = {'set': _set_key_flags, 'bitfield': _bitfield_key_flags}


@command('command|getkeys')
def command_getkeys(c, argv):
    keys = get_keys(argv[2:])
    if keys.__class__ is bytes:
        return keys
    return resp.bulk_array([argv[2 + i] for i, _ in keys])


@command('command|getkeysandflags')
def command_getkeysandflags(c, argv):
    keys = get_keys(argv[2:])
    if keys.__class__ is bytes:
        return keys
    return resp.encode([[argv[2 + i], flags] for i, flags in keys], c.resp)


COMMAND_HELP = [
    '(no subcommand)',
    '    Return details about all Redis commands.',
    'COUNT',
    '    Return the total number of commands in this Redis server.',
    'LIST',
    '    Return a list of all commands in this Redis server.',
    'INFO [<command-name> ...]',
    '    Return details about multiple Redis commands.',
    '    If no command names are given, documentation details for all',
    '    commands are returned.',
    'DOCS [<command-name> ...]',
    '    Return documentation details about multiple Redis commands.',
    '    If no command names are given, documentation details for all',
    '    commands are returned.',
    'GETKEYS <full-command>',
    '    Return the keys from a full Redis command.',
    'GETKEYSANDFLAGS <full-command>',
    '    Return the keys and the access flags from a full Redis command.',
]


@command('command|help')
def command_help(c, argv):
    return help_reply('COMMAND', COMMAND_HELP)
