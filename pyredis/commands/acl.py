"""ACL commands (acl.c's aclCommand): SETUSER, GETUSER, DELUSER, LIST,
USERS, WHOAMI, CAT, GENPASS, LOG, DRYRUN, LOAD, SAVE, HELP.

The users, their rules and the permission check live in pyredis.acl; this
module parses the subcommands and replies as Redis 7.0 does. ``attach``
gives the server its ACL start-up (the 'user' lines of redis.conf or the
aclfile, never both) and connects the checks other subsystems ask for:
scripts' redis.call, EXEC, SORT BY/GET, requirepass.
"""

import os

from . import command, lookup
from .. import acl as acl_mod
from .. import log
from ..acl import SetUserError
from ..resp import OK, bulk, integer, error, help_reply, encode, double, NOT_INT_ERR, ARITY_ERR, subcommand_syntax_error
from ..util import string2ll
from .. import clock


@command('acl|setuser')
def acl_setuser(c, argv):
    acl = c.server.acl
    name = argv[2]
    if acl_mod.has_spaces(name):
        return b"-ERR Usernames can't contain spaces or null characters\r\n"
    rules, bad = acl_mod.merge_selector_args(argv[3:])
    if rules is None:
        return error(b"ERR Unmatched parenthesis in acl selector starting at '%s'." %
                     argv[3 + bad])
    # Staged on a copy: all the rules apply, or none.
    u = acl.get(name)
    temp = acl.new_user(name)
    if u is not None:
        temp.copy_from(u)
    for op in rules:
        try:
            temp.apply(op, acl.pubsub_all)
        except SetUserError as e:
            return error(b"ERR Error in ACL SETUSER modifier '%s': %s" % (
                acl_mod._c_str(op), e.args[0].encode()))
    if u is not None:
        acl.kill_pubsub_clients(temp, u)
    else:
        u = acl.users[name] = acl.new_user(name)
    u.copy_from(temp)
    acl.changed()
    return OK


@command('acl|deluser')
def acl_deluser(c, argv):
    acl = c.server.acl
    if any(name == b'default' for name in argv[2:]):
        return b"-ERR The 'default' user cannot be removed\r\n"
    deleted = 0
    for name in argv[2:]:
        u = acl.users.pop(name, None)
        if u is not None:
            acl.kill_clients_of(u, c)
            deleted += 1
    acl.changed()
    return integer(deleted)


@command('acl|getuser')
def acl_getuser(c, argv):
    u = c.server.acl.get(argv[2])
    if u is None:
        return b'_\r\n' if c.resp == 3 else b'$-1\r\n'
    root = u.selectors[0]
    reply = {b'flags': tuple(f for f in acl_mod.USER_FLAGS if f in u.flags),
             b'passwords': list(u.passwords)}
    reply.update(root.description_map())
    reply[b'selectors'] = [s.description_map() for s in u.selectors[1:]]
    return encode(reply, c.resp)


@command('acl|list')
def acl_list(c, argv):
    return encode([b'user %s %s' % (u.name, u.describe())
                   for u in c.server.acl.sorted_users()], c.resp)


@command('acl|users')
def acl_users(c, argv):
    return encode([u.name for u in c.server.acl.sorted_users()], c.resp)


@command('acl|whoami')
def acl_whoami(c, argv):
    return bulk(c.user.name)


NO_ACLFILE = (b'-ERR This Redis instance is not configured to use an ACL file. You may want '
              b'to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE '
              b'(assuming you have a Redis configuration file set) in order to store users '
              b'in the Redis configuration.\r\n')


def _aclfile(c):
    f = c.server.config.aclfile
    return c.server.config.resolve(f) if f else None


@command('acl|load')
def acl_load(c, argv):
    path = _aclfile(c)
    if path is None:
        return NO_ACLFILE
    errors = c.server.acl.load_file(path, current=c)
    if errors is not None:
        return error(b'ERR ' + errors.encode('utf-8', 'surrogateescape'))
    return OK


@command('acl|save')
def acl_save(c, argv):
    path = _aclfile(c)
    if path is None:
        return NO_ACLFILE
    if c.server.acl.save_file(path):
        return OK
    return (b'-ERR There was an error trying to save the ACLs. Please check the server logs '
            b'for more information\r\n')


@command('acl|cat')
def acl_cat(c, argv):
    if len(argv) == 2:
        return encode([name.encode() for name in acl_mod.CATEGORIES], c.resp)
    if len(argv) != 3:
        return subcommand_syntax_error(argv)
    names = acl_mod.category_commands(argv[2])
    if names is None:
        return error(b"ERR Unknown category '%s'" % acl_mod._c_str(argv[2])[:128])
    return encode(names, c.resp)


GENPASS_MAX_BITS = 4096


