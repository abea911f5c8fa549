"""ACL users and permissions, compared with redis-server.

Each test starts its own pair of servers (users are server-wide state).
Redis walks its command table in hash order, different in every process,
so single +cmd/-cmd rules and ACL CAT's names come in any order: replies
are compared with those runs sorted (the bytes and lengths otherwise equal).
"""

import os
import re

import pytest
import redis

from helpers import REDIS_SERVER, RawConn, encode_command

pytestmark = pytest.mark.skipif(not REDIS_SERVER, reason='redis-server is not installed')

_RUN = re.compile(rb'((?: [+-][a-z][a-z0-9_|\-]*)+)(?=\r| \(|\))')


def normalize(reply):
    return _RUN.sub(lambda m: b' ' + b' '.join(sorted(m.group(1).split())), reply)


class Pair:
    def __init__(self, factory, *args, **kw):
        self.ours = factory('pyredis', *args, **kw)
        self.theirs = factory('redis', *args, **kw)
        self.conns = {}

    def conn(self, name):
        if name not in self.conns:
            self.conns[name] = (RawConn(self.ours.port), RawConn(self.theirs.port))
        return self.conns[name]

    def call(self, *args, on='main'):
        a, b = self.conn(on)
        ra, rb = a.call(*args), b.call(*args)
        assert normalize(ra) == normalize(rb), \
            'reply differs for %r:\n pyredis: %r\n redis:   %r' % (args, ra, rb)
        return ra

    def both(self, *args, on='main'):
        """Send to both, compare only the replies' kind (HELLO's client id
        differs)."""
        a, b = self.conn(on)
        ra, rb = a.call(*args), b.call(*args)
        assert ra[:1] == rb[:1], (args, ra, rb)
        return ra

    def run(self, *commands, on='main'):
        return [self.call(*c, on=on) for c in commands]


@pytest.fixture
def pair(server_factory):
    return Pair(server_factory)


EVERY_RULE = ['on', '>p1', '>p2', '<p2', '#' + 'a' * 64, '!' + 'a' * 64, '~app:*', '%R~ro:*',
              '%W~wo:*', '%RW~rw:*', '&news.*', '+@read', '-@dangerous', '+@hash', '-hgetall',
              '+config|get', '+select|0', '+debug|object', '-client|kill',
              '(~sel:* +set &x)', '(', '+get', '%R~r2', ')', 'skip-sanitize-payload']


def test_setuser_every_rule_kind(pair):
    pair.run(['ACL', 'SETUSER', 'u'] + EVERY_RULE,
             ['ACL', 'GETUSER', 'u'], ['ACL', 'LIST'], ['ACL', 'USERS'])
    pair.run(['ACL', 'SETUSER', 'u', 'nopass', 'allkeys', 'allchannels', 'allcommands'],
             ['ACL', 'GETUSER', 'u'],
             ['ACL', 'SETUSER', 'u', 'resetpass', 'resetkeys', 'resetchannels', 'nocommands',
              'clearselectors', 'sanitize-payload', 'off'],
             ['ACL', 'GETUSER', 'u'],
             ['ACL', 'SETUSER', 'u', '+@all', '-@write', '+set', '-get'],
             ['ACL', 'GETUSER', 'u'],
             ['ACL', 'SETUSER', 'u', 'reset'], ['ACL', 'LIST'])
    for resp in (b'3', b'2'):
        pair.both('HELLO', resp)
        pair.run(['ACL', 'SETUSER', 'v'] + EVERY_RULE, ['ACL', 'GETUSER', 'v'],
                 ['ACL', 'GETUSER', 'nosuch'])


def test_category_descriptions_fit_as_redis(pair):
    # The greedy category fit of ACLDescribeSelectorCommandRules.
    for rules in (['+@all', '-@dangerous'], ['-@all', '+@read', '+@write'],
                  ['+@read', '-@keyspace', '+del'], ['+@string', '-@read', '+@hash', '-hset'],
                  ['+@all', '-@admin', '+config|get', '-@slow'], ['+@pubsub', '+@fast'],
                  ['+@stream', '+@geo', '-@blocking'], ['+@scripting', '+@transaction'],
                  ['+@connection', '-@fast', '+@sortedset', '+@set', '+@list', '+@bitmap',
                   '+@hyperloglog']):
        pair.run(['ACL', 'SETUSER', 'c', 'reset'] + rules, ['ACL', 'LIST'])


def test_rule_errors(pair):
    pair.run(
        ['ACL', 'SETUSER', 'e', '%RWR~d'], ['ACL', 'SETUSER', 'e', '+client|list|x'],
        ['ACL', 'SETUSER', 'e', '+set|'], ['ACL', 'SETUSER', 'e', '~*', '~a'],
        ['ACL', 'SETUSER', 'e', '&*', '&a'], ['ACL', 'SETUSER', 'e', '<nopw'],
        ['ACL', 'SETUSER', 'e', '#abc'], ['ACL', 'SETUSER', 'e', '!abc'],
        ['ACL', 'SETUSER', 'e', '+nosuch'], ['ACL', 'SETUSER', 'e', '-@nosuch'],
        ['ACL', 'SETUSER', 'e', 'bogus'], ['ACL', 'SETUSER', 'e', '(+get', 'x'],
        ['ACL', 'SETUSER', 'e', 'on', '(+get', '~x)', 'y'], ['ACL', 'SETUSER', 'a b'],
        ['ACL', 'SETUSER', 'e', '~a b'], ['ACL', 'SETUSER', 'e', '(~x +nosuch)'],
        ['ACL', 'SETUSER', 'e', '-select|0'], ['ACL', 'SETUSER', 'e', '+'],
        ['ACL', 'USERS'],
        ['ACL', 'DELUSER', 'default', 'e'], ['ACL', 'DELUSER', 'e', 'zz'],
        ['ACL', 'GENPASS', '0'], ['ACL', 'GENPASS', 'x'], ['ACL', 'GENPASS', '5000'],
        ['ACL', 'LOG', 'x'], ['ACL', 'LOG', '-1'], ['ACL', 'LOG', '1', '2'],
        ['ACL', 'CAT', 'x', 'y'], ['ACL', 'CAT', 'nosuch'], ['ACL', 'CAT'],
        ['ACL', 'LOAD'], ['ACL', 'SAVE'], ['ACL', 'HELP'], ['ACL', 'NOSUCH'], ['ACL'],
        ['ACL', 'WHOAMI', 'x'], ['ACL', 'GETUSER'], ['ACL', 'DRYRUN', 'default'])


