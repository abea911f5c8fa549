"""A module for tests/test_modules.py: the API's corners (replies, typed
keys, blocking) as commands a test can call over a socket."""

import threading

from pyredis.modules.api import (Module, ReplyError, boolean, double, error, map_, null,
                                 null_array, set_, verbatim)

module = Module('testkit', version=7)

WAITING = {}        # client id -> BlockedClient


@module.loaded
def _loaded(ctx, args, configs):
    if args and args[0] == b'fail':
        raise ValueError('asked to fail')
    module.args = args
    module.configs = configs


@module.command('testkit.replies', arity=1, flags=('readonly', 'fast'), replicate=None)
def replies(ctx, argv):
    return [b'bulk', 'simple', 42, 1.5, double(float('inf')), boolean(True), boolean(False),
            null(), null_array(), map_({b'k': 1}), set_([b'm']), verbatim('txt'),
            error('ERR inner')]


@module.command('testkit.error', arity=1, flags=('readonly',), replicate=None)
def fails(ctx, argv):
    raise ReplyError('CUSTOM something went wrong')


@module.command('testkit.types', arity=2, flags=('write', 'denyoom'), keys=(1, 1, 1),
                replicate='effects')
def types(ctx, argv):
    base = argv[1]
    ctx.open_key(base + b':s', write=True).set_string(b'v')
    lst = ctx.open_key(base + b':l', write=True)
    lst.list_push(b'a', b'b')
    lst.list_push(b'z', head=True)
    h = ctx.open_key(base + b':h', write=True)
    h.hash_set({b'f': b'1', b'g': 2})
    h.hash_delete(b'g')
    s = ctx.open_key(base + b':set', write=True)
    s.set_add(b'x', b'y')
    s.set_remove(b'y')
    z = ctx.open_key(base + b':z', write=True)
    z.zset_add({b'm': 1.5, b'n': 2})
    z.zset_remove(b'n')
    e = ctx.open_key(base + b':e', write=True)
    e.set_string(b'gone soon')
    e.set_expire(100000)
    gone = ctx.open_key(base + b':d', write=True)
    gone.set_string(b'x')
    gone.delete()
    return [lst.list_range(), h.hash_items().get(b'f'), s.set_contains(b'x'),
            z.zset_score(b'm'), e.ttl_ms() > 0, ctx.open_key(base + b':l').type,
            len(ctx.open_key(base + b':l'))]


@module.command('testkit.block', arity=2, flags=('readonly',), replicate=None)
def block(ctx, argv):
    bc = ctx.block(int(argv[1]), on_timeout=lambda ctx: 'TIMEDOUT')
    WAITING[ctx.client_id] = bc
    return bc


@module.command('testkit.blockforever', arity=1, flags=('readonly',), replicate=None)
def block_forever(ctx, argv):
    bc = ctx.block()
    WAITING[ctx.client_id] = bc
    return bc


@module.command('testkit.unblock', arity=3, flags=('write', 'denyoom'), replicate=None)
def unblock(ctx, argv):
    bc = WAITING.pop(int(argv[1]), None)
    if bc is None:
        return 0
    value = argv[2]

    def reply(bctx):
        # Runs for the blocked client: may write keys (propagated).
        bctx.open_key(b'unblocked-by', write=True).set_string(value)
        return [b'unblocked', value]
    return 1 if bc.unblock(reply) else 0


@module.command('testkit.verbatim', arity=-2, flags=('write',), keys=(1, 1, 1))
def verbatim_write(ctx, argv):
    ctx.open_key(argv[1], write=True).set_string(b'%d' % len(argv))
    return 'OK'


@module.command('testkit.replicate', arity=2, flags=('write',), keys=(1, 1, 1),
                replicate=None)
def replicate(ctx, argv):
    ctx.open_key(argv[1], write=True).set_string(b'local')
    ctx.replicate('SET', argv[1], 'replicated')
    return 'OK'


@module.command('testkit.admin', arity=1, flags=('admin', 'noscript'), replicate=None)
def admin(ctx, argv):
    return 'OK'


@module.command('testkit.thread', arity=2, flags=('readonly',), replicate=None)
def from_thread(ctx, argv):
    """Blocks; a worker thread answers after argv[1] milliseconds."""
    bc = ctx.block(0)
    threading.Timer(int(argv[1]) / 1000.0, bc.unblock, args=('from-thread',)).start()
    return bc


@module.command('testkit.configs', arity=1, flags=('readonly',), replicate=None)
def configs(ctx, argv):
    return [module.args, module.configs]


@module.command('testkit.call', arity=3, flags=('write', 'denyoom'), keys=(1, 2, 1),
                replicate='effects')
def call(ctx, argv):
    try:
        ctx.call('GET', argv[2])
        wrong = None
    except ReplyError as e:
        wrong = str(e)
    return [ctx.call('INCRBY', argv[1], 5), ctx.call('HSET', argv[2], 'f', 'v'),
            ctx.call('HGETALL', argv[2]), wrong, ctx.call('BLPOP', 'nolist', 0)]
