"""The wheel a student installs, with no checkout around it (`make wheel`, a stage of `make test`).

The wheel is built from a copy of this tree (pyproject.toml, README.md, minilib/, results/), so nothing left
over in a build folder of the checkout gets in; it must hold every module of minilib/ and every shipped file
of results/ (as minilib/results), nothing else, within 15 MB, and must not require the site's tools.
It is then installed alone (`pip install --no-deps --target`) into a fresh folder; everything else comes from
this environment but the site's tools (myst_nb, jupyter_book, playwright, sphinx: hidden from the kernel).
From an empty folder with a fresh HOME (the user cache, ~/.cache/minilib, starts empty),
that copy passes `precompute --check` on its packaged results, refuses to write them, and chapters 0, 1 and 5
execute top to bottom in fast mode as a student runs them (converted to notebooks, executed by nbclient,
errors collected rather than stopping at the first), with no error cell and every minilib module imported
from the installed copy.

`make test` runs it through mk/wheel.mk, which sets MINILIB_WHEEL_TEST=1; elsewhere (`make unit`) it is
skipped. Chapter 5, the longest, runs on a worker of its own; measured times: docs/testing.md.
"""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_BYTES = 15 * 1024 * 1024
CHAPTERS = ["05_pfn", "01_grokking", "00_start_here"]  # the longest first
SITE_ONLY = ("myst-nb", "myst_nb", "jupyter-book", "jupyter_book", "playwright")
SITE_ONLY_MODULES = ("myst_nb", "jupyter_book", "playwright", "sphinx")

pytestmark = [
    pytest.mark.wheel,
    pytest.mark.skipif(os.environ.get("MINILIB_WHEEL_TEST") != "1",
                       reason="the wheel stage runs it (make wheel, part of make test)"),
]

# The last cell appended to each chapter: where minilib and its results came from in the kernel.
PROBE = """
import json, sys
import minilib.cache
print("MINILIB_PROBE " + json.dumps({
    "modules": {n: getattr(m, "__file__", None) for n, m in sys.modules.items() if n.split(".")[0] == "minilib"},
    "results": str(minilib.cache.RESULTS_DIR), "packaged": minilib.cache.PACKAGED}))
"""

# Runs in a fresh process (fresh HOME, empty folder): executes one notebook, keeps going past errors, saves it.
DRIVER = """
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, kernel_name="python3", timeout=900, allow_errors=True,
               resources={"metadata": {"path": sys.argv[2]}}).execute()
nbformat.write(nb, sys.argv[1])
"""


def _ignore(_folder, names):
    return [n for n in names if n in ("__pycache__", "build") or n.endswith(".egg-info")]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for name in ("minilib", "results"):
        shutil.copytree(ROOT / name, src / name, ignore=_ignore)
    out = tmp_path_factory.mktemp("dist")
    run = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                          "--no-index", "-w", str(out), str(src)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def site(wheel, tmp_path_factory) -> Path:
    """The wheel installed alone into a fresh folder (its dependencies are this environment's)."""
    target = tmp_path_factory.mktemp("site")
    run = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target",
                          str(target), str(wheel)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return target


def student_env(site: Path, home: Path) -> dict:
    """This environment's variables without anything pointing at the checkout, a fresh HOME, fast mode."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MINILIB_", "JUPYTER", "IPYTHON", "PYTHON", "XDG_"))}
    jupyter = home / "kernel-of-this-environment"
    spec = jupyter / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3", "language": "python"}))
    # The site's tools (the `book` extra) are installed here, not on a student's machine: hidden from the kernel.
    hidden = home / "site-tools-hidden"
    for name in SITE_ONLY_MODULES:
        (hidden / name).mkdir(parents=True, exist_ok=True)
        (hidden / name / "__init__.py").write_text(f"raise ImportError('{name} is a site-only tool (book extra)')\n")
    return {**env, "HOME": str(home), "PYTHONPATH": os.pathsep.join([str(site), str(hidden)]),
            "JUPYTER_PATH": str(jupyter), "MINILIB_FAST": "1", "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


@pytest.mark.xdist_group("rest")
def test_wheel_holds_the_library_and_the_shipped_results(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    library = {p.relative_to(ROOT).as_posix() for p in (ROOT / "minilib").rglob("*")
               if p.suffix in (".py", ".js") and "__pycache__" not in p.parts}
    results = {"minilib/" + p.relative_to(ROOT).as_posix() for p in (ROOT / "results").rglob("*") if p.is_file()}
    assert any(n.endswith(".pt") for n in results) and any(n.endswith(".npz") for n in results), results
    meta = {n for n in names if n.split("/")[0].endswith(".dist-info")}
    assert not library - names, f"modules missing from the wheel (list their package in pyproject.toml): " \
                                f"{sorted(library - names)}"
    assert not results - names, f"shipped results missing from the wheel: {sorted(results - names)}"
    assert names - meta == library | results, f"unexpected files: {sorted(names - meta - library - results)}"
    size = wheel.stat().st_size
    assert size <= MAX_BYTES, f"the wheel is {size / 2**20:.1f} MB, over the {MAX_BYTES / 2**20:.0f} MB budget"
    metadata = zipfile.ZipFile(wheel).read(next(n for n in meta if n.endswith("/METADATA"))).decode()
    assert "Name: minilib-book" in metadata
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    runtime = [r for r in requires if "extra ==" not in r]
    assert not [r for r in runtime if any(tool in r for tool in SITE_ONLY)], runtime
    assert any("jupyter-book" in r and 'extra == "book"' in r for r in requires), requires
    print(f"wheel {wheel.name}: {size / 2**20:.2f} MB, {len(names)} files")


@pytest.mark.xdist_group("rest")
def test_installed_copy_checks_its_results_and_never_writes_them(site, tmp_path):
    home, empty = tmp_path / "home", tmp_path / "empty"
    home.mkdir()
    empty.mkdir()
    env = student_env(site, home)
    check = subprocess.run([sys.executable, "-m", "minilib", "precompute", "--check"], cwd=empty, env=env,
                           capture_output=True, text=True, timeout=600)
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-3000:]
    assert "all" in check.stdout and "exist, load and match" in check.stdout, check.stdout
    probe = subprocess.run([sys.executable, "-c", PROBE + """
