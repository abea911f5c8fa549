"""Commands written in Python: Redis's module system without C.

``api`` is what a module sees (the @command decorator, the keyspace API,
reply builders, blocking, data types); ``loader`` loads and unloads
modules (MODULE LOAD, loadmodule); ``types`` is the data-type registry the
RDB code reads. Nothing here registers anything by being imported.
"""