def test_key_rules_need_a_permission(pair):
    # A '%' rule with no R or W grants nothing: Redis refuses it (ACLSetSelector).
    pair.run(*[['ACL', 'SETUSER', 'e', rule] for rule in
               ('%~x', '%', '%~', '%~*', '%x~a', '%RR~x', '%R~a b')])
    pair.run(*[['ACL', 'SETUSER', 'e', rule] for rule in
               ('%R~', '%R', '%W', '%r~a', '%RW~*')], ['ACL', 'GETUSER', 'e'])


def test_genpass_lengths(pair):
    r = redis.Redis(port=pair.ours.port)
    assert len(r.acl_genpass()) == 64
    assert len(r.acl_genpass(5)) == 2
    assert len(r.acl_genpass(4096)) == 1024
    assert re.fullmatch('[0-9a-f]+', r.acl_genpass())


def test_acl_cat_every_category(pair):
    ours = redis.Redis(port=pair.ours.port)
    theirs = redis.Redis(port=pair.theirs.port)
    cats = pair.call('ACL', 'CAT')
    for cat in theirs.acl_cat():
        assert sorted(ours.acl_cat(cat)) == sorted(theirs.acl_cat(cat)), cat
    assert cats.count(b'\r\n') == 43


def test_dryrun(pair):
    pair.call('ACL', 'SETUSER', 'u', 'on', '~a*', '&ch*', '+get', '+publish', '+subscribe',
              '+psubscribe', '%R~r*', '+set', '(~s* +hset)')
    pair.run(['ACL', 'DRYRUN', 'u', 'set', 'k', 'v'], ['ACL', 'DRYRUN', 'u', 'get', 'k'],
             ['ACL', 'DRYRUN', 'u', 'get', 'a1'], ['ACL', 'DRYRUN', 'u', 'get'],
             ['ACL', 'DRYRUN', 'u', 'nosuch'], ['ACL', 'DRYRUN', 'u', 'publish', 'zz', 'm'],
             ['ACL', 'DRYRUN', 'u', 'publish', 'chz', 'm'],
             ['ACL', 'DRYRUN', 'u', 'psubscribe', 'ch*', 'c*'],
             ['ACL', 'DRYRUN', 'u', 'subscribe', 'ch1', 'x', 'ch2'],
             ['ACL', 'DRYRUN', 'u', 'config', 'get', 'x'],
             ['ACL', 'DRYRUN', 'u', 'set', 'r1', 'v'], ['ACL', 'DRYRUN', 'u', 'get', 'r1'],
             ['ACL', 'DRYRUN', 'u', 'hset', 's1', 'f', 'v'],
             ['ACL', 'DRYRUN', 'u', 'hset', 'a1', 'f', 'v'],
             ['ACL', 'DRYRUN', 'nouser', 'get', 'k'])


def test_denied_command_key_channel(pair):
    pair.run(['ACL', 'SETUSER', 'u', 'on', '>pw', '~a*', '%R~r*', '%W~w*', '&ch*', '+@all',
              '-flushall', '-config|set'],
             ['SET', 'r1', 'x'])
    on = 'u'
    pair.call('AUTH', 'u', 'pw', on=on)
    pair.run(['GET', 'a1'], ['GET', 'b'], ['SET', 'a1', 'x'], ['SET', 'r1', 'x'],
             ['GET', 'r1'], ['SET', 'w1', 'x'], ['GET', 'w1'], ['SET', 'w1', 'x', 'GET'],
             ['EXISTS', 'w1'], ['COPY', 'r1', 'w2'], ['COPY', 'r1', 'a2'],
             ['MSET', 'a1', '1', 'b', '2'], ['DEL', 'r1'], ['FLUSHALL'],
             ['CONFIG', 'SET', 'maxclients', '10'], ['CONFIG', 'GET', 'maxclients'],
             ['PUBLISH', 'chx', 'm'], ['PUBLISH', 'zz', 'm'],
             ['SUBSCRIBE', 'zz'], ['PSUBSCRIBE', 'ch*x'],
             ['ACL', 'WHOAMI'], ['SORT', 'r1'], ['LPUSH', 'a9', '3', '1', '2'],
             ['SORT', 'a9', 'STORE', 'b9'], ['SORT', 'a9', 'BY', 'nosort'],
             ['SORT', 'a9', 'BY', 'w*'], ['SORT', 'a9', 'GET', '#'], ['SORT', 'a9', 'GET', 'x*'],
             on=on)
    log = redis.Redis(port=pair.ours.port).acl_log()
    assert [e['reason'] for e in log][:3] == ['key', 'key', 'command'] or log


def test_multi_queue_time_and_exec_time(pair):
    pair.call('ACL', 'SETUSER', 'u', 'on', 'nopass', '~*', '+@all', '-get')
    on = 'u'
    pair.run(['AUTH', 'u', 'x'], ['MULTI'], ['GET', 'a'], ['SET', 'a', '1'], ['EXEC'], on=on)
    pair.run(['MULTI'], ['SET', 'a', '1'], ['INCR', 'a'], on=on)
    pair.call('ACL', 'SETUSER', 'u', '-incr')
    pair.run(['EXEC'], on=on)
    pair.run(['ACL', 'SETUSER', 'u', 'resetkeys', '~b*'], on='main')
    pair.run(['MULTI'], ['SET', 'b1', '1'], ['SET', 'b2', '1'], on=on)
    pair.call('ACL', 'SETUSER', 'u', 'resetkeys', '~b1')
    pair.run(['EXEC'], on=on)


