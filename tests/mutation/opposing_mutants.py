"""Plausible bugs in chapter 3 (minilib.opposing), each of which tests/test_science_opposing.py must catch."""

from __future__ import annotations

import torch

from minilib.opposing import data

from .registry import Mutant


def _unnormalised_start(power_iteration):
    def skipped(loss_fn, params, *, iters=20, start=None, generator=None, tol=0.0):
        if start is None:
            start = [torch.randn(p.shape, generator=generator, dtype=p.dtype) for p in params]
        from minilib.opposing import sharpness as s
        v, eig = list(start), None
        for _ in range(iters):  # the Rayleigh quotient of an unnormalised vector: v·Hv, not v·Hv / v·v
            hv = s.hvp(loss_fn, params, v)
            eig = s._dot(v, hv)
            v = s._scale(hv, 1 / s._dot(hv, hv).sqrt())
            v = s._scale(v, torch.full_like(eig, 1.5))
        return eig.detach(), v
    return skipped


def _sharpness_of_the_summed_loss(sharp):
    def summed(self):
        return sharp(self) * self.sharp_x.shape[1]
    return summed


def _toy_same_labels(toy):
    def same(*args, **kwargs):
        x, y, group = toy(*args, **kwargs)
        y = y.clone()
        y[group == data.GROUP_B] = 1.0  # both outlier groups labelled +1: no opposing signal
        return x, y, group
    return same


def _toy_feature_on_everyone(toy):
    def everyone(n, dim, group_a, group_b, alpha, core, noise, generator, dtype=torch.float64):
        x, y, group = toy(n, dim, group_a, group_b, alpha, core, noise, generator, dtype)
        x = x.clone()
        x[group == data.REST, 1] += alpha
        return x, y, group
    return everyone


def _patch_everywhere(digits):
    def everywhere(n_train, group_a, group_b, alpha, generator, dtype=torch.float64):
        (x, y, g), (xt, yt, gt) = digits(n_train, group_a, group_b, alpha, generator, dtype)
        xt = xt.clone()
        xt[:, list(data.PATCH_PIXELS)] += alpha  # the test images get the patch too
        return (x, y, g), (xt, yt, gt)
    return everywhere


def _patch_any_class(digits):
    def any_class(n_train, group_a, group_b, alpha, generator, dtype=torch.float64):
        (x, y, g), test = digits(n_train, group_a, group_b, alpha, generator, dtype)
        x, g = x.clone(), g.clone()
        nines = torch.nonzero(y == 9).ravel()[:10]  # a few 9s patched and counted in group A
        x[nines[:, None], torch.tensor(data.PATCH_PIXELS)] += alpha
        g[nines] = data.GROUP_A
        return (x, y, g), test
    return any_class


def _batches_with_replacement(batch):
    def replacement(self):
        B = self.c0.batch_size
        if B == 0:
            return self.x, self.y
        idx = torch.stack([torch.randint(0, self.c0.n, (B,), generator=g) for g in self.batch_gens])
        x = self.x.gather(1, idx[..., None].expand(-1, -1, self.x.shape[-1]))
        return x, self.y.gather(1, idx)
    return replacement


def _clip_each_tensor(clip_gradients):
    def each(grads, clip):
        return [clip_gradients([g], clip)[0] for g in grads]
    return each


def _group_mean_over_all(group_mean):
    def over_all(ell, mask):
        return torch.where(mask, ell, torch.zeros_like(ell)).sum(1) / ell.shape[1]
    return over_all


def _loss_without_half(squared_loss):
    return lambda f, y: (f - y) ** 2


def _spike_against_the_first_loss(running_min_ratio):
    import numpy as np

    return lambda loss: np.asarray(loss, float) / np.asarray(loss, float)[0]


def _signed_detector(top_changes):
    import numpy as np

    def signed(before, after, k):
        change = np.asarray(after, float) - np.asarray(before, float)  # rises only: falls are missed
        return np.argsort(-change, kind="stable")[:k]
    return signed


