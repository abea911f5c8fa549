"""The redis.conf reader, in process: directive table, units, quoting,
include (nesting, relative paths, wildcards, cycles, override order), the
command line, CONFIG REWRITE's line handling. Fast: no server is started.
"""

import os

import pytest

from pyredis import config as C
from pyredis.cli import parse_argv

# CONFIG GET * of a real redis-server 7.0.15 started with no config file
# (names and default values), except the machine-dependent 'dir' and the
# 'port' / 'bind' we gave it.
REDIS_DEFAULTS_SAMPLE = {
    'bind': '* -::*', 'save': '3600 1 300 100 60 10000', 'enable-debug-command': 'no',
    'hash-max-listpack-entries': '512', 'hash-max-ziplist-entries': '512',
    'client-output-buffer-limit': 'normal 0 0 0 slave 268435456 67108864 60 '
                                  'pubsub 33554432 8388608 60',
    'latency-tracking-info-percentiles': '50 99 99.9', 'oom-score-adj-values': '0 200 800',
    'proc-title-template': '{title} {listen-addr} {server-mode}', 'unixsocketperm': '0',
    'maxmemory-clients': '0', 'shutdown-on-sigterm': 'default', 'acl-pubsub-default':
    'resetchannels', 'proto-max-bulk-len': '536870912', 'syslog-facility': 'local0',
}


def load_text(tmp_path, text, name='redis.conf', options=()):
    p = tmp_path / name
    p.write_text(text)
    return C.load(str(p), options, command_names={'get', 'set', 'flushdb', 'flushall'})


def test_table_has_redis_names_and_count():
    visible = [n for n in C.ALL_NAMES if not C.BY_NAME[n].hidden]
    assert len(visible) == 192
    assert len(set(visible)) == 192
    cfg = C.Config()
    for name, value in REDIS_DEFAULTS_SAMPLE.items():
        assert cfg.get_string(name) == value, name


@pytest.mark.parametrize('alias,primary', [
    ('slaveof', 'replicaof'), ('slave-read-only', 'replica-read-only'),
    ('hash-max-ziplist-entries', 'hash-max-listpack-entries'),
    ('hash-max-ziplist-value', 'hash-max-listpack-value'),
    ('zset-max-ziplist-entries', 'zset-max-listpack-entries'),
    ('zset-max-ziplist-value', 'zset-max-listpack-value'),
    ('list-max-ziplist-size', 'list-max-listpack-size'),
    ('lua-time-limit', 'busy-reply-threshold'), ('slave-priority', 'replica-priority'),
    ('min-slaves-to-write', 'min-replicas-to-write'),
    ('repl-ping-slave-period', 'repl-ping-replica-period'),
    ('slave-announce-ip', 'replica-announce-ip'),
    ('cluster-slave-validity-factor', 'cluster-replica-validity-factor'),
])
def test_aliases(alias, primary):
    assert C.BY_NAME[alias] is C.BY_NAME[primary]


@pytest.mark.parametrize('text,expected', [
    ('1k', 1000), ('1kb', 1024), ('1m', 1000 ** 2), ('1mb', 1024 ** 2), ('1g', 1000 ** 3),
    ('1gb', 1024 ** 3), ('1GB', 1024 ** 3), ('1Gb', 1024 ** 3), ('2b', 2), ('100', 100),
])
def test_memory_units(text, expected):
    assert C.memtoull(text) == expected


@pytest.mark.parametrize('text', ['1.5gb', '-1', '12x', '1 kb', 'kbb'])
def test_memory_rejects(text):
    assert C.memtoull(text) is None


def test_values_and_multi_arg_directives(tmp_path):
    cfg = load_text(tmp_path, '\n'.join([
        '# comment', '', '   ', 'PORT 7000', 'maxmemory 2mb', 'maxmemory-clients 10%',
        'save 900 1 300 10', 'save 60 10000', 'bind 127.0.0.1 -::1',
        'client-output-buffer-limit normal 1mb 2mb 3 pubsub 0 0 0',
        'notify-keyspace-events "KEA"', 'unixsocketperm 700', 'logfile ""',
        'requirepass "a b\\x41\\n"', "masterauth 'it\\'s'", 'slave-read-only no',
        'oom-score-adj relative', 'rename-command flushdb ""', 'rename-command get myget',
        'user bob on >pw ~* +@all', 'loadmodule /x/y.so arg', 'list-max-ziplist-entries 5',
        'mymod.option 1', 'hz 1000']) + '\n')
    assert cfg.port == 7000
    assert cfg.maxmemory == 2 * 1024 * 1024
    assert cfg.get_string('maxmemory-clients') == '10%'
    assert cfg.save == [(900, 1), (300, 10), (60, 10000)]
    assert cfg.bind == ['127.0.0.1', '-::1']
    assert cfg.get_string('client-output-buffer-limit') == \
        'normal 1048576 2097152 3 slave 268435456 67108864 60 pubsub 0 0 0'
    assert cfg.notify_keyspace_events == 'AKE'
    assert cfg.unixsocketperm == 0o700 and cfg.get_string('unixsocketperm') == '700'
    assert cfg.requirepass == 'a bA\n'
    assert cfg.masterauth == "it's"
    assert cfg.replica_read_only is False
    assert cfg.get_string('oom-score-adj') == 'yes'
    assert cfg.renames == [('flushdb', ''), ('get', 'myget')]
    assert cfg.users == [['bob', 'on', '>pw', '~*', '+@all']]
    assert cfg.modules == [['/x/y.so', 'arg']]
    assert cfg.module_configs == {'mymod.option': '1'}
    assert cfg.hz == 500
    assert {'port', 'maxmemory', 'save'} <= cfg.explicit


