"""RDB persistence: SAVE, BGSAVE [SCHEDULE], LASTSAVE, DUMP, RESTORE, DEBUG
RELOAD, the save points, the start-up load and the shutdown save (the parts
of rdb.c, server.c and cluster.c that are about snapshots).

State lives in ``server.rdb_state`` (an ``RdbState``), set up by
``attach`` at the bottom, which also registers:

- a cron hook: reaps the BGSAVE child, starts a BGSAVE when a ``save
  <seconds> <changes>`` point is due or one was scheduled, and keeps the
  ``stop-writes-on-bgsave-error`` gate (``server.write_denied_reason``) in
  step with the last BGSAVE's outcome;
- a startup hook: loads ``dir/dbfilename`` (unless the AOF is on: then the
  AOF module loads the dataset), as a coroutine that yields to the event
  loop every couple of megabytes so clients get ``-LOADING`` meanwhile; a
  corrupt file stops the server with exit code 1 and the offset in the log;
- a shutdown hook: kills a running BGSAVE child and saves when save points
  are configured (or SHUTDOWN SAVE), unless SHUTDOWN NOSAVE;
- the INFO persistence section with real values (the AOF module wraps it
  to add its own aof_* fields).

BGSAVE forks: the child owns a copy-on-write image of the dataset, writes
``temp-<pid>.rdb``, fsyncs it, renames it over the dump file and leaves with
os._exit, so a crash at any point leaves the previous dump intact. The parent
keeps serving and reaps the child from the cron with waitpid(pid, WNOHANG).
Other subsystems may register their own children in ``server.child_handlers``
(pid -> callback(status)); when pyredis runs as PID 1 the cron also reaps
every other exited process (orphans re-parented to us), so no zombies pile
up in a container.
"""

import asyncio
import gc
import mmap
import os
import signal
import time

from . import command
from .. import log, rdb, resp
from ..db import holds_lfu
from ..resp import OK, SYNTAX_ERR, NOT_INT_ERR, integer
from ..notify import NotifyFlags
from ..util import string2ll, fsync_dir
from ..resp import LOADING_ERR
from .. import clock

MISCONF_ERR = (
    b"-MISCONF Redis is configured to save RDB snapshots, but it's currently unable to "
    b"persist to disk. Commands that may modify the data set are disabled, because this "
    b"instance is configured to report errors during writes if RDB snapshotting fails "
    b"(stop-writes-on-bgsave-error option). Please check the Redis logs for details about "
    b"the RDB error.\r\n")
BGSAVE_RETRY_DELAY = 5          # CONFIG_BGSAVE_RETRY_DELAY


class RdbState:
    def __init__(self):
        self.child_pid = None
        self.child_start = 0.0
        self.dirty_before_bgsave = 0
        self.lastbgsave_try = 0
        self.last_bgsave_ok = True
        self.last_bgsave_time_sec = -1
        self.bgsave_scheduled = False
        self.saves = 0
        self.last_load_keys_loaded = 0
        self.last_load_keys_expired = 0
        self.loading_start = 0
        self.loading_total = 0
        self.loading_loaded = 0
        self.misconf_set = False


def cfg(server, name, default):
    return getattr(server.config, name, default)


def _flag(v):
    if isinstance(v, str):
        return v.lower() in ('yes', '1', 'true')
    return bool(v)


def dump_path(server):
    return server.path(cfg(server, 'dbfilename', 'dump.rdb'))


def _repl_aux(server):
    """repl-stream-db/repl-id/repl-offset, as rdbPopulateSaveInfo gives them:
    for a replica, or for a master that is part of a replication chain (has
    a backlog); None otherwise."""
    repl = getattr(server, 'replication', None)
    if repl is None:
        return None
    if server.masterhost is None and getattr(repl, 'backlog', None) is None:
        return None
    replid = getattr(repl, 'replid', None)
    offset = getattr(repl, 'master_repl_offset', None)
    if replid is None or offset is None:
        return None
    if isinstance(replid, str):
        replid = replid.encode()
    seldb = getattr(repl, 'slaveseldb', -1)
    return {b'repl-stream-db': b'%d' % (seldb if seldb is not None and seldb >= 0 else 0),
            b'repl-id': replid, b'repl-offset': b'%d' % offset}


