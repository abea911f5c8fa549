"""Compatibility of the server core with Redis 7.0, byte for byte.

Every connection, server, keyspace and string command of the core is run
against pyredis and a real redis-server with the same arguments, including
the error paths (arity, wrong type, bad integers and floats, syntax errors,
out-of-range databases, unknown commands and subcommands), and the raw
replies are compared. Sequences are written one command per line in
redis-cli syntax (sdssplitargs quoting); a line starting with ``~`` marks a
reply whose array order is Redis's hash order, compared as a sorted list.
"""

import itertools
import shlex

import hiredis
import pytest

from helpers import RawConn


def parse(raw):
    r = hiredis.Reader()
    r.feed(raw)
    return r.gets()


def unordered(reply):
    value = parse(reply)
    return sorted(value) if isinstance(value, list) else value


def run_lines(compat, text):
    for line in text.strip().splitlines():
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        if line.startswith('~'):
            args = shlex.split(line[1:])
            ra, rb = compat.a.call(*args), compat.b.call(*args)
            assert unordered(ra) == unordered(rb), (args, ra, rb)
        else:
            compat.call(*split(line))


def split(line):
    # redis-cli syntax: "\x00"-style escapes inside double quotes.
    from pyredis.util import split_args
    args = split_args(line.encode())
    assert args is not None, line
    return args


def has_lists(srv):
    reply = RawConn(srv.port).call('RPUSH', '__probe__', 'x')
    RawConn(srv.port).call('DEL', '__probe__')
    return not reply.startswith(b'-ERR unknown command')


