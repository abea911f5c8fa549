"""EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT (eval.c).

The engine (the Lua state, the sandbox, the conversions, redis.call) is
pyredis/scripting; this module is the commands: the script cache keyed by
the body's SHA1 (EVAL caches what it compiles, as Redis), the shebang
flags of 7.0 (``#!lua flags=no-writes,allow-oom``), and SCRIPT's
subcommands. Scripts are not persisted and their bodies never reach the
AOF or the replicas: only their effects do (see scripting/host.py).
"""

from . import command, lookup
from ..networking import REPLY_OFF, REPLY_SKIP, Client
from ..resp import NOT_INT_ERR, OK, CommandError, bulk, error, help_reply
from ..util import split_args, string2ll
from ..scripting.busy import Busy
from ..scripting.engine import EVAL_COMPAT_MODE, FLAG_BY_NAME, sha1hex
from ..scripting.host import ScriptError, ScriptHost

try:
    from .._scripting import EvalSha
except ImportError:     # without the C extension
    EvalSha = None

NOSCRIPT_ERR = b'-NOSCRIPT No matching script. Please use EVAL.\r\n'
NOTBUSY_ERR = b'-NOTBUSY No scripts in execution right now.\r\n'
UNKILLABLE_WRITTEN = (b'-UNKILLABLE Sorry the script already executed write commands against '
                      b'the dataset. You can either wait the script termination or kill the '
                      b'server in a hard way using the SHUTDOWN NOSAVE command.\r\n')
UNKILLABLE_MASTER = (b'-UNKILLABLE The busy script was sent by a master instance in the context '
                     b'of replication and cannot be killed.\r\n')
BUSY_EVAL = (b'-BUSY Redis is busy running a script. You can only call SCRIPT KILL or '
             b'SHUTDOWN NOSAVE.\r\n')
BUSY_FUNCTION = (b'-BUSY Redis is busy running a script. You can only call FUNCTION KILL or '
                 b'SHUTDOWN NOSAVE.\r\n')


class Script:
    __slots__ = ('body', 'func', 'flags', 'compat', 'ref')

    def __init__(self, body, func, flags, ref):
        self.body = body
        self.func = func
        self.flags = flags
        # The function's number in its state (LuaState.keep): how the C run
        # finds it.
        self.ref = ref
        # No shebang: nothing about the script itself is checked before a
        # run (run_script's plain case).
        self.compat = bool(flags & EVAL_COMPAT_MODE)


def extract_shebang_flags(body, is_function=False):
    """evalExtractShebangFlags: (flags, shebang length) or CommandError."""
    if not body.startswith(b'#!'):
        return EVAL_COMPAT_MODE, 0
    end = body.find(b'\n')
    if end < 0:
        raise CommandError(error(b'ERR Invalid script shebang'))
    parts = split_args(body[:end])
    if not parts:
        raise CommandError(error(b'ERR Invalid engine in script shebang'))
    if parts[0] != b'#!lua':
        raise CommandError(error(b'ERR Unexpected engine in script shebang: ' + parts[0]))
    flags = 0
    for part in parts[1:]:
        if part.startswith(b'flags='):
            spec = part[6:]
            for name in spec.split(b',') if spec else ():
                flag = FLAG_BY_NAME.get(name)
                if flag is None:
                    raise CommandError(error(b'ERR Unexpected flag in script shebang: ' + name))
                flags |= flag
        else:
            raise CommandError(error(b'ERR Unknown lua shebang option: ' + part))
    return flags, end


def create_script(host, body, sha=None):
    """luaCreateFunction: compile a body into the cache (or find it there)."""
    if sha is None:
        sha = sha1hex(body)
    script = host.scripts.get(sha)
    if script is not None:
        return sha, script
    flags, skip = extract_shebang_flags(body)
    state = host.eval_lua()
    func, err = state.compile(body[skip:] if skip else body)
    if func is None:
        raise CommandError(error(b'ERR Error compiling script (new function): ' + err))
    script = host.scripts[sha] = Script(body, func, flags, state.keep(func))
    host.scripts_memory += len(body)
    return sha, script


def _eval(c, argv, evalsha, ro):
    numkeys = get_int_ll(argv[2])
    nargs = len(argv) - 3
    if numkeys > nargs:
        return b"-ERR Number of keys can't be greater than number of args\r\n"
    if numkeys < 0:
        return b"-ERR Number of keys can't be negative\r\n"
    host = c.server.scripting
    if evalsha:
        sha = argv[1].lower()
        script = host.scripts.get(sha)
        if script is None:
            return NOSCRIPT_ERR
    else:
        sha, script = create_script(host, argv[1])
    return run_script(c, host, script, sha, argv, numkeys, ro)


def run_script(c, host, script, sha, argv, numkeys, ro):
    """Run an EVAL script for its command: the reply. The plain case - no
    shebang, not *_RO, no maxmemory, not a replica, not a cluster node:
    nothing to check before the run - is run_plain's (C) when there is one."""
    server = c.server
    state = host.eval_state or host.eval_lua()
    if (script.compat and not ro and host.run_plain is not None and state.binding is not None
            and not server.config.maxmemory and not server.masterhost
            and server.cluster is None):
        return host.run_plain(c, host.client or host.script_client(), state, script.ref, sha,
                              argv, numkeys, finish_run)
    try:
        reply, counted = host.run(c, state, script.func, sha, argv, numkeys, script.flags, ro,
                                  True)
    except ScriptError as e:
        return e.reply
    return reply_uncounted(c, argv, reply) if counted else reply


