"""The README's Python examples run as written."""

import os
import re

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'README.md')


def python_blocks():
    with open(README) as f:
        return re.findall(r'```python\n(.*?)```', f.read(), re.S)


def test_embedded_server_example():
    blocks = [b for b in python_blocks() if 'pyredis.serve(' in b]
    assert blocks
    for block in blocks:
        exec(compile(block, 'README.md', 'exec'), {})


def test_fixture_examples(pytester):
    blocks = [b for b in python_blocks() if 'def test_' in b]
    assert blocks
    pytester.makepyfile(test_readme_examples=blocks[0])
    pytester.runpytest_subprocess('-p', 'no:cacheprovider').assert_outcomes(passed=2)