class SaveError(Exception):
    """A snapshot could not be written; the message is Redis's log line."""


def write_snapshot(server, path):
    """Write the dataset to a temp file, fsync it and rename it over
    ``path`` (rdbSave's file dance). Raises SaveError with Redis's log
    message; the temp file never survives a failure."""
    name = 'temp-%d.rdb' % os.getpid()
    tmp = server.path(name)
    try:
        f = open(tmp, 'wb')
    except OSError as e:
        raise SaveError('Failed opening the temp RDB file %s (in server root dir %s) for '
                        'saving: %s' % (name, _root(server), e.strerror))
    try:
        with f:
            writer = rdb.Writer(f, rdb.Options(server.config, server))
            server.rdb_save_writer = writer
            try:
                writer.save(server, _repl_aux(server))
            finally:
                server.rdb_save_writer = None
            f.flush()
            os.fsync(f.fileno())
    except (OSError, rdb.RDBError) as e:
        _unlink(tmp)
        raise SaveError('Write error saving DB on disk: %s' % (getattr(e, 'strerror', None) or e))
    except BaseException:
        _unlink(tmp)
        raise
    try:
        os.rename(tmp, path)
    except OSError as e:
        _unlink(tmp)
        raise SaveError('Error moving temp DB file %s on the final destination %s (in server '
                        'root dir %s): %s' % (name, os.path.basename(path), _root(server),
                                             e.strerror))
    fsync_dir(path)


def _root(server):
    try:
        return server.config.dir or os.getcwd()
    except OSError:
        return '(removed directory)'


def rdb_save(server):
    """SAVE: a blocking save. True on success."""
    st = server.rdb_state
    st.saves += 1
    try:
        write_snapshot(server, dump_path(server))
    except SaveError as e:
        log.warning(str(e))
        return False
    log.notice('DB saved on disk')
    server.dirty = 0
    server.rdb_last_save_time = int(clock.time())
    st.last_bgsave_ok = True
    update_misconf(server)
    return True


# -- children --------------------------------------------------------------------

def has_active_child(server):
    if server.rdb_state.child_pid is not None:
        return True
    aof = getattr(server, 'aof', None)
    if aof is not None and getattr(aof, 'child_pid', None) is not None:
        return True
    return any(pid for pid in server.child_handlers)


def rdb_save_background(server):
    """rdbSaveBackground: fork a child that writes the snapshot. True when
    the child started."""
    st = server.rdb_state
    st.dirty_before_bgsave = server.dirty
    st.lastbgsave_try = clock.time()
    st.saves += 1
    start = clock.time()
    path = dump_path(server)
    fork_start = time.perf_counter_ns()
    try:
        pid = os.fork()
    except OSError as e:
        st.last_bgsave_ok = False
        log.warning("Can't save in background: fork: %s" % e.strerror)
        update_misconf(server)
        return False
    if pid == 0:
        _child_main(server, path)
    server.forked(fork_start)
    log.notice('Background saving started by pid %d' % pid)
    st.child_pid = pid
    st.child_start = start
    server.rdb_child_pid = pid
    server.child_handlers[pid] = lambda status: _bgsave_done(server, pid, status)
    return True


