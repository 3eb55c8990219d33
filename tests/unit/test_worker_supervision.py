"""How the worker restarts a recorder that died: exponential backoff with a cap, started over after a
period of good health; exit codes and signals said in words for the log and the health row."""

from __future__ import annotations

import signal

from worker import RestartPolicy, describe_exit


def test_restarts_back_off_exponentially_up_to_the_cap() -> None:
    policy = RestartPolicy(initial=0.5, cap=30.0, healthy_after=60.0)
    assert [policy.delay(ran_for=1.0) for _ in range(9)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_a_recorder_that_ran_well_for_a_while_starts_the_backoff_over() -> None:
    policy = RestartPolicy(initial=0.5, cap=30.0, healthy_after=60.0)
    assert [policy.delay(ran_for=2.0) for _ in range(4)] == [0.5, 1.0, 2.0, 4.0]
    assert policy.delay(ran_for=59.9) == 8.0
    assert policy.delay(ran_for=60.0) == 0.5
    assert policy.delay(ran_for=3.0) == 1.0


def test_exit_codes_and_signals_in_words() -> None:
    assert describe_exit(0) == "exit code 0"
    assert describe_exit(1) == "exit code 1"
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"
    assert describe_exit(-signal.SIGSEGV) == "killed by SIGSEGV"
    assert describe_exit(-200) == "killed by signal 200"
