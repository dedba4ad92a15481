"""Local app processes (`compose.apps.processes`): an app compose started is stopped by compose, whatever happens."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from compose.apps.processes import wait_ready


class Interrupted(Exception):
    pass


def test_an_app_interrupted_while_it_starts_is_stopped(tmp_path: Path) -> None:
    # What a test's timeout or a Ctrl-C does to `compose demo`: the wait for the app's URL is cut short. Nobody
    # else holds the process yet, so unless wait_ready stops it, it serves on (seen: for an hour, after a test
    # timed out while a restarted app was starting).
    process = subprocess.Popen([sys.executable, "-c", "import time; print('loading…', flush=True); time.sleep(120)"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGUSR1, interrupt)
    # A real signal, as a timeout's or Ctrl-C's: it cuts the wait short (a flag alone would wait out the timeout).
    timer = threading.Timer(0.5, signal.pthread_kill, (threading.main_thread().ident, signal.SIGUSR1))
    try:
        timer.start()
        with pytest.raises(Interrupted):
            wait_ready("slow", process, tmp_path, timeout=25)
        try:
            code: int | None = process.wait(timeout=10)  # killed: it ends at once; left running: it sleeps on
        except subprocess.TimeoutExpired:
            code = None
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR1, previous)
        process.kill()
        process.wait()
    assert code is not None, "the interrupted app was left running"