def _child_main(server, path):
    """The BGSAVE child: never returns."""
    code = 1
    try:
        # Collection would touch (and so copy) every object's page.
        gc.disable()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        try:
            signal.set_wakeup_fd(-1)
        except (ValueError, OSError):
            pass
        log.logger.role = 'C'
        # Let go of the listening sockets (closeChildUnusedResourceAfterFork):
        # if the parent dies, the port must not stay taken by the child.
        for listener in server.listeners:
            for sock in getattr(listener, 'sockets', None) or ():
                try:
                    os.close(sock.fileno())
                except (OSError, ValueError):
                    pass
        delay = cfg(server, 'rdb_key_save_delay', 0)
        if delay:
            # Debug knob (rdb-key-save-delay, microseconds per key) the
            # tests use to catch a BGSAVE in progress.
            _slow_down(server, delay)
        write_snapshot(server, path)
        log.notice('DB saved on disk')
        code = 0
    except BaseException as e:  # the child must never go back to the loop
        try:
            log.warning(str(e) if isinstance(e, SaveError) else
                        'Write error saving DB on disk: %s' % e)
        except BaseException:
            pass
    finally:
        os._exit(code)


def _slow_down(server, delay_us):
    orig_save_db = rdb.Writer.save_db

    def save_db(self, db, lruclock):
        data = db.data
        if not data:
            return
        sleeper = _DelayedDict(data, delay_us)
        db.data = sleeper
        try:
            orig_save_db(self, db, lruclock)
        finally:
            db.data = data

    rdb.Writer.save_db = save_db


class _DelayedDict(dict):
    """Iterating its items sleeps before each key (rdb-key-save-delay)."""

    def __init__(self, data, delay_us):
        super().__init__()
        self.inner = data
        self.delay = delay_us / 1e6

    def __len__(self):
        return len(self.inner)

    def __bool__(self):
        return bool(self.inner)

    def items(self):
        for kv in self.inner.items():
            time.sleep(self.delay)
            yield kv


def _bgsave_done(server, pid, status):
    """backgroundSaveDoneHandlerDisk."""
    st = server.rdb_state
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        log.warning('Background saving terminated by signal %d' % sig)
        start = time.perf_counter_ns()
        _unlink(server.path('temp-%d.rdb' % pid))
        if server.latency_add is not None:
            server.latency_add(b'rdb-unlink-temp-file', (time.perf_counter_ns() - start) // 1000000)
        if sig != signal.SIGUSR1:
            st.last_bgsave_ok = False
    elif os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        log.notice('Background saving terminated with success')
        server.dirty = max(0, server.dirty - st.dirty_before_bgsave)
        server.rdb_last_save_time = int(clock.time())
        st.last_bgsave_ok = True
    else:
        log.warning('Background saving error')
        st.last_bgsave_ok = False
    st.last_bgsave_time_sec = int(clock.time() - st.child_start)
    st.child_pid = None
    server.rdb_child_pid = None
    update_misconf(server)


def kill_rdb_child(server):
    """killRDBChild: stop a running BGSAVE and remove its temp file."""
    st = server.rdb_state
    pid = st.child_pid
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGUSR1)
        os.waitpid(pid, 0)
    except (OSError, ChildProcessError):
        pass
    server.child_handlers.pop(pid, None)
    _unlink(server.path('temp-%d.rdb' % pid))
    st.child_pid = None
    server.rdb_child_pid = None


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def reap_children(server):
    """Reap our exited children; as PID 1, every exited process."""
    handlers = server.child_handlers
    for pid in list(handlers):
        try:
            wpid, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            wpid, status = pid, 1 << 8      # reaped elsewhere: treat as failed
        if wpid:
            cb = handlers.pop(pid, None)
            if cb is not None:
                cb(status)
    if os.getpid() == 1 and server.owns_process:
        aof = getattr(server, 'aof', None)
        aof_pid = getattr(aof, 'child_pid', None) if aof is not None else None
        while True:
            # Peek first: the AOF module reaps its own child itself.
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                break
            if info is None or info.si_pid == aof_pid:
                break
            try:
                wpid, status = os.waitpid(info.si_pid, os.WNOHANG)
            except ChildProcessError:
                continue
            cb = handlers.pop(wpid, None)
            if cb is not None:
                cb(status)