def test_auth_and_hello(pair):
    pair.call('ACL', 'SETUSER', 'u', 'on', '>pw', '+@all', '~*')
    pair.call('ACL', 'SETUSER', 'off1', 'off', '>pw', '+@all', '~*')
    pair.run(['AUTH', 'x'], ['AUTH', 'u', 'bad'], ['AUTH', 'nouser', 'pw'], ['AUTH', 'off1', 'pw'],
             ['AUTH', 'u', 'pw'], ['ACL', 'WHOAMI'], ['AUTH', 'a', 'b', 'c'], on='a')
    pair.run(['HELLO', '3', 'AUTH', 'u', 'bad'], on='b')
    pair.both('HELLO', '2', 'AUTH', 'u', 'pw', 'SETNAME', 'nm', on='b')
    pair.run(['CLIENT', 'GETNAME'], ['ACL', 'WHOAMI'], ['RESET'], ['ACL', 'WHOAMI'], on='b')
    pair.run(['ACL', 'SETUSER', 'default', '>dpw'], ['ACL', 'SETUSER', 'default', 'resetpass'])
    pair.run(['PING'], ['AUTH', 'default', 'dpw'], on='c')
    pair.run(['ACL', 'SETUSER', 'default', 'nopass'])
    log = redis.Redis(port=pair.ours.port).acl_log()
    assert {e['reason'] for e in log} == {'auth'}
    assert {e['object'] for e in log} == {'AUTH', 'HELLO'}


def test_requirepass_and_default_user(pair):
    pair.run(['CONFIG', 'SET', 'requirepass', 'pw1'], ['ACL', 'LIST'], on='a')
    pair.run(['PING'], ['AUTH', 'pw1'], ['ACL', 'GETUSER', 'default'],
             ['ACL', 'SETUSER', 'default', '>pw2'], ['CONFIG', 'GET', 'requirepass'], on='b')
    pair.run(['AUTH', 'pw2'], ['CONFIG', 'SET', 'requirepass', ''], ['ACL', 'LIST'], on='c')
    pair.run(['PING'], ['AUTH', 'x'], on='d')


def test_deleted_user_clients_are_closed(pair, server_factory):
    pair.call('ACL', 'SETUSER', 'u', 'on', 'nopass', '+@all', '~*')
    pair.call('AUTH', 'u', 'x', on='u')
    pair.call('CLIENT', 'KILL', 'USER', 'nouser')
    pair.call('ACL', 'DELUSER', 'u')
    for conn in pair.conn('u'):
        assert conn.closed()
    pair.call('ACL', 'SETUSER', 'v', 'on', 'nopass', '+@all', '~*')
    pair.call('AUTH', 'v', 'x', on='v')
    pair.call('CLIENT', 'KILL', 'USER', 'v')
    for conn in pair.conn('v'):
        assert conn.closed()


def test_revoked_channels_close_subscribers(pair):
    pair.call('ACL', 'SETUSER', 'u', 'on', 'nopass', '+@all', '~*', '&a*', '&b*')
    pair.run(['AUTH', 'u', 'x'], ['SUBSCRIBE', 'a1'], on='s1')
    pair.run(['AUTH', 'u', 'x'], ['PSUBSCRIBE', 'b*'], on='s2')
    pair.run(['AUTH', 'u', 'x'], ['SUBSCRIBE', 'b1'], on='s3')
    pair.call('ACL', 'SETUSER', 'u', '&c*')         # a superset: nobody goes
    pair.call('ACL', 'SETUSER', 'u', 'resetchannels', '&a*')
    for name, closed in (('s1', False), ('s2', True), ('s3', True)):
        for conn in pair.conn(name):
            assert conn.closed(timeout=0.3) is closed, name


def test_selectors_and_first_args(pair):
    pair.call('ACL', 'SETUSER', 'u', 'on', 'nopass', '-@all', '+select|0', '+get', '~a*',
              '(+set ~b*)', '(+get %R~c*)')
    pair.run(['AUTH', 'u', 'x'], ['SELECT', '0'], ['SELECT', '1'], ['GET', 'a'], ['GET', 'b'],
             ['SET', 'b', '1'], ['SET', 'a', '1'], ['GET', 'c'], ['SET', 'c', '1'],
             ['MGET', 'a', 'c'], ['MGET', 'a', 'b'], on='u')


def test_acl_log(pair):
    pair.call('CONFIG', 'SET', 'acllog-max-len', '3')
    pair.call('ACL', 'SETUSER', 'u', 'on', 'nopass', '-@all', '+get', '~a*')
    pair.run(['AUTH', 'u', 'x'], ['GET', 'b'], ['GET', 'b'], ['SET', 'a', '1'], ['GET', 'c'],
             ['GET', 'd'], on='u')
    ours = redis.Redis(port=pair.ours.port).acl_log()
    theirs = redis.Redis(port=pair.theirs.port).acl_log()
    assert len(ours) == len(theirs) == 3
    for a, b in zip(ours, theirs):
        for field in ('count', 'reason', 'context', 'object', 'username'):
            assert a[field] == b[field]
        assert set(a) == set(b)
        assert a['client-info']['user'] == b['client-info']['user'] == 'u'
    pair.call('ACL', 'LOG', 'RESET')
    pair.call('ACL', 'LOG')


_CLIENT_FIELDS = re.compile(rb'\b(id|addr|laddr|fd|age|idle)=\S*')


def _newest_client_info(conn):
    """The newest ACL LOG entry's count, reason, context and client-info,
    the fields that differ between two servers masked."""
    raw = conn.call('ACL', 'LOG', '1')
    info = raw[raw.index(b'client-info\r\n') + 13:]
    info = info[info.index(b'\r\n') + 2:]
    info = info[:info.index(b'\r\n')]
    count = re.search(rb'count\r\n:(\d+)', raw).group(1)
    return count, _CLIENT_FIELDS.sub(rb'\1=*', info)


