"""minilib.exercises: every check passes the library's reference and catches its recorded wrong answers."""

import ast
import json
import subprocess
import sys

import pytest
import torch

from minilib import exercises, phenomenon
from minilib.grokking import losses

phenomenon.phenomena()  # each chapter's module registers its exercises when imported: test them all
NAMES = sorted(exercises.EXERCISES)
MISTAKES = [(name, m) for name in NAMES for m in exercises.EXERCISES[name].mistakes]


def test_the_chapters_exercises_are_registered():
    assert {"curvefit.noise_floor", "curvefit.forward", "grokking.stablemax_s", "grokking.stablemax_cross_entropy",
            "grokking.perp_grad", "grokking.collapse_gap"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_reference_passes(name):
    verdict = exercises.verdict(name, exercises.EXERCISES[name].reference)
    assert verdict.status == "passed", verdict.message
    assert verdict.message.startswith(f"✓ {name}: passed all")


@pytest.mark.parametrize("name", NAMES)
def test_every_check_records_wrong_answers(name):
    assert len(exercises.EXERCISES[name].mistakes) >= 2


@pytest.mark.parametrize(("name", "mistake"), MISTAKES, ids=[f"{n}-{m.what}" for n, m in MISTAKES])
def test_recorded_wrong_answer_fails_with_its_hint(name, mistake):
    verdict = exercises.verdict(name, mistake.fn)
    assert verdict.status == "failed" and not verdict, verdict.message
    assert f"✗ {name}: failed on " in verdict.message
    assert f"hint: {mistake.hint}" in verdict.message, verdict.message
    assert "Traceback" not in verdict.message


def test_forgotten_rescale_is_named_with_expected_and_got():
    verdict = exercises.verdict("grokking.perp_grad", lambda w, g: g - (w * g).sum() / (w * w).sum() * w)
    assert "failed on w = [1, 0], g = [1, 1] (the first case)" in verdict.message
    assert "expected 1.41421" in verdict.message and "got 1" in verdict.message
    assert "rescale" in verdict.message


def test_exp_on_the_negative_side_is_caught():
    verdict = exercises.verdict("grokking.stablemax_s", lambda x: torch.where(x >= 0, x + 1, torch.exp(x)))
    assert "expected 0.25 at x[0] = -3, got 0.0497871" in verdict.message
    assert "not e^x" in verdict.message


def test_wrong_dtype_is_reported():
    verdict = exercises.verdict("grokking.stablemax_s", lambda x: losses.stablemax_s(x.float()))
    assert not verdict
    assert "expected dtype torch.float64 (the input's), got torch.float32" in verdict.message


def test_stub_is_not_implemented_yet_with_its_task():
    def my_s(x):
        raise NotImplementedError("return s(x) elementwise")

    verdict = exercises.verdict("grokking.stablemax_s", my_s)
    assert verdict.status == "not implemented" and not verdict
    assert "not implemented yet. Your task: return s(x) elementwise" in verdict.message
    assert "Traceback" not in verdict.message


def test_an_error_inside_the_students_function_is_a_verdict_naming_its_line():
    def my_perp_grad(w, g):
        scale = w.norm()
        return g.reshape(-1, 7) * scale  # 2 elements cannot take shape [-1, 7]

    verdict = exercises.verdict("grokking.perp_grad", my_perp_grad)
    assert verdict.status == "failed"
    assert "Your function raised RuntimeError: shape '[-1, 7]' is invalid" in verdict.message
    assert "g.reshape(-1, 7)" in verdict.message  # the student's own line, not torch's
    assert "Traceback" not in verdict.message and "site-packages" not in verdict.message


def test_a_result_without_gradient_is_explained():
    verdict = exercises.verdict("grokking.stablemax_s", lambda x: losses.stablemax_s(x).detach())
    assert "the gradient d(sum f(x))/dx: the result has no gradient with respect to x" in verdict.message


def test_changing_an_argument_in_place_is_caught_for_parameter_lists():
    def my_forward(params, x):
        params[1] += 1.0
        return torch.relu(x @ params[0] + params[1] - 1.0) @ params[2] + params[3]

    verdict = exercises.verdict("curvefit.forward", my_forward)
    assert "changed its argument `params`" in verdict.message


def test_passing_a_result_instead_of_the_function():
    verdict = exercises.verdict("grokking.collapse_gap", 16.6)
    assert not verdict and "pass your function itself" in verdict.message


def test_numbers_in_other_types_are_accepted():
    assert exercises.verdict("grokking.collapse_gap", lambda p, c=2: torch.tensor(losses.collapse_gap(p, c)))
    verdict = exercises.verdict("grokking.collapse_gap", lambda p, c=2: str(losses.collapse_gap(p, c)))
    assert "expected a number, got a str" in verdict.message


def test_unknown_exercise_names_the_known_ones():
    with pytest.raises(ValueError, match=r"no exercise named 'grokking.softmax': known exercises are .*perp_grad"):
        exercises.verdict("grokking.softmax", lambda x: x)


def test_check_prints_one_verdict(capsys):
    assert exercises.check("curvefit.noise_floor", lambda noise: noise**2) is None
    out = capsys.readouterr().out
    assert out.startswith("✓ curvefit.noise_floor: passed all 4 cases") and out.count("\n") == 1


def test_registering_a_name_twice_is_refused():
    with pytest.raises(ValueError, match="registered twice"):
        exercises.register(exercises.EXERCISES["curvefit.noise_floor"])


def test_timing_note_reads_the_measured_seconds(tmp_path):
    path = tmp_path / "timings.json"
    assert "not measured yet" in exercises.timing_note("01_grokking", path).data
    cpu = {"machine": "a 2-core CPU (torch 2.13.0, 1 thread)", "device": "cpu"}
    modes = {"full": {"seconds": 250.0, "date": "2026-11-28", **cpu},
             "fast": {"seconds": 41.4, "date": "2026-11-27", **cpu}}
    path.write_text(json.dumps({"chapters": {"01_grokking": {"cpu": modes}}}))
    note = exercises.timing_note("01_grokking", path).data
    assert ("took 4.2 minutes at full size and 41 s in fast mode on a 2-core CPU (torch 2.13.0, 1 thread), "
            "measured 2026-11-28 by `make classroom`" in note)
    assert "Not measured on a GPU yet" in note and "shared with other jobs" not in note
    modes["full"].update(load=8.94, cores=2)
    path.write_text(json.dumps({"chapters": {"01_grokking": {"cpu": modes}}}))
    note = exercises.timing_note("01_grokking", path).data
    assert "1 thread) shared with other jobs (load average up to 8.9), measured 2026-11-28" in note
    assert "not measured yet" in exercises.timing_note("00_start_here", path).data


def _in_fresh_python(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    return out.stdout.strip()


def test_the_engine_imports_no_phenomenon_and_a_check_finds_its_chapter():
    """minilib.exercises is the engine alone; checking a name imports the package the name starts with."""
    out = _in_fresh_python(
        "import sys\nfrom minilib import exercises\n"
        "print(sorted(m for m in sys.modules if m.startswith('minilib.')))\n"
        "print(exercises.verdict('grokking.collapse_gap', lambda p, c=2: 0.0).status)\n"
        "print('minilib.grokking' in sys.modules)")
    loaded, status, imported = out.splitlines()
    assert not set(phenomenon.PHENOMENA) & set(ast.literal_eval(loaded))
    assert (status, imported) == ("failed", "True")


def test_timing_note_gives_the_study_time_first(tmp_path):
    path = tmp_path / "timings.json"
    note = exercises.timing_note("01_grokking", path, study="about 3 hours").data
    assert note.startswith("*Time:* about 3 hours of study") and "not measured" not in note
    cpu = {"machine": "a 2-core CPU", "device": "cpu", "seconds": 41.4, "date": "2026-11-27"}
    path.write_text(json.dumps({"chapters": {"01_grokking": {"cpu": {"fast": cpu}}}}))
    note = exercises.timing_note("01_grokking", path, study="about 3 hours").data
    assert note.startswith("*Time:* about 3 hours of study") and "took 41 s in fast mode" in note