def finish_run(c, argv, res, funcname):
    """run_plain's reply for a result that is not a string or a number."""
    reply, counted = c.server.scripting.result_reply(res, funcname)
    return reply_uncounted(c, argv, reply) if counted else reply


def reply_uncounted(c, argv, reply):
    """An error reply whose error was already counted (inside the script):
    sent without call() counting it again in the error statistics
    (ERR_REPLY_FLAG_NO_STATS_UPDATE); the command still counts as failed."""
    if not c.reply_mode & (REPLY_OFF | REPLY_SKIP):
        c.out.append(reply)
    cmd = lookup(argv[0])
    if cmd is not None:
        cmd.failed_calls += 1
    return None


# The usual numkeys, without string2ll's work.
SMALL_INTS = {b'%d' % i: i for i in range(16)}


def get_int_ll(arg):
    n = SMALL_INTS.get(arg)
    if n is not None:
        return n
    n = string2ll(arg)
    if n is None:
        raise CommandError(NOT_INT_ERR)
    return n


@command('eval')
def eval_(c, argv):
    return _eval(c, argv, False, False)


def evalsha(c, argv):
    """EVALSHA: _eval's, spelled out for the common script call (the
    reference for evalsha_handler)."""
    numkeys = SMALL_INTS.get(argv[2])
    if numkeys is None:
        return _eval(c, argv, True, False)
    if numkeys > len(argv) - 3:
        return b"-ERR Number of keys can't be greater than number of args\r\n"
    host = c.server.scripting
    sha = argv[1].lower()
    script = host.scripts.get(sha)
    if script is None:
        return NOSCRIPT_ERR
    server = c.server
    state = host.eval_state or host.eval_lua()
    if (script.compat and host.run_plain is not None and state.binding is not None
            and not server.config.maxmemory and not server.masterhost
            and server.cluster is None):
        # (run_script's plain case, one call less)
        return host.run_plain(c, host.client or host.script_client(), state, script.ref, sha,
                              argv, numkeys, finish_run)
    return run_script(c, host, script, sha, argv, numkeys, False)


# EVALSHA's handler: its common case in C when the extension is there
# (_scripting.EvalSha: the request read without a Python frame, the plain
# run started from C), evalsha for everything else.
if EvalSha is not None:
    evalsha_handler = EvalSha(evalsha, finish_run, Script, ScriptHost, Client)
    evalsha_handler.__module__ = __name__
else:
    evalsha_handler = evalsha
command('evalsha')(evalsha_handler)


@command('eval_ro')
def eval_ro(c, argv):
    return _eval(c, argv, False, True)


@command('evalsha_ro')
def evalsha_ro(c, argv):
    return _eval(c, argv, True, True)


@command('script|load')
def script_load(c, argv):
    sha, _ = create_script(c.server.scripting, argv[2])
    return bulk(sha)


@command('script|exists')
def script_exists(c, argv):
    scripts = c.server.scripting.scripts
    return b'*%d\r\n' % (len(argv) - 2) + b''.join(
        b':1\r\n' if a.lower() in scripts else b':0\r\n' for a in argv[2:])


@command('script|flush')
def script_flush(c, argv):
    if len(argv) > 3 or (len(argv) == 3 and argv[2].lower() not in (b'sync', b'async')):
        return b'-ERR SCRIPT FLUSH only support SYNC|ASYNC option\r\n'
    c.server.scripting.flush_scripts()
    return OK


def kill_script(c, is_eval):
    """scriptKill."""
    ctx = c.server.scripting.ctx
    if ctx is None:
        return NOTBUSY_ERR
    if ctx.caller.is_master:
        return UNKILLABLE_MASTER
    if ctx.write_dirty:
        return UNKILLABLE_WRITTEN
    if is_eval and not ctx.eval_mode:
        return BUSY_FUNCTION
    if not is_eval and ctx.eval_mode:
        return BUSY_EVAL
    ctx.killed = True
    return OK


@command('script|kill')
def script_kill(c, argv):
    return kill_script(c, True)


@command('script|debug')
def script_debug(c, argv):
    mode = argv[2].lower()
    if mode == b'no':
        return OK
    if mode in (b'yes', b'sync'):
        return b'-ERR SCRIPT DEBUG is not supported by this server\r\n'
    return b'-ERR Use SCRIPT DEBUG YES/SYNC/NO\r\n'


@command('script|help')
def script_help(c, argv):
    return help_reply('SCRIPT', [
        'DEBUG (YES|SYNC|NO)',
        '    Set the debug mode for subsequent scripts executed.',
        'EXISTS <sha1> [<sha1> ...]',
        '    Return information about the existence of the scripts in the script cache.',
        'FLUSH [ASYNC|SYNC]',
        '    Flush the Lua scripts cache. Very dangerous on replicas.',
        '    When called without the optional mode argument, the behavior is determined by '
        'the',
        '    lazyfree-lazy-user-flush configuration directive. Valid modes are:',
        '    * ASYNC: Asynchronously flush the scripts cache.',
        '    * SYNC: Synchronously flush the scripts cache.',
        'KILL',
        '    Kill the currently executing Lua script.',
        'LOAD <script>',
        '    Load a script into the scripts cache without executing it.',
    ])


def attach(server):
    server.scripting = ScriptHost(server)
    server.scripting.busy = Busy(server)
