"""The configuration system end to end: CONFIG GET * against a real
redis-server, CONFIG SET error texts (compat), fatal config errors (message,
exit code 1, nothing listening), CONFIG REWRITE round trip, the shipped
redis.conf files, and the directives pyredis applies at runtime.
"""

import os
import socket
import subprocess
import sys
import time

import pytest

from helpers import ROOT, REDIS_SERVER, RawConn, ServerProcess, free_port

# Values that depend on the machine or on how the test started the server.
MACHINE_DEPENDENT = {'dir', 'port'}

needs_redis = pytest.mark.skipif(not REDIS_SERVER, reason='redis-server is not installed: '
                                 'compatibility tests need it (apt-get install redis-server)')


def config_dict(port):
    import redis
    r = redis.Redis(port=port, decode_responses=True)
    try:
        return r.config_get('*')
    finally:
        r.close()


@needs_redis
def test_config_get_all_same_names_and_defaults_as_redis(server_factory):
    ours = config_dict(server_factory('pyredis').port)
    theirs = config_dict(server_factory('redis').port)
    assert len(theirs) == 192
    assert set(ours) == set(theirs)
    diff = {k: (ours[k], theirs[k]) for k in theirs
            if k not in MACHINE_DEPENDENT and ours[k] != theirs[k]}
    assert diff == {}


@needs_redis
def test_pyredis_defaults_equal_redis_defaults(server_factory):
    """pyredis's built-in defaults (no file, no option) against the real
    server's, except the values the test harness sets on its command line."""
    from pyredis import config as C
    theirs = config_dict(server_factory('redis').port)
    ours = C.config_get(C.Config(), ['*'])
    harness = {'bind', 'save', 'enable-debug-command'}      # given by ServerProcess
    assert set(ours) == set(theirs)
    diff = {k: (ours[k], theirs[k]) for k in theirs
            if k not in MACHINE_DEPENDENT | harness and ours[k] != theirs[k]}
    assert diff == {}
    assert (ours['bind'], ours['save'], ours['enable-debug-command']) == (
        '* -::*', '3600 1 300 100 60 10000', 'no')


CONFIG_SET_CASES = [
    ('CONFIG', 'SET', 'a', 'b', 'c'),
    ('CONFIG', 'SET', 'port'),
    ('CONFIG', 'SET', 'foo', 'bar'),
    ('CONFIG', 'SET', 'daemonize', 'yes'),
    ('CONFIG', 'SET', 'hz', 'abc', 'maxmemory', '5'),
    ('CONFIG', 'SET', 'hz', '5', 'hz', '6'),
    ('CONFIG', 'SET', 'dir', '/tmp'),
    ('CONFIG', 'SET', 'dbfilename', 'x.rdb'),
    ('CONFIG', 'SET', 'save', 'abc'),
    ('CONFIG', 'SET', 'save', '900  1'),
    ('CONFIG', 'SET', 'save', '0 1'),
    ('CONFIG', 'SET', 'maxclients', '0'),
    ('CONFIG', 'SET', 'maxclients', '4294967296'),
    ('CONFIG', 'SET', 'maxmemory-clients', '-5%'),
    ('CONFIG', 'SET', 'maxmemory-clients', '1000%'),
    ('CONFIG', 'SET', 'maxmemory', '-1'),
    ('CONFIG', 'SET', 'maxmemory', '1.5gb'),
    ('CONFIG', 'SET', 'proto-max-bulk-len', '1kb'),
    ('CONFIG', 'SET', 'hz', '-1'),
    ('CONFIG', 'SET', 'timeout', '99999999999'),
    ('CONFIG', 'SET', 'port', '0x10'),
    ('CONFIG', 'SET', 'port', ' 5'),
    ('CONFIG', 'SET', 'notify-keyspace-events', 'Q'),
    ('CONFIG', 'SET', 'client-output-buffer-limit', 'normal 1 2'),
    ('CONFIG', 'SET', 'client-output-buffer-limit', 'master 1 2 3'),
    ('CONFIG', 'SET', 'client-output-buffer-limit', 'normal x 2 3'),
    ('CONFIG', 'SET', 'unixsocketperm', '7'),
    ('CONFIG', 'SET', 'unixsocket', '/tmp/x'),
    ('CONFIG', 'SET', 'enable-debug-command', 'yes'),
    ('CONFIG', 'SET', 'replicaof', 'no one'),
    ('CONFIG', 'SET', 'slaveof', 'x'),
    ('CONFIG', 'SET', 'latency-tracking-info-percentiles', '50 abc'),
    ('CONFIG', 'SET', 'latency-tracking-info-percentiles', '50 101'),
    ('CONFIG', 'SET', 'oom-score-adj-values', '1 2'),
    ('CONFIG', 'SET', 'oom-score-adj-values', '1 2 3000'),
    ('CONFIG', 'SET', 'proc-title-template', '{foo}'),
    ('CONFIG', 'SET', 'appendfilename', ''),
    ('CONFIG', 'SET', 'cluster-announce-hostname', 'a_b'),
    ('CONFIG', 'SET', 'activedefrag', 'yes'),
    ('CONFIG', 'SET', 'maxmemory-policy', 'foo'),
    ('CONFIG', 'SET', 'loglevel', 'loud'),
    ('CONFIG', 'SET', 'appendonly', 'maybe'),
    ('CONFIG', 'SET', 'shutdown-on-sigint', 'save nosave'),
    ('CONFIG', 'SET', 'shutdown-on-sigint', ''),
    ('CONFIG', 'SET', 'shutdown-on-sigint', 'x'),
    ('CONFIG', 'SET', 'socket-mark-id', '5'),
    ('CONFIG', 'SET', 'propagation-error-behavior', 'x'),
    ('CONFIG', 'SET', 'hz', '10', 'nosuch', '1', 'daemonize', 'no'),
    ('CONFIG', 'SET', 'daemonize', 'no', 'nosuch', '1'),
    ('CONFIG', 'SET', 'slave-read-only', 'x'),
    ('CONFIG', 'SET', 'list-max-ziplist-size', 'x'),
    ('CONFIG', 'SET', 'bind', '8.8.8.8'),
    ('CONFIG', 'GET'),
    ('CONFIG', 'REWRITE'),
    ('CONFIG', 'HELP'),
    ('CONFIG', 'NOSUCH'),
]


