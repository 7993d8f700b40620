"""batch.FairLock: the lock the readers of one llama.cpp batch take turns with (see batch.py for why a plain lock
starves another session's reader). The batch itself runs on the real GGUF in test_llamacpp.py."""

from __future__ import annotations

import threading

import pytest

from recsys.generation.batch import FairLock


def _until(condition, what: str) -> None:
    """Wait (up to 10 s) until condition() holds: a thread has reached the point the test needs."""
    done = threading.Event()
    for _ in range(1000):
        if condition():
            return
        done.wait(0.01)
    pytest.fail(f"timed out waiting until {what}")


def test_a_holder_that_asks_again_at_once_waits_behind_the_one_already_waiting():
    lock, order = FairLock(), []

    def waiter() -> None:
        with lock:
            order.append("waiter")

    with lock:
        thread = threading.Thread(target=waiter)
        thread.start()
        _until(lambda: lock._next == 2, "the waiter has its ticket")
    with lock:  # straight back: a plain lock would usually give it to this thread again
        order.append("holder")
    thread.join(timeout=10)
    assert order == ["waiter", "holder"]


def test_a_waiter_interrupted_in_the_queue_gives_up_its_turn():
    lock, got = FairLock(), []
    real_wait = lock._cond.wait_for

    def wait_for(predicate, timeout=None):
        if threading.current_thread().name == "interrupted":
            raise KeyboardInterrupt
        return real_wait(predicate, timeout)

    lock._cond.wait_for = wait_for

    def take(name: str) -> None:
        try:
            with lock:
                got.append(name)
        except KeyboardInterrupt:
            got.append(f"{name} gave up")

    with lock:
        first = threading.Thread(target=take, args=("interrupted",), name="interrupted")
        first.start()
        first.join(timeout=10)
        second = threading.Thread(target=take, args=("next",))
        second.start()
        _until(lambda: lock._next == 3, "the second waiter has its ticket")
    second.join(timeout=10)
    assert got == ["interrupted gave up", "next"] and not second.is_alive()
    with lock:  # and the lock still works for everyone after
        got.append("after")
    assert got[-1] == "after"
