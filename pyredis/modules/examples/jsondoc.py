"""JSON documents as a data type of their own, as a pyredis module.

    JSON.SET key path value [NX | XX]   -> OK, or null when NX/XX says no
    JSON.GET key [path ...]             -> the JSON text
    JSON.DEL key [path]                 -> the number of values deleted
    JSON.TYPE key [path]                -> object, array, string, integer,
                                           number, boolean or null

The subset of RedisJSON's paths it knows: the root (``$`` or ``.``) and
simple paths of member names and array indexes, ``$.a.b``, ``$.a[0]``
(JSONPath: replies are arrays of the matches, as RedisJSON's) or ``.a.b``,
``a.b`` (legacy: the value itself, an error when there is none). No
wildcards, filters, slices, recursive descent or multiple matches.
JSON.GET with several paths answers an object {path: value}.

A document is a value of the module data type ``PyJSONdoc`` (what TYPE
answers): saved in RDB files as RDB_TYPE_MODULE_2 with the type's id and
the document's JSON text, rebuilt by an AOF rewrite as one JSON.SET of the
root, and replicated verbatim (JSON.SET/JSON.DEL are deterministic).

Load with ``MODULE LOAD pyredis.modules.examples.jsondoc`` or
``loadmodule pyredis.modules.examples.jsondoc`` in redis.conf (the module
must be loaded before an RDB or AOF holding documents is read).
"""

import json
import re

from pyredis.modules.api import Module, ReplyError, null

module = Module('jsondoc', version=1)


def _dumps(doc):
    return json.dumps(doc, separators=(',', ':'), ensure_ascii=False).encode()


def _rdb_save(io, doc):
    io.save_string(_dumps(doc))


def _rdb_load(io, encver):
    try:
        return json.loads(io.load_string())
    except ValueError as e:
        raise ValueError('bad JSON document: %s' % e)


def _aof_rewrite(key, doc):
    return [[b'JSON.SET', key, b'$', _dumps(doc)]]


def _mem_usage(doc):
    # About what the parsed document takes: Python objects are some
    # times larger than their JSON text.
    return 4 * len(_dumps(doc))


JSON_TYPE = module.data_type('PyJSONdoc', 1, _rdb_save, _rdb_load, _aof_rewrite,
                             copy=lambda doc: json.loads(_dumps(doc)), mem_usage=_mem_usage)

_STEP = re.compile(r'\.([^.\[\]]+)|\[(\d+)\]')


def _parse_path(path):
    """(steps, jsonpath): steps are str (member) or int (index)."""
    p = path.decode() if isinstance(path, bytes) else path
    jsonpath = p.startswith('$')
    if jsonpath:
        p = p[1:]
    elif p == '.':
        p = ''
    elif p and not p.startswith('.') and not p.startswith('['):
        p = '.' + p
    steps = []
    pos = 0
    while pos < len(p):
        m = _STEP.match(p, pos)
        if m is None:
            raise ReplyError("ERR path '%s' is not in the supported subset" % path.decode())
        steps.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    return steps, jsonpath


def _resolve(doc, steps):
    """The value at steps, or raise KeyError."""
    for s in steps:
        if isinstance(s, int):
            if not isinstance(doc, list) or s >= len(doc):
                raise KeyError(s)
        elif not isinstance(doc, dict) or s not in doc:
            raise KeyError(s)
        doc = doc[s]
    return doc


def _type_name(v):
    if v is None:
        return 'null'
    if isinstance(v, bool):
        return 'boolean'
    if isinstance(v, int):
        return 'integer'
    if isinstance(v, float):
        return 'number'
    if isinstance(v, str):
        return 'string'
    if isinstance(v, list):
        return 'array'
    return 'object'


_KEY = {'name': 'key', 'type': 'key', 'key_spec_index': 0}
_PATH = {'name': 'path', 'type': 'string'}


@module.command('json.set', arity=-4, flags=('write', 'denyoom'), keys=(1, 1, 1),
                key_flags=('RW', 'update'),
                summary='Sets or updates the JSON value at a path', since='1.0.0',
                complexity='O(M+N) where M is the size of the original value and N the '
                           'size of the new one',
                arguments=[_KEY, _PATH, {'name': 'value', 'type': 'string'},
                           {'name': 'condition', 'type': 'oneof', 'flags': ['optional'],
                            'arguments': [{'name': 'nx', 'type': 'pure-token', 'token': 'NX'},
                                          {'name': 'xx', 'type': 'pure-token',
                                           'token': 'XX'}]}],
                replicate='verbatim')