@command('acl|genpass')
def acl_genpass(c, argv):
    if len(argv) > 3:
        return subcommand_syntax_error(argv)
    bits = 256
    if len(argv) == 3:
        bits = string2ll(argv[2])
        if bits is None:
            return NOT_INT_ERR
    if bits <= 0 or bits > GENPASS_MAX_BITS:
        return (b'-ERR ACL GENPASS argument must be the number of bits for the output '
                b'password, a positive number up to %d\r\n' % GENPASS_MAX_BITS)
    chars = (bits + 3) // 4
    return bulk(os.urandom((chars + 1) // 2).hex()[:chars].encode())


@command('acl|log')
def acl_log(c, argv):
    if len(argv) > 3:
        return subcommand_syntax_error(argv)
    acl = c.server.acl
    count = 10
    if len(argv) == 3:
        if argv[2].lower() == b'reset':
            acl.log = []
            return OK
        count = string2ll(argv[2])
        if count is None:
            return NOT_INT_ERR
        count = max(count, 0)
    now = int(clock.time() * 1000)
    out = []
    for e in acl.log[:count]:
        out.append(b''.join((
            b'%' if c.resp == 3 else b'*', b'%d\r\n' % (7 if c.resp == 3 else 14),
            bulk(b'count'), integer(e.count),
            bulk(b'reason'), bulk(acl_mod.REASON_NAMES[e.reason]),
            bulk(b'context'), bulk(e.context),
            bulk(b'object'), bulk(e.object),
            bulk(b'username'), bulk(e.username),
            bulk(b'age-seconds'), double((now - e.ctime) / 1000, c.resp),
            bulk(b'client-info'), bulk(e.cinfo))))
    return b'*%d\r\n' % len(out) + b''.join(out)


@command('acl|dryrun')
def acl_dryrun(c, argv):
    u = c.server.acl.get(argv[2])
    if u is None:
        return error(b"ERR User '%s' not found" % acl_mod._c_str(argv[2]))
    args = argv[3:]
    cmd = lookup(args[0])
    if cmd is not None and cmd.subcommands is not None and len(args) >= 2:
        cmd = cmd.subcommands.get(args[1].lower())
    if cmd is None or not cmd.implemented():
        return error(b"ERR Command '%s' not found" % acl_mod._c_str(args[0]))
    if len(args) < cmd.min_args or len(args) > cmd.max_args:
        return ARITY_ERR % cmd.fullname.encode()
    res, idx = u.check(cmd, args)
    if res == acl_mod.OK:
        return OK
    if res == acl_mod.DENIED_CMD:
        return bulk(b"This user has no permissions to run the '%s' command" %
                    cmd.fullname.encode())
    what = b'key' if res == acl_mod.DENIED_KEY else b'channel'
    return bulk(b"This user has no permissions to access the '%s' %s" % (
        acl_mod._c_str(args[idx]), what))


ACL_HELP = [
    'CAT [<category>]',
    '    List all commands that belong to <category>, or all command categories',
    '    when no category is specified.',
    'DELUSER <username> [<username> ...]',
    '    Delete a list of users.',
    'DRYRUN <username> <command> [<arg> ...]',
    '    Returns whether the user can execute the given command without executing the command.',
    'GETUSER <username>',
    "    Get the user's details.",
    'GENPASS [<bits>]',
    '    Generate a secure 256-bit user password. The optional `bits` argument can',
    '    be used to specify a different size.',
    'LIST',
    '    Show users details in config file format.',
    'LOAD',
    '    Reload users from the ACL file.',
    'LOG [<count> | RESET]',
    '    Show the ACL log entries.',
    'SAVE',
    '    Save the current config to the ACL file.',
    'SETUSER <username> <attribute> [<attribute> ...]',
    '    Create or modify a user with the specified attributes.',
    'USERS',
    '    List all the registered usernames.',
    'WHOAMI',
    '    Return the current connection username.',
]


@command('acl|help')
def acl_help(c, argv):
    return help_reply('ACL', ACL_HELP)


# -- attaching ------------------------------------------------------------------------

def attach(server):
    """The ACL start-up (ACLLoadUsersAtStartup) and the checks other
    subsystems ask for."""
    acl = server.acl
    config = server.config
    if config.aclfile and config.users:
        log.warning('Configuring Redis with users defined in redis.conf and at the same '
                    'setting an ACL file path is invalid. This setup is very likely to lead '
                    'to configuration errors and security holes, please define either an ACL '
                    'file or declare users directly in your redis.conf, but not both.')
        raise SystemExit(1)
    err = acl.load_configured(config.users)
    if err is not None:
        log.warning(err)
        log.warning('Critical error while loading ACLs. Exiting.')
        raise SystemExit(1)
    if config.aclfile:
        errors = acl.load_file(config.resolve(config.aclfile))
        if errors is not None:
            log.warning('Aborting Redis startup because of ACL errors: %s' % errors)
            raise SystemExit(1)
    server.on_config_set('requirepass',
                         lambda s: s.acl.set_default_password(s.config.requirepass))
    if server.scripting is not None:
        server.scripting.acl_check = acl.check_script
