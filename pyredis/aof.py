"""The append-only file: writer, loader and rewrite (aof.c), Redis 7.0 layout.

Layout. Redis 7.0 keeps the AOF as several files in ``appenddirname``
(relative to ``dir``), all named from ``appendfilename``:

    appendonly.aof.1.base.rdb     the dataset at the last rewrite, RDB or
                                  AOF format (aof-use-rdb-preamble)
    appendonly.aof.1.incr.aof     the commands since then (several while a
                                  rewrite is running or after one failed)
    appendonly.aof.manifest       "file <name> seq <n> type b|h|i" lines

A legacy single file (``appendfilename`` in ``dir``, with or without an
RDB preamble) is moved into the directory as the base file at start-up,
as Redis does when upgrading.

Writing. The writer is one of ``server.propagate_targets``: it receives the
operations of each write command, already in deterministic form and
wrapped in MULTI/EXEC when they form a unit, and queues them. Once per
event-loop iteration, in a callback scheduled when the queue becomes
non-empty (Redis's beforeSleep), the queue is encoded as RESP, with a SELECT
wherever the database changes, and written with one ``write(2)``. Replies wait for that write:
``server.reply_barrier`` holds back ``Client.flush`` while the buffer has
data, and the callback releases the held clients right after writing, so a
client never sees the reply to a write that is not in the file. With
``appendfsync always`` the same callback also fsyncs before releasing them
(one fsync per loop iteration for all clients); with ``everysec`` the fsync
runs in a background thread, started from the cron at most once a second,
so the event loop never waits for the disk; with ``no`` the OS decides.
The write is never postponed: Redis's flushAppendOnlyFile holds it back
while the background fsync runs (two seconds at most) yet sends the
replies, so a kill -9 then loses acknowledged writes. Here a process crash
loses nothing acknowledged; only an OS crash may lose up to the fsync
window. (See flush for what is kept of Redis's rule.)

Rewrite (BGREWRITEAOF, the 7.0 scheme). The parent opens a new incr file
and records it in the manifest, then forks. The child writes the dataset it
sees (expired keys skipped) to ``temp-rewriteaof-bg-<pid>.aof``, fsyncs it
and exits. Commands keep going to the new incr file meanwhile, so nothing
needs to be buffered for the child. When the cron reaps a successful child,
the temp file becomes the next base, the incr files it covers become
history, the manifest is switched atomically (temp file, fsync, rename) and
the history files are deleted. A failed child leaves the manifest as it was:
the extra incr file simply stays in the list.

Loading. Files are replayed command by command through a client that has no
connection, with MULTI/EXEC handled here (a transaction left open at the
end of the file is dropped, as Redis does). The start-up load hands control
back to the event loop every 1024 commands, so clients get -LOADING and
INFO shows the progress instead of a silent socket. A cut tail is truncated away
when ``aof-load-truncated`` is yes; any other malformed content stops the
server with the file name and offset. An RDB-format base (or preamble) is
handed to the RDB module's loader, which reports where the RDB ended.
"""

import asyncio
import gc
import os
import signal
import time

from . import log
from .util import fsync_dir
from . import clock

AOF_OFF, AOF_ON, AOF_WAIT_REWRITE = 0, 1, 2

# loadSingleAppendOnlyFile results
AOF_OK, AOF_NOT_EXIST, AOF_EMPTY, AOF_OPEN_ERR, AOF_FAILED, AOF_TRUNCATED = range(6)

AOF_REWRITE_ITEMS_PER_CMD = 64
AOF_REWRITE_LIMIT_THRESHOLD = 3
AOF_REWRITE_LIMIT_MAX_MINUTES = 60

TYPE_BASE, TYPE_HIST, TYPE_INCR = 'b', 'h', 'i'


class AofFatal(Exception):
    """Start-up must stop (Redis's exit(1)); the reason was logged."""


# -- settings (config.py may not declare every directive yet) ----------------

def setting(server, attr, default):
    return getattr(server.config, attr, default)


def aof_filename(server):
    return setting(server, 'appendfilename', 'appendonly.aof')


def aof_dirname(server):
    """The AOF directory's path (in the server's ``dir``)."""
    return server.path(aof_dirname_setting(server))


def aof_dirname_setting(server):
    """appenddirname, as the log lines name it."""
    return setting(server, 'appenddirname', 'appendonlydir')


def fsync_policy(server):
    v = setting(server, 'appendfsync', 'everysec')
    return v.decode() if isinstance(v, bytes) else str(v).lower()


# -- RESP encoding --------------------------------------------------------------

try:
    from hiredis import pack_command as _pack
except ImportError:     # older hiredis
    def _pack(argv):
        raise TypeError

try:
    from ._speedups import pack_commands
except ImportError:     # without the C extension: hiredis's encoder
    def pack_commands(argvs):
        return b''.join(map(_pack, map(tuple, argvs)))


def encode_command(argv):
    """One command as a RESP multibulk, the way the AOF stores it."""
    try:
        return pack_commands((argv,))
    except TypeError:
        pass
    out = [b'*%d\r\n' % len(argv)]
    for a in argv:
        if not isinstance(a, (bytes, bytearray)):
            a = str(a).encode() if not isinstance(a, memoryview) else bytes(a)
        out.append(b'$%d\r\n%s\r\n' % (len(a), a))
    return b''.join(out)


def resp_error(msg):
    return b'-%s\r\n' % msg.encode('utf-8', 'replace').replace(b'\r', b' ').replace(b'\n', b' ')


# The EXEC closing a propagated unit is not bound to a database: Redis
# propagates it with dbid -1, so no SELECT is written before it (the MULTI
# carries the first operation's database, as the server already gives it).
_EXEC = [b'EXEC']


def select_command(dbid):
    s = b'%d' % dbid
    return b'*2\r\n$6\r\nSELECT\r\n$%d\r\n%s\r\n' % (len(s), s)


# -- the manifest ------------------------------------------------------------------

class AofInfo:
    __slots__ = ('name', 'seq', 'type')

    def __init__(self, name, seq, type_):
        self.name = name
        self.seq = seq
        self.type = type_

    def copy(self):
        return AofInfo(self.name, self.seq, self.type)

    def format(self):
        name = self.name.encode('utf-8', 'surrogateescape')
        if _needs_repr(name):
            name = _repr(name)
        return b'file %s seq %d type %s\n' % (name, self.seq, self.type.encode())


def _needs_repr(s):
    # sdsneedsrepr
    for ch in s:
        if ch in b'\\"\n\r\t\x07\x08 ' or not (32 <= ch < 127):
            return True
    return False


def _repr(s):
    # sdscatrepr
    out = bytearray(b'"')
    for ch in s:
        if ch in (0x5c, 0x22):
            out += b'\\' + bytes((ch,))
        elif ch == 10:
            out += b'\\n'
        elif ch == 13:
            out += b'\\r'
        elif ch == 9:
            out += b'\\t'
        elif ch == 7:
            out += b'\\a'
        elif ch == 8:
            out += b'\\b'
        elif 32 <= ch < 127:
            out.append(ch)
        else:
            out += b'\\x%02x' % ch
    out += b'"'
    return bytes(out)


