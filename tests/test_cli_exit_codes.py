"""Exit codes of an interrupted command and of `parity redis status` (SPEC: 0 ok, 1 a problem
found, 2 usage, input or error)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from store.cli import app
from store.cli_errors import ErrorHandlingGroup
from store.online.embedded import stop_embedded

from .conftest import free_port

runner = CliRunner()


def _app_raising(exc: BaseException) -> typer.Typer:
    demo = typer.Typer(cls=ErrorHandlingGroup)

    @demo.command()
    def work() -> None:
        raise exc

    @demo.command()
    def other() -> None:  # two commands: `work` stays a subcommand
        pass

    return demo


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), typer.Abort()])
def test_an_interrupted_command_exits_2_with_one_line(exc: BaseException) -> None:
    result = runner.invoke(_app_raising(exc), ["work"])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == "error: interrupted"


EXAMPLE = Path(__file__).resolve().parents[1] / "definitions"


def test_ctrl_c_on_a_running_parity_command_exits_2(tmp_path: Path) -> None:
    """A real SIGINT to a busy `parity quickstart` (generating the sample data): exit 2 and
    one line "interrupted", not click's 1 ("Aborted!")."""
    for name in ("parity.yaml", "features.py"):
        shutil.copy(EXAMPLE / name, tmp_path / name)
    parity = str(Path(sys.executable).parent / "parity")
    env = os.environ | {"PYTHONUNBUFFERED": "1", "COLUMNS": "100"}
    cmd = [parity, "quickstart", "--repo", str(tmp_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # the first step has begun: the command is running
            if b"Sample data" in line:
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()  # by its pid: nothing is left running
            proc.communicate()
        stop_embedded(tmp_path / "data")
    assert proc.returncode == 2, err.decode()[-2000:]
    assert err.decode().strip().splitlines()[-1] == "error: interrupted"


def test_ctrl_c_stops_the_server_gracefully_with_0(tmp_path: Path, redis_url: str) -> None:
    """`parity serve` runs until interrupted: Ctrl-C is its normal, graceful end (exit 0, as
    its --help says), not an interruption of work."""
    (tmp_path / "parity.yaml").write_text(f"project: p\nonline:\n  url: {redis_url}\n")
    port = free_port()
    parity = str(Path(sys.executable).parent / "parity")
    cmd = [parity, "serve", "--repo", str(tmp_path), "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(600):
            assert proc.poll() is None, proc.stderr.read().decode()  # type: ignore[union-attr]
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()  # by its pid: no server is left running
            proc.communicate()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert "Finished server process" in err.decode()


def test_redis_status_exit_code_is_the_state_and_is_documented(
    tmp_path: Path, redis_url: str
) -> None:
    """0 when Redis answers, 1 when it does not (a deliberate status code, said in --help)."""
    (tmp_path / "parity.yaml").write_text(f"project: p\nonline:\n  url: {redis_url}\n")
    up = runner.invoke(app, ["redis", "status", "--repo", str(tmp_path)])
    assert up.exit_code == 0 and "answers" in up.output
    down_url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    (tmp_path / "parity.yaml").write_text(f"project: p\nonline:\n  url: {down_url}\n")
    down = runner.invoke(app, ["redis", "status", "--repo", str(tmp_path)])
    assert down.exit_code == 1 and "is not running" in down.output
    help_text = " ".join(runner.invoke(app, ["redis", "status", "--help"]).output.split())
    assert "0 it answers, 1 it does not" in help_text and "systemctl is-active" in help_text
