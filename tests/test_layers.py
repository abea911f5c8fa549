"""Imports point one way, from low level to high.

Every pyredis module belongs to a layer; a module may import modules of its
own layer or of lower ones, never of a higher one, and no group of modules
may import each other in a cycle. The imports are read with ``ast`` (those
inside functions too), so a lazy import cannot hide an edge. A new module
must be given its layer here.
"""

import ast
import os

from helpers import ROOT

PACKAGE = os.path.join(ROOT, 'pyredis')

LAYERS = [
    # facts, helpers and formats with no server state
    {'pyredis', 'pyredis.facts', 'pyredis.util', 'pyredis.log', 'pyredis.notify',
     'pyredis.resp', 'pyredis.scan', 'pyredis.zset', 'pyredis.crc64', 'pyredis.lzf',
     'pyredis.values', 'pyredis.geohash', 'pyredis.stream', 'pyredis.clock', 'pyredis.hdr',
     'pyredis.listpack', 'pyredis.cluster', 'pyredis.cluster.bus', 'pyredis.cluster.state',
     'pyredis.cluster.slots', 'pyredis.modules', 'pyredis.modules.types'},
    {'pyredis.config'},
    {'pyredis.commands'},           # the command registry
    {'pyredis.db', 'pyredis.expire', 'pyredis.memory', 'pyredis.objsize', 'pyredis.evict',
     'pyredis.rdb',
     'pyredis.pubsub', 'pyredis.acl', 'pyredis.lazyfree', 'pyredis.tracking'},
    {'pyredis.networking'},
    {'pyredis.server'},
    # the command families, and the subsystems built on the server
    {'pyredis.aof', 'pyredis.replication'} | {'pyredis.commands.' + name[:-3] for name in
                                             os.listdir(os.path.join(PACKAGE, 'commands'))
                                             if name.endswith('.py') and name != '__init__.py'}
    | {'pyredis.scripting', 'pyredis.scripting.engine', 'pyredis.scripting.libs',
       'pyredis.scripting.host', 'pyredis.scripting.functions', 'pyredis.scripting.busy'}
    | {'pyredis.metrics', 'pyredis.cluster.routing', 'pyredis.cluster.node', 'pyredis.cluster.links',
       'pyredis.modules.api',
       'pyredis.modules.loader', 'pyredis.modules.examples',
       'pyredis.modules.examples.ratelimit', 'pyredis.modules.examples.jsondoc'},
    {'pyredis.assembly'},
    {'pyredis.cli', 'pyredis.__main__', 'pyredis.embed', 'pyredis.pytest_plugin'},
]


def modules():
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith('.py'):
                path = os.path.join(folder, name)
                mod = os.path.relpath(path, ROOT)[:-3].replace(os.sep, '.')
                found[mod[:-len('.__init__')] if mod.endswith('.__init__') else mod] = path
    return found


def imports(mod, path, known):
    """The pyredis modules ``mod`` imports. ``from .x import y`` counts as an
    import of x.y when that is a module, else of x (the package's __init__
    runs too, but a package here holds only what its modules need)."""
    is_package = path.endswith('__init__.py')
    out = set()
    with open(path) as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = mod.split('.') if is_package else mod.split('.')[:-1]
                base = base[:len(base) - node.level + 1]
                base = '.'.join(base + ([node.module] if node.module else []))
            else:
                base = node.module
            targets = [base + '.' + a.name if base + '.' + a.name in known else base
                       for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition('.')[0]
            if t and t != mod:
                out.add(t)
    return out


def test_every_module_has_a_layer():
    layered = set().union(*LAYERS)
    missing = sorted(set(modules()) - layered)
    assert not missing, 'modules without a layer in tests/test_layers.py: %s' % missing


def test_no_import_points_up():
    known = modules()
    layer = {m: i for i, group in enumerate(LAYERS) for m in group}
    upward = []
    for mod, path in sorted(known.items()):
        for target in sorted(imports(mod, path, known)):
            if layer.get(target, -1) > layer.get(mod, -1):
                upward.append('%s -> %s' % (mod, target))
    assert not upward, 'imports that point up:\n' + '\n'.join(upward)


def test_no_import_cycles():
    known = modules()
    edges = {m: imports(m, p, known) for m, p in known.items()}
    state = {}
    stack = []

    def visit(m):
        state[m] = 'open'
        stack.append(m)
        for t in sorted(edges[m]):
            if state.get(t) == 'open':
                raise AssertionError('import cycle: ' + ' -> '.join(stack[stack.index(t):] + [t]))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 'done'

    for m in sorted(known):
        if m not in state:
            visit(m)
