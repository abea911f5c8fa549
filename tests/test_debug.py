"""DEBUG subcommands compared with redis-server."""


def test_debug_populate(compat):
    compat.call('SET', 'key:3', 'mine')
    compat.call('DEBUG', 'POPULATE', '10')
    compat.call('DEBUG', 'POPULATE', '5', 'p', '3')
    compat.call('DEBUG', 'POPULATE', '3', 'q', '12')
    compat.call('MGET', *['key:%d' % i for i in range(11)])
    compat.call('MGET', 'p:0', 'p:4', 'q:0', 'q:2')
    compat.call('DBSIZE')
    for args in (('-1',), ('x',), ('1', 'p', '-1'), ('1', 'p', 'x'), ('1', 'p', '1', 'extra')):
        compat.call('DEBUG', 'POPULATE', *args)
