"""pyredis: a Redis 7.0 compatible in-memory key-value server."""

__version__ = '0.1.0'