def test_acl_log_client_info_as_redis(server_factory):
    """An entry's client-info is the client as it is when denied (Redis's
    catClientInfoString then, the same as CLIENT INFO): the command it
    runs as cmd= (AUTH's and HELLO's own, EVAL's for a script, EXEC's for
    a queued command), its query buffer and argument bytes."""
    def script(admin, u, fresh):
        admin.call('ACL', 'SETUSER', 'lu', 'on', '>right', '+@all', '~*', '&*')
        admin.call('ACL', 'SETUSER', 'u', 'on', 'nopass', '+@all', '-set', '~a*', '&c')
        c = fresh()
        yield c.call('AUTH', 'lu', 'wrong')
        yield c.call('AUTH', 'lu', 'wrong')
        c = fresh()
        yield c.call('HELLO', '3', 'AUTH', 'lu', 'wrong')
        c.call('PING')
        yield c.call('HELLO', '2', 'AUTH', 'lu', 'wrong')
        u.call('AUTH', 'u', 'x')
        yield u.call('GET', 'b')
        u.send(encode_command(['GET', 'bb']) + encode_command(['GET', 'cc'])
               + encode_command(['PING']))
        yield [u.read_reply() for _ in range(3)]
        yield u.call('EVAL', "return redis.pcall('get', KEYS[1])", '1', 'b')
        yield u.call('EVAL', "return redis.pcall('publish', 'd', 'm')", '0')
        yield u.call('EVAL', "return redis.pcall('set', 'a', 'm')", '0')
        yield u.call('MULTI'), u.call('GET', 'b')
        u.call('EXEC')
        for args in (['MULTI'], ['GET', 'a'], ['GET', 'a1'], ['PING']):
            u.call(*args)
        admin.call('ACL', 'SETUSER', 'u', '-get')
        yield u.call('EXEC')
        admin.call('ACL', 'SETUSER', 'u', '+get')
        c = fresh()
        yield c.call('MULTI'), c.call('AUTH', 'lu', 'wrong'), c.call('EXEC')
        c.call('FUNCTION', 'LOAD', "#!lua name=lib\nredis.register_function('f', "
                                   "function(k) return redis.pcall('get', k[1]) end)")
        yield u.call('FCALL', 'f', '1', 'zz')
        yield u.call('SUBSCRIBE', 'nope')

    out = []
    for kind in ('pyredis', 'redis'):
        srv = server_factory(kind)
        admin, u = RawConn(srv.port), RawConn(srv.port)
        out.append([(reply, _newest_client_info(admin))
                    for reply in script(admin, u, lambda: RawConn(srv.port))])
    for ours, theirs in zip(*out):
        assert ours == theirs
    infos = [info for _, (_, info) in out[0]]
    assert b'cmd=auth' in infos[0] and b'qbuf=33 ' in infos[0] and b'argv-mem=11 ' in infos[0]
    assert b'cmd=hello' in infos[2] and b'cmd=eval' in infos[6] and b'cmd=exec' in infos[11]


def test_client_info_inside_exec_as_redis(server_factory):
    # Inside EXEC Redis's client keeps EXEC's lastcmd and argument bytes.
    out = []
    for kind in ('pyredis', 'redis'):
        c = RawConn(server_factory(kind).port)
        c.call('MULTI')
        c.call('CLIENT', 'INFO')
        c.call('SET', 'a', 'b')
        reply = c.call('EXEC')
        out.append(_CLIENT_FIELDS.sub(rb'\1=*', reply[reply.index(b'\r\n', 5):]))
    assert out[0] == out[1]
    assert b' argv-mem=4 ' in out[0] and b' cmd=exec ' in out[0]


def test_redis_py_acl_api(pair):
    r = redis.Redis(port=pair.ours.port, decode_responses=True)
    assert r.acl_setuser('py', enabled=True, nopass=False, passwords=['+pw1', '+pw2'],
                         hashed_passwords=['+' + 'b' * 64], categories=['+@read', '-@admin'],
                         commands=['+set', '-get', '+config|get', '+acl|whoami'],
                         keys=['app:*', 'x'],
                         channels=['news'], selectors=[('+hset', '%R~h*')], reset=False)
    u = r.acl_getuser('py')
    assert u['enabled'] and 'pw1' not in u['passwords'] and len(u['passwords']) == 3
    assert '~app:*' in u['keys']
    assert r.acl_users() == ['default', 'py']
    assert r.acl_whoami() == 'default'
    assert r.acl_dryrun('py', 'set', 'app:1', 'v') == 'OK'
    user = redis.Redis(port=pair.ours.port, username='py', password='pw2', decode_responses=True)
    assert user.acl_whoami() == 'py'
    assert user.set('app:1', 'v')
    with pytest.raises(redis.exceptions.NoPermissionError):
        user.set('other', 'v')
    pool = redis.ConnectionPool(port=pair.ours.port, username='py', password='pw1')
    assert redis.Redis(connection_pool=pool).acl_whoami() in ('py', b'py')
    r2 = redis.Redis(port=pair.ours.port)
    r2.auth('pw1', username='py')
    assert r2.acl_whoami() in ('py', b'py')
    with pytest.raises(redis.exceptions.AuthenticationError):
        r2.auth('bad', username='py')
    log = r.acl_log(count=2)
    assert log[0]['reason'] == 'auth' and log[1]['object'] == 'other'
    assert r.acl_log_reset()
    assert r.acl_deluser('py') == 1
    assert r.acl_list() == ['user default on nopass ~* &* +@all']


def test_redis_py_acl_setuser_resets(pair):
    # redis-py's reset_keys/reset_channels/reset_passwords (resetkeys,
    # resetchannels, resetpass before the new rules): the users, as both
    # servers describe them, and what each can do after.
    for port in (pair.ours.port, pair.theirs.port):
        r = redis.Redis(port=port, decode_responses=True)
        assert r.acl_setuser('rs', enabled=True, passwords=['+old1', '+old2'],
                             keys=['a*', '%R~r*'], channels=['c*'], commands=['+@all'])
        assert r.acl_setuser('rs', enabled=True, passwords=['+new'], keys=['b*'],
                             channels=['d*'], reset_keys=True, reset_channels=True,
                             reset_passwords=True)
        assert r.acl_setuser('rs2', enabled=True, nopass=True, keys=['x'], channels=['y'],
                             commands=['+get'], reset=True, reset_keys=True,
                             reset_channels=True, reset_passwords=True)
        assert r.acl_setuser('rs3', enabled=False, reset_keys=True, reset_channels=True,
                             reset_passwords=True)
    pair.run(['ACL', 'GETUSER', 'rs'], ['ACL', 'GETUSER', 'rs2'], ['ACL', 'GETUSER', 'rs3'],
             ['ACL', 'LIST'])
    pair.run(['AUTH', 'rs', 'old1'], ['AUTH', 'rs', 'new'], ['GET', 'a1'], ['GET', 'b1'],
             ['PUBLISH', 'c1', 'm'], ['PUBLISH', 'd1', 'm'], on='rs')


