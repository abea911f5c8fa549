"""pyredis: a Redis 7.0 compatible in-memory key-value server.

``pyredis.serve(...)`` starts an embedded server (pyredis.embed). It is
looked up on first use, so that importing the package (as every forked
child, the pytest plugin and ``python -m pyredis`` do) loads nothing else.
"""

import importlib

__version__ = '0.1.0'
__all__ = ['serve']


def __getattr__(name):
    if name in ('serve', 'EmbeddedServer'):
        return getattr(importlib.import_module('pyredis.embed'), name)
    raise AttributeError("module 'pyredis' has no attribute %r" % name)