# -- cron -------------------------------------------------------------------------

def update_misconf(server):
    """Deny writes with -MISCONF while the last BGSAVE failed, save points
    exist and stop-writes-on-bgsave-error is on (writeCommandsDeniedByDiskError)."""
    st = server.rdb_state
    want = (not st.last_bgsave_ok and bool(cfg(server, 'save', []))
            and _flag(cfg(server, 'stop_writes_on_bgsave_error', True)))
    if want and server.write_denied_reason is None:
        server.write_denied_reason = MISCONF_ERR
        st.misconf_set = True
        server.update_gate()
    elif not want and st.misconf_set:
        if server.write_denied_reason == MISCONF_ERR:
            server.write_denied_reason = None
        st.misconf_set = False
        server.update_gate()


def cron(server):
    st = server.rdb_state
    if server.child_handlers or os.getpid() == 1:
        reap_children(server)
    if server.loading:
        return
    now = clock.time()
    retry_ok = now - st.lastbgsave_try > BGSAVE_RETRY_DELAY or st.last_bgsave_ok
    if not has_active_child(server):
        for secs, changes in cfg(server, 'save', []) or []:
            if (server.dirty >= changes and now - server.rdb_last_save_time > secs
                    and retry_ok):
                log.notice('%d changes in %d seconds. Saving...' % (changes, secs))
                rdb_save_background(server)
                break
    if st.bgsave_scheduled and not has_active_child(server) and retry_ok:
        if rdb_save_background(server):
            st.bgsave_scheduled = False
    update_misconf(server)


# -- start-up load ------------------------------------------------------------------

def load_file(server, path, is_replica=None, allow_dup=False):
    """A synchronous load of an RDB file into the current dataset (DEBUG
    RELOAD). Returns LoadStats; raises RDBError/OSError."""
    stats = rdb.LoadStats()
    for _ in _load_gen(server, path, stats, is_replica, allow_dup):
        pass
    return stats


def _load_gen(server, path, stats, is_replica=None, allow_dup=False, yield_every=2 << 20):
    st = server.rdb_state
    if is_replica is None:
        is_replica = server.masterhost is not None
    with open(path, 'rb') as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise rdb.RDBError('Short read or OOM loading DB. Unrecoverable error, '
                               'aborting now.', 0)
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        st.loading_total = size
        st.loading_loaded = 0
        checksum = _flag(cfg(server, 'rdbchecksum', True))
        for pos in rdb.load_iter(server, data, stats, is_replica=is_replica,
                                 verify_checksum=checksum, allow_dup=allow_dup,
                                 yield_every=yield_every):
            st.loading_loaded = pos
            yield pos
        st.loading_loaded = size
    finally:
        data.close()
    st.last_load_keys_loaded = stats.keys_loaded
    st.last_load_keys_expired = stats.keys_expired


def _log_aux(stats):
    aux = stats.aux
    ver = aux.get(b'redis-ver')
    if ver:
        log.notice('Loading RDB produced by version %s' % ver.decode('latin-1'))
    ctime = aux.get(b'ctime')
    if ctime and ctime.lstrip(b'-').isdigit():
        log.notice('RDB age %d seconds' % (int(clock.time()) - int(ctime)))
    mem = aux.get(b'used-mem')
    if mem and mem.isdigit():
        log.notice('RDB memory usage when created %.2f Mb' % (int(mem) / 1024 / 1024))