class Manifest:
    def __init__(self):
        self.base = None
        self.history = []
        self.incr = []
        self.curr_base_seq = 0
        self.curr_incr_seq = 0
        self.dirty = False

    def copy(self):
        m = Manifest()
        m.base = self.base.copy() if self.base else None
        m.history = [a.copy() for a in self.history]
        m.incr = [a.copy() for a in self.incr]
        m.curr_base_seq = self.curr_base_seq
        m.curr_incr_seq = self.curr_incr_seq
        m.dirty = self.dirty
        return m

    def to_bytes(self):
        out = []
        if self.base:
            out.append(self.base.format())
        out.extend(a.format() for a in self.history)
        out.extend(a.format() for a in self.incr)
        return b''.join(out)

    def new_base_name(self, server):
        """getNewBaseFileNameAndMarkPreAsHistory"""
        if self.base is not None:
            self.base.type = TYPE_HIST
            self.history.insert(0, self.base)
        suffix = '.rdb' if use_rdb_preamble(server) else '.aof'
        self.curr_base_seq += 1
        self.base = AofInfo('%s.%d.base%s' % (aof_filename(server), self.curr_base_seq, suffix),
                            self.curr_base_seq, TYPE_BASE)
        self.dirty = True
        return self.base.name

    def new_incr_name(self, server):
        self.curr_incr_seq += 1
        info = AofInfo('%s.%d.incr.aof' % (aof_filename(server), self.curr_incr_seq),
                       self.curr_incr_seq, TYPE_INCR)
        self.incr.append(info)
        self.dirty = True
        return info.name

    def last_incr_name(self, server):
        if not self.incr:
            return self.new_incr_name(server)
        return self.incr[-1].name

    def mark_rewritten_incr_as_history(self, keep_last):
        """markRewrittenIncrAofAsHistory: every incr file but the one being
        written becomes history."""
        if not self.incr:
            return
        keep = self.incr[-1:] if keep_last else []
        done = self.incr[:-1] if keep_last else self.incr
        for info in reversed(done):
            info.type = TYPE_HIST
            self.history.insert(0, info)
        self.incr = keep
        self.dirty = True


def parse_manifest(path):
    """aofLoadManifestFromFile; raises AofFatal after logging as Redis."""
    try:
        with open(path, 'rb') as f:
            content = f.read()
    except OSError as e:
        log.warning("Fatal error: can't open the AOF manifest file %s for reading: %s" % (
            path, e.strerror))
        raise AofFatal()
    m = Manifest()
    maxseq = 0
    lines = content.split(b'\n')
    if lines and lines[-1] == b'':
        lines.pop()
        last_terminated = True
    else:
        last_terminated = not lines
    linenum = 0
    err = None
    line = None
    if not lines:
        err = 'Found an empty AOF manifest'
    for i, raw in enumerate(lines):
        linenum += 1
        if raw.startswith(b'#'):
            continue
        if (i == len(lines) - 1 and not last_terminated) or len(raw) > 1024:
            line = raw.strip(b' \t\r\n')
            err = 'The AOF manifest file contains too long line'
            break
        line = raw.strip(b' \t\r\n')
        if not line:
            err = 'Invalid AOF manifest file format'
            break
        from .util import split_args
        argv = split_args(line)
        if argv is None or len(argv) < 6 or len(argv) % 2:
            err = 'Invalid AOF manifest file format'
            break
        name = seq = type_ = None
        for j in range(0, len(argv), 2):
            k = argv[j].lower()
            if k == b'file':
                name = argv[j + 1].decode('utf-8', 'surrogateescape')
                if '/' in name:
                    err = "File can't be a path, just a filename"
                    break
            elif k == b'seq':
                seq = _atoi(argv[j + 1])
            elif k == b'type':
                type_ = argv[j + 1][:1].decode('latin-1')
        if err:
            break
        if not name or not seq or not type_:
            err = 'Invalid AOF manifest file format'
            break
        info = AofInfo(name, seq, type_)
        if type_ == TYPE_BASE:
            if m.base is not None:
                err = 'Found duplicate base file information'
                break
            m.base = info
            m.curr_base_seq = seq
        elif type_ == TYPE_HIST:
            m.history.append(info)
        elif type_ == TYPE_INCR:
            if seq <= maxseq:
                err = 'Found a non-monotonic sequence number'
                break
            m.incr.append(info)
            m.curr_incr_seq = seq
            maxseq = seq
        else:
            err = 'Unknown AOF file type'
            break
        line = None
    if err:
        log.warning('\n*** FATAL AOF MANIFEST FILE ERROR ***\n')
        if line is not None:
            log.warning('Reading the manifest file, at line %d\n' % linenum)
            log.warning(">>> '%s'\n" % line.decode('utf-8', 'replace'))
        log.warning('%s\n' % err)
        raise AofFatal()
    return m


def _atoi(s):
    """C atoi: optional spaces and sign, then digits; 0 when none."""
    s = s.lstrip(b' \t\n\v\f\r')
    i = 0
    if s[:1] in (b'-', b'+'):
        i = 1
    j = i
    while j < len(s) and 48 <= s[j] <= 57:
        j += 1
    if j == i:
        return 0
    return int(s[:j])


# -- dataset -> commands (the AOF-format base) ---------------------------------------

def _fmt_score(score):
    if score == float('inf'):
        return b'inf'
    if score == float('-inf'):
        return b'-inf'
    return b'%.17g' % score


def _rewrite_string(key, v):
    yield [b'SET', key, v]


def _chunks(key, cmd, items):
    for i in range(0, len(items), AOF_REWRITE_ITEMS_PER_CMD):
        argv = [cmd, key]
        argv.extend(items[i:i + AOF_REWRITE_ITEMS_PER_CMD])
        yield argv


def _rewrite_list(key, v):
    return _chunks(key, b'RPUSH', list(v))


def _rewrite_set(key, v):
    return _chunks(key, b'SADD', list(v))


def _rewrite_hash(key, v):
    flat = []
    for f, val in v.items():
        flat.append(f)
        flat.append(val)
    for i in range(0, len(flat), 2 * AOF_REWRITE_ITEMS_PER_CMD):
        yield [b'HMSET', key] + flat[i:i + 2 * AOF_REWRITE_ITEMS_PER_CMD]


def _rewrite_zset(key, v):
    flat = []
    for score, member in v.iter_tuples():
        flat.append(_fmt_score(score))
        flat.append(member)
    for i in range(0, len(flat), 2 * AOF_REWRITE_ITEMS_PER_CMD):
        yield [b'ZADD', key] + flat[i:i + 2 * AOF_REWRITE_ITEMS_PER_CMD]


# Python type of a value -> function(key, value) yielding the commands that
# rebuild it. Modules that add value types (streams...) register theirs.
REWRITERS = {}


def _default_rewriters():
    from .zset import ZSet
    from .stream import Stream, rewrite_commands as stream_rewrite
    from .values import PackedHash, QuickList
    REWRITERS.setdefault(bytes, _rewrite_string)
    REWRITERS.setdefault(bytearray, _rewrite_string)
    REWRITERS.setdefault(QuickList, _rewrite_list)
    REWRITERS.setdefault(list, _rewrite_list)
    REWRITERS.setdefault(set, _rewrite_set)
    REWRITERS.setdefault(frozenset, _rewrite_set)
    REWRITERS.setdefault(dict, _rewrite_hash)
    if PackedHash is not None:
        REWRITERS.setdefault(PackedHash, _rewrite_hash)
    REWRITERS.setdefault(ZSet, _rewrite_zset)
    REWRITERS.setdefault(Stream, stream_rewrite)


def rewrite_commands(server, timestamp=False):
    """Yield RESP chunks that rebuild the dataset (rewriteAppendOnlyFileRio).
    Keys already expired are left out."""
    if not REWRITERS:
        _default_rewriters()
    if timestamp:
        yield b'#TS:%d\r\n' % int(clock.time())
    # Function libraries first, as FUNCTION LOAD commands (rewriteFunctions).
    functions = getattr(server, 'rdb_functions', None)
    if functions is not None:
        for code in functions():
            yield encode_command([b'FUNCTION', b'LOAD', code])
    for db in server.dbs:
        if not db.data:
            continue
        yield select_command(db.id)
        expires = db.expires
        out = []
        size = 0
        for key, value in db.data.items():
            # (A key already expired is written too, with its PEXPIREAT, as
            # Redis 7.0's rewrite does; it goes when it is next touched.)
            when = expires.get(key)
            fn = REWRITERS.get(type(value))
            if fn is None:
                fn = getattr(value, 'aof_rewrite', None)
                if fn is None:
                    raise TypeError('no AOF rewrite for values of type %s' %
                                    type(value).__name__)
                cmds = fn(key)
            else:
                cmds = fn(key, value)
            for argv in cmds:
                chunk = encode_command(argv)
                out.append(chunk)
                size += len(chunk)
            if when is not None:
                chunk = encode_command([b'PEXPIREAT', key, b'%d' % when])
                out.append(chunk)
                size += len(chunk)
            if size > 65536:
                yield b''.join(out)
                out = []
                size = 0
        if out:
            yield b''.join(out)


