"""README's Python example runs as written (on a copy of the example repo, on the test Redis)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_example_runs(tmp_path: Path, redis_url: str) -> None:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- readme-example[^>]*-->\n```python\n(.*?)```", readme, re.S)
    assert match, "README.md lost its Python example"
    shutil.copytree(
        ROOT / "definitions", tmp_path / "definitions", ignore=shutil.ignore_patterns("data")
    )
    env = {"PARITY_REDIS_URL": redis_url, "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-c", match.group(1)],
        cwd=tmp_path,
        env={**env, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "'differences': 0" in proc.stdout, proc.stdout[-2000:]
