"""RATELIMIT: a fixed-window rate limiter, as a pyredis module.

    RATELIMIT.HIT key limit window_ms   -> [allowed (1/0), remaining, reset_ms]
    RATELIMIT.PEEK key limit            -> [remaining, reset_ms]

A window is a string counter under ``key`` that expires ``window_ms`` after
the window's first hit. A hit over the limit changes nothing (so it is not
propagated); an allowed one increments the counter.

The command reads the clock (the window's deadline), so it is replicated as
its effects (replicate='effects'): SET key 1 + PEXPIREAT key <deadline> for
a window's first hit (in MULTI/EXEC), INCRBY key 1 for the next ones. A replica or an
AOF replayed later gets the same counter and the same absolute deadline,
whenever it applies them.

Load with ``MODULE LOAD pyredis.modules.examples.ratelimit`` or
``loadmodule pyredis.modules.examples.ratelimit`` in redis.conf.
"""

from pyredis.modules.api import Module, ReplyError

module = Module('ratelimit', version=1)

_KEY_ARG = {'name': 'key', 'type': 'key', 'key_spec_index': 0}


def _positive(arg, what):
    try:
        n = int(arg)
    except ValueError:
        raise ReplyError('ERR %s is not an integer or out of range' % what)
    if n <= 0:
        raise ReplyError('ERR %s must be positive' % what)
    return n


@module.command('ratelimit.hit', arity=4, flags=('write', 'denyoom', 'fast'),
                keys=(1, 1, 1), key_flags=('RW', 'access', 'update'),
                summary='Counts a hit in the current window and tells whether it is allowed',
                since='1.0.0', complexity='O(1)',
                arguments=[_KEY_ARG, {'name': 'limit', 'type': 'integer'},
                           {'name': 'window', 'type': 'integer'}],
                replicate='effects')
def hit(ctx, argv):
    limit = _positive(argv[2], 'limit')
    window = _positive(argv[3], 'window')
    key = ctx.open_key(argv[1], write=True)
    current = key.get_string()
    if current is None:
        key.set_string(1)
        key.set_expire(window)
        count = 1
    else:
        try:
            count = int(current)
        except ValueError:
            raise ReplyError('ERR value is not an integer or out of range')
        if count < limit:
            count = key.incr(1)
        else:
            count = limit + 1       # over the limit: nothing written
    reset = key.ttl_ms()
    return [1 if count <= limit else 0, max(0, limit - count),
            reset if reset is not None else -1]


@module.command('ratelimit.peek', arity=3, flags=('readonly', 'fast'),
                keys=(1, 1, 1), key_flags=('RO', 'access'),
                summary='The hits left in the current window, without counting one',
                since='1.0.0', complexity='O(1)',
                arguments=[_KEY_ARG, {'name': 'limit', 'type': 'integer'}],
                replicate=None)
def peek(ctx, argv):
    limit = _positive(argv[2], 'limit')
    key = ctx.open_key(argv[1])
    current = key.get_string()
    try:
        used = int(current) if current is not None else 0
    except ValueError:
        raise ReplyError('ERR value is not an integer or out of range')
    reset = key.ttl_ms()
    return [max(0, limit - used), reset if reset is not None else -1]
