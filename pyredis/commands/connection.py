"""Connection commands: PING, ECHO, QUIT, SELECT, AUTH, HELLO, RESET, CLIENT."""

from . import command
from .. import resp
from ..resp import (OK, bulk, integer, error, help_reply, CommandError, DB_INDEX_ERR, SYNTAX_ERR,
                    NOT_INT_ERR)
from ..util import string2ll, c_string
from ..networking import REPLY_OFF, REPLY_SKIP, REPLY_SKIP_NEXT
from ..acl import WRONGPASS
from ..config import REDIS_VERSION


@command('ping')
def ping(c, argv):
    if len(argv) > 2:
        return b"-ERR wrong number of arguments for 'ping' command\r\n"
    if c.resp == 2 and (c.subscriptions or c.psubscriptions or c.ssubscriptions):
        msg = argv[1] if len(argv) == 2 else b''
        return b'*2\r\n$4\r\npong\r\n' + bulk(msg)
    if len(argv) == 1:
        return resp.PONG
    return bulk(argv[1])


@command('echo')
def echo(c, argv):
    return bulk(argv[1])


@command('quit')
def quit_(c, argv):
    if c.reply_mode & (REPLY_OFF | REPLY_SKIP):
        c.close_after_silent_reply()
        return None
    c.close_after_reply = True
    # Requests pipelined after QUIT are not run (Redis stops reading).
    c.closing = True
    return OK


def get_int(arg, msg=None):
    """getIntFromObjectOrReply: a C int, or CommandError with the error
    reply (``msg`` for both failures when given, as Redis does)."""
    n = string2ll(arg)
    if n is None:
        raise CommandError(error(msg) if msg else NOT_INT_ERR)
    if n > 0x7fffffff or n < -0x80000000:
        raise CommandError(error(msg) if msg else INT_RANGE_ERR)
    return n


INT_RANGE_ERR = b'-ERR value is out of range, value must between -2147483648 and 2147483647\r\n'


@command('select')
def select(c, argv):
    idx = get_int(argv[1])
    if idx != 0 and c.server.config.cluster_enabled:
        return b'-ERR SELECT is not allowed in cluster mode\r\n'
    if idx < 0 or idx >= len(c.server.dbs):
        return DB_INDEX_ERR
    c.db = c.server.dbs[idx]
    return OK


@command('auth')
def auth(c, argv):
    if len(argv) > 3:
        return SYNTAX_ERR
    acl = c.server.acl
    if len(argv) == 2:
        if acl.default.nopass:
            return (b'-ERR AUTH <password> called without any password configured for '
                    b'the default user. Are you sure your configuration is correct?\r\n')
        user, password = b'default', argv[1]
    else:
        user, password = argv[1], argv[2]
    if acl.authenticate(c, user, password, argv):
        return OK
    return WRONGPASS


@command('hello')
def hello(c, argv):
    ver = 0
    i = 1
    if len(argv) >= 2:
        ver = string2ll(argv[1])
        if ver is None:
            return b'-ERR Protocol version is not an integer or out of range\r\n'
        i = 2
        if ver < 2 or ver > 3:
            return b'-NOPROTO unsupported protocol version\r\n'
    # Options act in order, as in Redis 7.0: AUTH authenticates on the spot
    # and SETNAME names the client on the spot, each staying done whatever
    # follows (a wrong password, a bad option, a client not authenticated).
    while i < len(argv):
        opt = argv[i].lower()
        more = len(argv) - i - 1
        if opt == b'auth' and more >= 2:
            if not c.server.acl.authenticate(c, argv[i + 1], argv[i + 2], argv):
                return WRONGPASS
            i += 3
        elif opt == b'setname' and more >= 1:
            if not valid_client_name(argv[i + 1]):
                return (b'-ERR Client names cannot contain spaces, newlines or special '
                        b'characters.\r\n')
            c.name = argv[i + 1]
            i += 2
        else:
            return error(b"ERR Syntax error in HELLO option '%s'" % c_string(argv[i]))
    if not c.authenticated:
        return (b'-NOAUTH HELLO must be called with the client already authenticated, '
                b'otherwise the HELLO AUTH <user> <pass> option can be used to '
                b'authenticate the client and select the RESP protocol version at the '
                b'same time\r\n')
    if ver:
        c.resp = ver
    c.update_gate()
    server = c.server
    return resp.encode({
        b'server': b'redis',
        b'version': REDIS_VERSION.encode(),
        b'proto': c.resp,
        b'id': c.id,
        b'mode': b'cluster' if server.config.cluster_enabled else b'standalone',
        b'role': b'replica' if server.masterhost else b'master',
        b'modules': [],
    }, c.resp)


