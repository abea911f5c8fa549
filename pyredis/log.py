"""Logging in Redis's format: ``pid:role dd Mon yyyy hh:mm:ss.mmm * message``.

The level characters are Redis's: '.' debug, '-' verbose, '*' notice,
'#' warning. Output goes to stdout, or to ``logfile`` (opened for each line,
as Redis does, so log rotation needs no signal).
"""

import os
import sys
import time

DEBUG, VERBOSE, NOTICE, WARNING = range(4)
LEVELS = {'debug': DEBUG, 'verbose': VERBOSE, 'notice': NOTICE, 'warning': WARNING}
_MARKS = '.-*#'


class Logger:
    def __init__(self):
        self.level = NOTICE
        self.logfile = ''
        self.role = 'M'
        self.syslog = None

    def log(self, level, msg):
        if level < self.level:
            return
        now = time.time()
        stamp = time.strftime('%d %b %Y %H:%M:%S', time.localtime(now))
        line = '%d:%s %s.%03d %s %s\n' % (os.getpid(), self.role, stamp,
                                          int(now * 1000) % 1000, _MARKS[level], msg)
        try:
            if self.logfile:
                with open(self.logfile, 'a') as f:
                    f.write(line)
            else:
                sys.stdout.write(line)
                sys.stdout.flush()
        except OSError:
            pass
        if self.syslog is not None:
            self.syslog(level, msg)

    def raw(self, text):
        """Unformatted output (the start-up banner)."""
        try:
            if self.logfile:
                with open(self.logfile, 'a') as f:
                    f.write(text)
            else:
                sys.stdout.write(text)
                sys.stdout.flush()
        except OSError:
            pass


logger = Logger()


def debug(msg):
    logger.log(DEBUG, msg)


def verbose(msg):
    logger.log(VERBOSE, msg)


def notice(msg):
    logger.log(NOTICE, msg)


def warning(msg):
    logger.log(WARNING, msg)