SEQUENCES = {
    'connection': r'''
        PING
        PING hello
        PING a b
        ECHO
        ECHO hello
        ECHO a b
        ECHO ""
        QUIT extra
    ''',
    'select': r'''
        SELECT
        SELECT x
        SELECT 1.5
        SELECT -1
        SELECT 16
        SELECT 2147483648
        SELECT -2147483649
        SELECT " 1"
        SELECT 01
        SELECT 15
        SET k v
        SELECT 0
        GET k
        SELECT 15
        GET k
        DBSIZE
    ''',
    'unknown-commands': r'''
        FOO
        FOO a b
        foo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbb
        FOO aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbb cc
        FOO 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40
        xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
        FOO "a\x00b" c
        "F\x00OO" x
        FOO "a\r\nb"
        CLIENT
        CLIENT FOO
        CLIENT FOO bar
        CLIENT "a\x00b"
        CLIENT xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
        client setinfo lib-name x
        OBJECT
        OBJECT FOO
        COMMAND FOO
        DEBUG foo
        DEBUG foo bar
        GET
        GET a b
        get a b
        SET a
        CLIENT SETNAME
        CLIENT GETNAME x
    ''',
    'client': r'''
        CLIENT GETNAME
        CLIENT SETNAME "a b"
        CLIENT SETNAME "a\nb"
        CLIENT SETNAME abc
        CLIENT GETNAME
        CLIENT SETNAME ""
        CLIENT GETNAME
        CLIENT SETNAME a b
        CLIENT NO-EVICT
        CLIENT NO-EVICT maybe
        CLIENT NO-EVICT on
        CLIENT NO-EVICT OFF
        CLIENT REPLY
        CLIENT REPLY maybe
        CLIENT REPLY ON
        CLIENT KILL 1.2.3.4:5
        CLIENT KILL ID abc
        CLIENT KILL ID 0
        CLIENT KILL ID 999999
        CLIENT KILL TYPE foo
        CLIENT KILL TYPE normal SKIPME maybe
        CLIENT KILL TYPE pubsub
        CLIENT KILL TYPE master
        CLIENT KILL foo bar
        CLIENT KILL ADDR 1.2.3.4:5
        CLIENT KILL ADDR 1.2.3.4:5 LADDR x
        CLIENT KILL USER nobody
        CLIENT KILL ADDR 1.2.3.4:5 ID
        CLIENT LIST TYPE foo
        CLIENT LIST TYPE pubsub
        CLIENT LIST TYPE master
        CLIENT LIST ID x
        CLIENT LIST ID 0
        CLIENT LIST ID -1
        CLIENT LIST ID 99999
        CLIENT LIST ID 99999 x
        CLIENT LIST foo
        CLIENT LIST TYPE
        CLIENT HELP
        CLIENT INFO x
        CLIENT GETREDIR
        CLIENT TRACKINGINFO
    ''',
    'hello-auth-errors': r'''
        HELLO 1
        HELLO 4
        HELLO x
        HELLO -1
        HELLO 2 foo
        HELLO 2 AUTH default
        HELLO 2 SETNAME
        HELLO 2 SETNAME "a b"
        HELLO 2 AUTH foo bar
        HELLO 2 SETNAME "a b" AUTH default x
        HELLO 2 AUTH default x SETNAME "a b"
        HELLO 2 "f\x00oo"
        HELLO 2 SETNAME
        AUTH
        AUTH foo
        AUTH a b
        AUTH a b c
        AUTH default x
    ''',
    'server-errors': r'''
        DBSIZE x
        FLUSHDB x
        FLUSHDB ASYNC
        FLUSHDB SYNC
        FLUSHDB sync
        FLUSHALL async
        FLUSHALL a b
        FLUSHALL foo
        SWAPDB
        SWAPDB a 1
        SWAPDB 1 a
        SWAPDB 1 16
        SWAPDB -1 1
        SWAPDB 2147483648 1
        SWAPDB 1 2147483648
        SWAPDB 0 0
        LASTSAVE x
        TIME x
        SHUTDOWN foo
        SHUTDOWN ABORT
        SHUTDOWN NOSAVE ABORT
        SHUTDOWN NOW ABORT
        DEBUG
        DEBUG OBJECT nokey
        DEBUG SLEEP 0
        DEBUG SLEEP -1
        DEBUG SLEEP x
        DEBUG HELP
        DEBUG HELP extra
        DEBUG SET-ACTIVE-EXPIRE 1
        CLIENT KILL MAXAGE 5
        OBJECT ENCODING
        OBJECT ENCODING nokey
        OBJECT REFCOUNT nokey
        OBJECT IDLETIME nokey
        OBJECT FREQ nokey
        OBJECT HELP
        OBJECT ENCODING a b
    ''',
    'swapdb': r'''
        SET a 1
        SET b 2 EX 1000
        SELECT 3
        SET c 3
        SWAPDB 0 3
        DBSIZE
        ~KEYS *
        TTL b
        GET c
        SELECT 0
        ~KEYS *
        GET c
        SWAPDB 3 0
        ~KEYS *
        FLUSHDB
        DBSIZE
        SELECT 3
        DBSIZE
        FLUSHALL
        DBSIZE
    ''',
    'set-options': r'''
        SET
        SET a
        SET a b c
        SET a b EX
        SET a b EX x
        SET a b EX 1.5
        SET a b EX 0
        SET a b EX -1
        SET a b PX 0
        SET a b PX -1
        SET a b EXAT 0
        SET a b PXAT -5
        SET a b EX 9223372036854775807
        SET a b EX 9223372036854775
        SET a b EX 9223372036854776
        SET a b PX 9223372036854775807
        SET a b EXAT 9223372036854775
        SET a b EXAT 9223372036854776
        SET a b EX 10 PX 10
        SET a b EX 10 EX 10
        SET a b PX 10 PXAT 10
        SET a b NX XX
        SET a b XX NX
        SET a b KEEPTTL EX 10
        SET a b EX 10 KEEPTTL
        SET a b KEEPTTL PXAT 4000000000000
        SET a b PERSIST
        SET a b GET GET
        SET a b NX NX
        SET a b KEEPTTL KEEPTTL
        SET a b nx
        SET a c NX
        SET a c NX GET
        GET a
        SET a d XX GET
        SET b d XX GET
        SET b d XX
        SET b d NX GET
        GET b
        SET a v EXAT 4000000000
        EXPIRETIME a
        SET a v2 KEEPTTL
        EXPIRETIME a
        SET a v3
        EXPIRETIME a
        SET a v PXAT 4000000000123 GET
        PEXPIRETIME a
        SET a v ex 100 get
        TTL a
        SET a v px 100000 keepttl
        SET a w XX KEEPTTL GET
        TTL a
        SET a v EXAT 1
        EXISTS a
        SET a v PXAT 1 GET
        EXISTS a
        SET "" ""
        GET ""
        SET a "a\x00b\r\n"
        GET a
    ''',
    'setnx-setex': r'''
        SETNX
        SETNX a
        SETNX a b
        SETNX a c
        GET a
        SETEX
        SETEX k 0 v
        SETEX k -1 v
        SETEX k x v
        SETEX k 1.5 v
        SETEX k 100 v
        TTL k
        GET k
        SETEX k 9223372036854775807 v
        SETEX k 9223372036854775 v
        PSETEX k 0 v
        PSETEX k -5 v
        PSETEX k x v
        PSETEX k 100000 v
        TTL k
        PSETEX k 9223372036854775807 v
        SETEX k 100 v extra
    ''',
    'getset-getdel-getex': r'''
        GETSET
        GETSET nokey
        GETSET nokey v
        GETSET nokey v2
        SET t v EX 100
        GETSET t w
        TTL t
        GETDEL
        GETDEL nokey
        GETDEL nokey
        GETDEL missing
        GETEX
        GETEX missing
        GETEX nokey2 EX 10
        SET k v
        GETEX k
        GETEX k EX
        GETEX k EX 10 PX 10
        GETEX k PERSIST EX 10
        GETEX k EX 10 PERSIST
        GETEX k PERSIST PERSIST
        GETEX k EX 0
        GETEX k EX -1
        GETEX k EX x
        GETEX k PX 9223372036854775807
        GETEX k EX 9223372036854775807
        GETEX missing EX 0
        GETEX missing EX x
        GETEX missing FOO
        GETEX k KEEPTTL
        GETEX k NX
        GETEX k XX
        GETEX k GET
        GETEX k FOO
        GETEX k EXAT 4000000000
        EXPIRETIME k
        GETEX k PXAT 4000000000999
        PEXPIRETIME k
        GETEX k EX 100
        TTL k
        GETEX k PX 200000
        TTL k
        GETEX k PERSIST
        TTL k
        GETEX k PERSIST
        GETEX k PXAT 1
        EXISTS k
        SET k v
        GETEX k EXAT 1
        EXISTS k
    ''',
    'mget-mset': r'''
        MGET
        MGET a
        MSET
        MSET a
        MSET a 1 b
        MSET a 1 b 2
        MGET a b nokey a
        MSETNX
        MSETNX a
        MSETNX a 1 b
        MSETNX a 1 q 2
        MSETNX q 1 r 2
        MGET q r
        MSETNX q 1 q 2
        MSET x 1 x 2
        GET x
    ''',
    'mset-over-ttl-types-and-watch': r'''
        SET t v EX 100
        RPUSH l a
        MSET t 1 l 2 n 3 n 4
        TTL t
        TYPE l
        MGET t l n
        WATCH w
        MSET w 1
        MULTI
        GET w
        EXEC
        MSET a 1 b 2
        OBJECT ENCODING a
        DBSIZE
    ''',
    'append-strlen': r'''
        APPEND
        APPEND x
        APPEND x abc
        APPEND x def
        GET x
        APPEND x ""
        STRLEN
        STRLEN x
        STRLEN nokey
        STRLEN x y
        SET n 123
        APPEND n 4
        GET n
        STRLEN n
        SET t v EX 100
        APPEND t w
        TTL t
    ''',
    'getrange-setrange': r'''
        SET s "Hello World"
        GETRANGE s 0 -1
        GETRANGE s -3 -1
        GETRANGE s 0 3
        GETRANGE s 10 100
        GETRANGE s 11 100
        GETRANGE s 100 1000
        GETRANGE s -100 -50
        GETRANGE s -1 -5
        GETRANGE s 5 3
        GETRANGE s -100 2
        GETRANGE s 0 -100
        GETRANGE s -5 -100
        GETRANGE s x 1
        GETRANGE s 1 x
        GETRANGE s 1.5 2
        GETRANGE nokey 0 -1
        GETRANGE nokey x y
        GETRANGE s 9223372036854775807 -1
        GETRANGE s -9223372036854775808 9223372036854775807
        GETRANGE s 0 9223372036854775808
        GETRANGE s
        SUBSTR s 0 3
        SUBSTR s -2 -1
        SUBSTR s
        SET empty ""
        GETRANGE empty 0 -1
        GETRANGE empty 0 0
        GETRANGE empty -1 -1
        SET num 12345
        GETRANGE num 1 2
        SETRANGE
        SETRANGE s x v
        SETRANGE s 1.5 v
        SETRANGE s -1 v
        SETRANGE s 0 ""
        SETRANGE nokey2 0 ""
        EXISTS nokey2
        SETRANGE nokey2 5 ""
        SETRANGE nokey2 -1 ""
        SETRANGE nokey2 3 abc
        GET nokey2
        SETRANGE s 6 Redis
        GET s
        SETRANGE s 20 X
        GET s
        STRLEN s
        SETRANGE s 536870911 ""
        SETRANGE s 536870912 X
        SETRANGE s 536870911 XY
        SETRANGE num 0 9
        GET num
        SETRANGE fresh 0 abc
        GET fresh
    ''',
    'incr-decr': r'''
        INCR
        INCR i
        INCR i x
        INCRBY i
        INCRBY i x
        INCRBY i 1.5
        INCRBY i ""
        INCRBY i 9223372036854775806
        INCR i
        INCR i
        GET i
        DECRBY i -9223372036854775808
        DECRBY i 9223372036854775807
        DECR i
        DECRBY j -9223372036854775808
        DECRBY j 9223372036854775808
        SET i " 1"
        INCR i
        SET i "1 "
        INCR i
        SET i 01
        INCR i
        SET i -0
        INCR i
        SET i +1
        INCR i
        SET i ""
        INCR i
        SET i 9223372036854775808
        INCR i
        SET i -9223372036854775808
        DECR i
        INCRBY i -1
        INCRBY i 0
        SET i 1.0
        INCR i
        SET i 99999999999999999999
        INCR i
        DECR nx1
        DECRBY nx2 5
        INCRBY nx3 -9223372036854775808
        INCRBY nx3 -1
        SET t 5 EX 100
        INCR t
        TTL t
        DECRBY t 10
        GET t
        SET big 9223372036854775807
        INCRBY big 0
        INCRBY big 1
        DECRBY big -1
    ''',
    'incrbyfloat': r'''
        INCRBYFLOAT
        INCRBYFLOAT f
        INCRBYFLOAT f 1
        INCRBYFLOAT f 0.1
        INCRBYFLOAT f 0.2
        INCRBYFLOAT f 1e10
        INCRBYFLOAT f -1e10
        INCRBYFLOAT f 1.5e308
        INCRBYFLOAT f 1.5e308
        INCRBYFLOAT f x
        INCRBYFLOAT f inf
        INCRBYFLOAT f -inf
        INCRBYFLOAT f nan
        INCRBYFLOAT f " 1"
        INCRBYFLOAT f "1 "
        INCRBYFLOAT f ""
        INCRBYFLOAT f 0x10
        INCRBYFLOAT f 1e-20
        INCRBYFLOAT f2 3.0e3
        INCRBYFLOAT f2 -5000
        INCRBYFLOAT f3 10.5
        INCRBYFLOAT f3 0.1
        INCRBYFLOAT f3 -10.6
        INCRBYFLOAT f4 1.23456789012345678901
        INCRBYFLOAT f5 5e-324
        INCRBYFLOAT f6 12345678901234567890
        INCRBYFLOAT f7 -0.0
        INCRBYFLOAT f8 .5
        INCRBYFLOAT f9 5.
        INCRBYFLOAT f10 -.5e1
        INCRBYFLOAT f11 1e4932
        INCRBYFLOAT f11 1e4932
        INCRBYFLOAT f12 1e4933
        INCRBYFLOAT f12 1e-4940
        INCRBYFLOAT f12 1e-4960
        INCRBYFLOAT f12 0e-99999
        INCRBYFLOAT f12 1e99999999999
        INCRBYFLOAT f13 0x1.8p1
        INCRBYFLOAT f13 0x.8
        INCRBYFLOAT f13 0x
        INCRBYFLOAT f13 1e
        INCRBYFLOAT f13 .
        INCRBYFLOAT f14 0.000003814697265625
        INCRBYFLOAT f14 -0.000003814697265625
        INCRBYFLOAT f15 -0.000000000000000001
        INCRBYFLOAT f16 123456789012345678.5
        INCRBYFLOAT f16 0.1
        SET fs abc
        INCRBYFLOAT fs 1
        SET fs "1.5 "
        INCRBYFLOAT fs 1
        SET fs 1e5
        INCRBYFLOAT fs 1
        INCRBYFLOAT fs 0.0001
        INCRBYFLOAT fs 1e17
        INCRBYFLOAT fs 3.3333333333333333
        SET fs 10
        INCRBYFLOAT fs 0.1
        INCRBYFLOAT fs -5.1
        SET t 1.5 EX 100
        INCRBYFLOAT t 1
        TTL t
    ''',
    'lcs': r'''
        MSET key1 ohmytext key2 mynewtext
        LCS key1 key2
        LCS key1 key2 LEN
        LCS key1 key2 IDX
        LCS key1 key2 IDX MINMATCHLEN 4
        LCS key1 key2 IDX MINMATCHLEN 4 WITHMATCHLEN
        LCS key1 key2 IDX WITHMATCHLEN
        LCS key1 key2 WITHMATCHLEN
        LCS key1 key2 LEN IDX
        LCS key1 key2 IDX LEN
        LCS key1 key2 MINMATCHLEN
        LCS key1 key2 MINMATCHLEN x
        LCS key1 key2 MINMATCHLEN -5 IDX
        LCS key1 key2 MINMATCHLEN 0 IDX
        LCS key1 key2 FOO
        LCS key1
        LCS nokey nokey2
        LCS nokey nokey2 IDX
        LCS key1 nokey IDX WITHMATCHLEN
        LCS nokey key1 LEN
        MSET a1 abcdefg a2 xbcdyfgz
        LCS a1 a2 IDX WITHMATCHLEN
        LCS a2 a1 IDX WITHMATCHLEN
        MSET b1 aaaa b2 aa
        LCS b1 b2 IDX
        LCS b2 b1 IDX WITHMATCHLEN
        MSET c1 ACCGGTCGAGTGCGCGGAAGCCGGCCGAA c2 GTCGTTCGGAATGCCGTTGCTCTGTAAA
        LCS c1 c2
        LCS c1 c2 LEN
        LCS c1 c2 IDX WITHMATCHLEN
        LCS c1 c2 IDX MINMATCHLEN 3
        MSET e1 "" e2 abc
        LCS e1 e2 IDX
        LCS e1 e2
    ''',
    'keys-glob': r'''
        MSET hello 1 hallo 2 hxllo 3 hllo 4 heeeello 5 "h[e]llo" 6 "h\\llo" 7 "h?llo" 8 "h*llo" 9 hbllo 10 H-llo 11 "h^llo" 12 "h]llo" 13 "h-llo" 14
        KEYS
        ~KEYS *
        ~KEYS h?llo
        ~KEYS h*llo
        ~KEYS h[ae]llo
        ~KEYS h[^e]llo
        ~KEYS h[a-b]llo
        ~KEYS h[b-a]llo
        ~KEYS "h\\?llo"
        ~KEYS "h\\*llo"
        ~KEYS "h\\\\llo"
        ~KEYS "h[\\]]llo"
        ~KEYS "h[]]llo"
        ~KEYS "h[^]llo"
        ~KEYS "h[e"
        ~KEYS "h[^"
        ~KEYS "[h"
        ~KEYS "h\\"
        ~KEYS "*\\"
        ~KEYS "h[a-"
        ~KEYS "*[e]*"
        ~KEYS "h[\\e]llo"
        ~KEYS "h[e-]llo"
        ~KEYS "h[-e]llo"
        ~KEYS "h[!e]llo"
        ~KEYS "***"
        ~KEYS "h**o"
        ~KEYS "?"
        ~KEYS "?????"
        ~KEYS ""
        ~KEYS "h[a-z]llo"
        ~KEYS "[A-Z]*"
        ~KEYS "*llo*"
        ~KEYS "h*l*l*o"
        ~KEYS "he*"
        ~KEYS "*o"
        ~KEYS "x*"
    ''',
    'generic-keys': r'''
        DEL
        DEL a
        SET a 1
        SET b 2
        DEL a b c a
        UNLINK
        MSET a 1 b 2
        UNLINK a b c
        SET a 1
        EXISTS
        EXISTS a a b nokey
        TYPE
        TYPE a
        TYPE nokey
        TYPE a b
        RANDOMKEY x
        RANDOMKEY
        RENAME
        RENAME a
        RENAME nokey x
        RENAME a a
        RENAME a b2
        GET b2
        EXISTS a
        SET t v EX 100
        RENAME t t2
        TTL t2
        RENAMENX nokey x
        RENAMENX b2 b2
        SET hello 1
        SET hallo 2
        RENAMENX hello hallo
        RENAMENX hello newname
        GET newname
        TOUCH
        TOUCH a newname nokey hallo
        PERSIST
        PERSIST nokey
        PERSIST newname
        PERSIST t2
        PERSIST t2
        TTL t2
    ''',
    'copy-move': r'''
        SET src v
        SET t v EX 100
        COPY
        COPY a
        COPY src src
        COPY src c1
        COPY src c1
        COPY src c1 REPLACE
        COPY src c1 DB
        COPY src c1 DB x
        COPY src c1 DB 16
        COPY src c1 DB -1
        COPY src c1 DB 2147483648
        COPY src c1 DB 0
        COPY src c1 DB 1
        COPY src c1 DB 1
        COPY src c1 DB 1 REPLACE
        COPY src c1 REPLACE DB 1
        COPY src c1 FOO
        COPY nokey c9
        COPY nokey c9 DB 1
        COPY src src DB 1
        COPY src src DB 0
        COPY t t2
        TTL t2
        COPY t t3 DB 2
        MOVE
        MOVE src
        MOVE src x
        MOVE src 16
        MOVE src -1
        MOVE src 0
        MOVE src 2147483648
        MOVE nokey 1
        MOVE src 1
        MOVE c1 1
        MOVE t 2
        SELECT 1
        ~KEYS *
        GET src
        SELECT 2
        ~KEYS *
        TTL t
        TTL t3
        SELECT 0
        ~KEYS *
    ''',
    'expire-family': r'''
        SET a 1
        EXPIRE
        EXPIRE a
        EXPIRE a x
        EXPIRE a 1.5
        EXPIRE a 100 FOO
        EXPIRE a x FOO
        EXPIRE a 100 NX XX
        EXPIRE a 100 GT LT
        EXPIRE a 100 NX GT
        EXPIRE a 100 NX LT
        EXPIRE a 100 XX GT
        EXPIRE a 100 XX
        EXPIRE a 100 GT
        EXPIRE a 100 LT
        EXPIRE a 100 NX
        TTL a
        EXPIRE a 50 NX
        EXPIRE a 200 NX
        EXPIRE a 50 GT
        EXPIRE a 200 GT
        EXPIRE a 300 LT
        EXPIRE a 50 LT
        EXPIRE a 50 LT
        TTL a
        EXPIRE a 100 xx
        EXPIREAT a 4000000000 xx gt
        EXPIREAT a 4000000000 xx gt
        EXPIREAT a 4000000001 xx gt
        EXPIRE a 100 nx nx
        EXPIRE nokey 100
        EXPIRE nokey x
        EXPIRE nokey 100 FOO
        EXPIRE nokey 100 NX
        EXPIRE a 9223372036854775807
        EXPIRE a 9223372036854775
        EXPIRE a 9223372036854774
        EXPIRE a -9223372036854775808
        EXPIRE a -9223372036854775
        PEXPIRE a 9223372036854775807
        PEXPIRE a -9223372036854775808
        PEXPIREAT a 9223372036854775807
        EXPIREAT a 9223372036854775807
        EXPIREAT a 4000000000
        EXPIRETIME a
        PEXPIRETIME a
        PEXPIREAT a 4000000000123
        PEXPIRETIME a
        EXPIRETIME a
        EXPIREAT a 4000000001 LT
        EXPIREAT a 4000000001 GT
        PEXPIRETIME a
        PEXPIREAT a 4000000000500 LT
        PEXPIRETIME a
        EXPIRETIME nokey
        PEXPIRETIME nokey
        SET b 1
        EXPIRETIME b
        PEXPIRETIME b
        EXPIRE b 100 LT
        TTL b
        SET c 1
        EXPIRE c 100 GT
        TTL c
        EXPIRE c 100 XX
        TTL
        TTL nokey
        PTTL nokey
        PTTL c
        TTL a b
        SET e1 v
        EXPIRE e1 0
        EXISTS e1
        SET e1 v
        EXPIRE e1 -5
        EXISTS e1
        SET e1 v
        PEXPIREAT e1 1
        EXISTS e1
        SET e1 v
        EXPIREAT e1 1 NX
        EXISTS e1
        SET e1 v
        EXPIRE e1 -5 XX
        EXISTS e1
        SET e1 v EX 100
        EXPIRE e1 -5 GT
        EXISTS e1
        EXPIRE e1 -5 LT
        EXISTS e1
    ''',
    'object-encoding': r'''
        SET n1 12345
        SET n2 -12345
        SET n3 12345678901234567890
        SET n4 1234567890123456789
        SET n5 0123
        SET n6 abcdefghijklmnopqrstuvwxyzabcdefghijklmnopq
        SET n7 abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqr
        SET n8 abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrs
        SET n9 -9223372036854775808
        SET n10 9223372036854775808
        SET n11 ""
        SET n12 " 1"
        SET n13 0
        SET n14 -0
        SET n15 9223372036854775807
        OBJECT ENCODING n1
        OBJECT ENCODING n2
        OBJECT ENCODING n3
        OBJECT ENCODING n4
        OBJECT ENCODING n5
        OBJECT ENCODING n6
        OBJECT ENCODING n7
        OBJECT ENCODING n8
        OBJECT ENCODING n9
        OBJECT ENCODING n10
        OBJECT ENCODING n11
        OBJECT ENCODING n12
        OBJECT ENCODING n13
        OBJECT ENCODING n14
        OBJECT ENCODING n15
        APPEND n1 x
        OBJECT ENCODING n1
        APPEND n1b 1
        OBJECT ENCODING n1b
        APPEND n11 abc
        OBJECT ENCODING n11
        INCR n1b
        OBJECT ENCODING n1b
        INCRBYFLOAT n1b 1.5
        OBJECT ENCODING n1b
        SETRANGE n2 0 1
        OBJECT ENCODING n2
        SETRANGE nn 0 1
        OBJECT ENCODING nn
        SET x 1
        APPEND x 2
        OBJECT ENCODING x
        SET x hello
        APPEND x ""
        OBJECT ENCODING x
        SET x hello
        SETRANGE x 0 ""
        OBJECT ENCODING x
        SETEX y 100 5
        OBJECT ENCODING y
        GETSET y 10
        OBJECT ENCODING y
        GETSET y abc
        OBJECT ENCODING y
        MSET z1 7 z2 "a b"
        OBJECT ENCODING z1
        OBJECT ENCODING z2
        SETNX z3 99
        OBJECT ENCODING z3
        GETEX z3 PERSIST
        OBJECT ENCODING z3
        COPY z3 z4
        OBJECT ENCODING z4
        DECRBY z4 100000000000
        OBJECT ENCODING z4
        COPY n8 n8c
        OBJECT ENCODING n8c
        SET r 123
        OBJECT REFCOUNT r
        SET r 12345
        OBJECT REFCOUNT r
        SET r 9999
        OBJECT REFCOUNT r
        SET r 10000
        OBJECT REFCOUNT r
        SET r -1
        OBJECT REFCOUNT r
        OBJECT REFCOUNT n6
        OBJECT FREQ n6
    ''',
    'scan-errors': r'''
        SCAN
        SCAN x
        SCAN 18446744073709551616
        SCAN -18446744073709551616
        SCAN " 0"
        SCAN "0 "
        SCAN 0x
        SCAN -
        SCAN +
        SCAN 0 COUNT
        SCAN 0 COUNT 0
        SCAN 0 COUNT -1
        SCAN 0 COUNT x
        SCAN 0 MATCH
        SCAN 0 TYPE
        SCAN 0 FOO bar
        SCAN 0 COUNT 10 MATCH
        SCAN "" COUNT 10
        SCAN +0
        SCAN -0
        SET k v
        SCAN 0
        SCAN 0 COUNT 1000 TYPE string
        SCAN 0 COUNT 1000 TYPE list
        SCAN 0 COUNT 1000 TYPE foo
        SCAN 0 COUNT 1000 TYPE STRING
        SCAN 0 COUNT 1000 TYPE string MATCH nothere
        SCAN 0 MATCH k* COUNT 1000
    ''',
    'command-getkeys': r'''
        COMMAND GETKEYS
        COMMAND GETKEYS FOO
        COMMAND GETKEYS GET
        COMMAND GETKEYS GET a
        COMMAND GETKEYS GET a b
        COMMAND GETKEYS PING
        COMMAND GETKEYS PING x
        COMMAND GETKEYS MSET a 1 b 2
        COMMAND GETKEYS MSET a 1 b
        COMMAND GETKEYS MSET a
        COMMAND GETKEYS SET a 1 EX 10
        COMMAND GETKEYS SET a b GET
        COMMAND GETKEYS COPY a b
        COMMAND GETKEYS LCS a b
        COMMAND GETKEYS RENAME a b
        COMMAND GETKEYS EXISTS a b c
        COMMAND GETKEYS DEL a b c
        COMMAND GETKEYS OBJECT ENCODING a
        COMMAND GETKEYS OBJECT FOO a
        COMMAND GETKEYS CLIENT
        COMMAND GETKEYS CLIENT ID
        COMMAND GETKEYS CLIENT FOO
        COMMAND GETKEYS GETEX a PERSIST
        COMMAND GETKEYS SCAN 0
        COMMAND GETKEYS KEYS *
        COMMAND GETKEYS MOVE a 1
        COMMAND GETKEYS MIGRATE h 1 k 0 5
        COMMAND GETKEYS MIGRATE h 1 "" 0 5 KEYS a b
        COMMAND GETKEYS MIGRATE h 1 "" 0 5 COPY KEYS a b
        COMMAND GETKEYS MIGRATE h 1 "" 0 5 COPY REPLACE KEYS a
        COMMAND GETKEYS MIGRATE h 1 "" 0 5 AUTH p KEYS a b
        COMMAND GETKEYS MIGRATE h 1 "" 0 5 AUTH keys KEYS a b
        COMMAND GETKEYS MIGRATE h 1 "" 0 5 AUTH2 u p KEYS a b c
        COMMAND GETKEYS MIGRATE h 1 "" 0 5 AUTH2 keys keys KEYS a
        COMMAND GETKEYS MIGRATE h 1 k 0 5 KEYS a b
        COMMAND GETKEYS MIGRATE h 1 "" 0 5 KEYS
        COMMAND GETKEYS MIGRATE h 1 k 0 5 COPY
        COMMAND GETKEYSANDFLAGS MIGRATE h 1 k 0 5
        COMMAND GETKEYSANDFLAGS MIGRATE h 1 "" 0 5 KEYS a b
        COMMAND GETKEYSANDFLAGS MIGRATE h 1 "" 0 5 AUTH2 u p COPY KEYS a
        COMMAND GETKEYSANDFLAGS
        COMMAND GETKEYSANDFLAGS GET a
        COMMAND GETKEYSANDFLAGS SET a b
        COMMAND GETKEYSANDFLAGS SET a b GET
        COMMAND GETKEYSANDFLAGS SET a b get
        COMMAND GETKEYSANDFLAGS MSET a b c d
        COMMAND GETKEYSANDFLAGS MSETNX a b c d
        COMMAND GETKEYSANDFLAGS LCS a b
        COMMAND GETKEYSANDFLAGS RENAME a b
        COMMAND GETKEYSANDFLAGS RENAMENX a b
        COMMAND GETKEYSANDFLAGS COPY a b
        COMMAND GETKEYSANDFLAGS GETEX a
        COMMAND GETKEYSANDFLAGS GETDEL a
        COMMAND GETKEYSANDFLAGS DEL a b
        COMMAND GETKEYSANDFLAGS UNLINK a b
        COMMAND GETKEYSANDFLAGS EXPIRE a 1
        COMMAND GETKEYSANDFLAGS PERSIST a
        COMMAND GETKEYSANDFLAGS INCRBYFLOAT a 1
        COMMAND GETKEYSANDFLAGS APPEND a 1
        COMMAND GETKEYSANDFLAGS SETRANGE a 1 x
        COMMAND GETKEYSANDFLAGS GETRANGE a 1 2
        COMMAND GETKEYSANDFLAGS TOUCH a b
        COMMAND GETKEYSANDFLAGS OBJECT ENCODING a
        COMMAND LIST FILTERBY foo bar
        COMMAND LIST x
        COMMAND COUNT x
        COMMAND INFO foo
        COMMAND DOCS foo
        COMMAND INFO get set foo
        COMMAND DOCS get
        COMMAND DOCS set
        COMMAND INFO config|get
        COMMAND HELP
    ''',
}


