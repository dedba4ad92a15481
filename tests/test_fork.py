"""A Space made before os.fork() works in the child (gunicorn --preload, multiprocessing "fork"): the child does
not inherit the parent's I/O thread, so compose must start its own loop and pool there instead of hanging."""

from __future__ import annotations

import json
import os
import select
import signal
import threading

import pytest

import compose

DEADLINE = 25.0  # a generous bound on the child's one call; a hang used to last forever

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")


def _in_child(call: object) -> str:
    """Fork; run `call()` in the child and return what it wrote (its JSON result or its error), within DEADLINE."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running the parent's atexit hooks or pytest's teardown
        os.close(read)
        try:
            out = json.dumps({"result": call()})  # type: ignore[operator]
        except BaseException as e:
            out = json.dumps({"error": repr(e)})
        os.write(write, out.encode())
        os._exit(0)
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], DEADLINE)
        if not ready:
            os.kill(pid, signal.SIGKILL)
            return json.dumps({"error": f"the child hung for {DEADLINE:g} s"})
        chunks = []
        while chunk := os.read(read, 65536):
            chunks.append(chunk)
        return b"".join(chunks).decode()
    finally:
        os.close(read)
        os.waitpid(pid, 0)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Python 3.12+ warns about forking a threaded process
def test_a_space_used_before_a_fork_works_in_the_child_and_the_parent(translator: compose.Space,
                                                                      streaming: compose.Space) -> None:
    ep = translator.endpoint("/translate")
    expected = ep.predict("hello", "French")  # the parent's I/O thread, pool and data streams are live
    count = streaming.endpoint("/count_up")
    job = count.submit(3, delay=0.3)  # and a stream is open at the moment of the fork

    got = json.loads(_in_child(lambda: [ep.predict("hello", "French"), count.predict(2, delay=0)]))
    assert got == {"result": [expected, "1 2"]}, got
    # The child left the parent's connections alone: the parent's running job and next call go on.
    assert job.result(timeout=DEADLINE) == "1 2 3"
    assert ep.predict("hello", "French") == expected


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_lock_another_thread_holds_at_the_fork_is_free_in_the_child() -> None:
    # compose's I/O thread takes locks (the redaction list, cookie jars, session resets) while it works: a child
    # forked at that moment got a copy held by a thread it does not have, and its first call waited forever.
    from compose import forksafe

    lock = forksafe.Lock()
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock:
            held.set()
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait()
    try:
        def take() -> str:
            with lock:
                return "taken"

        assert json.loads(_in_child(take)) == {"result": "taken"}
        assert lock.locked()  # the parent's holder still has it
    finally:
        release.set()
        holder.join()
