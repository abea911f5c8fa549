"""OBJECT ENCODING of strings and sets against redis-server 7.0: int vs
embstr vs raw for every way a string is made (SET of integer-looking
values, INCRBYFLOAT's results, which Redis never int-encodes, APPEND,
SETRANGE, SETBIT, COPY, RENAME, DEBUG RELOAD), intset vs hashtable for
sets (7.0 has no listpack sets) including a raised set-max-intset-entries,
which converts nothing."""

import pytest

from conftest import Compat


@pytest.fixture
def pair(server_factory):
    compat = Compat(server_factory('pyredis'), server_factory('redis'))
    yield compat
    compat.close()


def test_string_and_set_encodings_as_redis(pair):
    cmds = []

    def t(*c):
        cmds.append(c)

    for v in ['123', '0123', '-0', '+1', '12345678901234567890', '9223372036854775807',
              '-9223372036854775808', '9223372036854775808', ' 1', '1 ', 'x' * 44, 'x' * 45,
              '10000', '9999', '-1', '0', '3.0', '1e3']:
        t('SET', 'k', v)
        t('OBJECT', 'ENCODING', 'k')
    t('SET', 'f', '1')
    t('INCRBYFLOAT', 'f', '2')
    t('OBJECT', 'ENCODING', 'f')
    t('INCRBYFLOAT', 'f', '0.5')
    t('OBJECT', 'ENCODING', 'f')
    t('INCR', 'f')
    t('SET', 'g', '1')
    t('INCRBYFLOAT', 'g', '2')
    t('INCR', 'g')
    t('OBJECT', 'ENCODING', 'g')
    t('SET', 'h', '5')
    t('APPEND', 'h', '6')
    t('OBJECT', 'ENCODING', 'h')
    t('INCR', 'h')
    t('OBJECT', 'ENCODING', 'h')
    t('DEL', 'h')
    t('APPEND', 'h', '56')
    t('OBJECT', 'ENCODING', 'h')
    t('DEL', 'h')
    t('SETRANGE', 'h', '0', '12')
    t('OBJECT', 'ENCODING', 'h')
    t('SET', 'h', '12')
    t('SETRANGE', 'h', '1', '3')
    t('OBJECT', 'ENCODING', 'h')
    t('MSET', 'm1', '12', 'm2', 'ab')
    t('OBJECT', 'ENCODING', 'm1')
    t('OBJECT', 'ENCODING', 'm2')
    t('SETEX', 'se', '100', '77')
    t('OBJECT', 'ENCODING', 'se')
    t('GETSET', 'se', '88')
    t('OBJECT', 'ENCODING', 'se')
    t('SET', 'big', '12345678901234567890123456789012345678901234567890')
    t('OBJECT', 'ENCODING', 'big')
    t('INCRBYFLOAT', 'nf', '3')
    t('OBJECT', 'ENCODING', 'nf')
    t('INCRBY', 'ni', '3')
    t('OBJECT', 'ENCODING', 'ni')
    t('SET', 'ex', '5', 'EX', '100')
    t('OBJECT', 'ENCODING', 'ex')
    t('GETEX', 'ex', 'PERSIST')
    t('OBJECT', 'ENCODING', 'ex')
    t('COPY', 'ex', 'ex2')
    t('OBJECT', 'ENCODING', 'ex2')
    t('SET', 'dd', '1.5')
    t('DECRBY', 'dd', '1')
    t('SET', 'ww', '20')
    t('GETDEL', 'ww')
    t('SETNX', 'nx', '42')
    t('OBJECT', 'ENCODING', 'nx')
    t('SET', 's2', 'abc')
    t('INCRBYFLOAT', 's2', '1')
    t('SET', 'lf', '10.50')
    t('INCRBYFLOAT', 'lf', '0')
    t('OBJECT', 'ENCODING', 'lf')
    # sets
    t('SADD', 's', '1', '2', '3')
    t('OBJECT', 'ENCODING', 's')
    t('SADD', 's', 'a')
    t('OBJECT', 'ENCODING', 's')
    t('SREM', 's', 'a')
    t('OBJECT', 'ENCODING', 's')
    t('SADD', 's3', '-5', '007')
    t('OBJECT', 'ENCODING', 's3')
    t('SADD', 's4', '9223372036854775808')
    t('OBJECT', 'ENCODING', 's4')
    t('SADD', 's5', *[str(i) for i in range(512)])
    t('OBJECT', 'ENCODING', 's5')
    t('SADD', 's5', '600')
    t('OBJECT', 'ENCODING', 's5')
    t('SADD', 's6', 'x')
    t('SINTERSTORE', 's7', 's', 's5')
    t('OBJECT', 'ENCODING', 's7')
    t('SUNIONSTORE', 's8', 's', 's6')
    t('OBJECT', 'ENCODING', 's8')
    t('SREM', 's8', 'x')
    t('OBJECT', 'ENCODING', 's8')
    t('SDIFFSTORE', 's9', 's5', 's')
    t('OBJECT', 'ENCODING', 's9')
    t('SMOVE', 's', 'sm', '1')
    t('OBJECT', 'ENCODING', 'sm')
    t('SMOVE', 's6', 'sm2', 'x')
    t('OBJECT', 'ENCODING', 'sm2')
    t('CONFIG', 'SET', 'set-max-intset-entries', '2')
    t('SADD', 's10', '1', '2', '3')
    t('OBJECT', 'ENCODING', 's10')
    t('SINTERSTORE', 's11', 's5', 's5')
    t('OBJECT', 'ENCODING', 's11')
    t('CONFIG', 'SET', 'set-max-intset-entries', '512')
    t('SET', 'rr', '123')
    t('RENAME', 'rr', 'rr2')
    t('OBJECT', 'ENCODING', 'rr2')
    t('DUMP', 'rr2')
    t('LPUSH', 'srt', '3', '1', '2')
    t('SORT', 'srt', 'STORE', 'srtd')
    t('OBJECT', 'ENCODING', 'srtd')
    t('SET', 'gr', '123')
    t('GETRANGE', 'gr', '0', '1')
    t('SETRANGE', 'gr', '5', '1')
    t('OBJECT', 'ENCODING', 'gr')
    t('SET', 'lk', '123456789012345678901')
    t('OBJECT', 'ENCODING', 'lk')
    t('INCRBYFLOAT', 'q1', '3')
    t('APPEND', 'q1', '4')
    t('OBJECT', 'ENCODING', 'q1')
    t('INCRBYFLOAT', 'q2', '3')
    t('SETBIT', 'q2', '1', '1')
    t('OBJECT', 'ENCODING', 'q2')
    t('INCRBYFLOAT', 'q3', '3')
    t('SETRANGE', 'q3', '0', '5')
    t('OBJECT', 'ENCODING', 'q3')
    t('INCRBYFLOAT', 'q4', '3')
    t('SETRANGE', 'q4', '0', '')
    t('OBJECT', 'ENCODING', 'q4')
    t('GET', 'q4')
    t('INCR', 'q4')
    t('OBJECT', 'ENCODING', 'q4')
    t('INCRBYFLOAT', 'q5', '12345678901234567')
    t('OBJECT', 'ENCODING', 'q5')
    t('COPY', 'q5', 'q6')
    t('OBJECT', 'ENCODING', 'q6')
    t('RENAME', 'q6', 'q7')
    t('OBJECT', 'ENCODING', 'q7')
    t('DUMP', 'q7')
    t('INCRBYFLOAT', 'q8', '-0.5')
    t('INCRBYFLOAT', 'q8', '0.5')
    t('OBJECT', 'ENCODING', 'q8')
    t('GET', 'q8')
    t('STRLEN', 'q8')
    t('GETRANGE', 'q8', '0', '-1')
    t('DEBUG', 'RELOAD')
    for k in ['k', 'f', 'g', 'h', 'm1', 'm2', 'se', 'nf', 'ni', 'ex', 'ex2', 'lf',
              's', 's3', 's5', 's7', 's8', 's9', 'sm', 'sm2', 's10', 's11', 'rr2', 'gr',
              'q4', 'q5', 'q7', 'q8']:
        t('OBJECT', 'ENCODING', k)
    for c in cmds:
        pair.call(*c)


def test_small_integers_are_shared():
    """OBJ_SHARED_INTEGERS: every value that is the decimal of 10..9999
    (from a request's argument, an INCR or an RDB load) is one shared
    object, so keys holding small counters cost no value allocation each;
    OBJECT ENCODING and the values read back are unchanged."""
    import pyredis
    with pyredis.serve(enable_debug_command='yes') as server:
        r = server.client()
        r.set('a', '1234')
        r.mset({'b': '1234', 'big': '10000', 'c': '0123'})
        r.set('n', '1233')
        r.incr('n')
        data = server.server.dbs[0].data
        assert data[b'a'] is data[b'b'] is data[b'n']
        assert data[b'big'] is not data[b'a'] and data[b'c'] == b'0123'
        r.execute_command('DEBUG', 'RELOAD')
        data = server.server.dbs[0].data
        assert data[b'a'] is data[b'b'] is data[b'n']
        assert [r.object('encoding', k) for k in ('a', 'big', 'c')] == [b'int', b'int',
                                                                         b'embstr']
        assert r.mget('a', 'b', 'n', 'big', 'c') == [b'1234', b'1234', b'1234', b'10000',
                                                     b'0123']
