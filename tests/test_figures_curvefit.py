import numpy as np
import pytest

from minilib import curvefit
from minilib.curvefit import figures


def test_fitted_function_draws_the_target_the_fit_and_the_points():
    run = curvefit.run(curvefit.Config(width=8, steps=100, seed=0), progress=False)
    fig = figures.fitted_function(run)
    names = [t.name for t in fig.data]
    assert names == ["true function f(x)", "network", "noisy training points"]
    np.testing.assert_allclose(fig.data[1].y, run.artifacts["y_fit"])
    np.testing.assert_allclose(fig.data[2].x, run.artifacts["x_train"])
    assert fig.data[2].mode == "markers" and fig.layout.xaxis.title.text == "x (input)"


def test_fitted_function_names_what_is_missing():
    class NotCurvefit:
        artifacts = {"x_grid": [0.0]}

    with pytest.raises(ValueError, match="y_fit"):
        figures.fitted_function(NotCurvefit())
