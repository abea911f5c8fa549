"""Server commands (server.c): TIME and SHUTDOWN.

INFO (commands/info.py), DEBUG (commands/debug.py), COMMAND
(commands/introspection.py) and the database commands (commands/database.py)
have modules of their own.
"""


from . import command
from .. import resp
from ..resp import error, SYNTAX_ERR
from .. import clock


@command('time')
def time_(c, argv):
    t = clock.time_ns() // 1000
    s, us = divmod(t, 1000000)
    return resp.bulk_array([b'%d' % s, b'%d' % us])


@command('shutdown')
def shutdown(c, argv):
    save = None
    now = force = abort = False
    for a in argv[1:]:
        o = a.lower()
        if o == b'nosave':
            save = False
        elif o == b'save':
            save = True
        elif o == b'now':
            now = True
        elif o == b'force':
            force = True
        elif o == b'abort':
            abort = True
        else:
            return SYNTAX_ERR
    if abort:
        if save is not None or now or force:
            return SYNTAX_ERR
        return b'-ERR No shutdown in progress.\r\n'
    err = c.server.shutdown(save=save, now=now)
    if err:
        return error(err.encode() if isinstance(err, str) else err)
    return None