try:
    with minilib.cache.shipping():
        print("WROTE")
except minilib.cache.ShippedWriteError as err:
    print("REFUSED", err)
"""], cwd=empty, env=env, capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr[-3000:]
    info = json.loads(probe.stdout.split("MINILIB_PROBE ", 1)[1].splitlines()[0])
    assert info["packaged"] and Path(info["results"]) == (site / "minilib" / "results").resolve(), info
    assert "REFUSED" in probe.stdout and "WROTE" not in probe.stdout, probe.stdout
    # A damaged packaged file is found by the installed copy's --check.
    victim = next((site / "minilib" / "results" / "grokking").glob("*.npz"))
    victim.write_bytes(victim.read_bytes()[:-1] + bytes([victim.read_bytes()[-1] ^ 1]))
    try:
        bad = subprocess.run([sys.executable, "-m", "minilib", "precompute", "--check", "grokking"], cwd=empty,
                             env=env, capture_output=True, text=True, timeout=600)
    finally:
        victim.write_bytes(victim.read_bytes()[:-1] + bytes([victim.read_bytes()[-1] ^ 1]))
    assert bad.returncode == 1 and victim.name in bad.stdout, bad.stdout[-3000:]


def _snapshot(folder: Path) -> dict:
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


# Under `--dist loadgroup` (mk/wheel.mk) chapter 5 has a worker of its own; the rest share the other.
@pytest.mark.parametrize("chapter", [pytest.param(c, marks=pytest.mark.xdist_group("longest" if i == 0 else "rest"))
                                     for i, c in enumerate(CHAPTERS)])
def test_chapter_runs_from_the_installed_wheel(chapter, site, tmp_path):
    import nbformat

    home, empty = tmp_path / "home", tmp_path / "empty"
    home.mkdir()
    empty.mkdir()
    notebook = empty / f"{chapter}.ipynb"
    conv = subprocess.run([str(Path(sys.executable).parent / "jupytext"), "-q", "--to", "ipynb", "-o",
                           str(notebook), str(ROOT / "nbs" / f"{chapter}.py")], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert conv.returncode == 0, conv.stderr
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    nbformat.write(nb, notebook)
    before = _snapshot(site)
    run = subprocess.run([sys.executable, "-c", DRIVER, notebook.name, str(empty)], cwd=empty,
                         env=student_env(site, home), capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    nb = nbformat.read(notebook, as_version=4)
    errors = [f"cell {i}: {o.ename}: {o.evalue}" for i, c in enumerate(nb.cells) if c.cell_type == "code"
              for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, f"{chapter} from the installed wheel: {len(errors)} error cell(s)\n" + "\n".join(errors)
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    info = json.loads(text.split("MINILIB_PROBE ", 1)[1].splitlines()[0])
    outside = {n: f for n, f in info["modules"].items() if not f or not Path(f).is_relative_to(site)}
    assert not outside, f"minilib modules not imported from the installed copy {site}: {outside}"
    assert info["packaged"] and Path(info["results"]).is_relative_to(site), info
    assert _snapshot(site) == before, "the installed package was written to (a student's runs go to the user cache)"
    assert sorted(p.name for p in empty.iterdir()) == [notebook.name], sorted(empty.iterdir())
