"""The Prometheus endpoint (metrics-port): redis_exporter's names with INFO's
values, scraped directly and by a real Prometheus (Debian's `prometheus`,
started here on free ports)."""

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from helpers import free_port

PROMETHEUS = shutil.which('prometheus')


def scrape(port):
    with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % port, timeout=10) as f:
        text = f.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def test_metrics_match_info(server_factory):
    mport = free_port()
    srv = server_factory('pyredis', '--metrics-port', str(mport))
    r = srv.client()
    r.set('a', 1)
    r.set('b', 2, ex=100)
    r.get('a')
    r.select(3)
    r.set('c', 3)
    with pytest.raises(Exception):
        r.hget('c', 'x')        # WRONGTYPE
    m = scrape(mport)
    info = r.info('all')
    assert m[('redis_up', ())] == 1
    assert m[('redis_db_keys', (('db', 'db0'),))] == 2
    assert m[('redis_db_keys_expiring', (('db', 'db0'),))] == 1
    assert m[('redis_db_keys', (('db', 'db3'),))] == 1
    assert m[('redis_db_keys', (('db', 'db15'),))] == 0
    assert m[('redis_commands_total', (('cmd', 'set'),))] == info['cmdstat_set']['calls'] == 3
    assert m[('redis_commands_failed_calls_total', (('cmd', 'hget'),))] == 1
    assert m[('redis_errors_total', (('err', 'WRONGTYPE'),))] == 1
    assert m[('redis_keyspace_hits_total', ())] >= 1
    assert m[('redis_connected_clients', ())] == info['connected_clients']
    assert m[('redis_memory_max_bytes', ())] == 0
    role = [k for k in m if k[0] == 'redis_instance_info']
    assert dict(role[0][1])['role'] == 'master'
    assert dict(role[0][1])['redis_version'] == '7.0.15'
    # The directive is pyredis's own: not in CONFIG GET *, which stays Redis's.
    assert 'metrics-port' not in r.config_get('*')
    assert r.config_get('metrics-port') == {'metrics-port': str(mport)}


def test_metrics_port_moves_with_config_set(server_factory):
    srv = server_factory('pyredis')
    r = srv.client()
    mport = free_port()
    r.config_set('metrics-port', mport)
    deadline = time.time() + 10
    while True:
        try:
            assert scrape(mport)[('redis_up', ())] == 1
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.05)
    r.config_set('metrics-port', 0)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            scrape(mport)
        except OSError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError('the endpoint is still open')


@pytest.mark.skipif(not PROMETHEUS, reason='prometheus is not installed '
                    '(apt-get install prometheus; .ci/run installs it)')
def test_real_prometheus_scrapes_pyredis(server_factory):
    mport = free_port()
    srv = server_factory('pyredis', '--metrics-port', str(mport))
    r = srv.client()
    r.mset({'k%d' % i: i for i in range(42)})
    workdir = tempfile.mkdtemp(prefix='prometheus-test-')
    pport = free_port()
    with open(os.path.join(workdir, 'prometheus.yml'), 'w') as f:
        f.write('global:\n  scrape_interval: 1s\n'
                'scrape_configs:\n  - job_name: pyredis\n    static_configs:\n'
                '      - targets: ["127.0.0.1:%d"]\n' % mport)
    log = open(os.path.join(workdir, 'prometheus.log'), 'wb')
    proc = subprocess.Popen([PROMETHEUS, '--config.file', os.path.join(workdir, 'prometheus.yml'),
                             '--storage.tsdb.path', os.path.join(workdir, 'data'),
                             '--web.listen-address', '127.0.0.1:%d' % pport],
                            stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    try:
        query = urllib.parse.urlencode({'query': 'redis_db_keys{db="db0",job="pyredis"}'})
        url = 'http://127.0.0.1:%d/api/v1/query?%s' % (pport, query)
        deadline = time.time() + 60
        result = None
        while time.time() < deadline:
            assert proc.poll() is None, open(os.path.join(workdir, 'prometheus.log')).read()
            try:
                with urllib.request.urlopen(url, timeout=5) as f:
                    answer = json.load(f)
                result = answer['data']['result']
                if result:
                    break
            except OSError:
                pass
            time.sleep(0.25)
        assert result, 'Prometheus never got the series'
        assert result[0]['metric']['__name__'] == 'redis_db_keys'
        assert result[0]['value'][1] == '42'
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def test_switch_interval_restored_after_the_last_endpoint():
    """Two embedded servers with metrics in one process share the process's
    GIL switch interval: it is short while either endpoint runs and the
    process's own again once both have stopped, in whatever order."""
    import sys
    import pyredis
    from helpers import free_port
    own = sys.getswitchinterval()
    a = pyredis.serve(metrics_port=free_port())
    b = pyredis.serve(metrics_port=free_port())
    try:
        assert sys.getswitchinterval() < own
        a.stop()
        assert sys.getswitchinterval() < own
    finally:
        a.stop()
        b.stop()
    assert sys.getswitchinterval() == own