@pytest.mark.parametrize('cmd', CONFIG_SET_CASES, ids=lambda c: ' '.join(c[1:]) or 'x')
def test_config_errors_compat(compat, cmd):
    compat.call(*cmd)


def test_config_set_get_compat(compat):
    """Values that succeed, read back in Redis's canonical form, then restored."""
    for name, value, restore in [
            ('maxmemory', '1GB', '0'), ('maxmemory', '10k', '0'), ('hz', '1000', '10'),
            ('hz', '0', '10'), ('loglevel', 'WARNING', 'notice'),
            ('maxmemory-clients', '10%', '0'), ('notify-keyspace-events', 'KEA', ''),
            ('notify-keyspace-events', 'Am', ''), ('notify-keyspace-events', '$', ''),
            ('client-output-buffer-limit', 'replica 1mb 2mb 3', 'slave 256mb 64mb 60'),
            ('shutdown-on-sigint', 'nosave force now', 'default'),
            ('shutdown-on-sigint', 'default now', 'default'),
            ('list-max-ziplist-size', '3', '-2'), ('slave-read-only', 'no', 'yes'),
            ('oom-score-adj', 'relative', 'no'), ('dynamic-hz', 'YES', 'yes'),
            ('latency-tracking-info-percentiles', '1.5 99.99', '50 99 99.9'),
            ('save', '', '3600 1 300 100 60 10000'), ('maxmemory-policy', 'ALLKEYS-LRU',
                                                      'noeviction')]:
        compat.call('CONFIG', 'SET', name, value)
        compat.call('CONFIG', 'GET', name)
        compat.call('CONFIG', 'SET', name, restore)
    compat.call('CONFIG', 'GET', 'list-max-ziplist-size')
    compat.call('CONFIG', 'GET', 'rdb-key-save-delay')
    compat.call('CONFIG', 'GET', 'rdb-key*')
    compat.call('CONFIG', 'GET', 'does-not-exist')
    compat.call('CONFIG', 'SET', 'save', '900 1 300 10')
    compat.call('CONFIG', 'GET', 'save')
    compat.call('CONFIG', 'SET', 'save', '')


# -- fatal errors in the config file ------------------------------------------------

