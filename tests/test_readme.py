"""The README's examples run as written: its Python blocks, and its shell
snippets (indented blocks starting with a ``pyredis-server`` line), whose
commands run in a shell with the ports they show replaced by free ones."""

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time

import pytest

from helpers import free_port

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'README.md')


def readme():
    with open(README) as f:
        return f.read()


def python_blocks():
    return re.findall(r'```python\n(.*?)```', readme(), re.S)


def python_block(marker):
    blocks = [b for b in python_blocks() if marker in b]
    assert len(blocks) == 1, marker
    return blocks[0]


def shell_block(marker):
    """The indented snippet that starts a pyredis-server and shows
    ``marker``, as a list of command lines."""
    blocks = re.findall(r'\n\n((?:    \S.*\n)+)', readme())
    blocks = [b for b in blocks if b.startswith('    pyredis-server') and marker in b]
    assert len(blocks) == 1, marker
    return [line[4:] for line in blocks[0].splitlines()]


def run_shell_block(lines, cwd):
    """Start the block's server (its first line), run the other lines one
    by one in a shell, and return their outputs."""
    ports = {}

    def port(m):
        return str(ports.setdefault(m.group(0), free_port()))
    lines = [re.sub(r'\b(7000|9121)\b', port, line) for line in lines]
    args = shlex.split(lines[0])
    with open(os.path.join(cwd, 'server.log'), 'wb') as log:
        server = subprocess.Popen(args, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_ping(int(args[args.index('--port') + 1]), server)
        return [subprocess.run(line, shell=True, cwd=cwd, capture_output=True, check=True,
                               timeout=30).stdout.decode() for line in lines[1:]]
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def wait_for_ping(port, process):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, 'pyredis-server exited'
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=1) as s:
                s.sendall(b'PING\r\n')
                if s.recv(16).startswith(b'+PONG'):
                    return
        except OSError:
            pass
        time.sleep(0.02)
    raise AssertionError('pyredis-server did not answer')


def test_embedded_server_example():
    exec(compile(python_block('maxmemory_policy='), 'README.md', 'exec'), {})


def test_async_with_example():
    exec(compile(python_block('async with pyredis.serve('), 'README.md', 'exec'), {})


def test_clock_example():
    from pyredis import clock
    try:
        exec(compile(python_block('server.clock.advance('), 'README.md', 'exec'), {})
    finally:
        clock.reset()               # the process's clock, whatever the example did


def test_fixture_examples(pytester):
    pytester.makepyfile(test_readme_examples=python_block('def test_'))
    pytester.runpytest_subprocess('-p', 'no:cacheprovider').assert_outcomes(passed=2)


def test_switch_from_fakeredis(pytester):
    # The README's conftest lines, in the example app's conftest for
    # fakeredis (tests/test_pytest_plugin.py) in place of its fixture.
    from test_pytest_plugin import _app
    block = python_block('was: return fakeredis.FakeRedis()')
    _app(pytester, 'import pytest\n\n\n' + block)
    pytester.runpytest_subprocess('-p', 'no:cacheprovider').assert_outcomes(passed=4)


def test_switch_from_pytest_redis(pytester):
    # (Whether pytest-redis is installed or not: its redisdb is replaced.)
    from test_pytest_plugin import _app
    block = python_block('as redisdb')
    _app(pytester, block, fixture='redisdb')
    pytester.runpytest_subprocess('-p', 'no:cacheprovider').assert_outcomes(passed=4)


def test_module_example(tmp_path, monkeypatch):
    module = python_block('# greet.py')
    use = python_block("loadmodule='greet.py'")
    (tmp_path / 'greet.py').write_text(module)
    monkeypatch.chdir(tmp_path)
    exec(compile(use, 'README.md', 'exec'), {})


def needs(*tools):
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip('the example runs %s (.ci/run installs it)' % ', '.join(missing))


def test_debug_clock_example(tmp_path):
    needs('pyredis-server', 'redis-cli')
    lines = shell_block('DEBUG CLOCK')
    outputs = run_shell_block(lines, str(tmp_path))
    assert outputs == ['OK\n', 'OK\n', '0\n']
    # The comment on the last line says what it prints.
    assert lines[-1].split('#')[1].strip() == '0'


def test_metrics_example(tmp_path):
    pytest.importorskip('prometheus_client')
    needs('pyredis-server', 'redis-cli', 'curl')
    outputs = run_shell_block(shell_block('--metrics-port'), str(tmp_path))
    assert outputs[0] == 'OK\n'
    assert 'redis_db_keys{db="db0"} 1.0\n' in outputs[1]
