"""FUNCTION and FCALL/FCALL_RO (functions.c).

The libraries live in pyredis/scripting/functions.py; a function runs
through the same ScriptHost.run as EVAL scripts (its flags are always
declared: a function without ``no-writes`` may write, and FCALL_RO refuses
it). FUNCTION LOAD/DELETE/FLUSH/RESTORE change ``dirty``, so call()
propagates them to the AOF and the replicas as typed.
"""

from . import command
from .scripting import kill_script, reply_uncounted
from ..resp import OK, bulk, error, help_reply, null, map_header, set_header
from ..scripting.functions import FunctionError
from ..scripting.busy import BUSY_EVAL
from ..scripting.engine import FLAG_NAMES
from ..scripting.host import ScriptError
from ..util import glob_match, string2ll



def _fcall(c, argv, ro):
    host = c.server.scripting
    fn = host.functions.functions.get(argv[1].lower())
    if fn is None:
        return b'-ERR Function not found\r\n'
    numkeys = string2ll(argv[2])
    if numkeys is None:
        return b'-ERR Bad number of keys provided\r\n'
    if numkeys > len(argv) - 3:
        return b"-ERR Number of keys can't be greater than number of args\r\n"
    if numkeys < 0:
        return b"-ERR Number of keys can't be negative\r\n"
    try:
        reply, counted = host.run(c, host.functions.lua(), fn.func, fn.name, argv, numkeys,
                                  fn.flags, ro, False)
    except ScriptError as e:
        return e.reply
    return reply_uncounted(c, argv, reply) if counted else reply


@command('fcall')
def fcall(c, argv):
    return _fcall(c, argv, False)


@command('fcall_ro')
def fcall_ro(c, argv):
    return _fcall(c, argv, True)


def _fail(e):
    return error(b'ERR ' + e.msg)


@command('function|load')
def function_load(c, argv):
    replace = False
    if len(argv) == 4:
        if argv[2].lower() != b'replace':
            return b'-ERR Unknown option given: %s\r\n' % argv[2]
        replace = True
    elif len(argv) > 4:
        return b'-ERR Unknown option given: %s\r\n' % argv[2]
    try:
        name = c.server.scripting.functions.create(argv[-1], replace)
    except FunctionError as e:
        return _fail(e)
    c.server.dirty += 1
    return bulk(name)


@command('function|delete')
def function_delete(c, argv):
    if not c.server.scripting.functions.delete(argv[2]):
        return b'-ERR Library not found\r\n'
    c.server.dirty += 1
    return OK


@command('function|flush')
def function_flush(c, argv):
    if len(argv) > 3 or (len(argv) == 3 and argv[2].lower() not in (b'sync', b'async')):
        return b'-ERR FUNCTION FLUSH only supports SYNC|ASYNC option\r\n'
    c.server.scripting.functions.flush()
    c.server.dirty += 1
    return OK


@command('function|kill')
def function_kill(c, argv):
    return kill_script(c, False)


@command('function|dump')
def function_dump(c, argv):
    return bulk(c.server.scripting.functions.dump())


@command('function|restore')
def function_restore(c, argv):
    policy = b'append'
    if len(argv) > 3:
        policy = argv[3].lower()
        if len(argv) > 4 or policy not in (b'flush', b'append', b'replace'):
            return (b'-ERR Wrong restore policy given, value should be either FLUSH, APPEND or '
                    b'REPLACE.\r\n')
    try:
        c.server.scripting.functions.restore(argv[2], policy)
    except FunctionError as e:
        if e.msg == b'payload version or checksum are wrong':
            return b'-ERR DUMP payload version or checksum are wrong\r\n'
        return _fail(e)
    c.server.dirty += 1
    return OK