def run_server(kind, path, port, extra=(), stdin=None):
    cmd = ServerProcess.command(kind) + ([path] if path else []) + \
        ['--port', str(port), '--bind', '127.0.0.1', '--save', ''] + list(extra)
    env = dict(os.environ)
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    return subprocess.run(cmd, capture_output=True, timeout=30, env=env, input=stdin,
                          cwd=os.path.dirname(path) if path else None)


def listening(port):
    try:
        socket.create_connection(('127.0.0.1', port), timeout=0.5).close()
        return True
    except OSError:
        return False


BAD_LINES = [
    'hz abc', 'port 1234 5', 'foo bar', 'daemonize maybe', 'port "12', "port 'a'b",
    'maxmemory 12x', 'loglevel loud', 'unixsocketperm 999', 'rename-command nosuch x',
    'rename-command get set', 'sentinel monitor x', 'save 900', 'include a b',
    'maxmemory-policy foo', 'databases 0', 'dir /nonexistent/dir',
]


@pytest.mark.parametrize('line', BAD_LINES)
def test_bad_config_line_is_fatal(tmp_path, line):
    path = tmp_path / 'bad.conf'
    path.write_text('# a comment\nmaxclients 100\n%s\ntimeout 0\n' % line)
    port = free_port()
    ours = run_server('pyredis', str(path), port)
    assert ours.returncode == 1
    assert not listening(port)
    err = ours.stderr.decode()
    assert err.startswith('\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n'
                          "Reading the configuration file, at line 3\n>>> '%s'\n" % line)
    assert str(path) in err
    if REDIS_SERVER:
        theirs = run_server('redis', str(path), port)
        assert theirs.returncode == 1
        # Same block as Redis; pyredis adds the file name after it.
        assert err.startswith(theirs.stderr.decode())


def test_bad_command_line_option_and_missing_file(tmp_path):
    port = free_port()
    ours = run_server('pyredis', None, port, ['--hz', 'abc'])
    assert ours.returncode == 1
    assert ("Reading the configuration file, at line 5\n>>> 'hz \"abc\"'\n"
            "argument couldn't be parsed into an integer\n") in ours.stderr.decode()
    ours = run_server('pyredis', str(tmp_path / 'missing.conf'), port)
    assert ours.returncode == 1
    assert ("Fatal error, can't open config file '%s': No such file or directory" %
            (tmp_path / 'missing.conf')) in ours.stdout.decode()
    assert not listening(port)


def test_logfile_that_cannot_be_opened(tmp_path):
    path = tmp_path / 'x.conf'
    path.write_text('logfile /nonexistent/dir/x.log\n')
    ours = run_server('pyredis', str(path), free_port())
    assert ours.returncode == 1
    assert ours.stderr.decode().startswith(
        "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nCan't open the log file: "
        "No such file or directory\n")


# -- CONFIG REWRITE ----------------------------------------------------------------------

