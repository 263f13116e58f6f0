"""minilib.exercises: every check passes the library's reference and catches its recorded wrong answers."""

import ast
import json
import math
import subprocess
import sys

import numpy as np
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
    verdict = exercises.verdict(name, exercises.EXERCISES[name].reference, refuse_library=False)
    assert verdict.status == "passed", verdict.message
    assert verdict.message.startswith(f"✓ {name}: passed all")


@pytest.mark.parametrize("name", NAMES)
def test_every_check_records_wrong_answers(name):
    assert len(exercises.EXERCISES[name].mistakes) >= 2


@pytest.mark.parametrize(("name", "mistake"), MISTAKES, ids=[f"{n}-{m.what}" for n, m in MISTAKES])
def test_recorded_wrong_answer_fails_with_its_hint(name, mistake):
    verdict = exercises.verdict(name, mistake.fn, refuse_library=False)  # some are written with the library
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
    verdict = exercises.verdict("grokking.stablemax_s", lambda x: losses.stablemax_s(x.float()),
                                refuse_library=False)
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
    verdict = exercises.verdict("grokking.stablemax_s", lambda x: losses.stablemax_s(x).detach(),
                                refuse_library=False)
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
    gap = lambda p, c=2: math.log(2 * (c - 1) / torch.finfo(getattr(torch, p)).eps)
    assert exercises.verdict("grokking.collapse_gap", lambda p, c=2: torch.tensor(gap(p, c)))
    assert exercises.verdict("grokking.collapse_gap", lambda p, c=2: np.array([gap(p, c)]))
    verdict = exercises.verdict("grokking.collapse_gap", lambda p, c=2: str(gap(p, c)))
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


# --- checks a teacher can trust ----------------------------------------------------------------------


def test_a_hint_names_a_mistake_only_when_it_agrees_on_every_case():
    """A missing g = 0 guard fails on the g = 0 case with NaN, as a missing w = 0 guard does there; but the
    function guards w = 0, so the w = 0 hint would be wrong."""
    def my_perp_grad(w, g):
        ww = (w * w).sum()
        if ww == 0:
            return g.clone()
        p = g - (w * g).sum() / ww * w
        return p * (g.norm() / p.norm())

    verdict = exercises.verdict("grokking.perp_grad", my_perp_grad)
    assert "failed on g = 0 (shape [5])" in verdict.message
    assert "guard the division by ‖g⊥‖" in verdict.message
    assert "with w = 0 there is no direction" not in verdict.message


def test_a_number_is_accepted_where_the_reference_returns_a_0d_tensor():
    def my_spectral_loss(W, a, rho):
        M, S = torch.diag(a**2 * (1 - rho)), torch.diag(a**2)
        return float(-2 * torch.trace(W @ M @ W.T) + ((W @ S @ W.T) ** 2).sum())

    verdict = exercises.verdict("projection.spectral_loss", my_spectral_loss)
    assert verdict, verdict.message
    assert not exercises.verdict("projection.spectral_loss", lambda W, a, rho: 2.0)


def test_the_gap_computed_in_float16_is_accepted_and_its_overflow_explained():
    """np.finfo(precision).eps is a NumPy float16 for float16: ln(2 / ε) in float16 is 7.625, not 7.62462."""
    def my_gap(precision, num_classes=2):
        eps = np.finfo(precision).eps
        return np.log(2 * (num_classes - 1)) - np.log(eps)  # float16 arithmetic for float16

    assert exercises.verdict("grokking.collapse_gap", my_gap)
    with np.errstate(over="ignore"):
        verdict = exercises.verdict("grokking.collapse_gap",
                                    lambda p, c=2: float(np.log(2 * (c - 1) / np.finfo(p).eps)))
    assert "failed on precision = 'float16', num_classes = 113" in verdict.message
    assert "overflows" in verdict.message and "float(np.finfo(precision).eps)" in verdict.message


def test_an_endless_loop_gets_a_time_verdict():
    def my_s(x):
        while True:
            x = x + 0

    verdict = exercises.verdict("grokking.stablemax_s", my_s, time_limit=0.3)
    assert verdict.status == "failed"
    assert verdict.message.startswith("✗ grokking.stablemax_s: took longer than 0.3 s on x = [-3, -1, -0.5")
    assert exercises.EXERCISES["grokking.stablemax_s"].time_limit == exercises.TIME_LIMIT


