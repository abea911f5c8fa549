"""Configuration: the directive table, the redis.conf reader, CONFIG GET/SET.

Each directive is declared once in DIRECTIVES with its type, default,
bounds, aliases and whether it may change at runtime. The same table
parses redis.conf lines and command-line options, validates CONFIG SET,
and formats CONFIG GET, so the three can never disagree.

Values live as attributes of a ``Config`` object under the directive name
with '-' replaced by '_' (``config.proto_max_bulk_len``), so the hot path
reads a plain attribute. Typed values: bool -> bool, int and memory -> int,
enum -> str, string -> str; special directives keep their own shapes
(``save`` is a list of (seconds, changes) pairs, ``bind`` a list of str).

Loading never half-applies: the whole file and command line are parsed into
a fresh Config first, and the server only starts if that succeeds.
"""

import glob
import os
import sys

from .util import split_args, glob_match

REDIS_VERSION = '7.0.15'


class ConfigError(Exception):
    """A bad directive; str(e) is Redis's reason text."""


# -- value types ------------------------------------------------------------

def parse_bool(s):
    s = s.lower()
    if s == 'yes':
        return True
    if s == 'no':
        return False
    raise ConfigError("argument must be 'yes' or 'no'")


def format_bool(v):
    return 'yes' if v else 'no'


def parse_memory(s):
    """memtoull: digits with an optional unit (k=1000, kb=1024, m, mb, g, gb),
    case-insensitive. Returns None when the string is not a memory value."""
    low = s.lower()
    units = (('gb', 1024 ** 3), ('mb', 1024 ** 2), ('kb', 1024),
             ('g', 1000 ** 3), ('m', 1000 ** 2), ('k', 1000), ('b', 1))
    mul = 1
    for suffix, m in units:
        if low.endswith(suffix):
            low = low[:-len(suffix)]
            mul = m
            break
    if not low or not (low.isdigit() or (low[0] == '-' and low[1:].isdigit())):
        return None
    return int(low) * mul


class Directive:
    __slots__ = ('name', 'kind', 'default', 'mutable', 'aliases', 'lo', 'hi',
                 'choices', 'apply', 'attr', 'parse', 'format', 'multi_arg',
                 'sensitive')

    def __init__(self, name, kind, default, mutable=True, aliases=(), lo=None, hi=None,
                 choices=None, parse=None, format=None, multi_arg=False, sensitive=False):
        self.name = name
        self.kind = kind
        self.default = default
        self.mutable = mutable
        self.aliases = aliases
        self.lo, self.hi = lo, hi
        self.choices = choices
        self.attr = name.replace('-', '_')
        self.parse = parse
        self.format = format
        self.multi_arg = multi_arg
        self.sensitive = sensitive
        self.apply = None

    def convert(self, args):
        """Turn the directive's argument strings into its typed value,
        raising ConfigError with Redis's message."""
        if self.parse is not None:
            return self.parse(args)
        if len(args) != 1:
            raise ConfigError('wrong number of arguments')
        s = args[0]
        if self.kind == 'bool':
            return parse_bool(s)
        if self.kind == 'int':
            try:
                v = int(s)
            except ValueError:
                raise ConfigError("argument couldn't be parsed into an integer")
            return self._bounded(v)
        if self.kind == 'memory':
            v = parse_memory(s)
            if v is None:
                raise ConfigError("argument must be a memory value")
            return self._bounded(v)
        if self.kind == 'enum':
            low = s.lower()
            if low not in self.choices:
                raise ConfigError('argument(s) must be one of the following: ' +
                                  ', '.join(self.choices))
            return low
        return s

    def _bounded(self, v):
        if (self.lo is not None and v < self.lo) or (self.hi is not None and v > self.hi):
            raise ConfigError('argument must be between %d and %d inclusive' % (self.lo, self.hi))
        return v

    def to_string(self, v):
        if self.format is not None:
            return self.format(v)
        if self.kind == 'bool':
            return format_bool(v)
        if v is None:
            return ''
        return str(v)


def _parse_save(args):
    if len(args) == 1 and args[0] == '':
        return []
    if len(args) % 2:
        raise ConfigError('Invalid save parameters')
    pairs = []
    for i in range(0, len(args), 2):
        try:
            pairs.append((int(args[i]), int(args[i + 1])))
        except ValueError:
            raise ConfigError('Invalid save parameters')
    return pairs


