"""Logging in Redis's format: ``pid:role dd Mon yyyy hh:mm:ss.mmm * message``.

The level characters are Redis's: '.' debug, '-' verbose, '*' notice,
'#' warning; the role is 'M' (master), 'S' (replica), 'C' (a child, or the
process before the server exists). Output goes to stdout, or to ``logfile``
(opened for each line, as Redis does, so log rotation needs no signal), and
also to syslog when ``syslog-enabled`` is set (ident and facility from
``syslog-ident`` / ``syslog-facility``, levels mapped as Redis maps them).
"""

import os
import sys
import time
from . import clock

DEBUG, VERBOSE, NOTICE, WARNING = range(4)
LEVELS = {'debug': DEBUG, 'verbose': VERBOSE, 'notice': NOTICE, 'warning': WARNING}
_MARKS = '.-*#'


class Logger:
    def __init__(self):
        self.level = NOTICE
        self.logfile = ''
        self.role = 'M'
        self.quiet = False          # daemonized without a logfile: stdout is /dev/null
        self._syslog = None

    def open_syslog(self, ident, facility):
        import syslog
        fac = getattr(syslog, 'LOG_' + facility.upper(), syslog.LOG_LOCAL0)
        syslog.openlog(ident, syslog.LOG_PID | syslog.LOG_NDELAY | syslog.LOG_NOWAIT, fac)
        levels = (syslog.LOG_DEBUG, syslog.LOG_INFO, syslog.LOG_NOTICE, syslog.LOG_WARNING)
        self._syslog = lambda level, msg: syslog.syslog(levels[level], msg)

    def log(self, level, msg):
        if level < self.level:
            return
        now = clock.time()
        stamp = time.strftime('%d %b %Y %H:%M:%S', time.localtime(now))
        line = '%d:%s %s.%03d %s %s\n' % (os.getpid(), self.role, stamp,
                                          int(now * 1000) % 1000, _MARKS[level], msg)
        self._write(line)
        if self._syslog is not None:
            try:
                self._syslog(level, msg)
            except OSError:
                pass

    def _write(self, text):
        try:
            if self.logfile:
                with open(self.logfile, 'a') as f:
                    f.write(text)
            elif not self.quiet:
                sys.stdout.write(text)
                sys.stdout.flush()
        except (OSError, ValueError):
            pass

    def raw(self, text):
        """Unformatted output (the start-up banner)."""
        self._write(text)


logger = Logger()


def debug(msg):
    logger.log(DEBUG, msg)


def verbose(msg):
    logger.log(VERBOSE, msg)


def notice(msg):
    logger.log(NOTICE, msg)


def warning(msg):
    logger.log(WARNING, msg)