def _adam_without_bias_correction(step):
    def uncorrected(self, grads):
        if self.kind != "adam":
            return step(self, grads)
        with torch.no_grad():
            for w, g, st in zip(self.params, grads, self.state):
                if not st:
                    st["m"], st["v"] = torch.zeros_like(w), torch.zeros_like(w)
                st["m"].mul_(0.9).add_(g * 0.1)
                st["v"].mul_(0.999).add_(g * g * 0.001)
                lr = self.lr.to(w.dtype).reshape(-1, *([1] * (w.dim() - 1)))
                w.sub_(lr * st["m"] / (st["v"].sqrt() + 1e-8))
        return None
    return uncorrected


OPP = "minilib.opposing"
SHARP_CHECK = "test_power_iteration_finds_the_top_eigenvalue_of_a_quadratic_and_of_the_explicit_hessian"
RUN_CHECK = "test_a_run_logs_the_loss_and_sharpness_of_its_own_weights"
TOY_DATA_CHECK = "test_toy_data_has_the_opposing_groups_of_the_spec"
DIGITS_CHECK = "test_digits_patch_sits_on_the_corner_of_a_share_of_the_threes_and_eights_only"
MEASURE_CHECK = "test_spike_is_measured_against_the_running_minimum_and_the_detector_by_absolute_change"

MUTANTS = [
    Mutant("P1 power iteration unnormalised", "the eigenvalue is v·Hv of a vector that is not of unit length",
           f"{OPP}.sharpness:power_iteration", _unnormalised_start, (SHARP_CHECK,)),
    Mutant("P2 sharpness of the summed loss", "sharpness is measured on the loss summed over examples, not "
           "their mean (n times too large)", f"{OPP}.experiment:_Experiment._sharpness", _sharpness_of_the_summed_loss,
           (RUN_CHECK,)),
    Mutant("P3 both groups labelled +1", "group B gets label +1 like group A: the outlier feature no longer opposes",
           f"{OPP}.data:toy", _toy_same_labels, (TOY_DATA_CHECK,)),
    Mutant("P4 outlier feature on every point", "x[1] += alpha on every point, not only on groups A and B",
           f"{OPP}.data:toy", _toy_feature_on_everyone, (TOY_DATA_CHECK,)),
    Mutant("P5 test images patched", "the digits test images get the corner patch too",
           f"{OPP}.data:digits", _patch_everywhere, (DIGITS_CHECK,)),
    Mutant("P6 patch on another class", "some 9s are patched and counted as group A",
           f"{OPP}.data:digits", _patch_any_class, (DIGITS_CHECK,)),
    Mutant("P7 minibatches with replacement", "each minibatch is drawn with replacement instead of from a "
           "shuffled epoch", f"{OPP}.experiment:_Experiment._batch", _batches_with_replacement,
           ("test_minibatches_visit_every_example_once_per_epoch",)),
    Mutant("P8 clipping per tensor", "gradient clipping caps each weight tensor's norm on its own",
           f"{OPP}.experiment:clip_gradients", _clip_each_tensor,
           ("test_clipping_caps_the_whole_gradient_norm_and_keeps_its_direction",)),
    Mutant("P9 group loss over all examples", "a group's loss is its summed loss divided by all n examples",
           f"{OPP}.experiment:group_mean", _group_mean_over_all, (RUN_CHECK,)),
    Mutant("P10 squared loss without ½", "the toy's loss is (f − y)², twice the spec's ½(f − y)²",
           f"{OPP}.models:squared_loss", _loss_without_half, (RUN_CHECK,)),
    Mutant("P11 spike against the first loss", "spikes are measured against the loss at step 0, not the running "
           "minimum", f"{OPP}.analysis:running_min_ratio", _spike_against_the_first_loss, (MEASURE_CHECK,)),
    Mutant("P12 detector ranks rises only", "the |Δℓ| detector ranks the signed change, so falling losses are missed",
           f"{OPP}.analysis:top_changes", _signed_detector, (MEASURE_CHECK,)),
    Mutant("P13 Adam without bias correction", "Adam skips the bias corrections of m and v",
           "minilib.replicas:StackedOptimizer.step", _adam_without_bias_correction,
           ("test_gradient_descent_and_adam_steps_follow_the_closed_form_gradient_and_torch_optim",)),
]