def test_save_empty_then_more(tmp_path):
    assert load_text(tmp_path, 'save ""\n').save == []
    assert load_text(tmp_path, 'save ""\nsave 10 1\n').save == [(10, 1)]
    assert load_text(tmp_path, 'port 1\n').save == [(3600, 1), (300, 100), (60, 10000)]


def test_last_occurrence_wins_and_options_override(tmp_path):
    cfg = load_text(tmp_path, 'hz 20\nhz 30\nport 1\n', options=[['port', '2']])
    assert cfg.hz == 30 and cfg.port == 2


def _fatal(tmp_path, text, options=()):
    with pytest.raises(C.FatalConfigError) as e:
        load_text(tmp_path, text, options=options)
    return str(e.value)


@pytest.mark.parametrize('line,reason', [
    ('hz abc', "argument couldn't be parsed into an integer"),
    ('port 1234 5', 'wrong number of arguments'),
    ('foo bar', 'Bad directive or wrong number of arguments'),
    ('daemonize maybe', "argument must be 'yes' or 'no'"),
    ('port "12', 'Unbalanced quotes in configuration line'),
    ('maxmemory 12x', 'argument must be a memory value'),
    ('loglevel loud', 'argument(s) must be one of the following: debug, verbose, notice, '
                      'warning'),
    ('port 70000', 'argument must be between 0 and 65535 inclusive'),
    ('unixsocketperm 999', "argument couldn't be parsed as an octal number"),
    ('unixsocketperm 1000', 'argument must be between 0 and 777 inclusive'),
    ('maxmemory-clients 1000%', 'percentage argument must be less or equal to 100'),
    ('save 900', 'Invalid save parameters'),
    ('rename-command nosuch x', 'No such command in rename-command'),
    ('rename-command get set', 'Target command name already exists'),
    ('include a b', 'Bad directive or wrong number of arguments'),
    ('sentinel monitor x', 'sentinel directive while not in sentinel mode'),
    ('foo.bar 1 2', 'Module config specified without value'),
    ('dbfilename a/b', "dbfilename can't be a path, just a filename"),
    ('client-output-buffer-limit master 0 0 0',
     'Invalid client class specified in buffer limit configuration.'),
    ('notify-keyspace-events Q', "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."),
])
def test_fatal_errors(tmp_path, line, reason):
    msg = _fatal(tmp_path, 'port 1\n' + line + '\n')
    assert msg.startswith('\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n'
                          "Reading the configuration file, at line 2\n>>> '%s'\n%s\n" %
                          (line, reason))
    assert str(tmp_path / 'redis.conf') in msg


def test_command_line_errors_are_numbered_after_the_file(tmp_path):
    msg = _fatal(tmp_path, 'port 1\nhz 5\n', options=parse_argv(['x', '--port', 'abc'])[2])
    assert ("Reading the configuration file, at line 4\n>>> 'port \"abc\"'\n"
            "argument couldn't be parsed into an integer\n") in msg


def test_parse_argv_like_redis():
    assert parse_argv(['a.conf', '--port', '7000', '--save', '900', '1', '-']) == \
        ('a.conf', True, 'port "7000" \nsave "900" "1" ')
    # An option name with no value yet takes the next word, even '--x'.
    assert parse_argv(['--requirepass', '--secret']) == (None, False, 'requirepass "--secret" ')
    assert parse_argv(['--save', '--port', '1']) == (None, False, 'save ""\nport "1" ')
    assert parse_argv(['--save']) == (None, False, 'save ""')
    assert parse_argv(['-']) == (None, True, '')
    assert parse_argv(['--port 7000']) == (None, False, 'port 7000 ')


# -- include --------------------------------------------------------------------------

