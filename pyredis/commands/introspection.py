"""COMMAND and its subcommands (server.c): COUNT, LIST, INFO, DOCS, GETKEYS,
GETKEYSANDFLAGS, HELP.

Everything they report comes from the command table, whose facts are Redis
7.0's own (pyredis/facts.py); key positions are found with the key specs,
as Redis 7.0 does.
"""

from . import command, all_commands, command_keys, lookup, KEY_FLAG_PROCS, TABLE
from .. import facts
from .. import resp
from ..resp import integer, help_reply, SYNTAX_ERR
from ..util import glob_match


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
            # (A module's commands say whose they are in their docs.)
            names = [n for n in names if (_find(n).docs or {}).get(b'module') == val]
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
    keys = command_keys(cmd, argv)
    if keys.__class__ is bytes:
        return keys
    if not keys and 'no_mandatory_keys' not in cmd.flags:
        return b'-ERR Invalid arguments specified for command\r\n'
    return keys




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