def test_scripts_are_checked(pair):
    pair.call('ACL', 'SETUSER', 'u', 'on', 'nopass', '+@all', '-set', '~a*', '&c')
    pair.run(['AUTH', 'u', 'x'],
             ['EVAL', "return redis.call('set', KEYS[1], 1)", '1', 'a'],
             ['EVAL', "return redis.call('get', KEYS[1])", '1', 'b'],
             ['EVAL', "return redis.call('get', 'a')", '0'],
             ['EVAL', "return redis.call('publish', 'd', 'm')", '0'],
             ['EVAL', "return redis.pcall('get', 'b')", '0'],
             ['EVAL', "return redis.acl_check_cmd('get', 'b')", '0'],
             ['EVAL', "return redis.acl_check_cmd('get', 'a')", '0'], on='u')
    ours = redis.Redis(port=pair.ours.port).acl_log()
    theirs = redis.Redis(port=pair.theirs.port).acl_log()
    fields = ('count', 'reason', 'context', 'object', 'username')
    assert [[e[f] for f in fields] for e in ours] == [[e[f] for f in fields] for e in theirs]


def test_aclfile_save_and_load_both_ways(server_factory, tmp_path):
    users = ('user default on nopass ~* &* +@all\n'
             'user alice on #%s ~app:* resetchannels &n* -@all +@read +set\n'
             'user bob off resetchannels -@all (~x* resetchannels -@all +get)\n'
             % ('c' * 64))
    for writer, reader in (('redis', 'pyredis'), ('pyredis', 'redis')):
        d = tmp_path / writer
        d.mkdir()
        (d / 'users.acl').write_text(users)
        w = server_factory(writer, '--aclfile', str(d / 'users.acl'))
        c = RawConn(w.port)
        assert c.call('ACL', 'SETUSER', 'carol', 'on', '>pw', '+@all', '-@admin',
                      '~*') == b'+OK\r\n'
        assert c.call('ACL', 'SAVE') == b'+OK\r\n'
        saved = (d / 'users.acl').read_bytes()
        assert saved.count(b'\n') == 4 and b'user carol on #' in saved
        assert not [f for f in os.listdir(d) if '.tmp-' in f]
        w.stop()
        r = server_factory(reader, '--aclfile', str(d / 'users.acl'))
        c = RawConn(r.port)
        listed = c.call('ACL', 'LIST')
        assert normalize(listed) == normalize(b'*4\r\n' + b''.join(
            b'$%d\r\n%s\r\n' % (len(x), x) for x in saved.rstrip(b'\n').split(b'\n')))
        assert c.call('AUTH', 'carol', 'pw') == b'+OK\r\n'
        r.stop()


@pytest.mark.parametrize('content', [
    'user alice on nopass ~* +@all\nuser bob +nosuch\nfoo bar\n\nuser alice on\n',
    'user y on ~a b\n',
])
def test_bad_aclfile_at_startup_and_load(server_factory, tmp_path, content):
    outs = []
    for kind in ('pyredis', 'redis'):
        d = tmp_path / kind
        d.mkdir()
        path = d / 'users.acl'
        path.write_text('user default on nopass ~* &* +@all\n')
        srv = server_factory(kind, '--aclfile', 'users.acl', cwd=str(d))
        path.write_text(content)
        c = RawConn(srv.port)
        outs.append((c.call('ACL', 'LOAD'), c.call('ACL', 'USERS')))
        srv.stop()
        bad = server_factory(kind, '--aclfile', 'users.acl', cwd=str(d), wait=False)
        assert bad.proc.wait(15) == 1
        log = bad.read_log()
        outs.append(log[log.index('Aborting Redis startup'):].split('\n')[0])
    assert outs[0] == outs[2]
    assert outs[1] == outs[3]


def test_unmatched_parenthesis_in_aclfile(server_factory, tmp_path):
    # (redis-server 7.0.15 crashes on this ACL LOAD: pyredis gives the error
    # Redis's code means to give.)
    (tmp_path / 'users.acl').write_text('user default on nopass ~* &* +@all\n')
    srv = server_factory('pyredis', '--aclfile', 'users.acl', cwd=str(tmp_path))
    (tmp_path / 'users.acl').write_text('user x on (+get\n')
    c = RawConn(srv.port)
    assert c.call('ACL', 'LOAD') == (
        b'-ERR users.acl:1: Unmatched parenthesis in selector definition.WARNING: ACL errors '
        b'detected, no change to the previously active ACL rules was performed\r\n')
    assert c.call('ACL', 'USERS') == b'*1\r\n$7\r\ndefault\r\n'


def test_user_directives_in_config(server_factory, tmp_path):
    conf = ('user alice on >pw ~app:* +@read\n'
            'user default on nopass ~* &* +@all -flushall\n')
    replies = []
    for kind in ('pyredis', 'redis'):
        srv = server_factory(kind, config_text=conf)
        c = RawConn(srv.port)
        replies.append([normalize(c.call('ACL', 'LIST')), c.call('FLUSHALL'),
                        c.call('AUTH', 'alice', 'pw'), c.call('GET', 'app:1'),
                        c.call('GET', 'x')])
        # CONFIG REWRITE keeps the users.
        c2 = RawConn(srv.port)
        c2.call('AUTH', 'default', 'x')
        c2.call('ACL', 'SETUSER', 'bob', 'on', 'nopass', '+ping')
        assert c2.call('CONFIG', 'REWRITE') == b'+OK\r\n'
        text = open(os.path.join(srv.dir, 'test.conf')).read()
        replies[-1].append(sorted(line for line in text.split('\n') if line.startswith('user ')))
        srv.stop()
    assert replies[0][:5] == replies[1][:5]
    assert [normalize(x.encode()) for x in replies[0][5]] == \
        [normalize(x.encode()) for x in replies[1][5]]