def _format_save(pairs):
    return ' '.join('%d %d' % p for p in pairs)


def _parse_bind(args):
    return list(args)


LLMAX = (1 << 63) - 1
D = Directive
DIRECTIVES = [
    D('port', 'int', 6379, lo=0, hi=65535),
    D('bind', 'special', ['*', '-::*'], parse=_parse_bind, format=' '.join, multi_arg=True),
    D('unixsocket', 'string', '', mutable=False),
    D('unixsocketperm', 'int', 0, mutable=False, lo=0, hi=0o777,
      format=lambda v: '%o' % v if v else '0', parse=lambda a: int(a[0], 8)),
    D('protected-mode', 'bool', True),
    D('tcp-backlog', 'int', 511, mutable=False, lo=0, hi=LLMAX),
    D('tcp-keepalive', 'int', 300, lo=0, hi=LLMAX),
    D('timeout', 'int', 0, lo=0, hi=LLMAX),
    D('databases', 'int', 16, mutable=False, lo=1, hi=(1 << 31) - 1),
    D('hz', 'int', 10, lo=0, hi=(1 << 31) - 1),
    D('dynamic-hz', 'bool', True),
    D('requirepass', 'string', '', sensitive=True),
    D('maxclients', 'int', 10000, lo=1, hi=(1 << 32) - 1),
    D('daemonize', 'bool', False, mutable=False),
    D('pidfile', 'string', '', mutable=False),
    D('loglevel', 'enum', 'notice', choices=('debug', 'verbose', 'notice', 'warning')),
    D('logfile', 'string', '', mutable=False),
    D('dir', 'string', '', mutable=True),
    D('dbfilename', 'string', 'dump.rdb'),
    D('save', 'special', [(3600, 1), (300, 100), (60, 10000)], parse=_parse_save,
      format=_format_save, multi_arg=True),
    D('appendonly', 'bool', False),
    D('proto-max-bulk-len', 'memory', 512 * 1024 * 1024, lo=1024 * 1024, hi=LLMAX),
    D('client-query-buffer-limit', 'memory', 1024 * 1024 * 1024, lo=1024 * 1024, hi=LLMAX),
    D('maxmemory', 'memory', 0, lo=0, hi=LLMAX),
    D('maxmemory-policy', 'enum', 'noeviction',
      choices=('volatile-lru', 'volatile-lfu', 'volatile-random', 'volatile-ttl',
               'allkeys-lru', 'allkeys-lfu', 'allkeys-random', 'noeviction')),
    D('maxmemory-samples', 'int', 5, lo=1, hi=(1 << 31) - 1),
    D('active-expire-effort', 'int', 1, lo=1, hi=10),
    D('notify-keyspace-events', 'string', ''),
    D('replica-read-only', 'bool', True, aliases=('slave-read-only',)),
    D('list-max-listpack-size', 'int', -2, aliases=('list-max-ziplist-size',),
      lo=-(1 << 31), hi=(1 << 31) - 1),
    D('hash-max-listpack-entries', 'int', 128, aliases=('hash-max-ziplist-entries',),
      lo=0, hi=LLMAX),
    D('hash-max-listpack-value', 'int', 64, aliases=('hash-max-ziplist-value',), lo=0, hi=LLMAX),
    D('set-max-intset-entries', 'int', 512, lo=0, hi=LLMAX),
    D('zset-max-listpack-entries', 'int', 128, aliases=('zset-max-ziplist-entries',),
      lo=0, hi=LLMAX),
    D('zset-max-listpack-value', 'int', 64, aliases=('zset-max-ziplist-value',), lo=0, hi=LLMAX),
    D('lazyfree-lazy-user-flush', 'bool', False),
    D('enable-debug-command', 'enum', 'no', mutable=False, choices=('no', 'yes', 'local')),
    D('enable-protected-configs', 'enum', 'no', mutable=False, choices=('no', 'yes', 'local')),
    D('enable-module-command', 'enum', 'no', mutable=False, choices=('no', 'yes', 'local')),
]
del D

BY_NAME = {}
for _d in DIRECTIVES:
    BY_NAME[_d.name] = _d
    for _a in _d.aliases:
        BY_NAME[_a] = _d


