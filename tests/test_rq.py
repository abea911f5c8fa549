"""python-rq, as a new user would run it: its workers keep job results in
a stream (XADD with MAXLEN ~, XREVRANGE), so a job's result and a failed
job's exception are only recorded when streams work."""

import signal

import pytest

rq = pytest.importorskip('rq')


def add(a, b):
    return a + b


def fail():
    raise ValueError('job failed on purpose')


def test_rq_worker_records_results(pyredis):
    from rq import Queue, SimpleWorker
    r = pyredis.client()
    q = Queue(connection=r)
    ok = q.enqueue(add, 2, 3)
    bad = q.enqueue(fail)
    worker = SimpleWorker([q], connection=r)
    # The worker's command channel (a pub/sub thread that the end of a
    # burst waits a minute for, with redis-server as well) is not needed.
    worker.subscribe = worker.unsubscribe = lambda: None
    # The worker installs its own SIGINT/SIGTERM handlers and leaves them:
    # put pytest's back, or a later SIGTERM raises rq's StopRequested in
    # whatever test runs then.
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        worker.work(burst=True)
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
    assert ok.get_status() == 'finished'
    assert ok.return_value() == 5
    result = ok.latest_result()
    assert result is not None and result.type == result.Type.SUCCESSFUL
    assert bad.get_status() == 'failed'
    failed = bad.latest_result()
    assert failed.type == failed.Type.FAILED
    assert 'job failed on purpose' in failed.exc_string
    # The results are a stream.
    keys = r.keys('rq:results:*')
    assert keys and all(r.type(k) == b'stream' for k in keys)