def test_aclfile_and_user_directives_both(server_factory, tmp_path):
    logs = []
    for kind in ('pyredis', 'redis'):
        d = tmp_path / kind
        d.mkdir()
        (d / 'users.acl').write_text('user default on nopass ~* &* +@all\n')
        srv = server_factory(kind, config_text='user alice on\naclfile %s\n' % (d / 'users.acl'),
                             cwd=str(d), wait=False)
        assert srv.proc.wait(15) == 1
        logs.append(srv.read_log())
    assert ('Configuring Redis with users defined in redis.conf and at the same setting an ACL '
            'file path is invalid.') in logs[0]
    assert 'Configuring Redis with users defined in redis.conf' in logs[1]


def test_unrestricted_clients_stay_on_the_trusted_path(pair):
    # Both run pipelines on the trusted path (a restricted user's from its
    # table, acl.py); the restricted one's last key is denied.
    r = redis.Redis(port=pair.ours.port)
    r.acl_setuser('app', enabled=True, nopass=True, keys=['app:*'],
                  categories=['+@read', '+@write'])
    u = redis.Redis(port=pair.ours.port, username='app', password='x')
    with r.pipeline(transaction=False) as p:
        for i in range(100):
            p.set('app:%d' % i, i)
            p.get('app:%d' % i)
        assert p.execute()[-1] == b'99'
    with u.pipeline(transaction=False) as p:
        for i in range(100):
            p.set('app:%d' % i, i)
            p.get('app:%d' % i)
        p.get('other')
        out = p.execute(raise_on_error=False)
    assert out[-2] == b'99'
    assert isinstance(out[-1], redis.exceptions.NoPermissionError)


def _commandstats(port):
    """INFO commandstats and errorstats without the timings."""
    info = redis.Redis(port=port).info('commandstats')
    info.update(redis.Redis(port=port).info('errorstats'))
    return {k: ({f: v for f, v in stat.items() if not f.startswith('usec')}
                if isinstance(stat, dict) else stat)
            for k, stat in info.items()
            if not k.startswith(('cmdstat_acl', 'cmdstat_info', 'cmdstat_config',
                                 'cmdstat_auth', 'cmdstat_hello', 'cmdstat_client',
                                 'cmdstat_command'))}


def test_denials_on_the_trusted_path(pair):
    # A restricted user's SET/GET/MGET... run from its table (acl.py), with
    # the key check in front: pipelined runs of allowed and denied commands
    # (read-only, write-only, glob, literal patterns, a second selector, a
    # command allowed only by a first-arg rule) give redis-server's replies,
    # ACL LOG, commandstats (calls vs rejected_calls) and errorstats.
    for srv in (pair.ours, pair.theirs):
        redis.Redis(port=srv.port).config_resetstat()
    pair.call('ACL', 'SETUSER', 'u', 'on', 'nopass', '~app:*', '%R~ro:*', '%W~wo:*',
              '~lit', '~g?b*', '+@read', '+@write', '-spop', '(~t:* +@all)',
              '(+select|0 ~s:*)')
    on = 'u'
    pair.call('AUTH', 'u', 'x', on=on)
    batch = [['SET', 'app:1', 'a'], ['SET', 'ro:1', 'x'], ['SET', 'app:2', 'b'],
             ['SET', 'wo:1', 'x'], ['SET', 'wo:1', 'y', 'GET'], ['GET', 'wo:1'],
             ['GET', 'ro:1'], ['GET', 'app:1'], ['GET', 'zz'], ['GET', 'app:2'],
             ['INCR', 'lit'], ['INCR', 'lita'], ['INCR', 'gxb1'], ['INCR', 'gxxb'],
             ['MGET', 'app:1', 'ro:1'], ['MGET', 'app:1', 'wo:1'],
             ['MSET', 'app:3', '1', 't:1', '2'], ['MSET', 't:1', '1', 't:2', '2'],
             ['SPOP', 'app:set'], ['SPOP', 't:s'], ['SELECT', '0'], ['SELECT', '1'], ['PING'],
             ['FLUSHALL'], ['DEL', 'app:3', 'ro:1'],
             ['GET', 'app:1'], ['GET', 'zz'], ['GET', 'zz'], ['INCR', 'app:1'], ['SET', 'ro:2', 'v']]
    data = b''.join(encode_command(cmd) for cmd in batch)
    ours, theirs = pair.conn(on)
    for conn in (ours, theirs):
        conn.send(data)
    got = [(ours.read_reply(), theirs.read_reply()) for _ in batch]
    for cmd, (a, b) in zip(batch, got):
        assert a == b, (cmd, a, b)
    assert sum(a.startswith(b'-NOPERM') for a, _ in got) == 13
    log_ours = redis.Redis(port=pair.ours.port).acl_log()
    log_theirs = redis.Redis(port=pair.theirs.port).acl_log()
    fields = ('count', 'reason', 'context', 'object', 'username')
    assert ([[e[f] for f in fields] for e in log_ours]
            == [[e[f] for f in fields] for e in log_theirs])
    assert all(e['client-info']['cmd'] == t['client-info']['cmd']
               for e, t in zip(log_ours, log_theirs))
    assert _commandstats(pair.ours.port) == _commandstats(pair.theirs.port)


