"""DEBUG CLOCK: the server clock (pyredis.clock) moved from any client, so
that tests in any language can skip time instead of sleeping. pyredis's
own subcommand, behind enable-debug-command as every DEBUG subcommand.

    DEBUG CLOCK GET                  the clock's time: [unix ms, frozen 0/1]
    DEBUG CLOCK FREEZE | RESUME      stop it / let it run again
    DEBUG CLOCK ADVANCE <seconds>    move it forward (a decimal number)
    DEBUG CLOCK RESET                back to the real clock

After ADVANCE, what that time would have brought happens at once: keys past
their expiry are gone, blocked clients whose timeout passed are answered.
"""

from .. import clock
from ..resp import OK, SYNTAX_ERR, error
from ..util import strtod

USAGE = (b"ERR Usage: DEBUG CLOCK GET|FREEZE|RESUME|RESET|ADVANCE <seconds>")


def debug_clock(c, argv):
    if len(argv) < 3:
        return error(USAGE)
    sub = argv[2].lower()
    if sub == b'advance' and len(argv) == 4:
        seconds = strtod(argv[3])
        if seconds is None or not 0 <= seconds < 1e12:
            return error(b'ERR the clock moves forward by a number of seconds')
        clock.advance(seconds)
        return OK
    if len(argv) != 3:
        return SYNTAX_ERR
    if sub == b'get':
        return b'*2\r\n:%d\r\n:%d\r\n' % (clock.time_ns() // 1000000, clock.frozen())
    if sub == b'freeze':
        clock.freeze()
        return OK
    if sub == b'resume':
        clock.resume()
        return OK
    if sub == b'reset':
        clock.reset()
        return OK
    return error(USAGE)


def attach(server):
    server.debug_subcommands[b'clock'] = debug_clock
