"""Builds the optional C extension (CRC64 and LZF for the RDB format).

Everything else is declared in pyproject.toml. The extension is optional: if
it cannot be compiled, pyredis falls back to pure-Python CRC64/LZF.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension('pyredis._speedups', ['pyredis/_speedups.c'],
                             optional=True, extra_compile_args=['-O3'])])