class Config:
    """The current value of every directive, as attributes."""

    def __init__(self):
        for d in DIRECTIVES:
            v = d.default
            setattr(self, d.attr, list(v) if isinstance(v, list) else v)
        self.config_file = None      # absolute path of the file we started from
        self.explicit = set()        # names set in the file or on the command line

    def get(self, name):
        return getattr(self, BY_NAME[name].attr)

    def get_string(self, name):
        d = BY_NAME[name]
        return d.to_string(getattr(self, d.attr))

    def set(self, name, args):
        """Validate and store one directive; raises ConfigError."""
        d = BY_NAME.get(name.lower())
        if d is None:
            raise ConfigError('Bad directive or wrong number of arguments')
        setattr(self, d.attr, d.convert(args))
        self.explicit.add(d.name)
        return d


# -- reading files ------------------------------------------------------------

class FatalConfigError(Exception):
    """Carries the full Redis-style fatal message."""


def fatal_message(path, linenum, line, reason):
    return ('\n*** FATAL CONFIG FILE ERROR (Redis %s) ***\n'
            'Reading the configuration file, at line %d\n'
            '>>> \'%s\'\n%s\n' % (REDIS_VERSION, linenum, line, reason))


def read_lines(path, seen=None):
    """Yield (path, line number, raw line, argv) for each directive in a file,
    following ``include`` (nested, relative, wildcards, cycle-checked)."""
    seen = set() if seen is None else seen
    real = os.path.realpath(path)
    if real in seen:
        raise FatalConfigError(fatal_message(path, 0, 'include ' + path,
                                             'Cycle detected in include of %s' % path))
    seen = seen | {real}
    try:
        with open(path, 'rb') as f:
            content = f.read()
    except OSError as e:
        raise FatalConfigError('Fatal error, can\'t open config file \'%s\': %s' % (
            path, e.strerror))
    yield from iter_config_text(content, path, seen)


def iter_config_text(content, path, seen):
    for num, raw in enumerate(content.split(b'\n'), 1):
        line = raw.strip(b' \t\r\n')
        if not line or line.startswith(b'#'):
            continue
        argv = split_args(line)
        text = line.decode('utf-8', 'replace')
        if argv is None:
            raise FatalConfigError(fatal_message(path, num, text, 'Unbalanced quotes in configuration line'))
        if not argv:
            continue
        argv = [a.decode('utf-8', 'surrogateescape') for a in argv]
        if argv[0].lower() == 'include' and len(argv) == 2:
            pattern = argv[1]
            if path and not os.path.isabs(pattern):
                pattern = os.path.join(os.getcwd(), pattern)
            matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
            for m in matches:
                yield from read_lines(m, seen)
            continue
        yield path, num, text, argv


def load(path=None, options=(), stdin_text=None):
    """Build a Config from a file, stdin text and command-line options
    (already split into directive lines). Raises FatalConfigError."""
    config = Config()
    sources = []
    if path:
        sources.extend(read_lines(path))
        config.config_file = os.path.abspath(path)
    if stdin_text is not None:
        sources.extend(iter_config_text(stdin_text, '(stdin)', set()))
    for i, argv in enumerate(options, 1):
        sources.append(('(command line)', i, ' '.join(argv), argv))
    for src, num, text, argv in sources:
        name = argv[0].lower()
        try:
            if name not in BY_NAME:
                raise ConfigError('Bad directive or wrong number of arguments')
            d = BY_NAME[name]
            if not d.multi_arg and len(argv) != 2:
                raise ConfigError('Bad directive or wrong number of arguments')
            config.set(name, argv[1:])
        except ConfigError as e:
            raise FatalConfigError(fatal_message(src, num, text, str(e)))
    return config


# -- CONFIG GET / SET ----------------------------------------------------------

def config_get(config, patterns):
    """Name/value pairs (str) for CONFIG GET, each name once, aliases
    included only when the pattern names them exactly (as Redis does)."""
    out = {}
    for pat in patterns:
        p = pat.lower()
        if '*' not in p and '?' not in p and '[' not in p:
            d = BY_NAME.get(p)
            if d is not None:
                out[p] = d.to_string(getattr(config, d.attr))
            continue
        for d in DIRECTIVES:
            if glob_match(p.encode(), d.name.encode(), nocase=True):
                out[d.name] = d.to_string(getattr(config, d.attr))
    return out
