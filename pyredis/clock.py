"""The server clock: the wall time everything time-based reads.

Expiry and TTLs, the LRU/LFU clocks, blocking timeouts, TIME, stream IDs,
save points, client idle times, the logs' timestamps: all read
``clock.time()`` / ``clock.time_ns()`` (Redis reads server.unixtime and
mstime the same way). In production the clock is the real one:
``clock.time`` *is* ``time.time``, so reading it costs what reading the
real clock costs.

Tests can move it: ``freeze()``, ``advance(seconds)``, ``resume()`` and
``reset()`` rebind ``time``/``time_ns`` to functions of a frozen instant
or an offset (from Python: ``pyredis.serve(...).clock``; from a client:
``DEBUG CLOCK``, behind enable-debug-command). The clock belongs to the
process: servers embedded in one process share it, as servers on one
machine share its clock. Durations (perf_counter) and the event loop's
timers stay on the real monotonic clock, so when the clock moves the
servers are told (``listeners``) and do at once what that time would have
brought: blocked clients whose timeout passed are answered, keys past
their expiry are found by the expire cycle, the cron sees its save points.
"""

import time as _real

time = _real.time           # rebound while the clock is frozen or moved
time_ns = _real.time_ns

_frozen_ns = None           # the frozen instant, or None
_offset_ns = 0              # added to the real clock when not frozen

# Called (with no argument) after the clock moved; a server adds itself at
# start and removes itself when it stops.
listeners = []


def _install():
    global time, time_ns
    if _frozen_ns is not None:
        frozen = _frozen_ns
        time_ns = lambda: frozen            # noqa: E731
        time = lambda: frozen / 1e9         # noqa: E731
    elif _offset_ns:
        offset = _offset_ns
        time_ns = lambda: _real.time_ns() + offset          # noqa: E731
        time = lambda: (_real.time_ns() + offset) / 1e9     # noqa: E731
    else:
        time, time_ns = _real.time, _real.time_ns


def _moved():
    for fn in list(listeners):
        fn()


def freeze():
    """Stop the clock at the current instant."""
    global _frozen_ns
    if _frozen_ns is None:
        _frozen_ns = time_ns()
        _install()


def advance(seconds):
    """Move the clock forward (frozen or not) and let the servers catch up."""
    global _frozen_ns, _offset_ns
    step = int(seconds * 1e9)
    if step < 0:
        raise ValueError('the clock only moves forward')
    if _frozen_ns is not None:
        _frozen_ns += step
    else:
        _offset_ns += step
    _install()
    _moved()


def resume():
    """Let a frozen clock run again, from where it stood."""
    global _frozen_ns, _offset_ns
    if _frozen_ns is not None:
        _offset_ns = _frozen_ns - _real.time_ns()
        _frozen_ns = None
        _install()


def reset():
    """Back to the real clock (which may mean going back in time)."""
    global _frozen_ns, _offset_ns
    _frozen_ns = None
    _offset_ns = 0
    _install()
    _moved()


def frozen():
    return _frozen_ns is not None


def offset():
    """Seconds the clock is ahead of the real one."""
    return ((_frozen_ns - _real.time_ns()) if _frozen_ns is not None else _offset_ns) / 1e9