async def startup_load(server):
    """loadDataFromDisk for the RDB case."""
    if _flag(cfg(server, 'appendonly', False)):
        return          # the AOF module loads the dataset
    path = dump_path(server)
    if not os.path.exists(path):
        return
    st = server.rdb_state
    stats = rdb.LoadStats()
    start = clock.time()
    st.loading_start = int(start)
    server.loading = True
    server.update_gate()
    # No active expiry while the dataset is half there (Redis runs no
    # serverCron while loading).
    active_expire = server.active_expire_enabled
    server.active_expire_enabled = False
    # key-load-delay (microseconds per key, a debug knob Redis's own tests
    # use to observe -LOADING): yield after every key and sleep.
    delay = cfg(server, 'key_load_delay', 0) or 0
    pause = delay / 1e6 if delay > 0 else 0
    # A master resuming the replication history saved in the file keeps the
    # expired keys through the load: they then go with a DEL in its backlog.
    repl = getattr(server, 'replication', None)
    saved = (repl.saved_history() if repl is not None and server.masterhost is None
             else None)
    try:
        for _ in _load_gen(server, path, stats, is_replica=True if saved else None,
                           yield_every=1 if pause else 2 << 20):
            await asyncio.sleep(pause)
            if server.shutting_down:
                log.warning('Shutdown requested while loading: the load is abandoned.')
                return
    except (rdb.RDBError, OSError) as e:
        offset = getattr(e, 'offset', None)
        if isinstance(e, rdb.RDBError):
            log.warning('Internal error in RDB reading offset %d, function at rdb.py -> %s' % (
                offset or 0, e.msg))
            log.warning("Terminating server after rdb file reading failure (file '%s')." %
                        os.path.abspath(path))
        else:
            log.warning('Fatal error loading the DB: %s. Exiting.' % e.strerror)
        server.exit_code = 1
        raise SystemExit(1)
    finally:
        server.loading = False
        server.active_expire_enabled = active_expire
        server.update_gate()
    if saved:
        stats.keys_expired = repl.resume_as_master(saved)
        stats.keys_loaded -= stats.keys_expired
        server.rdb_state.last_load_keys_expired = stats.keys_expired
        server.rdb_state.last_load_keys_loaded = stats.keys_loaded
    _log_aux(stats)
    log.notice('Done loading RDB, keys loaded: %d, keys expired: %d.' % (
        stats.keys_loaded, stats.keys_expired))
    log.notice('DB loaded from disk: %.3f seconds' % (clock.time() - start))


# -- shutdown ------------------------------------------------------------------------

def on_shutdown(server, save):
    """prepareForShutdown, the RDB part. Returns an error or None."""
    if server.rdb_state.child_pid is not None:
        log.warning('There is a child saving an .rdb. Killing it!')
        kill_rdb_child(server)
    # Never save a half-loaded dataset over the dump (shutdownCommand forces
    # NOSAVE while loading).
    if save is False or server.loading:
        return None
    if save or cfg(server, 'save', []):
        log.notice('Saving the final RDB snapshot before exiting.')
        if not rdb_save(server):
            log.warning("Error trying to save the DB, can't exit.")
            return b'ERR Errors trying to SHUTDOWN. Check logs.'
    return None


def on_flushall(server):
    """FLUSHALL with save points saves the (now empty) dataset, keeping
    `dirty` so that the flush is still propagated."""
    kill_rdb_child(server)
    if cfg(server, 'save', []):
        dirty = server.dirty
        rdb_save(server)
        server.dirty = dirty


# -- commands ---------------------------------------------------------------------------

@command('save')
def save_cmd(c, argv):
    server = c.server
    if server.rdb_state.child_pid is not None:
        return b'-ERR Background save already in progress\r\n'
    if rdb_save(server):
        return OK
    return b'-ERR\r\n'


@command('bgsave')
def bgsave_cmd(c, argv):
    schedule = False
    if len(argv) > 1:
        if len(argv) == 2 and argv[1].lower() == b'schedule':
            schedule = True
        else:
            return SYNTAX_ERR
    server = c.server
    st = server.rdb_state
    if st.child_pid is not None:
        return b'-ERR Background save already in progress\r\n'
    if has_active_child(server) or server.in_exec:
        if schedule or server.in_exec:
            st.bgsave_scheduled = True
            return b'+Background saving scheduled\r\n'
        return (b"-ERR Another child process is active (AOF?): can't BGSAVE right now. "
                b"Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.\r\n")
    if rdb_save_background(server):
        return b'+Background saving started\r\n'
    return b'-ERR\r\n'