@pytest.mark.parametrize('name', sorted(SEQUENCES))
def test_sequence(compat, name):
    run_lines(compat, SEQUENCES[name])


def test_resp3_sequence(compat):
    """HELLO 3 switches the replies to RESP3: nulls, maps, doubles, sets."""
    ra = compat.a.call('HELLO', '3')
    rb = compat.b.call('HELLO', '3')
    # Only the client id differs between the two servers.
    pa, pb = parse(ra), parse(rb)
    assert ra.startswith(b'%7\r\n') and rb.startswith(b'%7\r\n')
    pa[b'id'] = pb[b'id'] = 0
    assert pa == pb
    run_lines(compat, r'''
        PING
        GET nokey
        CLIENT GETNAME
        MGET nokey a1
        GETEX nokey
        GETDEL nokey
        SET k v NX GET
        SET k v2 NX
        SET zz v XX
        SET zz v XX GET
        RANDOMKEY
        OBJECT ENCODING nokey
        INCRBYFLOAT ff 1.5
        MSET a1 abcdefg a2 xbcdyfgz
        LCS a1 a2 IDX WITHMATCHLEN
        LCS a1 a2 IDX
        COMMAND GETKEYSANDFLAGS GET a
        COMMAND GETKEYSANDFLAGS SET a b
        COMMAND INFO get
        COMMAND DOCS get
        COMMAND DOCS set
        COMMAND INFO nonexisting
        CLIENT TRACKINGINFO
        TIME x
        HELLO 4
        SCAN 0 MATCH nothing
        FOO bar
    ''')
    ra = compat.a.call('HELLO', '2')
    rb = compat.b.call('HELLO', '2')
    assert ra.startswith(b'*14\r\n') and rb.startswith(b'*14\r\n')
    compat.call('GET', 'nokey')


