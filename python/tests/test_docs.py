# SPDX-License-Identifier: MIT
"""The examples of docs/python.md run as written."""
import os
import re
import subprocess
import sys

import pytest

from conftest import HERE, LONG

DOC = os.path.join(HERE, "..", "..", "docs", "python.md")


def examples():
    with open(DOC) as f:
        text = f.read()
    return re.findall(r"```python\n(.*?)```", text, re.S)


@pytest.mark.parametrize("index", range(len(examples())))
def test_example_runs(index, tmp_path):
    script = tmp_path / f"example{index}.py"
    script.write_text(examples()[index])
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=LONG)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    if index == 0:
        assert "[True, True] round 1" in out.stdout
        assert "False ETIMEDOUT" in out.stdout
        assert "resolved" in out.stdout
    elif index == 1:
        assert "BufferError:" in out.stdout
    elif index == 2:
        assert out.stdout.count("round 1 resolved") == 3, out.stdout
        assert "1 round resolved" in out.stdout


def test_there_are_examples():
    assert len(examples()) >= 3
