"""threads.Threads: one llama.cpp thread while the cores are taken, the full count again once they are free."""

from recsys.generation import threads as T
from recsys.generation.threads import Threads


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_steps_that_ran_on_a_cpu_keep_the_count_and_one_that_waited_goes_down_to_one_thread():
    clock = Clock()
    threads = Threads(2, clock)
    assert [threads.after_step(0.013, 0.0128) for _ in range(50)] == [None] * 50  # alone: ~1.0 of the wall time
    assert threads.after_step(0.001, 0.0) is None  # too short to say anything
    assert threads.after_step(0.300, 0.150) == 1  # half the time off a CPU: another process took the cores
    assert threads.now == 1 and threads.contended_steps == 1
    assert threads.after_step(0.020, 0.020) is None  # one thread until the probe
    clock.t += T.PROBE_S
    assert threads.after_step(0.020, 0.020) == 2  # the full count on trial
    assert threads.after_step(0.013, 0.013) is None and threads.wait_s == T.PROBE_S  # free again: stays at 2


def test_a_probe_into_taken_cores_waits_twice_as_long_each_time_up_to_the_cap():
    clock = Clock()
    threads = Threads(4, clock)
    threads.after_step(0.5, 0.1)
    waits = []
    for _ in range(8):
        clock.t = threads.probe_at
        assert threads.after_step(0.02, 0.02) == 4
        assert threads.after_step(0.4, 0.1) == 1  # still taken
        waits.append(threads.wait_s)
    assert waits == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0]
    assert threads.contended_steps == 9


def test_one_thread_has_nothing_to_change():
    threads = Threads(1, Clock())
    assert threads.after_step(1.0, 0.1) is None and threads.now == 1