def _rdb_api():
    """(save, load) for RDB-format bases, from pyredis.rdb, or None when that
    module (being written separately) is not there.

    save(server, f) writes the dataset as an RDB with the aof-base AUX field
    set; load(server, data) loads the RDB at the start of ``data`` and
    returns the offset just past it (an AOF tail may follow)."""
    try:
        from . import rdb
    except ImportError:
        return None
    if not (hasattr(rdb, 'Writer') and hasattr(rdb, 'Options') and hasattr(rdb, 'load_bytes')):
        return None

    def save(server, f):
        old = getattr(server, 'rdb_aof_base', False)
        server.rdb_aof_base = True
        try:
            rdb.Writer(f, rdb.Options(server.config)).save(server)
        finally:
            server.rdb_aof_base = old

    def load(server, data):
        return rdb.load_bytes(server, data).end

    return save, load


def use_rdb_preamble(server):
    """True when the base is written in RDB format: the preamble is enabled
    and the RDB module can write it (else the base is in AOF format, and
    named .base.aof so that the name says what is inside)."""
    return bool(setting(server, 'aof_use_rdb_preamble', True)) and _rdb_api() is not None


def write_base(server, f):
    """Write the dataset to the open binary file ``f``: RDB when
    use_rdb_preamble() says so, else commands."""
    if use_rdb_preamble(server):
        _rdb_api()[0](server, f)
        return
    ts = setting(server, 'aof_timestamp_enabled', False)
    for chunk in rewrite_commands(server, ts):
        f.write(chunk)


def rewrite_append_only_file(server, filename):
    """rewriteAppendOnlyFile: write the base to a temp file, fsync, rename.
    Returns True on success."""
    tmpfile = server.path('temp-rewriteaof-%d.aof' % os.getpid())
    try:
        with open(tmpfile, 'wb') as f:
            write_base(server, f)
            f.flush()
            os.fsync(f.fileno())
    except Exception as e:
        log.warning('Write error writing append only file on disk: %s' % (
            getattr(e, 'strerror', None) or e))
        _unlink(tmpfile)
        return False
    try:
        os.rename(tmpfile, filename)
    except OSError as e:
        log.warning('Error moving temp append only file on the final destination: %s' %
                    e.strerror)
        _unlink(tmpfile)
        return False
    return True


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


# -- the per-server state ------------------------------------------------------------