def _gauss_newton_only(loss_grad_hessian):
    import numpy as np

    from minilib.opposing import mechanism

    def without_residual_term(theta, alpha, core=0.2, group_a=0.06, group_b=0.04):
        loss, grad, _, r = loss_grad_hessian(theta, alpha, core, group_a, group_b)
        p, y, a = mechanism.groups(alpha, core, group_a, group_b)
        v, wc, ws = (float(t) for t in theta)
        dfd = np.stack([wc * core * y + ws * a, v * core * y, v * a])
        return loss, grad, (p * dfd[:, None] * dfd[None]).sum(-1), r  # E[r ∇²f] dropped
    return without_residual_term


MUTANTS.append(Mutant(
    "P14 Hessian without the residual term", "the closed-form Hessian keeps only the Gauss-Newton part E[∇f ∇fᵀ]",
    f"{OPP}.mechanism:loss_grad_hessian", _gauss_newton_only,
    ("test_closed_form_gradient_and_hessian_match_autograd_and_predict_the_critical_alpha",)))


def _norm_after_clipping(step):
    def clipped_norm(self, i):
        from minilib.opposing import experiment

        loss, grads = self.gradients(*self._batch())
        grads = experiment.clip_gradients(grads, self.clip)
        self.grad_norm = experiment.gradient_norm(grads).detach()  # measured after clipping: never above the clip
        self.opt.step(grads)
        self.done = i + 1
        return loss
    return clipped_norm


MUTANTS.append(Mutant(
    "P15 gradient norm logged after clipping", "the logged gradient norm is the clipped one, so it can never show "
    "how often the clip acts", f"{OPP}.experiment:_Experiment.step", _norm_after_clipping,
    ("test_the_logged_gradient_norm_is_the_unclipped_closed_form_one",)))


def _curvature_linear_in_v(outlier_curvature):
    import numpy as np

    def linear(v, alpha, group_a=0.06, group_b=0.04):
        return (group_a + group_b) * alpha**2 * np.abs(np.asarray(v, dtype=float))  # v, not v²
    return linear


MUTANTS.append(Mutant(
    "P16 outlier curvature linear in v", "the curvature along the outlier weight grows with v instead of v²",
    f"{OPP}.mechanism:outlier_curvature", _curvature_linear_in_v,
    ("test_closed_form_gradient_and_hessian_match_autograd_and_predict_the_critical_alpha",)))


def _subspace_without_reorthonormalising(top_eigenvalues):
    def collapsed(loss_fn, params, k=1, *, iters=50, generator=None):
        from minilib.opposing import sharpness as s

        sizes = [int(torch.Size(p.shape[1:]).numel()) for p in params]
        R = params[0].shape[0]

        def times_h(Q):
            cols = []
            for j in range(k):
                vecs = [part.reshape(p.shape) for part, p in zip(torch.split(Q[..., j], sizes, dim=1), params)]
                cols.append(torch.cat([h.reshape(R, -1) for h in s.hvp(loss_fn, params, vecs)], 1))
            return torch.stack(cols, -1)

        Q = torch.randn(R, sum(sizes), k, generator=generator, dtype=params[0].dtype)
        for _ in range(iters):  # each column normalised on its own, never orthogonalised against the others
            Q = times_h(Q)
            Q = Q / Q.norm(dim=1, keepdim=True)
        rayleigh = (Q * times_h(Q)).sum(1)  # [R, k]: every column has collapsed onto the top eigenvector
        return rayleigh.gather(1, rayleigh.abs().argsort(1, descending=True)).detach()
    return collapsed