def test_restricted_users_get_their_own_table():
    # In process: no user sets a client's gate (the trusted path's one
    # test); a restricted user's client looks its commands up in its user's
    # table, an unrestricted one's in the command table itself.
    from pyredis import acl, config
    from pyredis.assembly import create_server
    from pyredis.commands import DISPATCH
    from pyredis.networking import Client
    from helpers import FakeTransport, encode_command
    server = create_server(config.Config())
    c = Client(server)
    c.transport = FakeTransport()
    server.clients[c.id] = c
    assert not c.gated and not c.user.restricted and c.dispatch is DISPATCH
    c.data_received(encode_command(('ACL', 'SETUSER', 'u', 'on', 'nopass')))
    assert not c.gated
    c.data_received(encode_command(('AUTH', 'u', 'x')))
    assert not c.gated and c.user.restricted
    assert c.dispatch == {}         # no command allowed: all take process_command
    admin = Client(server)
    admin.transport = FakeTransport()
    server.clients[admin.id] = admin
    admin.data_received(encode_command(('ACL', 'SETUSER', 'u', '+@all', '~app:*', '-spop',
                                        '(~t +get)')))
    table = c.dispatch
    assert not c.gated and table is c.user.table() and table is not DISPATCH
    # Keyless commands are the Commands; keyed ones guards; commands with
    # channels, containers, AUTH/HELLO and denied ones are not there.
    assert table[b'PING'] is DISPATCH[b'PING'] and table[b'ping'] is DISPATCH[b'ping']
    assert isinstance(table[b'SET'], acl.Guard) and table[b'SET'] is table[b'set']
    assert table[b'SET'].real is DISPATCH[b'SET'] and isinstance(table[b'MGET'], acl.Guard)
    for name in (b'PUBLISH', b'SUBSCRIBE', b'CLIENT', b'CONFIG', b'AUTH', b'HELLO', b'SPOP',
                 b'EVAL', b'SORT'):
        assert name not in table, name
    admin.data_received(encode_command(('ACL', 'SETUSER', 'u', '+@all', '~*', '&*')))
    assert not c.gated and not c.user.restricted and c.dispatch is DISPATCH
    admin.data_received(encode_command(('ACL', 'SETUSER', 'default', '-@all')))
    assert admin.user.name == b'default' and admin.user.restricted
    assert not admin.gated and admin.dispatch == {}
    assert b''.join(c.transport.written + admin.transport.written).count(b'+OK') == 5


REPLICA_USER = ('ACL', 'SETUSER', 'repl', 'on', '>rpw', '-@all', '+psync', '+replconf',
                '+ping')


@pytest.mark.parametrize('master_kind,replica_kind', [('redis', 'pyredis'),
                                                      ('pyredis', 'redis')])
def test_replica_authenticates_with_masteruser(server_factory, master_kind, replica_kind):
    from test_replication import link_up, wait_for
    master = server_factory(master_kind, '--repl-diskless-sync-delay', '0')
    m = master.client()
    m.execute_command(*REPLICA_USER)
    m.execute_command('ACL', 'SETUSER', 'default', 'resetpass', '>adm')
    m = redis.Redis(port=master.port, password='adm')
    m.set('k', 'v')
    replica = server_factory(replica_kind, '--masteruser', 'repl', '--masterauth', 'rpw')
    replica.client().execute_command('REPLICAOF', '127.0.0.1', master.port)
    wait_for(lambda: link_up(replica), timeout=10, what='replica link')
    m.set('k2', 'v2')
    wait_for(lambda: replica.client().get('k2') == b'v2', what='the stream')
    assert replica.client().get('k') == b'v'
    assert [c['user'] for c in m.client_list(_type='replica')] == ['repl']
    log = m.acl_log()
    assert not log, log


def test_more_edges(pair):
    pair.run(['CONFIG', 'SET', 'acl-pubsub-default', 'allchannels'],
             ['ACL', 'SETUSER', 'p1', 'on'], ['ACL', 'SETUSER', 'p2', 'reset'],
             ['ACL', 'SETUSER', 'p3', '(+get)'], ['ACL', 'LIST'],
             ['CONFIG', 'SET', 'acl-pubsub-default', 'resetchannels'],
             ['ACL', 'SETUSER', 'p4', 'on'], ['ACL', 'LIST'])
    # A user deleting itself: the reply, then the connection closes.
    pair.call('ACL', 'SETUSER', 'self', 'on', 'nopass', '+@all', '~*', '&*')
    pair.run(['AUTH', 'self', 'x'], ['ACL', 'DELUSER', 'self'], on='self')
    for conn in pair.conn('self'):
        assert conn.closed()
    # AUTH failing inside MULTI is logged in the multi context.
    pair.run(['MULTI'], ['AUTH', 'nouser', 'x'], ['EXEC'], on='m')
    pair.run(['ACL', 'DRYRUN', 'default', 'get', 'k'], ['ACL', 'DRYRUN', 'p4', 'sort', 'k'],
             ['ACL', 'DRYRUN', 'p4', 'config', 'nosuch'], ['ACL', 'DRYRUN', 'p4', 'auth', 'x'],
             ['ACL', 'SETUSER', 'p4', '~k*', '+sort', '+lpush'],
             ['ACL', 'DRYRUN', 'p4', 'sort', 'k', 'STORE', 'z'],
             ['ACL', 'DRYRUN', 'p4', 'sort', 'k', 'STORE', 'k2'],
             ['ACL', 'DRYRUN', 'p4', 'sort', 'k', 'BY', 'x*'])
    ours = redis.Redis(port=pair.ours.port).acl_log()
    theirs = redis.Redis(port=pair.theirs.port).acl_log()
    fields = ('count', 'reason', 'context', 'object', 'username')
    assert [[e[f] for f in fields] for e in ours] == [[e[f] for f in fields] for e in theirs]


def test_requirepass_clients_need_auth(server_factory):
    replies = []
    for kind in ('pyredis', 'redis'):
        srv = server_factory(kind, '--requirepass', 'pw')
        c = RawConn(srv.port)
        replies.append([c.call('GET', 'x'), c.call('ACL', 'WHOAMI'), c.call('HELLO', '3'),
                        c.call('AUTH', 'default', 'bad'), c.call('AUTH', 'pw'),
                        c.call('ACL', 'LIST')])
        c2 = RawConn(srv.port)
        replies[-1] += [c2.call('HELLO', '2', 'AUTH', 'default', 'pw')[:1], c2.call('PING')]
    assert replies[0] == replies[1]


def test_hello_setname_acts_on_the_spot(server_factory):
    # Redis 7.0's HELLO names the client when it meets SETNAME: the name
    # stays whatever follows (no authentication, a wrong password, a bad
    # option or name).
    script = [('HELLO', '2', 'SETNAME', 'n1'), ('CLIENT', 'GETNAME'), ('AUTH', 'pw'),
              ('CLIENT', 'GETNAME'), ('HELLO', '2', 'SETNAME', 'n2', 'SETNAME', 'a b'),
              ('CLIENT', 'GETNAME'), ('HELLO', '2', 'SETNAME', 'n3', 'bogus'),
              ('CLIENT', 'GETNAME'), ('HELLO', '2', 'SETNAME', 'n4', 'AUTH', 'default', 'no'),
              ('CLIENT', 'GETNAME'), ('HELLO', '2', 'AUTH', 'default', 'pw', 'SETNAME', 'n5', 'x'),
              ('CLIENT', 'GETNAME'), ('HELLO', '2', 'SETNAME', ''), ('CLIENT', 'GETNAME')]
    out = []
    for kind in ('pyredis', 'redis'):
        c = RawConn(server_factory(kind, '--requirepass', 'pw').port)
        replies = [c.call(*args) for args in script]
        replies[-2] = replies[-2][:1]       # HELLO's map: the client ids differ
        out.append(replies)
    assert out[0] == out[1]
    assert out[0][3] == b'$2\r\nn1\r\n'


