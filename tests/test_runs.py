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


# --- tuple-of-float fields (one number per element, e.g. per feature) ---------------------------------


@dataclass(frozen=True)
class PerFeature(Config):
    scales: tuple = param((3.0, 2.0, 1.0), low=1e-3, high=100.0, help="one scale per feature")
    drops: tuple[float, ...] = param([0.0, 0.5, 0.9], low=0.0, high=1.0)
    free: tuple = param((0.5,))
    n: int = param(8, low=2, high=100)


@pytest.mark.parametrize("given", [[1, 2.5], (1, 2.5), np.array([1.0, 2.5]), [np.int64(1), np.float32(2.5)],
                                   "1, 2.5", "(1.0, 2.5)", " [1; 2.5] "])
def test_a_tuple_field_stores_a_tuple_of_floats_whatever_sequence_is_given(given):
    c = PerFeature(scales=given)
    assert c.scales == (1.0, 2.5) and type(c.scales) is tuple and all(type(v) is float for v in c.scales)
    assert PerFeature().drops == (0.0, 0.5, 0.9) and type(PerFeature().drops) is tuple  # a list default too


def test_a_tuple_field_is_declared_with_its_element_range():
    specs = {s.name: s for s in PerFeature.field_specs()}
    assert specs["scales"].type is tuple and specs["drops"].type is tuple  # `tuple` and `tuple[float, ...]`
    assert (specs["drops"].low, specs["drops"].high) == (0.0, 1.0)
    assert specs["drops"].describe_allowed() == "a non-empty tuple of numbers, 0.0 <= drops[k] <= 1.0"
    assert specs["free"].describe_allowed() == "a non-empty tuple of numbers"


@pytest.mark.parametrize("kwargs, pattern", [
    ({"drops": (0.0, 1.2, 0.3)}, r"PerFeature\.drops\[1\]=1\.2 is out of range: allowed 0\.0 <= drops\[k\] <= 1\.0$"),
    ({"scales": [3.0, 2.0, -1.0]}, r"PerFeature\.scales\[2\]=-1\.0 is out of range: allowed 0\.001 <= scales\[k\]"),
    ({"scales": (1.0, float("nan"))}, r"PerFeature\.scales\[1\]=nan must be a finite number"),
    ({"free": (float("inf"),)}, r"PerFeature\.free\[0\]=inf must be a finite number"),
    ({"drops": (0.0, "x")},
     r"PerFeature\.drops\[1\]='x' has the wrong type: expected a number, 0\.0 <= drops\[k\] <= 1\.0$"),
    ({"drops": (0.0, True)}, r"PerFeature\.drops\[1\]=True has the wrong type: expected a number"),
    ({"drops": ()}, r"PerFeature\.drops=\(\) has the wrong type: expected a non-empty tuple of numbers, "
                    r"0\.0 <= drops\[k\] <= 1\.0$"),
    ({"free": ("x",)}, r"PerFeature\.free\[0\]='x' has the wrong type: expected a number$"),
    ({"drops": 0.5}, r"PerFeature\.drops=0\.5 has the wrong type: expected a non-empty tuple"),
    ({"drops": "0, half"}, r"PerFeature\.drops='0, half' must be numbers separated by commas"),
    ({"drops": "0, 1.5"}, r"PerFeature\.drops\[1\]=1\.5 is out of range"),  # the text field is checked alike
    ({"drops": np.zeros((2, 2))}, r"(?s)PerFeature\.drops=array\(.*has the wrong type"),
])
def test_a_bad_tuple_field_is_refused_naming_the_element_and_the_range(kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern):
        PerFeature(**kwargs)


def test_a_tuple_field_is_part_of_the_key_and_survives_json_and_a_saved_run(tmp_path):
    import json

    a = PerFeature(drops=[0.0, 0.5, 0.9])
    assert a.key() == PerFeature().key() == PerFeature(drops="0, 0.5, 0.9").key()
    assert a.key() != PerFeature(drops=(0.0, 0.5, 0.8)).key() != PerFeature(drops=(0.0, 0.5)).key()
    back = PerFeature.from_dict(json.loads(json.dumps(a.to_dict())))  # JSON turns tuples into lists
    assert back == a and type(back.drops) is tuple
    run = Run(a, {"step": np.arange(2)})
    loaded = Run.load(run.save(tmp_path / "r.npz"))
    assert loaded.config == a and type(loaded.config.scales) is tuple
    assert a.replace(scales=[1, 2]).scales == (1.0, 2.0)


@given(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=20))
def test_any_list_of_values_in_range_is_accepted_and_stored_as_that_tuple(values):
    c = PerFeature(drops=values)
    assert c.drops == tuple(values) and PerFeature(drops=tuple(values)).key() == c.key()


def test_the_explorer_shows_a_tuple_field_as_a_text_field_that_reads_back():
    from minilib import widgets

    spec = {s.name: s for s in PerFeature.field_specs()}["drops"]
    control = widgets.control_for(spec, PerFeature().drops)
    assert control.value == "(0.0, 0.5, 0.9)"
    control.value = "0.1, 0.2, 0.3, 0.4"
    assert PerFeature().replace(drops=control.value).drops == (0.1, 0.2, 0.3, 0.4)