def json_set(ctx, argv):
    if len(argv) > 5:
        raise ReplyError('ERR syntax error')
    cond = argv[4].upper() if len(argv) == 5 else None
    if cond not in (None, b'NX', b'XX'):
        raise ReplyError('ERR syntax error')
    steps, _ = _parse_path(argv[2])
    try:
        value = json.loads(argv[3])
    except ValueError as e:
        raise ReplyError('ERR expected a JSON value (%s)' % e)
    key = ctx.open_key(argv[1], write=True)
    doc = key.get_value(JSON_TYPE) if key.exists() else None
    if doc is None and not key.exists():
        if steps:
            raise ReplyError('ERR new objects must be created at the root')
        if cond == b'XX':
            return null()
        key.set_value(JSON_TYPE, value)
        return 'OK'
    if not steps:
        if cond == b'NX':
            return null()
        key.set_value(JSON_TYPE, value)
        return 'OK'
    try:
        parent = _resolve(doc, steps[:-1])
    except KeyError:
        return null()
    last = steps[-1]
    if isinstance(last, int):
        if not isinstance(parent, list) or last >= len(parent):
            return null()
        exists = True
    else:
        if not isinstance(parent, dict):
            return null()
        exists = last in parent
    if (cond == b'NX' and exists) or (cond == b'XX' and not exists):
        return null()
    parent[last] = value
    key.modified()
    return 'OK'


@module.command('json.get', arity=-2, flags=('readonly',), keys=(1, 1, 1),
                key_flags=('RO', 'access'),
                summary='Gets the JSON value at one or more paths', since='1.0.0',
                complexity='O(N) where N is the size of the value',
                arguments=[_KEY, dict(_PATH, flags=['optional', 'multiple'])],
                replicate=None)
def json_get(ctx, argv):
    key = ctx.open_key(argv[1])
    if not key.exists():
        return null()
    doc = key.get_value(JSON_TYPE)
    paths = argv[2:] or [b'.']
    results = []
    for path in paths:
        steps, jsonpath = _parse_path(path)
        try:
            found = _resolve(doc, steps)
        except KeyError:
            if not jsonpath:
                raise ReplyError("ERR Path '%s' does not exist" % path.decode())
            results.append([])
            continue
        results.append([found] if jsonpath else found)
    if len(paths) == 1:
        return _dumps(results[0])
    return _dumps({p.decode(): r for p, r in zip(paths, results)})


@module.command('json.del', arity=-2, flags=('write',), keys=(1, 1, 1),
                key_flags=('RW', 'delete'),
                summary='Deletes the JSON value at a path', since='1.0.0',
                complexity='O(N) where N is the size of the deleted value',
                arguments=[_KEY, dict(_PATH, flags=['optional'])], replicate='verbatim')
def json_del(ctx, argv):
    if len(argv) > 3:
        raise ReplyError('ERR syntax error')
    key = ctx.open_key(argv[1], write=True)
    if not key.exists():
        return 0
    doc = key.get_value(JSON_TYPE)
    steps, _ = _parse_path(argv[2] if len(argv) == 3 else b'$')
    if not steps:
        key.delete()
        return 1
    try:
        parent = _resolve(doc, steps[:-1])
        _resolve(parent, steps[-1:])
    except KeyError:
        return 0
    del parent[steps[-1]]
    key.modified(event='json.del')
    return 1


@module.command('json.type', arity=-2, flags=('readonly', 'fast'), keys=(1, 1, 1),
                key_flags=('RO',),
                summary='The type of the JSON value at a path', since='1.0.0',
                complexity='O(1)', arguments=[_KEY, dict(_PATH, flags=['optional'])],
                replicate=None)
def json_type(ctx, argv):
    if len(argv) > 3:
        raise ReplyError('ERR syntax error')
    key = ctx.open_key(argv[1])
    if not key.exists():
        return null()
    doc = key.get_value(JSON_TYPE)
    steps, jsonpath = _parse_path(argv[2] if len(argv) == 3 else b'.')
    try:
        found = _resolve(doc, steps)
    except KeyError:
        return [] if jsonpath else null()
    return [_type_name(found)] if jsonpath else _type_name(found)