def test_hello_setname_and_reset(compat):
    for conn in (compat.a, compat.b):
        reply = conn.call('HELLO', '3', 'SETNAME', 'myname')
        assert reply.startswith(b'%7\r\n')
    run_lines(compat, r'''
        CLIENT GETNAME
        SELECT 5
        SET k v
        CLIENT NO-EVICT ON
        CLIENT SETNAME other
    ''')
    # RESET also turns replies back on.
    compat.raw(b'*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$3\r\nOFF\r\n*1\r\n$4\r\nPING\r\n'
               b'*1\r\n$5\r\nRESET\r\n')
    run_lines(compat, r'''
        GET k
        CLIENT GETNAME
        GET nokey
        RESET x
    ''')


def test_reset_clears_connection_state(pyredis, real_redis):
    import re
    seen = []
    for srv in (pyredis, real_redis):
        conn = RawConn(srv.port)
        for cmd in (('CLIENT', 'NO-EVICT', 'ON'), ('CLIENT', 'SETNAME', 'x'), ('SELECT', '4'),
                    ('HELLO', '3')):
            conn.call(*cmd)
        states = []
        for _ in range(2):
            info = parse(conn.call('CLIENT', 'INFO'))
            states.append(re.sub(rb'id=\d+ addr=\S+ laddr=\S+ fd=\d+ |qbuf.*tot-mem=\d+ ', b'',
                                 info))
            assert conn.call('RESET') == b'+RESET\r\n'
        seen.append(states)
    assert seen[0] == seen[1]


