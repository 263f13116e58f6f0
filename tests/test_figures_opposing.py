import numpy as np

from minilib.opposing import figures, mechanism


def test_closed_form_sharpness_draws_each_run_its_prediction_and_the_threshold():
    mech = {alpha: mechanism.gradient_descent(alpha, 0.08, 50) for alpha in (6.0, 8.0)}
    fig = figures.closed_form_sharpness(mech, 0.08)
    assert len(fig.data) == 4
    np.testing.assert_allclose(fig.data[2].y, mech[8.0]["sharpness"])
    assert set(fig.data[3].y) == {mechanism.predicted_sharpness(8.0)} and fig.data[3].line.dash == "dot"
    assert fig.layout.shapes[0].y0 == 25.0  # 2/η


def test_landscape_puts_v_on_the_y_axis_and_marks_v_star():
    w_s, v = np.linspace(-0.5, 0.5, 5), np.linspace(1.0, 2.0, 4)
    loss = mechanism.landscape(v, w_s, 1.0, 8.0)  # [len(w_s), len(v)]
    iterates = {"w_s": np.array([0.1, -0.1]), "v": np.array([1.5, 1.6]), "step": np.array([3, 4])}
    fig = figures.landscape(w_s, v, loss, iterates, 1.9)
    contour = fig.data[0]
    assert np.asarray(contour.z).shape == (len(v), len(w_s))
    np.testing.assert_allclose(np.asarray(contour.z)[2, 3], np.log10(loss[3, 2]))
    assert list(fig.data[1].y) == [1.5, 1.6] and fig.layout.shapes[0].y0 == 1.9
