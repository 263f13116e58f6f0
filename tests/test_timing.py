"""minilib.timing: how many calls `timed` makes and what it refuses (no speed is asserted here)."""

import pytest

from minilib import timing


def test_timed_calls_fn_rounds_times_reps_plus_the_warmup_and_gives_seconds_per_call():
    calls = []
    t = timing.timed(lambda: calls.append(1), "cpu", rounds=3, reps=4, warmup=True)
    assert len(calls) == 1 + 3 * 4
    wall, cpu = t
    assert (wall, cpu) == (t.wall, t.cpu) and wall >= 0 and cpu >= 0
    calls.clear()
    timing.timed(lambda: calls.append(1))
    assert len(calls) == 1


@pytest.mark.parametrize("kwargs", [{"rounds": 0}, {"reps": 0}])
def test_timed_refuses_no_rounds_or_no_reps(kwargs):
    with pytest.raises(ValueError, match=r"rounds=.* and reps=.* must each be >= 1"):
        timing.timed(lambda: None, **kwargs)