def test_client_reply_modes(compat):
    """CLIENT REPLY OFF sends nothing until ON; SKIP silences one command."""
    for conn in (compat.a, compat.b):
        conn.send(b'*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$3\r\nOFF\r\n'
                  b'*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nx\r\n*1\r\n$3\r\nFOO\r\n'
                  b'*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n'
                  b'*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$2\r\nON\r\n'
                  b'*2\r\n$4\r\nECHO\r\n$1\r\na\r\n'
                  b'*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n'
                  b'*2\r\n$4\r\nECHO\r\n$1\r\nb\r\n'
                  b'*2\r\n$4\r\nECHO\r\n$1\r\nc\r\n'
                  b'*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n'
                  b'*1\r\n$3\r\nFOO\r\n'
                  b'*2\r\n$4\r\nECHO\r\n$1\r\nd\r\n')
    replies = [compat.a.read_reply() for _ in range(4)]
    assert replies == [compat.b.read_reply() for _ in range(4)]
    # Rejected commands (unknown command) are silenced too.
    assert replies == [b'+OK\r\n', b'$1\r\na\r\n', b'$1\r\nc\r\n', b'$1\r\nd\r\n']


def test_client_kill_and_setname_visible_in_list(compat, pyredis, real_redis):
    for srv in (pyredis, real_redis):
        victim = RawConn(srv.port)
        assert victim.call('CLIENT', 'SETNAME', 'victim') == b'+OK\r\n'
        vid = int(victim.call('CLIENT', 'ID')[1:-2])
        me = RawConn(srv.port)
        listing = parse(me.call('CLIENT', 'LIST'))
        assert b'name=victim' in listing
        assert me.call('CLIENT', 'KILL', 'ID', str(vid)) == b':1\r\n'
        assert victim.closed()
        assert me.call('CLIENT', 'KILL', 'ID', str(vid)) == b':0\r\n'
        # The old form names an address.
        other = RawConn(srv.port)
        info = parse(other.call('CLIENT', 'INFO')).decode()
        addr = dict(f.split('=', 1) for f in info.split())['addr']
        assert me.call('CLIENT', 'KILL', addr) == b'+OK\r\n'
        assert other.closed()
        assert me.call('CLIENT', 'KILL', addr) == b'-ERR No such client\r\n'
        # SKIPME no: a client may kill itself, after its reply.
        assert me.call('CLIENT', 'KILL', 'ID', str(int(me.call('CLIENT', 'ID')[1:-2])),
                       'SKIPME', 'no') == b':1\r\n'
        assert me.closed()


