"""Every captured payload in tests/data/wechat is loaded by a passing test.

The check runs the test modules that use the sample loader (``tests/wechat/samples.py``) in a
child pytest with ``CHATBRIDGE_SAMPLE_LOG`` set, so the loader writes down each sample it
actually reads; a sample that no test loads (or only a test that does not pass) is reported.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.wechat import samples

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def _modules_using_the_loader() -> list[Path]:
    return sorted(
        path
        for path in HERE.glob("test_*.py")
        if path != Path(__file__).resolve()
        and "from tests.wechat import samples" in path.read_text(encoding="utf-8")
    )


@pytest.mark.timeout(600)
def test_every_sample_is_loaded_by_a_passing_test(tmp_path: Path) -> None:
    names = samples.all_names()
    assert len(names) >= 70, f"{samples.DATA} holds only {len(names)} samples"
    modules = _modules_using_the_loader()
    assert modules, "no test module uses tests/wechat/samples.py"
    log = tmp_path / "loaded.txt"
    env = {**os.environ, samples.LOG_ENV: str(log)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *map(str, modules)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert run.returncode == 0, f"the sample tests failed:\n{run.stdout[-3000:]}{run.stderr}"
    assert " skipped" not in run.stdout.splitlines()[-1], run.stdout[-2000:]
    loaded = set(log.read_text(encoding="utf-8").split()) if log.exists() else set()
    missing = [name for name in names if name not in loaded]
    assert not missing, f"samples no passing test loads: {missing}"


def test_a_missing_sample_fails_loudly() -> None:
    with pytest.raises(FileNotFoundError, match=r"no-such-capture\.json"):
        samples.text("no-such-capture.json")