def test_config_rewrite_round_trip(tmp_path, server_factory):
    inc = tmp_path / 'included.conf'
    inc.write_text('maxmemory-samples 7\n')
    text = ('# my settings\nhz 20\ninclude %s\n\n# memory\nmaxmemory 1mb\n'
            'rename-command flushall wipe\n' % inc)
    srv = server_factory('pyredis', config_text=text, cwd=str(tmp_path))
    r = srv.client(decode_responses=True)
    r.config_set('maxmemory', '3mb')
    r.config_set('hz', '15')
    r.config_set('maxmemory-policy', 'allkeys-lru')
    r.config_set('notify-keyspace-events', 'Ex')
    r.config_set('requirepass', 's3cret')
    assert r.execute_command('CONFIG', 'REWRITE') == 'OK'
    r.close()
    written = (tmp_path / 'test.conf').read_text()
    assert written.startswith('# my settings\nhz 15\ninclude %s\n\n# memory\n'
                              'maxmemory 3mb\nrename-command flushall wipe\n' % inc)
    assert '# Generated by CONFIG REWRITE' in written
    srv.stop()
    # Restart from the rewritten file alone (no command-line overrides of
    # the values we set).
    port = free_port()
    env = dict(os.environ)
    env['PYTHONPATH'] = ROOT
    p = subprocess.Popen([sys.executable, '-m', 'pyredis', str(tmp_path / 'test.conf'),
                          '--port', str(port)], cwd=str(tmp_path), env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 15
        while not listening(port) and time.time() < deadline:
            time.sleep(0.05)
        import redis
        r = redis.Redis(port=port, password='s3cret', decode_responses=True)
        got = r.config_get('*')
        assert got['maxmemory'] == str(3 * 1024 * 1024)
        assert got['hz'] == '15'
        assert got['maxmemory-policy'] == 'allkeys-lru'
        assert got['notify-keyspace-events'] == 'xE'
        assert got['maxmemory-samples'] == '7'
        assert r.execute_command('WIPE') == 'OK'
        r.close()
    finally:
        p.terminate()
        p.wait(10)


def test_config_rewrite_without_file(pyredis):
    assert RawConn(pyredis.port).call('CONFIG', 'REWRITE') == \
        b'-ERR The server is running without a config file\r\n'


# -- shipped configuration files ----------------------------------------------------------

def pristine_redis_conf():
    """Redis 7.0's redis.conf as shipped in the source tree: Debian's copy
    with the five lines Debian changes put back."""
    src = '/etc/redis/redis.conf'
    if not os.path.exists(src):
        pytest.skip('no /etc/redis/redis.conf (Debian redis-server package)')
    text = open(src).read()
    for a, b in [('# unixsocket /run/redis/redis-server.sock', '# unixsocket /run/redis.sock'),
                 ('\ndaemonize yes\n', '\ndaemonize no\n'),
                 ('\npidfile /run/redis/redis-server.pid\n', '\npidfile /var/run/redis_6379.pid\n'),
                 ('\nlogfile /var/log/redis/redis-server.log\n', '\nlogfile ""\n'),
                 ('\ndir /var/lib/redis\n', '\ndir ./\n')]:
        text = text.replace(a, b)
    return text


def every_directive_text(tmp_path):
    """Every directive of the table (and every alias) uncommented at a valid
    value, plus the file-only directives."""
    from pyredis import config as C
    cfg = C.Config()
    lines = []
    for d in C.DIRECTIVES:
        if d.hidden or d.name in ('dir', 'replicaof', 'unixsocket', 'pidfile', 'logfile',
                                  'daemonize', 'bind', 'port', 'tls-port'):
            continue
        value = d.to_string(getattr(cfg, d.attr))
        if d.name == 'client-output-buffer-limit':
            for cls in ('normal 0 0 0', 'replica 256mb 64mb 60', 'pubsub 32mb 8mb 60'):
                lines.append('client-output-buffer-limit ' + cls)
            continue
        if d.multi_arg and value:
            line = '%s %s' % (d.name, value)
        else:
            line = '%s %s' % (d.name, C.repr_string(value))
        lines.append(line)
        for alias in d.aliases:
            lines.append(line.replace(d.name, alias, 1))
    empty = tmp_path / 'empty.conf'
    empty.write_text('# nothing\n')
    lines += ['unixsocket %s' % (tmp_path / 'redis.sock'), 'unixsocketperm 700',
              'pidfile %s' % (tmp_path / 'redis.pid'), 'logfile ""',
              'include %s' % empty, 'include %s/nothing-*.conf' % tmp_path,
              'rename-command keys ""', 'rename-command flushall wipeall',
              'user alice on >pw ~* +@all', 'maxmemory 100mb', 'save 900 1',
              'save 300 10', 'replicaof no one', 'list-max-ziplist-entries 512']
    return '\n'.join(lines) + '\n'


@pytest.mark.parametrize('kind', ['pyredis', 'redis'])
def test_starts_from_shipped_redis_conf(server_factory, tmp_path, kind):
    if kind == 'redis' and not REDIS_SERVER:
        pytest.skip('redis-server is not installed')
    srv = server_factory(kind, '--pidfile', str(tmp_path / 'r.pid'),
                         config_text=pristine_redis_conf())
    assert RawConn(srv.port).call('PING') == b'+PONG\r\n'


def test_starts_from_repository_conf(server_factory, tmp_path):
    text = open(os.path.join(ROOT, 'conf', 'redis.conf')).read()
    srv = server_factory('pyredis', '--pidfile', str(tmp_path / 'r.pid'), config_text=text)
    assert RawConn(srv.port).call('PING') == b'+PONG\r\n'
    # The repository file is pyredis's defaults: CONFIG GET * equals a
    # server started without any file.
    with_file = config_dict(srv.port)
    bare = config_dict(server_factory('pyredis').port)
    diff = {k for k in bare if with_file[k] != bare[k]}
    assert diff <= {'port', 'dir', 'pidfile'}


@pytest.mark.parametrize('kind', ['pyredis', 'redis'])
def test_starts_with_every_directive_uncommented(server_factory, tmp_path, kind):
    if kind == 'redis' and not REDIS_SERVER:
        pytest.skip('redis-server is not installed')
    srv = server_factory(kind, config_text=every_directive_text(tmp_path))
    conn = RawConn(srv.port)
    assert conn.call('PING') == b'+PONG\r\n'
    assert conn.call('KEYS', '*').startswith(b"-ERR unknown command 'KEYS'")
    assert conn.call('WIPEALL') == b'+OK\r\n'


@needs_redis
def test_config_rewrite_same_file_as_redis(tmp_path, server_factory):
    """The same file, the same CONFIG SETs, then CONFIG REWRITE on both
    servers: the lines kept or replaced in place are identical, and the
    appended block holds the same lines (Redis appends them in its hash
    table's order; pyredis in table order). Redis also rewrites its ACL
    users ('user' lines), which pyredis, without ACLs, leaves as they are."""
    inc = tmp_path / 'inc.conf'
    inc.write_text('maxmemory 1mb\n')
    text = ('# top comment\nbind 127.0.0.1\ninclude %s\nrename-command flushdb myflush\n'
            'save 900 1\nsave 300 10\nslave-read-only yes\nhash-max-ziplist-entries 100\n'
            'list-max-ziplist-entries 5\n# end\n\n\n\nhz 20\nmaxmemory-policy allkeys-lru\n'
            'notify-keyspace-events ""\nclient-output-buffer-limit pubsub 32mb 8mb 60\n'
            'timeout 0\n' % inc)
    results = []
    for kind in ('pyredis', 'redis'):
        d = tmp_path / kind
        d.mkdir()
        srv = server_factory(kind, config_text=text, cwd=str(d))
        c = RawConn(srv.port)
        assert c.call('CONFIG', 'SET', 'maxmemory', '2mb', 'hz', '15', 'loglevel', 'verbose',
                      'save', '100 5', 'slave-read-only', 'no', 'hash-max-listpack-entries',
                      '512', 'maxmemory-policy', 'noeviction', 'timeout', '30',
                      'client-output-buffer-limit', 'normal 1mb 2mb 3 pubsub 0 0 0',
                      'notify-keyspace-events', 'Kx', 'maxmemory-clients', '5%',
                      'requirepass', 'a "b"') == b'+OK\r\n'
        assert c.call('CONFIG', 'REWRITE') == b'+OK\r\n'
        lines = (d / 'test.conf').read_text().replace(str(srv.port), 'PORT') \
            .replace(str(d), 'DIR').split('\n')
        lines = [l for l in lines if not l.startswith('user ')]
        sig = lines.index('# Generated by CONFIG REWRITE')
        results.append((lines[:sig], sorted(lines[sig:])))
    assert results[0][0] == results[1][0]
    assert results[0][1] == results[1][1]


def test_config_get_resp3_compat(compat):
    compat.a.call('HELLO', '3')     # (client ids differ)
    compat.b.call('HELLO', '3')
    compat.call('CONFIG', 'GET', 'maxmemory')
    compat.call('CONFIG', 'GET', 'slave-read-only')
    compat.call('CONFIG', 'GET', 'nosuch*')


def test_multi_argument_directive_given_as_one_argument(server_factory):
    """Redis 7.0 splits a lone non-empty argument of a multi-argument
    directive: --client-output-buffer-limit "normal 1mb 512kb 5" and the
    same quoted in the file work; an empty one (save "") stays empty."""
    text = ('client-output-buffer-limit "pubsub 64mb 16mb 90"\n'
            'oom-score-adj-values "0 200 800"\n')
    args = ('--client-output-buffer-limit', 'normal 1mb 512kb 5', '--save', '100 10 200 20')
    ours = server_factory('pyredis', *args, config_text=text)
    theirs = server_factory('redis', *args, config_text=text)
    for name in ('client-output-buffer-limit', 'oom-score-adj-values', 'save'):
        assert RawConn(ours.port).call('CONFIG', 'GET', name) == \
            RawConn(theirs.port).call('CONFIG', 'GET', name)
    assert b'normal 1048576 524288 5' in RawConn(ours.port).call(
        'CONFIG', 'GET', 'client-output-buffer-limit')
