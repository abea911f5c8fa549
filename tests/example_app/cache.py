"""A small application module written against redis-py: a read-through
cache and a work queue. Its tests (cache_tests.py) run unchanged on
fakeredis and on a real pyredis server (tests/test_pytest_plugin.py)."""

import json


def cached(r, key, compute, ttl=60):
    """compute()'s JSON result, kept in Redis for ``ttl`` seconds."""
    hit = r.get(key)
    if hit is not None:
        return json.loads(hit)
    value = compute()
    r.set(key, json.dumps(value), ex=ttl)
    return value


def enqueue(r, queue, job):
    r.rpush(queue, json.dumps(job))


def dequeue(r, queue, timeout=1):
    item = r.blpop([queue], timeout=timeout)
    return None if item is None else json.loads(item[1])


def count_visit(r, page):
    """A page's visits, and the most visited pages."""
    r.zincrby('visits', 1, page)
    return r.zrevrange('visits', 0, 2, withscores=True)
