from cache import cached, count_visit, dequeue, enqueue


def test_cached_computes_once(redis):
    calls = []

    def compute():
        calls.append(1)
        return {'answer': 42}

    assert cached(redis, 'k', compute) == {'answer': 42}
    assert cached(redis, 'k', compute) == {'answer': 42}
    assert len(calls) == 1
    assert 0 < redis.ttl('k') <= 60


def test_queue_in_order(redis):
    enqueue(redis, 'jobs', {'n': 1})
    enqueue(redis, 'jobs', {'n': 2})
    assert dequeue(redis, 'jobs') == {'n': 1}
    assert dequeue(redis, 'jobs') == {'n': 2}
    assert dequeue(redis, 'jobs', timeout=0.1) is None


def test_visits(redis):
    for page in ['a', 'b', 'a', 'c', 'a', 'b']:
        top = count_visit(redis, page)
    assert top == [(b'a', 3.0), (b'b', 2.0), (b'c', 1.0)]


def test_starts_empty(redis):
    assert redis.dbsize() == 0
    redis.set('left-over', 1)