@command('function|list')
def function_list(c, argv):
    pattern = None
    withcode = False
    i = 2
    while i < len(argv):
        arg = argv[i].lower()
        if arg == b'withcode' and not withcode:
            withcode = True
        elif arg == b'libraryname' and pattern is None:
            if i + 1 >= len(argv):
                return b'-ERR library name argument was not given\r\n'
            pattern = argv[i + 1]
            i += 1
        else:
            return b'-ERR Unknown argument %s\r\n' % argv[i]
        i += 1
    r = c.resp
    libs = [lib for lib in c.server.scripting.functions.libraries.values()
            if pattern is None or glob_match(pattern, lib.name)]
    out = [b'*%d\r\n' % len(libs)]
    for lib in libs:
        out.append(map_header(4 if withcode else 3, r))
        out.append(bulk(b'library_name') + bulk(lib.name))
        out.append(bulk(b'engine') + bulk(b'LUA'))
        out.append(bulk(b'functions') + b'*%d\r\n' % len(lib.functions))
        for fn in lib.functions.values():
            out.append(map_header(3, r))
            out.append(bulk(b'name') + bulk(fn.name))
            out.append(bulk(b'description') +
                       (bulk(fn.description) if fn.description is not None else null(r)))
            flags = [name for bit, name in FLAG_NAMES if fn.flags & bit]
            out.append(bulk(b'flags') + set_header(len(flags), r) +
                       b''.join(b'+%s\r\n' % f for f in flags))
        if withcode:
            out.append(bulk(b'library_code') + bulk(lib.code))
    return b''.join(out)


@command('function|stats')
def function_stats(c, argv):
    r = c.resp
    host = c.server.scripting
    ctx = host.ctx
    if ctx is not None and ctx.eval_mode:
        return BUSY_EVAL
    out = [map_header(2, r), bulk(b'running_script')]
    if ctx is None or ctx.eval_mode:
        out.append(null(r))
    else:
        import time
        out.append(map_header(3, r))
        out.append(bulk(b'name') + bulk(ctx.funcname))
        args = ctx.argv or []
        out.append(bulk(b'command') + b'*%d\r\n' % len(args) + b''.join(bulk(a) for a in args))
        out.append(bulk(b'duration_ms') + b':%d\r\n' % int((time.monotonic() - ctx.start) * 1000))
    fns = host.functions
    out.append(bulk(b'engines') + map_header(1, r) + bulk(b'LUA') + map_header(2, r))
    out.append(bulk(b'libraries_count') + b':%d\r\n' % len(fns.libraries))
    out.append(bulk(b'functions_count') + b':%d\r\n' % len(fns.functions))
    return b''.join(out)


@command('function|help')
def function_help(c, argv):
    return help_reply('FUNCTION', [
        'LOAD [REPLACE] <FUNCTION CODE>',
        '    Create a new library with the given library name and code.',
        'DELETE <LIBRARY NAME>',
        '    Delete the given library.',
        'LIST [LIBRARYNAME PATTERN] [WITHCODE]',
        '    Return general information on all the libraries:',
        '    * Library name',
        '    * The engine used to run the Library',
        '    * Library description',
        '    * Functions list',
        '    * Library code (if WITHCODE is given)',
        '    It also possible to get only function that matches a pattern using LIBRARYNAME '
        'argument.',
        'STATS',
        '    Return information about the current function running:',
        '    * Function name',
        '    * Command used to run the function',
        '    * Duration in MS that the function is running',
        '    If no function is running, return nil',
        '    In addition, returns a list of available engines.',
        'KILL',
        '    Kill the current running function.',
        'FLUSH [ASYNC|SYNC]',
        '    Delete all the libraries.',
        '    When called without the optional mode argument, the behavior is determined by '
        'the',
        '    lazyfree-lazy-user-flush configuration directive. Valid modes are:',
        '    * ASYNC: Asynchronously flush the libraries.',
        '    * SYNC: Synchronously flush the libraries.',
        'DUMP',
        '    Return a serialized payload representing the current libraries, can be restored '
        'using FUNCTION RESTORE command',
        'RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]',
        '    Restore the libraries represented by the given payload, it is possible to give a '
        'restore policy to',
        '    control how to handle existing libraries (default APPEND):',
        '    * FLUSH: delete all existing libraries.',
        '    * APPEND: appends the restored libraries to the existing libraries. On collision, '
        'abort.',
        '    * REPLACE: appends the restored libraries to the existing libraries, On collision, '
        'replace the old',
        '      libraries with the new libraries (notice that even on this option there is a '
        'chance of failure',
        '      in case of functions name collision with another library).',
    ])


def attach(server):
    functions = server.scripting.functions
    # rdb.py's hooks: the libraries saved as RDB_OPCODE_FUNCTION2 records,
    # and each such record loaded.
    server.rdb_functions = functions.codes
    server.rdb_load_function = functions.rdb_load