MUTANTS.append(Mutant(
    "P17 subspace iteration without QR", "the k vectors are only normalised each round, not orthogonalised, so "
    "they all collapse onto the top eigenvector", f"{OPP}.sharpness:top_eigenvalues",
    _subspace_without_reorthonormalising,
    ("test_subspace_iteration_finds_the_top_eigenvalues_of_a_quadratic_and_of_the_explicit_hessian",)))


def _one_group_control_with_both_groups(digits_one_group):
    def both():
        from minilib.opposing import shipped

        return [shipped.digits_config(seed=c.seed) for c in digits_one_group()]  # group_b back at 0.3
    return both


MUTANTS.append(Mutant(
    "P18 one-group control trained with both groups", "the digits control meant to patch only the 3s patches the "
    "8s too, so it is the patched run again", f"{OPP}.shipped:digits_one_group", _one_group_control_with_both_groups,
    ("test_on_digits_the_spike_needs_both_patched_groups",)))


def _feature_on_group_b_only(toy):
    def b_only(n, dim, group_a, group_b, alpha, core, noise, generator, dtype=torch.float64):
        x, y, group = toy(n, dim, group_a, group_b, alpha, core, noise, generator, dtype)
        x = x.clone()
        x[group == data.GROUP_A, 1] -= alpha  # only group B keeps the large feature
        return x, y, group
    return b_only


MUTANTS.append(Mutant(
    "P19 outlier feature on group B only", "group A loses the large feature, so a toy with group B empty has no "
    "outliers at all", f"{OPP}.data:toy", _feature_on_group_b_only,
    ("test_the_squared_loss_toy_spikes_with_one_outlier_group_above_its_alpha_star",)))


def _predictions_one_step_late(predictions_at):
    def late(config, steps):
        labels, out = predictions_at(config, [min(int(s) + 1, config.steps) for s in steps])
        return labels, {s: v for s, v in zip(sorted(int(s) for s in steps), out.values())}
    return late


MUTANTS.append(Mutant(
    "P20 replay one step late", "opposing.predictions_at reports the network one step after the one asked for",
    f"{OPP}.experiment:predictions_at", _predictions_one_step_late, ("test_predictions_at_retraces_the_logged_run",)))


def _zoom_of_group_a_alone(turn_taking):
    def a_alone(run, onset, before=25):
        fig = turn_taking(run, onset, before)
        h = run.history
        window = (h["step"] > onset - before) & (h["step"] <= onset)
        fig.data[0].y = h["loss_a"][window]  # ℓ_A itself: two such traces look identical on one axis
        return fig
    return a_alone


MUTANTS.append(Mutant(
    "P21 turn-taking zoom shows ℓ_A", "the zoom before the spike plots group A's loss, not ℓ_A − ℓ_B",
    f"{OPP}.figures:turn_taking", _zoom_of_group_a_alone,
    ("test_the_turn_taking_figure_plots_the_difference_of_the_group_losses_in_its_window",)))


def _log_on_every_axis(closed_form_loss_and_v):
    def every(mech):
        fig = closed_form_loss_and_v(mech)
        fig.update_yaxes(title_text="loss ½E[(f − y)²]", type="log")  # update_yaxes reaches the v² axis too
        return fig
    return every


MUTANTS.append(Mutant(
    "P22 log scale on the v² axis", "the mechanism figure's loss title and log scale land on the v² axis too",
    f"{OPP}.figures:closed_form_loss_and_v", _log_on_every_axis,
    ("test_the_closed_form_figure_puts_the_loss_on_the_log_axis_and_v_squared_on_a_linear_one",)))


def _groups_in_one_column(detector):
    def one_column(run, title, k=20):
        fig = detector(run, title, k)
        for tr in fig.data:
            tr.name = "examples"  # every group in the same column: the last drawn hides the others
        return fig
    return one_column


MUTANTS.append(Mutant(
    "P23 detector groups drawn over each other", "the detector figure draws every group in one column",
    f"{OPP}.figures:detector", _groups_in_one_column,
    ("test_the_detector_figure_gives_each_group_its_own_column_and_marks_the_top_20",)))
