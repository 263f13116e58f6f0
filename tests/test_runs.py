import zipfile
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minilib.runs import Config, ConfigError, CorruptRunError, Run, param


@dataclass(frozen=True)
class Toy(Config):
    n: int = param(8, low=2, high=100, help="size")
    lr: float = param(0.1, low=1e-4, high=1.0, log=True)
    kind: str = param("a", choices=("a", "b"))
    flag: bool = param(False)


def test_defaults_and_coercion():
    c = Toy(lr=1)
    assert isinstance(c.lr, float) and c.lr == 1.0
    assert Toy(n=np.int64(5)).n == 5 and isinstance(Toy(n=np.int64(5)).n, int)


@pytest.mark.parametrize("kwargs, pattern", [
    ({"n": 1}, r"Toy\.n=1 is out of range: allowed 2 <= n <= 100"),
    ({"n": 101}, r"Toy\.n=101 is out of range"),
    ({"lr": 0.0}, r"Toy\.lr=0\.0 is out of range: allowed 0\.0001 <= lr <= 1\.0"),
    ({"lr": float("nan")}, r"Toy\.lr=nan must be a finite number"),
    ({"kind": "c"}, r"Toy\.kind='c' is not allowed: one of 'a', 'b'"),
    ({"n": 2.5}, r"Toy\.n=2\.5 has the wrong type: expected int"),
    ({"n": "3"}, r"Toy\.n='3' has the wrong type"),
    ({"flag": 1}, r"Toy\.flag=1 has the wrong type: expected bool"),
])
def test_bad_values_name_field_and_range(kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern):
        Toy(**kwargs)


def test_frozen_replace_and_dict_roundtrip():
    c = Toy()
    with pytest.raises(AttributeError):
        c.n = 3
    d = c.replace(n=9)
    assert d.n == 9 and c.n == 8
    assert Toy.from_dict(d.to_dict()) == d
    with pytest.raises(ConfigError, match="no field"):
        c.replace(nope=1)


def test_key_is_stable_and_sensitive():
    assert Toy().key() == Toy().key()
    assert Toy().key() != Toy(n=9).key()


def test_field_specs():
    specs = {s.name: s for s in Toy.field_specs()}
    assert specs["lr"].log and specs["lr"].type is float
    assert specs["kind"].choices == ("a", "b")
    assert specs["n"].low == 2 and specs["n"].help == "size"


@given(st.integers(min_value=2, max_value=100), st.floats(min_value=1e-4, max_value=1.0))
def test_valid_values_always_accepted(n, lr):
    assert Toy(n=n, lr=lr).n == n


def _run():
    hist = {"step": np.array([0, 10, 20]), "loss": np.array([1.0, 0.5, 0.1]), "acc": np.array([0, 0.6, 1.0])}
    return Run(Toy(n=5), hist, {"w": np.arange(6.0).reshape(2, 3)}, "completed", None, {"seconds": 1.5})


def test_run_metrics():
    r = _run()
    assert r.final("loss") == pytest.approx(0.1)
    assert r.first_step("acc", 0.5) == 10
    assert r.first_step("loss", 0.2, above=False) == 20
    assert r.first_step("acc", 2.0) is None
    with pytest.raises(KeyError, match="available: step, loss, acc"):
        r.final("nope")


def test_run_rejects_ragged_history_and_bad_status():
    with pytest.raises(ValueError, match="equal length"):
        Run(Toy(), {"step": np.arange(3), "loss": np.arange(2)})
    with pytest.raises(ValueError, match="status='done'"):
        Run(Toy(), {"step": np.arange(3)}, status="done")


def test_save_load_roundtrip(tmp_path):
    r = _run()
    path = r.save(tmp_path / "sub" / "r.npz")
    back = Run.load(path)
    assert back.config == r.config and back.status == "completed" and back.meta == {"seconds": 1.5}
    for k in r.history:
        np.testing.assert_array_equal(back.history[k], r.history[k])
    np.testing.assert_array_equal(back.artifacts["w"], r.artifacts["w"])
    assert [p.name for p in path.parent.iterdir()] == ["r.npz"]  # no temp files left behind


def test_truncated_file_is_refused(tmp_path):
    path = _run().save(tmp_path / "r.npz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptRunError, match="not a readable run file"):
        Run.load(path)


def test_tampered_array_is_refused(tmp_path):
    path = _run().save(tmp_path / "r.npz")
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["history/loss"] = arrays["history/loss"] * 2
    np.savez(path, **arrays)
    with pytest.raises(CorruptRunError, match="checksum mismatch for history/loss"):
        Run.load(path)


def test_garbage_file_is_refused(tmp_path):
    path = tmp_path / "r.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x.txt", "hello")
    with pytest.raises(CorruptRunError):
        Run.load(path)


def test_failed_save_leaves_nothing(tmp_path):
    r = _run()
    r.artifacts["bad"] = np.array([object()], dtype=object)
    with pytest.raises(ValueError, match="object array"):
        r.save(tmp_path / "r.npz")
    assert list(tmp_path.iterdir()) == []


def test_widget_range_is_metadata_inside_the_validation_range():
    @dataclass(frozen=True)
    class Demo(Config):
        epochs: int = param(300, low=1, high=1_000_000, log=True, widget=(10, 20_000))

    spec = Demo.field_specs()[0]
    assert spec.widget == (10, 20_000) and (spec.low, spec.high) == (1, 1_000_000)
    assert Demo(epochs=500_000).epochs == 500_000  # the widget range does not narrow validation
    with pytest.raises(ValueError, match=r"widget=\(0, 2_?000_?000\).*inside the validation range low=1"):
        param(300, low=1, high=1_000_000, widget=(0, 2_000_000))
    with pytest.raises(ValueError, match=r"widget=\(5, 5\).*low < high"):
        param(5, low=1, high=10, widget=(5, 5))
    with pytest.raises(ValueError, match=r"log=True\) needs a positive low end"):
        param(0.5, low=0.0, high=1.0, log=True, widget=(0.0, 1.0))