def test_the_time_limit_holds_in_a_thread_without_sigalrm():
    import threading

    box = {}
    worker = threading.Thread(target=lambda: box.update(v=exercises.verdict(
        "curvefit.noise_floor", lambda noise: [0 for _ in iter(int, 1)], time_limit=0.3)))
    worker.start()
    worker.join(20)
    assert not worker.is_alive() and "took longer than 0.3 s on noise = 0.3" in box["v"].message


def test_system_exit_and_other_base_exceptions_are_verdicts_but_not_keyboard_interrupt():
    verdict = exercises.verdict("curvefit.noise_floor", lambda noise: sys.exit(3))
    assert verdict.status == "failed" and "Your function raised SystemExit: 3" in verdict.message
    assert "return the result instead" in verdict.message

    class Odd(BaseException):
        pass

    def raise_odd(noise):
        raise Odd("odd")

    assert "Your function raised Odd: odd" in exercises.verdict("curvefit.noise_floor", raise_odd).message

    def interrupted(noise):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        exercises.verdict("curvefit.noise_floor", interrupted)


def test_calling_the_librarys_reference_is_refused():
    verdict = exercises.verdict("grokking.stablemax_s", lambda x: losses.stablemax_s(x))
    assert verdict.status == "failed"
    assert "refused: your function calls the library's own `minilib.grokking.losses.stablemax_s`" in verdict.message

    from minilib.grokking import optim

    def helper(w, g):
        return optim.perp_grad(w[None], g[None])[0]

    verdict = exercises.verdict("grokking.perp_grad", lambda w, g: helper(w, g))  # through a helper
    assert "calls the library's own `minilib.grokking.optim.perp_grad`" in verdict.message
    verdict = exercises.verdict("benign.kernel_kappa", exercises.EXERCISES["benign.kernel_kappa"].reference)
    assert "refused" in verdict.message


def test_power_iteration_counts_its_products():
    """Materialising H and calling eigvalsh is not power iteration, nor is passing a matrix through matvec."""
    def by_columns(matvec, v0, iters):
        H = torch.stack([matvec(e) for e in torch.eye(len(v0), dtype=v0.dtype)], 1)
        eigs = torch.linalg.eigvalsh(H)
        return float(eigs[eigs.abs().argmax()])

    verdict = exercises.verdict("opposing.top_eigenvalue", by_columns)
    assert "your function called `matvec` 2 times" in verdict.message and "60 times" in verdict.message
    assert "eigvalsh on a materialised H is not power iteration" in verdict.message

    def whole_matrix(matvec, v0, iters):
        eigs = torch.linalg.eigvalsh(matvec(torch.eye(len(v0), dtype=v0.dtype)))
        return float(eigs[eigs.abs().argmax()])

    verdict = exercises.verdict("opposing.top_eigenvalue", whole_matrix)
    assert "on arguments of shape [2, 2] where the reference passes [2]" in verdict.message

    # and a case whose answer after `iters` rounds is not yet the exact eigenvalue (8): computing it exactly fails
    ex = exercises.EXERCISES["opposing.top_eigenvalue"]
    matvec, v0, iters = ex.cases()[-1].args
    assert iters == 3 and abs(ex.reference(matvec, v0, iters) - 8.0) > 1e-3 * 8.0


def test_every_tolerance_is_stated_in_the_task():
    def my_kappa(eigvals, n, ridge_):
        raise NotImplementedError("return κ")

    message = exercises.verdict("benign.kernel_kappa", my_kappa).message
    assert "a number (a float, NumPy number or one-element tensor) within 1e-09 + 1e-06·|expected|" in message
    for name in NAMES:
        text = exercises.tolerance_text(exercises.EXERCISES[name])
        assert "within" in text and f"each case within {exercises.TIME_LIMIT:g} s" in text, (name, text)
    assert "float32 1e-06 + 0.0001·|expected|" in exercises.tolerance_text(exercises.EXERCISES["grokking.stablemax_s"])
    assert "within 0 + 0.001·|expected|" in exercises.tolerance_text(exercises.EXERCISES["grokking.collapse_gap"])


def test_the_slowest_reference_case_is_far_inside_the_time_limit():
    """TIME_LIMIT is justified by this measurement (the reference's slowest case, on the test machine)."""
    import time

    slowest = 0.0
    for name in NAMES:
        ex = exercises.EXERCISES[name]
        for case in ex.cases():
            started = time.perf_counter()
            exercises._run(ex.reference, case, tuple(exercises.inspect.signature(ex.reference).parameters))
            slowest = max(slowest, time.perf_counter() - started)
    assert slowest < exercises.TIME_LIMIT / 10, slowest