@command('reset')
def reset(c, argv):
    server = c.server
    for hook in server.reset_hooks:
        hook(c)
    c.multi = None
    c.dirty_exec = False
    c.dirty_cas = False
    c.db = server.dbs[0]
    c.resp = 2
    c.name = b''
    c.reply_mode = 0
    # CLIENT NO-EVICT survives RESET in Redis 7.0 (clearClientConnectionState).
    c.user = server.acl.default
    c.authenticated = not server.requires_auth()
    c.update_gate()
    return b'+RESET\r\n'


def valid_client_name(name):
    return all(33 <= b <= 126 for b in name)


# -- CLIENT ----------------------------------------------------------------

CLIENT_HELP = [
    'CACHING (YES|NO)',
    '    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.',
    'GETREDIR',
    '    Return the client ID we are redirecting to when tracking is enabled.',
    'GETNAME',
    '    Return the name of the current connection.',
    'ID',
    '    Return the ID of the current connection.',
    'INFO',
    '    Return information about the current client connection.',
    'KILL <ip:port>',
    '    Kill connection made from <ip:port>.',
    'KILL <option> <value> [<option> <value> [...]]',
    '    Kill connections. Options are:',
    '    * ADDR (<ip:port>|<unixsocket>:0)',
    '      Kill connections made from the specified address',
    '    * LADDR (<ip:port>|<unixsocket>:0)',
    '      Kill connections made to specified local address',
    '    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)',
    '      Kill connections by type.',
    '    * USER <username>',
    '      Kill connections authenticated by <username>.',
    '    * SKIPME (YES|NO)',
    '      Skip killing current connection (default: yes).',
    'LIST [options ...]',
    '    Return information about client connections. Options:',
    '    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)',
    '      Return clients of specified type.',
    'UNPAUSE',
    '    Stop the current client pause, resuming traffic.',
    'PAUSE <timeout> [WRITE|ALL]',
    '    Suspend all, or just write, clients for <timeout> milliseconds.',
    'REPLY (ON|OFF|SKIP)',
    '    Control the replies sent to the current connection.',
    'SETNAME <name>',
    '    Assign the name <name> to the current connection.',
    'UNBLOCK <clientid> [TIMEOUT|ERROR]',
    '    Unblock the specified blocked client.',
    'TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]',
    '         [OPTIN] [OPTOUT] [NOLOOP]',
    '    Control server assisted client side caching.',
    'TRACKINGINFO',
    '    Report tracking status for the current connection.',
    'NO-EVICT (ON|OFF)',
    '    Protect current client connection from eviction.',
]


@command('client|help')
def client_help(c, argv):
    return help_reply('CLIENT', CLIENT_HELP)


@command('client|id')
def client_id(c, argv):
    return integer(c.id)


@command('client|setname')
def client_setname(c, argv):
    name = argv[2]
    if not valid_client_name(name):
        return b'-ERR Client names cannot contain spaces, newlines or special characters.\r\n'
    c.name = name
    return OK


@command('client|getname')
def client_getname(c, argv):
    return bulk(c.name) if c.name else resp.null(c.resp)


def client_type(c):
    if c.is_master:
        return b'master'
    if c.is_replica:
        return b'replica'
    if c.subscriptions or c.psubscriptions or c.ssubscriptions:
        return b'pubsub'
    return b'normal'


TYPE_NAMES = {b'normal': b'normal', b'master': b'master', b'replica': b'replica',
              b'slave': b'replica', b'pubsub': b'pubsub'}