@pytest.mark.parametrize('conf', ['user alice on +nosuch\n', 'user alice on bogus\n',
                                  'user alice on ~a b\n', 'user alice on\nuser alice off\n',
                                  'user alice on #abc\n', 'user alice on (~x +get) +nosuch\n'])
def test_bad_user_directives(server_factory, conf):
    found = []
    for kind in ('pyredis', 'redis'):
        srv = server_factory(kind, config_text=conf, wait=False)
        assert srv.proc.wait(15) == 1
        log = srv.read_log()
        found.append([line.split('# ', 1)[-1] for line in log.split('\n')
                      if line.startswith(('Error in user', '>>>', 'Reading the'))
                      or 'Error loading ACL rule' in line or 'Critical error' in line])
    assert found[0] == found[1] and found[0]


def test_random_rule_sets_describe_as_redis(pair):
    """Seeded random rule sets: ACL LIST and GETUSER must describe each user
    as Redis does (the category fit, single commands, first args)."""
    import random
    rnd = random.Random(7)
    cats = ['@' + c for c in ('keyspace', 'read', 'write', 'set', 'sortedset', 'list', 'hash',
                              'string', 'bitmap', 'hyperloglog', 'geo', 'stream', 'pubsub',
                              'admin', 'fast', 'slow', 'blocking', 'dangerous', 'connection',
                              'transaction', 'scripting', 'all')]
    cmds = ['get', 'set', 'hset', 'config', 'config|get', 'config|set', 'client|list', 'acl',
            'acl|whoami', 'xinfo|stream', 'zadd', 'sort', 'eval', 'publish', 'object|freq',
            'memory', 'debug', 'command|docs', 'function|load', 'script|flush']
    for i in range(40):
        rules = []
        for _ in range(rnd.randint(1, 8)):
            r = rnd.random()
            if r < 0.45:
                rules.append(rnd.choice('+-') + rnd.choice(cats))
            elif r < 0.85:
                rules.append(rnd.choice('+-') + rnd.choice(cmds))
            elif r < 0.9:
                rules.append(rnd.choice(['+select|0', '+select|1', '+debug|object']))
            else:
                rules.append(rnd.choice(['allcommands', 'nocommands', '~k*', '%R~r*', '&c*']))
        pair.call('ACL', 'SETUSER', 'r%d' % i, *rules)
        pair.call('ACL', 'GETUSER', 'r%d' % i)
    pair.call('ACL', 'LIST')


def test_rename_command_and_acl(server_factory):
    # ACL rules name commands by their original names; the renamed name runs.
    script = [('ACL', 'SETUSER', 'u', 'on', 'nopass', '+get', '~*'),
              ('ACL', 'DRYRUN', 'u', 'myget', 'k'), ('ACL', 'DRYRUN', 'u', 'get', 'k'),
              ('ACL', 'SETUSER', 'u', '+myget'), ('ACL', 'LIST'), ('AUTH', 'u', 'x'),
              ('MYGET', 'k'), ('GET', 'k')]
    out = []
    for kind in ('pyredis', 'redis'):
        srv = server_factory(kind, '--rename-command', 'get', 'myget')
        c = RawConn(srv.port)
        out.append([c.call(*args) for args in script])
    assert out[0] == out[1]


def test_protected_mode_follows_the_default_user():
    from pyredis import config
    from pyredis.assembly import create_server
    from pyredis.networking import Client
    from pyredis.server import PROTECTED_MODE_ERR
    server = create_server(config.Config())
    outside = Client(server)
    outside.addr = b'10.1.2.3:4000'
    assert server.accept_client(outside) == PROTECTED_MODE_ERR
    local = Client(server)
    local.addr = b'127.0.0.1:4000'
    assert server.accept_client(local) is None
    # islocalClient: exactly 127.0.0.1 or ::1, not the rest of 127.0.0.0/8.
    for addr in (b'127.0.0.2:4000', b'::ffff:127.0.0.1:4000'):
        other = Client(server)
        other.addr = addr
        assert server.accept_client(other) == PROTECTED_MODE_ERR
    server.acl.get(b'default').apply(b'>secret')
    server.acl.changed()
    assert server.accept_client(outside) is None


def _can_bind_127_0_0_2():
    import socket
    try:
        with socket.socket() as s:
            s.bind(('127.0.0.2', 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _can_bind_127_0_0_2(), reason='this machine cannot bind 127.0.0.2')
def test_protected_mode_from_another_loopback_address(server_factory):
    import socket

    def talk(port, source):
        # The refusal is written on accept, before any request: a PING sent
        # then could reach a closed socket and reset the connection before
        # the text is read, so the refused side only reads, up to the close.
        with socket.socket() as s:
            s.settimeout(5)
            s.bind((source, 0))
            s.connect(('127.0.0.1', port))
            if source == '127.0.0.1':
                s.sendall(b'PING\r\n')
            data = b''
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return data, True
                data += chunk
                if data.endswith(b'\r\n') and source == '127.0.0.1':
                    return data, False

    out = []
    for kind in ('pyredis', 'redis'):
        srv = server_factory(kind, '--bind', '127.0.0.1', '127.0.0.2', '--protected-mode', 'yes')
        out.append([talk(srv.port, '127.0.0.2'), talk(srv.port, '127.0.0.1'),
                    srv.client().info('stats')['rejected_connections']])
    assert out[0] == out[1]
    denied, closed = out[0][0]
    assert closed and denied.startswith(b'-DENIED Redis is running in protected mode')
    assert len(denied) == 1067
    assert out[0][1] == (b'+PONG\r\n', False) and out[0][2] == 1