def test_include_nested_three_deep_relative(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'd1').mkdir()
    (tmp_path / 'd1' / 'd2').mkdir()
    (tmp_path / 'd1' / 'one.conf').write_text('hz 11\ninclude d1/d2/two.conf\nport 2\n')
    (tmp_path / 'd1' / 'd2' / 'two.conf').write_text('include d1/d2/three.conf\nhz 22\n')
    (tmp_path / 'd1' / 'd2' / 'three.conf').write_text('maxclients 333\nhz 33\nport 3\n')
    cfg = load_text(tmp_path, 'port 1\ninclude d1/one.conf\ndatabases 4\n')
    # Relative includes are resolved from the working directory, as in Redis.
    assert (cfg.maxclients, cfg.hz, cfg.port, cfg.databases) == (333, 22, 2, 4)


def test_include_override_order(tmp_path):
    inc = tmp_path / 'inc.conf'
    inc.write_text('hz 50\nmaxclients 50\n')
    cfg = load_text(tmp_path, 'hz 1\ninclude %s\nmaxclients 7\n' % inc)
    assert cfg.hz == 50           # the include overrides what came before it
    assert cfg.maxclients == 7    # and what comes after overrides the include


def test_include_wildcard_sorted_and_no_match(tmp_path):
    d = tmp_path / 'conf.d'
    d.mkdir()
    (d / 'b.conf').write_text('hz 2\n')
    (d / 'a.conf').write_text('hz 1\nport 11\n')
    cfg = load_text(tmp_path, 'include %s/*.conf\ninclude %s/nothing-*.conf\n' % (d, d))
    assert cfg.hz == 2 and cfg.port == 11


def test_include_missing_file_is_fatal(tmp_path):
    with pytest.raises(C.OpenError) as e:
        load_text(tmp_path, 'include /nonexistent/x.conf\n')
    assert str(e.value) == ("Fatal error, can't open config file '/nonexistent/x.conf': "
                            "No such file or directory")


def test_include_cycle(tmp_path):
    a, b = tmp_path / 'a.conf', tmp_path / 'b.conf'
    a.write_text('hz 5\ninclude %s\n' % b)
    b.write_text('include %s\n' % a)
    with pytest.raises(C.FatalConfigError) as e:
        C.load(str(a))
    assert 'Include cycle' in str(e.value)
    assert ">>> 'include %s'" % a in str(e.value)


def test_error_in_included_file_names_it(tmp_path):
    inc = tmp_path / 'bad.conf'
    inc.write_text('port 1\n\nhz abc\n')
    msg = _fatal(tmp_path, 'include %s\n' % inc)
    assert "at line 3\n>>> 'hz abc'\n" in msg and str(inc) in msg


# -- CONFIG REWRITE's line handling ------------------------------------------------------

def test_rewrite_keeps_comments_includes_and_unknown_lines(tmp_path):
    inc = tmp_path / 'inc.conf'
    inc.write_text('maxmemory 1mb\n')
    path = tmp_path / 'redis.conf'
    path.write_text('# top comment\nport 1\ninclude %s\nrename-command flushdb myflush\n'
                    'save 900 1\nsave 300 10\nslave-read-only yes\n'
                    'hash-max-ziplist-entries 100\nlist-max-ziplist-entries 5\n# end\n\n\n\n'
                    'hz 20\n' % inc)
    cfg = C.load(str(path), command_names={'flushdb'})
    cfg.maxmemory = 2 * 1024 * 1024
    cfg.hz = 15
    cfg.save = [(100, 5)]
    cfg.replica_read_only = False
    cfg.hash_max_listpack_entries = 512
    cfg.loglevel = 'verbose'
    assert C.rewrite(cfg) is None
    lines = path.read_text().split('\n')
    assert lines[:12] == [
        '# top comment', 'port 1', 'include %s' % inc, 'rename-command flushdb myflush',
        'save 100 5', '', 'replica-read-only no', 'hash-max-listpack-entries 512',
        '# ??? list-max-ziplist-entries 5', '# end', '', 'hz 15']
    tail = lines[lines.index('# Generated by CONFIG REWRITE'):]
    assert 'maxmemory 2mb' in tail and 'loglevel verbose' in tail
    assert 'dir "%s"' % os.getcwd() in tail
    # Rewriting again is stable (Redis keeps one trailing empty line, once).
    C.rewrite(cfg)
    before = path.read_text()
    C.rewrite(cfg)
    assert path.read_text() == before


def test_rewrite_drops_lines_back_at_default_that_were_not_there(tmp_path):
    path = tmp_path / 'redis.conf'
    path.write_text('port 1\n')
    cfg = C.load(str(path))
    assert C.rewrite(cfg) is None
    text = path.read_text()
    assert 'maxmemory' not in text and 'appendonly' not in text
    assert 'save 3600 1\nsave 300 100\nsave 60 10000\n' in text


def test_repr_string_round_trips():
    for s in ['', 'a b', 'q"uote', 'back\\slash', 'nl\n', '\x01\xff']:
        line = 'x ' + C.repr_string(s)
        argv = C.split_args(line.encode('utf-8', 'surrogateescape'))
        assert argv[1].decode('utf-8', 'surrogateescape') == s
