"""The README's Python examples run as written."""

import os
import re

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'README.md')


def python_blocks():
    with open(README) as f:
        return re.findall(r'```python\n(.*?)```', f.read(), re.S)


def test_embedded_server_example():
    blocks = [b for b in python_blocks() if 'pyredis.serve(' in b and 'greet.py' not in b]
    assert blocks
    for block in blocks:
        exec(compile(block, 'README.md', 'exec'), {})


def test_fixture_examples(pytester):
    blocks = [b for b in python_blocks() if 'def test_' in b]
    assert blocks
    pytester.makepyfile(test_readme_examples=blocks[0])
    pytester.runpytest_subprocess('-p', 'no:cacheprovider').assert_outcomes(passed=2)


def test_module_example(tmp_path, monkeypatch):
    blocks = python_blocks()
    module = next(b for b in blocks if b.startswith('# greet.py'))
    use = next(b for b in blocks if "loadmodule='greet.py'" in b)
    (tmp_path / 'greet.py').write_text(module)
    monkeypatch.chdir(tmp_path)
    exec(compile(use, 'README.md', 'exec'), {})