def test_lcs_on_long_strings(compat):
    import random
    rng = random.Random(3)
    for size_a, size_b, alphabet in ((2000, 1500, b'ACGT'), (3000, 3000, b'ab'),
                                     (500, 4000, bytes(range(256)))):
        compat.call('SET', 'a', bytes(rng.choice(alphabet) for _ in range(size_a)))
        compat.call('SET', 'b', bytes(rng.choice(alphabet) for _ in range(size_b)))
        compat.call('LCS', 'a', 'b', 'LEN')
        compat.call('LCS', 'a', 'b')
        compat.call('LCS', 'b', 'a', 'IDX', 'WITHMATCHLEN', 'MINMATCHLEN', '3')


def test_wrong_type_errors(compat, pyredis, real_redis):
    if not has_lists(pyredis):
        pytest.skip('lists are not implemented yet: no non-string key to test WRONGTYPE')
    run_lines(compat, r'''
        RPUSH lst x
        GET lst
        SET lst v GET
        SET lst v NX GET
        SET lst v XX GET
        GETSET lst v
        GETDEL lst
        GETEX lst
        GETEX lst EX 0
        MGET lst nokey
        APPEND lst x
        STRLEN lst
        GETRANGE lst 0 -1
        GETRANGE lst x y
        SETRANGE lst 0 x
        SETRANGE lst 0 ""
        SETRANGE lst -1 x
        INCR lst
        DECR lst
        INCRBY lst 1
        INCRBY lst x
        DECRBY lst 1
        INCRBYFLOAT lst 1
        INCRBYFLOAT lst x
        LCS lst nokey
        LCS nokey lst IDX
        TYPE lst
        EXISTS lst
        OBJECT ENCODING lst
        MSETNX lst 1 other 2
        SETNX lst 1
        COPY lst lst2
        TYPE lst2
        RENAME lst lst3
        TYPE lst3
        MOVE lst3 1
        SET lst3 v
        GET lst3
        SCAN 0 TYPE list COUNT 100
    ''')