class Aof:
    def __init__(self, server):
        self.server = server
        self.state = AOF_OFF
        self.fd = -1
        self.buf = []                   # runs (dbid, [argv, ...]) and raw bytes
        self.tail_db = -2               # the last run's database, -2: none open
        self.tail = None                # the last run's argv list
        self.scheduled = False
        self.waiting = {}               # clients whose replies wait for the write
        self._misconf = None
        self.selected_db = -1
        self.manifest = Manifest()
        self.current_size = 0
        self.rewrite_base_size = 0
        self.last_incr_size = 0
        self.fsync_offset = 0
        self.last_fsync = 0
        self.cur_timestamp = 0
        self.always = self.everysec = self.ts_enabled = False
        self.slow_fsync_start = 0       # aof_flush_postponed_start's part (flush)
        self.flush_sleep_us = 0         # DEBUG AOF-FLUSH-SLEEP
        self.child_pid = None
        self.rewrite_scheduled = False
        self.rewrite_time_start = -1
        self.rewrite_time_last = -1
        self.lastbgrewrite_ok = True
        self.last_write_ok = True
        self.last_write_error = ''
        self.rewrites = 0
        self.consecutive_failures = 0
        self.delayed_fsync = 0
        self._executor = None
        self._fsync_future = None
        self._limit_delay = 0
        self._limit_next = 0
        self._last_write_error_log = 0
        self.refresh_policy()

    # -- paths ---------------------------------------------------------------

    def path(self, name):
        return os.path.join(aof_dirname(self.server), name)

    def file_size(self, name):
        """getAppendOnlyFileSize (timed: "aof-fstat")."""
        start = time.perf_counter_ns()
        try:
            return os.stat(self.path(name)).st_size
        except OSError:
            return 0
        finally:
            self.latency(b'aof-fstat', start)

    def latency(self, event, start_ns):
        """A latency monitor sample for an operation started at start_ns
        (perf_counter_ns): the events aof.c records."""
        add = getattr(self.server, 'latency_add', None)
        if add is not None:
            add(event, (time.perf_counter_ns() - start_ns) // 1000000)

    def persist_manifest(self, m):
        """writeAofManifestFile: temp file, fsync, rename, fsync the dir."""
        if not m.dirty:
            return True
        dirname = aof_dirname(self.server)
        name = aof_filename(self.server) + '.manifest'
        tmp = os.path.join(dirname, 'temp-' + name)
        final = os.path.join(dirname, name)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o644)
        except OSError as e:
            log.warning("Can't open the AOF manifest file %s: %s" % ('temp-' + name, e.strerror))
            return False
        try:
            data = m.to_bytes()
            while data:
                n = os.write(fd, data)
                data = data[n:]
            os.fsync(fd)
        except OSError as e:
            log.warning('Error trying to write the temporary AOF manifest file %s: %s' % (
                'temp-' + name, e.strerror))
            os.close(fd)
            return False
        os.close(fd)
        try:
            os.rename(tmp, final)
        except OSError as e:
            log.warning('Error trying to rename the temporary AOF manifest file %s into %s: %s' % (
                'temp-' + name, name, e.strerror))
            return False
        fsync_dir(final)
        m.dirty = False
        return True

    def ensure_dir(self):
        dirname = aof_dirname(self.server)
        try:
            os.makedirs(dirname, exist_ok=True)
            return True
        except OSError as e:
            log.warning("Can't open or create append-only dir %s: %s" % (
                aof_dirname_setting(self.server), e.strerror))
            return False

    # -- writing ---------------------------------------------------------------

    def refresh_policy(self):
        """Cache the settings the write path reads (CONFIG SET hooks and the
        cron call this), so feeding a command reads no config."""
        policy = fsync_policy(self.server)
        self.always = policy == 'always'
        self.everysec = policy == 'everysec'
        self.ts_enabled = bool(setting(self.server, 'aof_timestamp_enabled', False))

    def feed(self, ops):
        """The propagation target: queue the operations for the next write.
        They are encoded when written (_encode), one C call per run of
        commands in the same database rather than one call per command."""
        if self.state != AOF_ON and self.child_pid is None:
            return      # waiting for the rewrite that will create the base
        buf = self.buf
        if not buf and not self.scheduled:
            self.scheduled = True
            loop = self.server.loop
            if loop is not None:
                loop.call_soon(self.before_sleep)
        if self.ts_enabled:
            if self.cur_timestamp < self.server.unixtime:
                self.cur_timestamp = self.server.unixtime
                buf.append(b'#TS:%d\r\n' % self.cur_timestamp)
            self.tail_db = -2   # each feed checks the clock: no appending to the run
        tail_db = self.tail_db
        for dbid, argv in ops:
            if dbid != tail_db and dbid != -1 and argv != _EXEC or tail_db == -2:
                # A new run: its database is selected before it if needed.
                self.tail = [argv]
                buf.append((dbid, self.tail))
                tail_db = dbid
            else:
                self.tail.append(argv)
        if not self.ts_enabled:
            # The trusted request path appends lone writes in this database
            # straight to the run (networking.py); a run only exists while
            # the buffer is non-empty, so before_sleep is already scheduled.
            self.tail_db = tail_db

    def clear_buf(self):
        self.buf = []
        self.tail_db = -2       # no run to append to
        self.tail = None

    def _encode(self):
        """The buffer as bytes, with a SELECT wherever the database changes
        (feedAppendOnlyFile)."""
        buf = self.buf
        self.clear_buf()
        sel = self.selected_db
        if len(buf) == 1 and buf[0].__class__ is tuple:
            # The usual batch: one run in one database, one C call.
            dbid, argvs = buf[0]
            if dbid == sel or dbid == -1:
                try:
                    return pack_commands(argvs)
                except TypeError:
                    pass        # a bytearray argument: the general loop below
        out = []
        for item in buf:
            if item.__class__ is bytes:
                out.append(item)
                continue
            dbid, argvs = item
            if dbid != sel and dbid != -1:
                out.append(select_command(dbid))
                sel = dbid
            try:
                out.append(pack_commands(argvs))
            except TypeError:
                out.extend(map(encode_command, argvs))
        self.selected_db = sel
        return b''.join(out)

    def reply_barrier(self, c):
        """Client.flush asks before sending: True holds the reply until the
        buffer is written (and fsynced with appendfsync always)."""
        if not self.buf:
            return False
        if not self.scheduled:
            self.scheduled = True
            self.server.loop.call_soon(self.before_sleep)
        self.waiting[c.id] = c
        return True

    def before_sleep(self):
        """Once per loop iteration with data: write (and fsync when
        'always'), then release the replies held meanwhile."""
        self.scheduled = False
        self.flush()
        waiting = self.waiting
        if waiting:
            self.waiting = {}
            # If the write failed, the data stays buffered for the cron to
            # retry and the replies go anyway, as in Redis (with appendfsync
            # always it exits): past the barrier, send, not flush.
            for c in waiting.values():
                if c.out:
                    c.send()
                elif c.close_after_reply and c.transport is not None:
                    c.transport.close()

    def flush(self, force=False):
        """flushAppendOnlyFile: write the buffer, fsync when 'always'."""
        if self.fd == -1:
            self.clear_buf()
            return
        if not self.buf:
            return
        if self.everysec and not force and self.fsync_in_progress():
            # Redis postpones the write while the background fsync runs, for
            # two seconds at most, for fear that write(2) waits for the fsync
            # of the same file; but it sends the replies meanwhile, and a
            # kill -9 then loses them (benchmarks/kill9.py sees redis-server
            # lose thousands). Holding the replies instead would stall the
            # clients for the fsync plus the fsync thread's wait for the
            # GIL (225 ms at worst on a busy machine), and on Linux a write
            # to the page cache does not wait for the fsync (measured: 0.2 ms
            # at most during fsyncs). So the write goes now. What is kept of
            # Redis's rule is its account of a slow disk: an fsync still
            # running two seconds after the first write it would have held
            # back counts in aof_delayed_fsync, with Redis's log line, once
            # per two seconds.
            now = self.server.unixtime
            if not self.slow_fsync_start:
                self.slow_fsync_start = now
            elif now - self.slow_fsync_start >= 2:
                self.slow_fsync_start = 0
                self.delayed_fsync += 1
                log.notice('Asynchronous AOF fsync is taking too long (disk is busy?). Writing '
                           'the AOF buffer without waiting for fsync to complete, this may slow '
                           'down Redis.')
        else:
            self.slow_fsync_start = 0
        data = self._encode()
        if self.flush_sleep_us:
            # DEBUG AOF-FLUSH-SLEEP: Redis's tests slow the write down so.
            time.sleep(self.flush_sleep_us / 1e6)
        written = 0
        start = time.perf_counter_ns()
        try:
            while written < len(data):
                written += os.write(self.fd, data[written:] if written else data)
        except OSError as e:
            self._write_latency(start)
            self._write_error(data, written, e)
            return
        self._write_latency(start)
        if not self.last_write_ok:
            log.warning('AOF write error looks solved, Redis can write again.')
            self.last_write_ok = True
            self._update_misconf()
        self.current_size += written
        self.last_incr_size += written
        if self.always and not self._fsync_suspended():
            start = time.perf_counter_ns()
            try:
                os.fdatasync(self.fd)
            except OSError as e:
                log.warning("Can't persist AOF for fsync error when the AOF fsync policy is "
                            "'always': %s. Exiting..." % e.strerror)
                os._exit(1)
            self.latency(b'aof-fsync-always', start)
            self.fsync_offset = self.current_size
            self.last_fsync = self.server.unixtime

    def _write_latency(self, start):
        """flushAppendOnlyFile's samples of the write: by circumstance (an
        fsync of the file running, a child running, neither) and all of
        them as "aof-write", with one duration (and nothing to do, on every
        flush, while the latency monitor is off)."""
        server = self.server
        add = server.latency_add
        if add is None or not server.config.latency_monitor_threshold:
            return
        ms = (time.perf_counter_ns() - start) // 1000000
        if self.everysec and self.fsync_in_progress():
            add(b'aof-write-pending-fsync', ms)
        elif self.has_active_child():
            add(b'aof-write-active-child', ms)
        else:
            add(b'aof-write-alone', ms)
        add(b'aof-write', ms)

    def _write_error(self, data, written, e):
        now = clock.time()
        if now - self._last_write_error_log > 30:
            self._last_write_error_log = now
            log.warning('Error writing to the AOF file: %s' % e.strerror)
        self.last_write_error = e.strerror
        if self.always:
            log.warning("Can't recover from AOF write error when the AOF fsync policy is "
                        "'always'. Exiting...")
            os._exit(1)
        self.last_write_ok = False
        self._update_misconf()
        if written:
            self.current_size += written
            self.last_incr_size += written
        self.buf.insert(0, data[written:])

    def _update_misconf(self):
        """Deny writes with -MISCONF while the AOF cannot be written
        (writeCommandsDeniedByDiskError), sharing server.write_denied_reason
        with the RDB side: set it only when free, clear it only when ours."""
        server = self.server
        if not self.last_write_ok and server.write_denied_reason is None:
            self._misconf = resp_error('MISCONF Errors writing to the AOF file: %s' %
                                       self.last_write_error)
            server.write_denied_reason = self._misconf
            server.update_gate()
        elif self.last_write_ok and self._misconf is not None:
            if server.write_denied_reason is self._misconf:
                server.write_denied_reason = None
                server.update_gate()
            self._misconf = None

    def _fsync_suspended(self):
        return (setting(self.server, 'no_appendfsync_on_rewrite', False)
                and self.has_active_child())

    def fsync_in_progress(self):
        f = self._fsync_future
        return f is not None and not f.done()

    def background_fsync(self, fd, close=False):
        """aof_background_fsync / aof_background_fsync_and_close. Only the
        fsync of the file being written counts as in progress (Redis's
        BIO_AOF_FSYNC jobs; closing the previous incr file is a job of
        another kind)."""
        if self._executor is None:
            from concurrent.futures import ThreadPoolExecutor
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix='aof-fsync')
        future = self._executor.submit(_fsync_fd, fd, close)
        if not close:
            self._fsync_future = future

    def everysec_fsync(self):
        """From the cron: start a background fsync at most once a second."""
        server = self.server
        if (self.fd != -1 and self.fsync_offset != self.current_size
                and server.unixtime > self.last_fsync and not self.fsync_in_progress()
                and not self._fsync_suspended()):
            self.background_fsync(self.fd)
            self.fsync_offset = self.current_size
            self.last_fsync = server.unixtime

    # -- on / off ----------------------------------------------------------------

    def attach(self):
        """Receive propagated writes and hold replies for the write."""
        server = self.server
        if self.feed not in server.propagate_targets:
            server.propagate_targets.append(self.feed)
            server.targets_changed()
        server.reply_barrier = self.reply_barrier

    def detach(self):
        server = self.server
        if self.feed in server.propagate_targets:
            server.propagate_targets.remove(self.feed)
            server.targets_changed()
        if server.reply_barrier == self.reply_barrier:
            server.reply_barrier = None
        waiting, self.waiting = self.waiting, {}
        for c in waiting.values():
            if c.out:
                c.flush()

    def stop(self):
        """stopAppendOnly (CONFIG SET appendonly no)."""
        waiting_rewrite = self.state == AOF_WAIT_REWRITE
        self.flush(True)
        if self.fd != -1:
            try:
                os.fsync(self.fd)
                self.fsync_offset = self.current_size
                self.last_fsync = self.server.unixtime
            except OSError as e:
                log.warning('Fail to fsync the AOF file: %s' % e.strerror)
            os.close(self.fd)
        self.fd = -1
        self.selected_db = -1
        self.state = AOF_OFF
        self.rewrite_scheduled = False
        self.last_incr_size = 0
        self.kill_child()
        self.clear_buf()
        self.detach()
        if waiting_rewrite:
            # Turned off before the first rewrite finished: its temp incr
            # file belongs to no manifest.
            _unlink(self.path(self.temp_incr_name()))

    def start(self):
        """startAppendOnly (CONFIG SET appendonly yes): the base is created by
        a rewrite; writes meanwhile go to a temp incr file. True on success."""
        server = self.server
        self.state = AOF_WAIT_REWRITE
        self.attach()
        if self.other_child_active():
            self.rewrite_scheduled = True
            log.warning('AOF was enabled but there is already another background operation. '
                        'An AOF background was scheduled to start when possible.')
        elif server.in_exec:
            self.rewrite_scheduled = True
            log.warning('AOF was enabled during a transaction. An AOF background was '
                        'scheduled to start when possible.')
        else:
            if self.child_pid is not None:
                log.warning('AOF was enabled but there is already an AOF rewriting in '
                            'background. Stopping background AOF and starting a rewrite now.')
                self.kill_child()
            if not self.rewrite_background():
                self.state = AOF_OFF
                self.detach()
                if self.fd != -1:       # the temp incr file of the failed attempt
                    os.close(self.fd)
                    self.fd = -1
                    _unlink(self.path(self.temp_incr_name()))
                log.warning("Redis needs to enable the AOF but can't trigger a background AOF "
                            "rewrite operation. Check the above logs for more info about the "
                            "error.")
                return False
        self.last_fsync = server.unixtime
        if not self.last_write_ok:
            log.warning('AOF reopen, just ignore the last error.')
            self.last_write_ok = True
            self._update_misconf()
        return True

    # -- rewrite -----------------------------------------------------------------------

    def has_active_child(self):
        return self.child_pid is not None or self.other_child_active()

    def other_child_active(self):
        """A BGSAVE (or other) child of another subsystem is running."""
        server = self.server
        if getattr(server, 'rdb_child_pid', None):
            return True
        # pid -> callback of the children other subsystems reap.
        handlers = getattr(server, 'child_handlers', None)
        return bool(handlers) and any(pid != self.child_pid for pid in handlers)

    def temp_incr_name(self):
        return 'temp-%s.incr' % aof_filename(self.server)

    def open_new_incr(self):
        """openNewIncrAofForAppend. True on success."""
        if self.state == AOF_OFF:
            return True
        temp_am = None
        if self.state == AOF_WAIT_REWRITE:
            name = self.temp_incr_name()
        else:
            temp_am = self.manifest.copy()
            name = temp_am.new_incr_name(self.server)
        try:
            newfd = os.open(self.path(name), os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o644)
        except OSError as e:
            log.warning("Can't open the append-only file %s: %s" % (name, e.strerror))
            return False
        if temp_am is not None and not self.persist_manifest(temp_am):
            os.close(newfd)
            return False
        log.notice('Creating AOF incr file %s on background rewrite' % name)
        if self.fd != -1:
            self.background_fsync(self.fd, close=True)
            self.fsync_offset = self.current_size
            self.last_fsync = self.server.unixtime
        self.fd = newfd
        self.last_incr_size = 0
        if temp_am is not None:
            self.manifest = temp_am
        return True

    def rewrite_background(self):
        """rewriteAppendOnlyFileBackground. True when the child started."""
        server = self.server
        if self.has_active_child():
            return False
        if not self.ensure_dir():
            self.lastbgrewrite_ok = False
            return False
        self.flush(True)
        # The new incr file starts with a SELECT.
        self.selected_db = -1
        if not self.open_new_incr():
            self.lastbgrewrite_ok = False
            return False
        self.rewrites += 1
        start = time.perf_counter_ns()
        try:
            pid = os.fork()
        except OSError as e:
            self.lastbgrewrite_ok = False
            log.warning("Can't rewrite append only file in background: fork: %s" % e.strerror)
            return False
        if pid == 0:
            _child_main(server)
        if hasattr(server, 'forked'):
            server.forked(start)
        log.notice('Background append only file rewriting started by pid %d' % pid)
        self.child_pid = pid
        self.rewrite_scheduled = False
        self.rewrite_time_start = clock.time()
        return True

    def kill_child(self):
        """killAppendOnlyChild"""
        pid = self.child_pid
        if pid is None:
            return
        log.notice('Killing running AOF rewrite child: %d' % pid)
        try:
            os.kill(pid, signal.SIGUSR1)
            os.waitpid(pid, 0)
        except (OSError, ChildProcessError):
            pass
        self.remove_temp_files(pid)
        self.child_pid = None
        self.rewrite_time_start = -1

    def remove_temp_files(self, pid):
        _unlink(self.server.path('temp-rewriteaof-bg-%d.aof' % pid))
        _unlink(self.server.path('temp-rewriteaof-%d.aof' % pid))

    def check_child(self):
        """From the cron: reap the rewrite child if it has finished."""
        pid = self.child_pid
        if pid is None:
            return
        try:
            wpid, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            # Reaped by someone else: judge by the file it leaves behind.
            wpid, status = pid, (0 if os.path.exists(
                self.server.path('temp-rewriteaof-bg-%d.aof' % pid))
                                 else 1 << 8)
        if wpid == 0:
            return
        if os.WIFSIGNALED(status):
            self.rewrite_done(0, os.WTERMSIG(status))
        else:
            self.rewrite_done(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1, 0)

    def rewrite_done(self, exitcode, bysignal):
        """backgroundRewriteDoneHandler"""
        pid = self.child_pid
        if not bysignal and exitcode == 0:
            log.notice('Background AOF rewrite terminated with success')
            self._install_rewrite(pid)
        elif not bysignal:
            self.lastbgrewrite_ok = False
            self.consecutive_failures += 1
            log.warning('Background AOF rewrite terminated with error')
        else:
            if bysignal != signal.SIGUSR1:
                self.lastbgrewrite_ok = False
                self.consecutive_failures += 1
            log.warning('Background AOF rewrite terminated by signal %d' % bysignal)
        self.remove_temp_files(pid)
        if self.state == AOF_WAIT_REWRITE:
            self.clear_buf()
            name = self.temp_incr_name()
            log.notice('Removing the temp incr aof file %s in the background' % name)
            _unlink(self.path(name))
        self.child_pid = None
        self.rewrite_time_last = int(clock.time() - self.rewrite_time_start)
        self.rewrite_time_start = -1
        if self.state == AOF_WAIT_REWRITE:
            self.rewrite_scheduled = True

    def _install_rewrite(self, pid):
        server = self.server
        tmpfile = 'temp-rewriteaof-bg-%d.aof' % pid
        temp_am = self.manifest.copy()
        base_name = temp_am.new_base_name(server)
        base_path = self.path(base_name)
        start = time.perf_counter_ns()
        try:
            os.rename(server.path(tmpfile), base_path)
        except OSError as e:
            log.warning('Error trying to rename the temporary AOF base file %s into %s: %s' % (
                tmpfile, base_path, e.strerror))
            self._rewrite_failed()
            return
        self.latency(b'aof-rename', start)
        log.notice('Successfully renamed the temporary AOF base file %s into %s' % (
            tmpfile, base_name))
        new_incr_path = None
        if self.state == AOF_WAIT_REWRITE:
            # Everything written since the rewrite started is in the temp
            # incr file: it becomes the first incr file after the new base.
            temp_incr = self.temp_incr_name()
            incr_name = temp_am.new_incr_name(server)
            new_incr_path = self.path(incr_name)
            self.flush(True)
            start = time.perf_counter_ns()
            try:
                os.rename(self.path(temp_incr), new_incr_path)
            except OSError as e:
                log.warning('Error trying to rename the temporary AOF incr file %s into %s: %s'
                            % (self.path(temp_incr), new_incr_path, e.strerror))
                _unlink(base_path)
                self._rewrite_failed()
                return
            self.latency(b'aof-rename', start)
            log.notice('Successfully renamed the temporary AOF incr file %s into %s' % (
                temp_incr, incr_name))
        temp_am.mark_rewritten_incr_as_history(self.fd != -1)
        if not self.persist_manifest(temp_am):
            _unlink(base_path)
            if new_incr_path:
                _unlink(new_incr_path)
            self._rewrite_failed()
            return
        self.manifest = temp_am
        if self.fd != -1:
            self.selected_db = -1
            self.current_size = self.file_size(base_name) + self.last_incr_size
            self.rewrite_base_size = self.current_size
            self.fsync_offset = self.current_size
            self.last_fsync = server.unixtime
        self.del_history_files()
        self.lastbgrewrite_ok = True
        self.consecutive_failures = 0
        log.notice('Background AOF rewrite finished successfully')
        if self.state == AOF_WAIT_REWRITE:
            self.state = AOF_ON

    def _rewrite_failed(self):
        self.lastbgrewrite_ok = False
        self.consecutive_failures += 1

    def del_history_files(self):
        m = self.manifest
        if not m.history or setting(self.server, 'aof_disable_auto_gc', False):
            return True
        for info in m.history:
            log.notice('Removing the history file %s in the background' % info.name)
            _unlink(self.path(info.name))
        m.history = []
        m.dirty = True
        return self.persist_manifest(m)

    def rewrite_limited(self):
        """aofRewriteLimited: back off after repeated failures."""
        if self.consecutive_failures < AOF_REWRITE_LIMIT_THRESHOLD:
            self._limit_delay = 0
            self._limit_next = 0
            return False
        now = self.server.unixtime
        if self._limit_next:
            if now < self._limit_next:
                return True
            self._limit_next = 0
            return False
        self._limit_delay = min(self._limit_delay * 2 if self._limit_delay else 1,
                                AOF_REWRITE_LIMIT_MAX_MINUTES)
        self._limit_next = now + self._limit_delay * 60
        log.warning('Background AOF rewrite has repeatedly failed and triggered the limit, '
                    'will retry in %d minutes' % self._limit_delay)
        return True

    # -- cron and shutdown ---------------------------------------------------------------

    def cron(self):
        self.check_child()
        server = self.server
        if (not self.has_active_child() and self.rewrite_scheduled
                and not self.rewrite_limited()):
            self.rewrite_background()
        perc = setting(server, 'auto_aof_rewrite_percentage', 100)
        if (self.state == AOF_ON and perc and not self.has_active_child()
                and self.current_size > setting(server, 'auto_aof_rewrite_min_size',
                                                64 * 1024 * 1024)):
            base = self.rewrite_base_size or 1
            growth = self.current_size * 100 // base - 100
            if growth >= perc and not self.rewrite_limited():
                log.notice('Starting automatic rewriting of AOF on %d%% growth' % growth)
                self.rewrite_background()
        self.refresh_policy()
        if self.state != AOF_OFF:
            # (Also while waiting for the first rewrite: the commands go to
            # the temp incr file meanwhile.)
            if self.buf and not self.scheduled:
                # A write that failed, retried.
                self.before_sleep()
            if self.everysec:
                self.everysec_fsync()

    def shutdown(self, save=None):
        if self.child_pid is not None:
            log.warning('There is a child rewriting the AOF. Killing it!')
            self.kill_child()
        if self.state != AOF_OFF and self.fd != -1:
            self.flush(True)
            log.notice('Calling fsync() on the AOF file.')
            try:
                os.fsync(self.fd)
            except OSError:
                pass
        return None

    # -- start-up ----------------------------------------------------------------------

    def load_manifest_from_disk(self):
        """aofLoadManifestFromDisk"""
        dirname = aof_dirname(self.server)
        self.manifest = Manifest()
        if not os.path.isdir(dirname):
            log.debug("The AOF directory %s doesn't exist" % aof_dirname_setting(self.server))
            return
        name = aof_filename(self.server) + '.manifest'
        path = os.path.join(dirname, name)
        if not os.path.exists(path):
            log.debug("The AOF manifest file %s doesn't exist" % name)
            return
        self.manifest = parse_manifest(path)

    def upgrade_prepare(self, m):
        """aofUpgradePrepare: move a legacy single-file AOF into the directory."""
        server = self.server
        filename = aof_filename(server)
        if not self.ensure_dir():
            raise AofFatal()
        m.base = AofInfo(filename, 1, TYPE_BASE)
        m.curr_base_seq = 1
        m.dirty = True
        if not self.persist_manifest(m):
            raise AofFatal()
        try:
            os.rename(server.path(filename), self.path(filename))
        except OSError as e:
            log.warning('Error trying to move the old AOF file %s into dir %s: %s' % (
                filename, aof_dirname_setting(server), e.strerror))
            raise AofFatal()
        log.notice('Successfully migrated an old-style AOF file (%s) into the AOF directory '
                   '(%s).' % (filename, aof_dirname_setting(server)))

    def load_files(self):
        """loadAppendOnlyFiles, run to completion (DEBUG LOADAOF)."""
        return _drive(self.load_files_iter())

    def load_files_iter(self):
        """loadAppendOnlyFiles: base then incr files, in manifest order. A
        generator: it yields every 1024 commands so that the start-up can
        serve events (-LOADING) meanwhile; returns the AOF_* result."""
        server = self.server
        m = self.manifest
        filename = aof_filename(server)
        if os.path.isfile(server.path(filename)):
            dir_exists = os.path.isdir(aof_dirname(server))
            if (not dir_exists or (m.base is None and not m.incr) or
                    (m.base is not None and not m.incr and m.base.name == filename
                     and not os.path.exists(self.path(filename)))):
                self.upgrade_prepare(m)
        if m.base is None and not m.incr:
            return AOF_NOT_EXIST
        files = ([m.base] if m.base else []) + list(m.incr)
        total = 0
        for info in files:
            try:
                total += os.stat(self.path(info.name)).st_size
            except OSError as e:
                log.warning('Unable to obtain the AOF file %s length. stat: %s' % (
                    info.name, e.strerror))
                return AOF_FAILED
        if total == 0:
            return AOF_EMPTY
        base_size = 0
        ret = AOF_OK
        # The loading_* fields of INFO persistence live in the RDB side's
        # state (startLoading / loadingAbsProgress).
        progress = getattr(server, 'rdb_state', None)
        if progress is not None and hasattr(progress, 'loading_total'):
            progress.loading_start = int(clock.time())
            progress.loading_total = total
            progress.loading_loaded = 0
        else:
            progress = None
        done = 0
        self._set_loading(True)
        try:
            for i, info in enumerate(files):
                last = i == len(files) - 1
                is_base = info is m.base
                if is_base:
                    base_size = self.file_size(info.name)
                start = clock.time()
                gen = load_single_file_iter(self, info.name)
                while True:
                    try:
                        pos = next(gen)
                    except StopIteration as e:
                        ret = e.value
                        break
                    if progress is not None:
                        progress.loading_loaded = done + pos
                    yield
                done += self.file_size(info.name)
                if progress is not None:
                    progress.loading_loaded = done
                if ret == AOF_OK or (ret == AOF_TRUNCATED and last):
                    log.notice('DB loaded from %s file %s: %.3f seconds' % (
                        'base' if is_base else 'incr', info.name, clock.time() - start))
                if ret == AOF_EMPTY and not is_base:
                    ret = AOF_OK
                if ret == AOF_TRUNCATED and not last:
                    ret = AOF_FAILED
                    log.warning('Fatal error: the truncated file is not the last file')
                if ret in (AOF_OPEN_ERR, AOF_FAILED):
                    return ret
        finally:
            self._set_loading(False)
        self.current_size = total
        self.rewrite_base_size = base_size
        self.fsync_offset = total
        return ret

    def _set_loading(self, on):
        server = self.server
        server.loading = on
        if hasattr(server, 'update_gate'):
            server.update_gate()

    def open_on_start(self):
        """aofOpenIfNeededOnServerStart"""
        server = self.server
        if self.state != AOF_ON:
            return
        if not self.ensure_dir():
            raise AofFatal()
        m = self.manifest
        if m.base is None and not m.incr:
            base_name = m.new_base_name(server)
            if not rewrite_append_only_file(server, self.path(base_name)):
                raise AofFatal()
            log.notice('Creating AOF base file %s on server start' % base_name)
        had_incr = bool(m.incr)
        name = m.last_incr_name(server)
        try:
            self.fd = os.open(self.path(name), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as e:
            log.warning("Can't open the append-only file %s: %s" % (name, e.strerror))
            raise AofFatal()
        if not self.persist_manifest(m):
            raise AofFatal()
        self.last_incr_size = self.file_size(name)
        if had_incr:
            log.notice('Opening AOF incr file %s on server start' % name)
        else:
            log.notice('Creating AOF incr file %s on server start' % name)
        if not self.current_size:
            base = self.file_size(m.base.name) if m.base else 0
            self.current_size = base + sum(self.file_size(a.name) for a in m.incr)
            self.rewrite_base_size = base
            self.fsync_offset = self.current_size
        self.last_fsync = server.unixtime

    async def on_startup(self):
        """main(): load the manifest, load the AOF when enabled (it wins over
        the RDB file), open the incr file, drop history files."""
        server = self.server
        try:
            self.load_manifest_from_disk()
            if self.state == AOF_ON:
                start = clock.time()
                # AOF takes precedence: whatever another loader put in the
                # keyspace before us is replaced.
                for db in server.dbs:
                    if db.data:
                        db.clear()
                dirty = server.dirty
                active_expire = server.active_expire_enabled
                loader = self.load_files_iter()
                while True:
                    try:
                        next(loader)
                    except StopIteration as e:
                        ret = e.value
                        break
                    # Serve the clients from time to time (they get
                    # -LOADING). The cron runs meanwhile: as Redis runs no
                    # cron while loading, keep it from expiring keys or
                    # reaching a save point on a half-loaded dataset.
                    server.active_expire_enabled = False
                    server.dirty = dirty
                    await asyncio.sleep(0)
                    server.active_expire_enabled = active_expire
                server.dirty = dirty
                if ret in (AOF_FAILED, AOF_OPEN_ERR):
                    raise AofFatal()
                if ret != AOF_NOT_EXIST:
                    log.notice('DB loaded from append only file: %.3f seconds' % (
                        clock.time() - start))
                server.aof_loaded = True
            self.open_on_start()
            self.del_history_files()
        except AofFatal:
            raise SystemExit(1)


def _fsync_fd(fd, close):
    try:
        os.fsync(fd)
    except OSError as e:
        log.warning('Fail to fsync the AOF file: %s' % e.strerror)
    if close:
        try:
            os.close(fd)
        except OSError:
            pass


def _child_main(server):
    """The forked rewrite child: write the base and exit without returning
    into the parent's event loop."""
    code = 1
    try:
        # Collecting would touch (and so copy) every page of the snapshot.
        gc.disable()
        log.logger.role = 'C'
        try:
            signal.signal(signal.SIGUSR1, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
        except (ValueError, OSError):
            pass
        tmpfile = server.path('temp-rewriteaof-bg-%d.aof' % os.getpid())
        if rewrite_append_only_file(server, tmpfile):
            log.notice('Successfully created the temporary AOF base file %s' % tmpfile)
            code = 0
    except BaseException as e:
        try:
            log.warning('AOF rewrite child failed: %s' % e)
        except BaseException:
            pass
    finally:
        os._exit(code)


# -- loading one file ------------------------------------------------------------------

class _Truncated(Exception):
    pass


class _FormatError(Exception):
    pass


def _drive(gen):
    """Run a loading generator to the end; its return value."""
    while True:
        try:
            next(gen)
        except StopIteration as e:
            return e.value


def load_single_file_iter(aof, filename):
    """loadSingleAppendOnlyFile, as a generator yielding every 1024
    commands; returns the AOF_* result."""
    server = aof.server
    path = aof.path(filename)
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except FileNotFoundError as e:
        log.warning("The append log file %s doesn't exist: %s" % (filename, e.strerror))
        return AOF_NOT_EXIST
    except OSError as e:
        log.warning("Fatal error: can't open the append log file %s for reading: %s" % (
            filename, e.strerror))
        return AOF_OPEN_ERR
    if not data:
        return AOF_EMPTY
    pos = 0
    if data.startswith(b'REDIS'):
        old_style = filename == aof_filename(server)
        if old_style:
            log.notice('Reading RDB preamble from AOF file...')
        else:
            log.notice('Reading RDB base file on AOF loading...')
        api = _rdb_api()
        ok = False
        if api is not None:
            try:
                pos = api[1](server, data)
                ok = True
            except Exception as e:
                # RDBError carries the offset of the damage.
                offset = getattr(e, 'offset', None)
                log.warning('%s%s' % (getattr(e, 'msg', e),
                                      ' at offset %d' % offset if offset is not None else ''))
        else:
            log.warning('RDB format is not supported by this build')
        if not ok:
            if old_style:
                log.warning('Error reading the RDB preamble of the AOF file %s, AOF loading '
                            'aborted' % filename)
            else:
                log.warning('Error reading the RDB base file %s, AOF loading aborted' % filename)
            return AOF_FAILED
        if old_style:
            log.notice('Reading the remaining AOF tail...')
    loader = _Replayer(server, filename)
    truncated = setting(server, 'aof_load_truncated', True)
    valid_up_to = pos
    valid_before_multi = pos
    loops = 0
    n = len(data)
    find = data.find
    try:
        while pos < n:
            first = data[pos]
            nl = find(b'\n', pos)
            if first == 35:             # '#': an annotation
                if nl < 0:
                    break
                pos = nl + 1
                continue
            if first != 42:             # '*'
                raise _FormatError(pos)
            if nl < 0 or pos + 1 == n:
                raise _Truncated()
            try:
                argc = int(data[pos + 1:nl])
            except ValueError:
                argc = _atoi(data[pos + 1:nl])
            if argc < 1:
                raise _FormatError(pos)
            pos = nl + 1
            argv = []
            for _ in range(argc):
                if pos >= n:
                    raise _Truncated()
                nl = find(b'\n', pos)
                if data[pos] != 36:     # '$'
                    raise _FormatError(pos)
                if nl < 0:
                    raise _Truncated()
                try:
                    ln = int(data[pos + 1:nl])
                except ValueError:
                    ln = _atoi(data[pos + 1:nl])
                start = nl + 1
                end = start + ln
                if end + 2 > n:
                    raise _Truncated()
                argv.append(data[start:end])
                pos = end + 2
            if len(argv[0]) == 5 and argv[0].lower() == b'multi':
                valid_before_multi = valid_up_to
            loops += 1
            if not loops & 1023:
                yield pos
            err = loader.execute(argv)
            if err is not None:
                log.warning(err)
                return AOF_FAILED
            if truncated:
                valid_up_to = pos
        if loader.in_multi:
            log.warning('Revert incomplete MULTI/EXEC transaction in AOF file %s' % filename)
            valid_up_to = valid_before_multi
            raise _Truncated()
    except _Truncated:
        if truncated:
            log.warning('!!! Warning: short read while loading the AOF file %s!!!' % filename)
            log.warning('!!! Truncating the AOF %s at offset %d !!!' % (filename, valid_up_to))
            try:
                os.truncate(path, valid_up_to)
            except OSError as e:
                log.warning('Error truncating the AOF file %s: %s' % (filename, e.strerror))
            else:
                log.warning('AOF %s loaded anyway because aof-load-truncated is enabled' %
                            filename)
                return AOF_TRUNCATED
        log.warning("Unexpected end of file reading the append only file %s. You can: "
                    "1) Make a backup of your AOF file, then use ./redis-check-aof --fix "
                    "<filename.manifest>. 2) Alternatively you can set the "
                    "'aof-load-truncated' configuration option to yes and restart the server."
                    % filename)
        return AOF_FAILED
    except _FormatError as e:
        log.warning("Bad file format reading the append only file %s: make a backup of your "
                    "AOF file, then use ./redis-check-aof --fix <filename.manifest>" % filename)
        log.warning('AOF format error in %s at offset %d' % (filename, e.args[0]))
        return AOF_FAILED
    return AOF_OK


class _Replayer:
    """Runs AOF commands in a connection-less client (createAOFClient):
    no replies, no propagation, MULTI/EXEC queued and run here."""

    def __init__(self, server, filename):
        from .networking import Client
        from . import commands
        self.server = server
        self.filename = filename
        self.client = Client(server)
        self.table = commands.DISPATCH if hasattr(commands, 'DISPATCH') else commands.TABLE
        self.in_multi = False
        self.queue = []

    def execute(self, argv):
        name = argv[0]
        cmd = self.table.get(name)
        if cmd is None:
            cmd = self.table.get(name.lower())
        if cmd is not None and cmd.subcommands is not None and len(argv) >= 2:
            cmd = cmd.subcommands.get(argv[1].lower())
        if cmd is None or cmd.proc is None:
            if name.lower() not in (b'multi', b'exec'):
                return "Unknown command '%s' reading the append only file %s" % (
                    name.decode('utf-8', 'replace'), self.filename)
            kind = name.lower().decode()
        else:
            kind = cmd.fullname
        if kind == 'multi':
            self.in_multi = True
            self.queue = []
            return None
        if kind == 'exec':
            queue, self.queue = self.queue, []
            self.in_multi = False
            for qcmd, qargv in queue:
                self._run(qcmd, qargv)
            return None
        if self.in_multi:
            self.queue.append((cmd, argv))
            return None
        self._run(cmd, argv)
        return None

    def _run(self, cmd, argv):
        c = self.client
        server = self.server
        try:
            cmd.proc(c, argv)
        except Exception as e:
            log.warning('Error replaying %s from the append only file %s: %s' % (
                cmd.fullname, self.filename, e))
        c.out.clear()     # (the list stays: its class carries the output limits)
        c.propagate_argv = None
        if server.also_propagated:
            server.also_propagated = []


# -- wiring ------------------------------------------------------------------------------

def info_fields(server):
    aof = server.aof
    now = clock.time()
    fields = [
        ('aof_enabled', int(aof.state != AOF_OFF)),
        ('aof_rewrite_in_progress', int(aof.child_pid is not None)),
        ('aof_rewrite_scheduled', int(aof.rewrite_scheduled)),
        ('aof_last_rewrite_time_sec', aof.rewrite_time_last),
        ('aof_current_rewrite_time_sec',
         int(now - aof.rewrite_time_start) if aof.child_pid is not None else -1),
        ('aof_last_bgrewrite_status', 'ok' if aof.lastbgrewrite_ok else 'err'),
        ('aof_rewrites', aof.rewrites),
        ('aof_rewrites_consecutive_failures', aof.consecutive_failures),
        ('aof_last_write_status', 'ok' if aof.last_write_ok else 'err'),
        ('aof_last_cow_size', 0),
    ]
    extra = []
    if setting(server, 'appendonly', False) or aof.state != AOF_OFF:
        extra = [
            ('aof_current_size', aof.current_size),
            ('aof_base_size', aof.rewrite_base_size),
            ('aof_pending_rewrite', int(aof.rewrite_scheduled)),
            ('aof_buffer_length', sum(len(b) for b in aof.buf if b.__class__ is bytes)),
            ('aof_pending_bio_fsync', int(aof.fsync_in_progress())),
            ('aof_delayed_fsync', aof.delayed_fsync),
        ]
    return fields, extra


def _wrap_persistence(server):
    from .commands import info as info_cmds
    inner = server.info_sections.get('persistence') or info_cmds.SECTIONS.get('persistence')
    if getattr(inner, '_aof_wrapper', False):
        return

    def persistence(srv):
        pairs = list(inner(srv)) if inner is not None else []
        fields, extra = info_fields(srv)
        values = dict(fields)
        names = {k for k, _ in pairs}
        out = [(k, values[k]) if k in values else (k, v) for k, v in pairs]
        missing = [(k, v) for k, v in fields if k not in names]
        extra = [(k, v) for k, v in extra if k not in names]
        anchor = 'module_fork_last_cow_size'
        idx = next((i for i, (k, _) in enumerate(out) if k == anchor), None)
        if idx is None:
            idx = next((i for i, (k, _) in enumerate(out) if k.startswith('aof_')), len(out) - 1)
        out[idx + 1:idx + 1] = missing + extra
        return out

    persistence._aof_wrapper = True
    server.info_sections['persistence'] = persistence


def attach_server(server):
    """The AOF state of a new Server, and its hooks."""
    aof = server.aof = Aof(server)
    if setting(server, 'appendonly', False):
        aof.state = AOF_ON
        aof.attach()
    server.cron_hooks.append(aof.cron)
    server.shutdown_hooks.append(aof.shutdown)
    server.startup_hooks.insert(0, lambda: _startup(server))
    _wrap_persistence(server)
    server.on_config_set('appendonly', set_appendonly)
    server.on_config_set('appendfsync', set_appendfsync)
    server.on_config_set('aof-timestamp-enabled', set_appendfsync)


def _startup(server):
    # Another subsystem may have replaced the INFO section after ours was
    # attached: make sure the aof_* fields are ours.
    _wrap_persistence(server)
    return server.aof.on_startup()


def set_appendonly(server):
    """CONFIG SET appendonly: start (through a rewrite) or stop."""
    from .config import ConfigError
    aof = server.aof
    on = bool(setting(server, 'appendonly', False))
    if not on and aof.state != AOF_OFF:
        aof.stop()
    elif on and aof.state == AOF_OFF:
        if not aof.start():
            raise ConfigError('Unable to turn on AOF. Check server logs.')


def set_appendfsync(server):
    server.aof.refresh_policy()


def restart_after_sync(server):
    """For the replica side of a full sync: the dataset was replaced, so the
    AOF starts over from a rewrite of the new one (Redis's
    stopAppendOnly before loading and restartAOFAfterSYNC after)."""
    aof = getattr(server, 'aof', None)
    if aof is None or aof.state == AOF_OFF:
        return
    aof.stop()
    if not aof.start():
        log.warning('Failed enabling the AOF after successful master synchronization! '
                    'Trying it again in one second.')
        aof.state = AOF_WAIT_REWRITE
        aof.attach()
        aof.rewrite_scheduled = True