@command('lastsave')
def lastsave_cmd(c, argv):
    return integer(c.server.rdb_last_save_time)


@command('dump')
def dump_cmd(c, argv):
    v = c.db.lookup(argv[1])
    if v is None:
        return resp.null(c.resp)
    return resp.bulk(rdb.dump_payload(v, rdb.Options(c.server.config, c.server)))


@command('restore')
def restore_cmd(c, argv):
    server = c.server
    db = c.db
    key = argv[1]
    replace = absttl = False
    idle = freq = -1
    j = 4
    n = len(argv)
    while j < n:
        opt = argv[j].lower()
        more = n - j - 1
        if opt == b'replace':
            replace = True
        elif opt == b'absttl':
            absttl = True
        elif opt == b'idletime' and more and freq == -1:
            idle = string2ll(argv[j + 1])
            if idle is None:
                return NOT_INT_ERR
            if idle < 0:
                return b'-ERR Invalid IDLETIME value, must be >= 0\r\n'
            j += 1
        elif opt == b'freq' and more and idle == -1:
            freq = string2ll(argv[j + 1])
            if freq is None:
                return NOT_INT_ERR
            if freq < 0 or freq > 255:
                return b'-ERR Invalid FREQ value, must be >= 0 and <= 255\r\n'
            j += 1
        else:
            return SYNTAX_ERR
        j += 1
    exists = db.lookup_write(key) is not None
    if not replace and exists:
        return b'-BUSYKEY Target key name already exists.\r\n'
    ttl = string2ll(argv[2])
    if ttl is None:
        return NOT_INT_ERR
    if ttl < 0:
        return b'-ERR Invalid TTL value, must be >= 0\r\n'
    payload = argv[3]
    if not rdb.verify_dump_payload(payload, not c.server.skip_checksum_validation):
        return b'-ERR DUMP payload version or checksum are wrong\r\n'
    try:
        value = rdb.load_dump_payload(payload, c.server.config)
    except rdb.RDBError:
        return b'-ERR Bad data format\r\n'
    if rdb.is_empty(value):
        return b'-ERR Bad data format\r\n'
    deleted = db.delete(key) if replace else False
    now_ms = int(clock.time() * 1000)
    if ttl and not absttl:
        ttl += now_ms
    if ttl and ttl <= now_ms and not server.loading and server.masterhost is None:
        if deleted:
            lazy = _flag(cfg(server, 'lazyfree_lazy_server_del', False))
            c.propagate_argv = [[b'UNLINK' if lazy else b'DEL', key]]
            if server.notify_flags:
                server.notify(NotifyFlags.GENERIC, b'del', key, db.id)
            server.dirty += 1
        return OK
    db.add(key, value)
    if ttl:
        db.set_expire(key, ttl)
        if not absttl:
            c.propagate_argv = [[argv[0], key, b'%d' % ttl] + list(argv[3:]) + [b'ABSTTL']]
    # objectSetLRUOrLFU: FREQ counts under an LFU policy, IDLETIME otherwise.
    if holds_lfu(db.lru):
        if freq >= 0:
            rdb.set_lfu_frequency(server, db, key, freq)
    elif idle >= 0:
        db.lru[key] = (server.lruclock - idle) & rdb.LRU_CLOCK_MAX
    if server.notify_flags:
        server.notify(NotifyFlags.GENERIC, b'restore', key, db.id)
    server.dirty += 1
    return OK