def test_set_every_option_combination(compat):
    """SET with every combination of condition, GET and expiry, in two
    argument orders, on a missing key, a plain key and a key with a TTL."""
    conds = [(), ('NX',), ('XX',)]
    gets = [(), ('GET',)]
    expires = [(), ('EX', '100'), ('PX', '100000'), ('EXAT', '4000000000'),
               ('PXAT', '4000000000123'), ('KEEPTTL',)]
    setups = [(), ('SET', 'k', 'old'), ('SET', 'k', 'old', 'PXAT', '4100000000000')]
    for cond, get, exp in itertools.product(conds, gets, expires):
        for order in {cond + get + exp, exp + get + cond}:
            for setup in setups:
                compat.call('DEL', 'k')
                if setup:
                    compat.call(*setup)
                compat.call('SET', 'k', 'new', *order)
                compat.call('GET', 'k')
                if 'EX' in order or 'PX' in order:
                    compat.call('TTL', 'k')     # relative: 100 on both
                else:
                    compat.call('PEXPIRETIME', 'k')


def test_set_option_pairs_are_validated_like_redis(compat):
    """Every pair of SET options (many are syntax errors)."""
    options = [('NX',), ('XX',), ('GET',), ('KEEPTTL',), ('EX', '10'), ('PX', '10'),
               ('EXAT', '4000000000'), ('PXAT', '4000000000000'), ('PERSIST',)]
    for a, b in itertools.product(options, repeat=2):
        compat.call('SET', 'k', 'v', *(a + b))
    getex = [('EX', '10'), ('PX', '10'), ('EXAT', '4000000000'), ('PXAT', '4000000000000'),
             ('PERSIST',), ('NX',), ('KEEPTTL',)]
    compat.call('SET', 'k', 'v')
    for a, b in itertools.product(getex, repeat=2):
        compat.call('GETEX', 'k', *(a + b))


def _implemented(srv):
    conn = RawConn(srv.port)
    names = parse(conn.call('COMMAND', 'LIST'))
    return [n.decode() for n in names]


def _normalise(entry, only_subs=None):
    """A COMMAND INFO/DOCS entry with the subcommands (hash-ordered in
    Redis) as a dict restricted to the given names."""
    if isinstance(entry, list) and len(entry) == 10 and isinstance(entry[9], list):
        subs = {s[0].decode(): s for s in entry[9]}
        if only_subs is not None:
            subs = {k: v for k, v in subs.items() if k in only_subs}
        return entry[:9] + [subs]
    if isinstance(entry, dict) and b'subcommands' in entry:
        entry = dict(entry)
        subs = entry[b'subcommands']
        if isinstance(subs, list):
            subs = dict(zip(subs[::2], subs[1::2]))
        entry[b'subcommands'] = {k.decode(): v for k, v in subs.items()
                                 if only_subs is None or k.decode() in only_subs}
    return entry


@pytest.mark.parametrize('proto', [2, 3])
def test_command_info_and_docs_match_for_implemented_commands(pyredis, real_redis, proto):
    names = _implemented(pyredis)
    ours = set(names)
    a, b = RawConn(pyredis.port), RawConn(real_redis.port)
    if proto == 3:
        a.call('HELLO', '3')
        b.call('HELLO', '3')
    top = [n for n in names if '|' not in n]
    for name in top:
        for sub in ('INFO', 'DOCS'):
            ra, rb = parse(a.call('COMMAND', sub, name)), parse(b.call('COMMAND', sub, name))
            if sub == 'INFO':
                ra, rb = ra[0], rb[0]
            else:
                if isinstance(ra, list):
                    ra, rb = dict(zip(ra[::2], ra[1::2])), dict(zip(rb[::2], rb[1::2]))
                ra, rb = ra[name.encode()], rb[name.encode()]
                if isinstance(ra, list):
                    ra, rb = dict(zip(ra[::2], ra[1::2])), dict(zip(rb[::2], rb[1::2]))
            assert _normalise(ra) == _normalise(rb, ours), (sub, name)
    # Subcommands asked for by their full name.
    for name in (n for n in names if '|' in n):
        assert a.call('COMMAND', 'INFO', name) == b.call('COMMAND', 'INFO', name), name
        assert a.call('COMMAND', 'DOCS', name) == b.call('COMMAND', 'DOCS', name), name
    # The count and the list agree with each other.
    assert parse(a.call('COMMAND', 'COUNT')) == len(top)
    assert len(parse(a.call('COMMAND'))) == len(top)