def _current(c, sub):
    # Redis sets a client's last command before running it, so the caller
    # sees itself as cmd=client|list (or client|info).
    from . import TABLE
    c.last_cmd = TABLE[b'client'].subcommands[sub]


@command('client|list')
def client_list(c, argv):
    _current(c, b'list')
    clients = list(c.server.clients.values())
    if len(argv) == 4 and argv[2].lower() == b'type':
        t = TYPE_NAMES.get(argv[3].lower())
        if t is None:
            return error(b"ERR Unknown client type '%s'" % argv[3])
        clients = [x for x in clients if client_type(x) == t]
    elif len(argv) >= 4 and argv[2].lower() == b'id':
        ids = []
        for a in argv[3:]:
            n = string2ll(a)
            if n is None:
                return b'-ERR Invalid client ID\r\n'
            ids.append(n)
        clients = [c.server.clients[i] for i in ids if i in c.server.clients]
    elif len(argv) != 2:
        return SYNTAX_ERR
    text = b''.join(x.describe(argv if x is c else None) + b'\n' for x in clients)
    return resp.encode(resp.Verbatim(text), c.resp)


@command('client|info')
def client_info(c, argv):
    _current(c, b'info')
    return resp.encode(resp.Verbatim(c.describe(argv) + b'\n'), c.resp)


@command('client|kill')
def client_kill(c, argv):
    server = c.server
    if len(argv) == 3:
        # Old form: CLIENT KILL addr:port
        for x in list(server.clients.values()):
            if x.addr == argv[2]:
                kill_client(c, x)
                return OK
        return b'-ERR No such client\r\n'
    if len(argv) % 2:
        return SYNTAX_ERR
    filters = {}
    skipme = True
    for i in range(2, len(argv), 2):
        opt, val = argv[i].lower(), argv[i + 1]
        if opt == b'id':
            n = string2ll(val)
            if n is None or n <= 0:
                return b'-ERR client-id should be greater than 0\r\n'
            filters['id'] = n
        elif opt == b'type':
            t = TYPE_NAMES.get(val.lower())
            if t is None:
                return error(b"ERR Unknown client type '%s'" % val)
            filters['type'] = t
        elif opt == b'addr':
            filters['addr'] = val
        elif opt == b'laddr':
            filters['laddr'] = val
        elif opt == b'user':
            u = server.acl.get(val)
            if u is None:
                return error(b"ERR No such user '%s'" % val)
            filters['user'] = u
        elif opt == b'skipme':
            v = val.lower()
            if v == b'yes':
                skipme = True
            elif v == b'no':
                skipme = False
            else:
                return SYNTAX_ERR
        else:
            return SYNTAX_ERR
    killed = 0
    for x in list(server.clients.values()):
        if 'id' in filters and x.id != filters['id']:
            continue
        if 'type' in filters and client_type(x) != filters['type']:
            continue
        if 'addr' in filters and x.addr != filters['addr']:
            continue
        if 'laddr' in filters and x.laddr != filters['laddr']:
            continue
        if 'user' in filters and x.user is not filters['user']:
            continue
        if x is c and skipme:
            continue
        kill_client(c, x)
        killed += 1
    return integer(killed)


def kill_client(me, target):
    if target is me:
        # Killing ourselves: reply first, then close; nothing after runs.
        me.close_after_reply = True
        me.closing = True
    else:
        target.close()


@command('client|reply')
def client_reply(c, argv):
    mode = argv[2].lower()
    c.gated = True      # the reply filter lives on the slow path
    if mode == b'on':
        c.reply_mode = 0
        return OK
    if mode == b'off':
        c.reply_mode = REPLY_OFF
        return None
    if mode == b'skip':
        if not c.reply_mode & REPLY_OFF:
            c.reply_mode |= REPLY_SKIP_NEXT
        return None
    return SYNTAX_ERR


@command('client|no-evict')
def client_no_evict(c, argv):
    v = argv[2].lower()
    if v == b'on':
        c.no_evict = True
    elif v == b'off':
        c.no_evict = False
    else:
        return SYNTAX_ERR
    return OK