def debug_reload(c, argv):
    """DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]."""
    server = c.server
    if server.loading:
        # Saving now would write the half-loaded dataset over the dump.
        return LOADING_ERR

    flush = save = True
    merge = False
    for a in argv[2:]:
        o = a.lower()
        if o == b'merge':
            merge = True
        elif o == b'noflush':
            flush = False
        elif o == b'nosave':
            save = False
        else:
            return b'-ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.\r\n'
    if save:
        if not rdb_save(server):
            return b'-ERR\r\n'
    if flush and not merge:
        for db in server.dbs:
            server.empty_database(db)
    path = dump_path(server)
    try:
        load_file(server, path, allow_dup=merge)
    except (rdb.RDBError, OSError) as e:
        log.warning('Error trying to load the RDB dump: %s' % e)
        return b'-ERR Error trying to load the RDB dump\r\n'
    log.notice('DB reloaded by DEBUG RELOAD')
    return OK


# -- INFO persistence -------------------------------------------------------------------

def info_persistence(server):
    st = server.rdb_state
    now = clock.time()
    saving = st.child_pid is not None
    fields = [
        ('loading', int(server.loading)),
        ('async_loading', 0),
        ('current_cow_peak', 0),
        ('current_cow_size', 0),
        ('current_cow_size_age', 0),
        ('current_fork_perc', '0.00'),
        ('current_save_keys_processed', 0),
        ('current_save_keys_total', sum(len(db.data) for db in server.dbs) if saving else 0),
        ('rdb_changes_since_last_save', server.dirty),
        ('rdb_bgsave_in_progress', int(saving)),
        ('rdb_last_save_time', server.rdb_last_save_time),
        ('rdb_last_bgsave_status', 'ok' if st.last_bgsave_ok else 'err'),
        ('rdb_last_bgsave_time_sec', st.last_bgsave_time_sec),
        ('rdb_current_bgsave_time_sec', int(now - st.child_start) if saving else -1),
        ('rdb_saves', st.saves),
        ('rdb_last_cow_size', 0),
        ('rdb_last_load_keys_expired', st.last_load_keys_expired),
        ('rdb_last_load_keys_loaded', st.last_load_keys_loaded),
    ]
    # The AOF module wraps this section and fills these in.
    fields += [
        ('aof_enabled', int(_flag(cfg(server, 'appendonly', False)))),
        ('aof_rewrite_in_progress', 0),
        ('aof_rewrite_scheduled', 0),
        ('aof_last_rewrite_time_sec', -1),
        ('aof_current_rewrite_time_sec', -1),
        ('aof_last_bgrewrite_status', 'ok'),
        ('aof_rewrites', 0),
        ('aof_rewrites_consecutive_failures', 0),
        ('aof_last_write_status', 'ok'),
        ('aof_last_cow_size', 0),
        ('module_fork_in_progress', 0),
        ('module_fork_last_cow_size', 0),
    ]
    if server.loading:
        total = st.loading_total or 1
        loaded = st.loading_loaded
        elapsed = now - st.loading_start
        eta = int((total - loaded) / (loaded / elapsed)) if loaded and elapsed > 0 else 1
        fields += [
            ('loading_start_time', st.loading_start),
            ('loading_total_bytes', st.loading_total),
            ('loading_rdb_used_mem', 0),
            ('loading_loaded_bytes', loaded),
            ('loading_loaded_perc', '%.2f' % (loaded * 100.0 / total)),
            ('loading_eta_seconds', eta),
        ]
    return fields


# -- wiring ------------------------------------------------------------------------------

def init_server(server):
    server.rdb_state = RdbState()
    server.rdb_child_pid = None
    if not hasattr(server, 'child_handlers'):
        server.child_handlers = {}
    server.rdb_save_writer = None
    server.cron_hooks.append(lambda: cron(server))
    server.shutdown_hooks.append(lambda save: on_shutdown(server, save))
    server.startup_hooks.append(lambda: startup_load(server))
    server.info_sections['persistence'] = info_persistence


def attach(server):
    init_server(server)
    server.debug_subcommands[b'reload'] = debug_reload
    server.flushall_hooks.append(on_flushall)