def test_command_list_filters(pyredis, real_redis):
    ours = set(_implemented(pyredis))
    a, b = RawConn(pyredis.port), RawConn(real_redis.port)
    for filt in (('PATTERN', 'client*'), ('PATTERN', 'GET*'), ('ACLCAT', 'string'),
                 ('ACLCAT', 'keyspace'), ('ACLCAT', 'connection')):
        ra = set(x.decode() for x in parse(a.call('COMMAND', 'LIST', 'FILTERBY', *filt)))
        rb = set(x.decode() for x in parse(b.call('COMMAND', 'LIST', 'FILTERBY', *filt)))
        assert ra == rb & ours, filt


def test_requirepass_noauth(server_factory):
    ours = server_factory('pyredis', '--requirepass', 'secret')
    theirs = server_factory('redis', '--requirepass', 'secret')
    from conftest import Compat
    compat = Compat(ours, theirs)
    run_lines(compat, r'''
        PING
        GET a
        SET a b
        FOO
        FOO bar
        GET
        CLIENT ID
        SELECT 1
        HELLO
        HELLO 3
        HELLO 2 AUTH default bad
        HELLO 2 AUTH nobody secret
        HELLO 3 SETNAME "bad name"
        HELLO 3 SETNAME "bad name" AUTH default secret
        HELLO 3 AUTH default wrong SETNAME "bad name"
        HELLO 3 AUTH default secret FOO
        GET a
        RESET
        HELLO 3 AUTH default secret SETNAME "bad name"
        GET a
        RESET
        AUTH
        AUTH x
        AUTH default x
        AUTH nobody secret
        AUTH a b c
        PING
        AUTH secret
        PING
        SET a b
        GET a
        AUTH wrong
        GET a
        RESET
        GET a
        AUTH default secret
        GET a
        CONFIG SET requirepass ""
        AUTH secret
        AUTH default anything
        AUTH default ""
        AUTH nobody x
    ''')
    compat.close()
    compat = Compat(ours, theirs)
    for conn in (compat.a, compat.b):
        reply = conn.call('HELLO', '3', 'AUTH', 'default', '', 'SETNAME', 'x')
        assert reply.startswith(b'%7\r\n')
    compat.call('CLIENT', 'GETNAME')
    compat.close()


def test_debug_object_and_sleep(pyredis, real_redis):
    import re
    for srv in (pyredis, real_redis):
        conn = RawConn(srv.port)
        conn.call('SET', 'k', 'hello')
        conn.call('SET', 'n', '123')
        conn.call('SET', 'r', 'a' * 100)
        replies = [conn.call('DEBUG', 'OBJECT', k) for k in ('k', 'n', 'r')]
        for reply, rest in zip(replies, (b'refcount:1 encoding:embstr serializedlength:6',
                                         b'refcount:2147483647 encoding:int serializedlength:2',
                                         b'refcount:1 encoding:raw serializedlength:13')):
            assert re.match(rb'\+Value at:0x[0-9a-f]+ %s lru:\d+ lru_seconds_idle:\d+\r\n$'
                            % rest, reply), reply
        assert conn.call('DEBUG', 'SLEEP', '0') == b'+OK\r\n'
        assert conn.call('DEBUG', 'SLEEP', '0.01') == b'+OK\r\n'


def test_time_and_lastsave(compat):
    import time
    for conn in (compat.a, compat.b):
        secs, usecs = parse(conn.call('TIME'))
        assert abs(int(secs) - time.time()) < 5 and 0 <= int(usecs) < 1000000
        assert abs(parse(conn.call('LASTSAVE')) - time.time()) < 600


def test_shutdown(server_factory):
    for kind in ('pyredis', 'redis'):
        srv = server_factory(kind)
        conn = RawConn(srv.port)
        assert conn.call('SHUTDOWN', 'FOO') == b'-ERR syntax error\r\n'
        conn.send(b'*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n')
        assert conn.closed(timeout=10)
        assert srv.proc.wait(10) == 0


def test_info_sections_and_fields(pyredis, real_redis):
    """INFO has Redis's sections and, in each, Redis's field names in
    Redis's order (values differ, of course)."""
    def fields(srv, *args):
        conn = RawConn(srv.port)
        conn.call('SET', 'k', 'v')
        conn.call('SET', 'e', 'v', 'EX', '100')
        text = parse(conn.call('INFO', *args)).decode()
        out = {}
        for block in text.split('\r\n\r\n'):
            lines = [x for x in block.split('\r\n') if x]
            if lines:
                out[lines[0]] = [x.split(':', 1)[0] for x in lines[1:]]
        return out
    for args in ((), ('default',), ('all',), ('server', 'keyspace'), ('STATS',),
                 ('nosuchsection',), ('clients', 'clients')):
        ours, theirs = fields(pyredis, *args), fields(real_redis, *args)
        assert list(ours) == list(theirs), args
        for section, names in theirs.items():
            if section in ('# Commandstats', '# Latencystats', '# Errorstats'):
                continue    # hash-ordered / per-command timing lines
            assert ours[section] == names, (section, [n for n in names if n not in ours[section]])


def test_info_keyspace_line(pyredis, real_redis):
    for srv in (pyredis, real_redis):
        conn = RawConn(srv.port)
        conn.call('DEBUG', 'SET-ACTIVE-EXPIRE', '0')
        try:
            conn.call('MSET', 'a', '1', 'b', '2', 'c', '3')
            conn.call('SET', 'd', '4', 'EX', '1000')
            conn.call('SELECT', '5')
            conn.call('SET', 'x', '1')
            text = parse(conn.call('INFO', 'keyspace')).decode()
            assert text == ('# Keyspace\r\ndb0:keys=4,expires=1,avg_ttl=0\r\n'
                            'db5:keys=1,expires=0,avg_ttl=0\r\n')
        finally:
            conn.call('DEBUG', 'SET-ACTIVE-EXPIRE', '1')


def test_commandstats_count_rejected_calls(pyredis, real_redis):
    lines = []
    for srv in (pyredis, real_redis):
        conn = RawConn(srv.port)
        assert conn.call('CONFIG', 'RESETSTAT') == b'+OK\r\n'
        conn.call('GET')
        conn.call('GET', 'a', 'b')
        conn.call('EXPIRETIME')
        conn.call('NOSUCHCOMMAND')
        text = parse(conn.call('INFO', 'commandstats')).decode()
        lines.append(sorted(l for l in text.split('\r\n')
                            if l.startswith(('cmdstat_get:', 'cmdstat_expiretime:'))))
    assert lines[0] == lines[1] == [
        'cmdstat_expiretime:calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0',
        'cmdstat_get:calls=0,usec=0,usec_per_call=0.00,rejected_calls=2,failed_calls=0']
