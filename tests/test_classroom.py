"""The classroom editions (book/scripts/classroom.py): student notebooks hold no solutions, their exercise
cells run and report "not implemented yet", the teacher's solutions pass their checks."""

import contextlib
import importlib.util
import io
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("classroom", ROOT / "book" / "scripts" / "classroom.py")
classroom = importlib.util.module_from_spec(SPEC)
sys.modules["classroom"] = classroom  # its dataclasses look their module up there
SPEC.loader.exec_module(classroom)

CHAPTERS = sorted(p for p in (ROOT / "nbs").glob("[0-9][0-9]_*.py"))
CHAPTER_IDS = [p.stem for p in CHAPTERS]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("classroom")
    summary = classroom.build(out, ROOT / "nbs", mode="fast", execute_notebooks=False, record=False)
    return out, {entry["stem"]: entry for entry in summary}


def read(out: Path, edition: str, stem: str):
    return nbformat.read(out / edition / f"{stem}.ipynb", as_version=4)


def section_cells(nb, edition_cells=None):
    """The chapter's preamble (code before its first "## " section) and its Exercises section's cells."""
    cells = edition_cells or nb.cells
    heading = lambda c, text: c.cell_type == "markdown" and any(line.startswith(text) for line in c.source.splitlines())
    first_section = next(i for i, c in enumerate(cells) if heading(c, "## "))
    start = next(i for i, c in enumerate(cells) if heading(c, "## Exercises"))
    end = next((i for i in range(start + 1, len(cells)) if heading(cells[i], "## ")), len(cells))
    return [c for c in cells[:first_section] if c.cell_type == "code"], cells[start:end]


def run_exercise_section(nb):
    """Execute the preamble and the Exercises section's code cells; (namespace, printed text per cell)."""
    preamble, section = section_cells(nb)
    namespace, printed = {}, {}
    for cell in preamble:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(cell.source, "<preamble>", "exec"), namespace)
    for index, cell in enumerate(section):
        # the exercise cells and imports: the section's other cells may use the chapter's earlier results
        runs = "exercises.check(" in cell.source or all(
            line.startswith(("import ", "from ", "#")) or not line.strip() for line in cell.source.splitlines())
        if cell.cell_type == "code" and runs:
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(cell.source, f"<cell {index}>", "exec"), namespace)
            printed[index] = out.getvalue()
    return namespace, printed, section


@pytest.mark.parametrize("stem", ["00_start_here", "01_grokking"])
def test_chapters_0_and_1_have_two_coded_exercises(built, stem):
    _, summary = built
    assert len(summary[stem]["exercises"]) >= 2


TRIVIAL = re.compile(r"^(else:|try:|finally:|pass|return|break|continue|[)\]}]+[,:]?)$")


@pytest.mark.parametrize("stem", CHAPTER_IDS)
def test_student_notebook_holds_no_solution_line(built, stem):
    out, summary = built
    teacher, student = read(out, "teacher", stem), read(out, "student", stem)
    student_lines = {line.strip() for cell in student.cells for line in cell.source.splitlines()}
    # a line that is only syntax ("else:", ")") says nothing of the solution and may appear anywhere
    solution_lines = {line.strip() for ex in summary[stem]["exercises"] for line in ex.solution
                      if line.strip() and not TRIVIAL.match(line.strip())}
    dropdown_lines = set()
    for cell in teacher.cells:
        if cell.cell_type == "markdown":
            _, removed = classroom.remove_solution_dropdowns(cell.source, stem)
            dropdown_lines |= {line.strip() for line in removed[1:-1] if line.strip() and not line.startswith(":")}
    assert solution_lines and not solution_lines & student_lines, solution_lines & student_lines
    assert not dropdown_lines & student_lines, dropdown_lines & student_lines
    assert not any(classroom.BEGIN in line or classroom.END in line for line in student_lines)
    assert not any(re.match(r"^:{3,}\{dropdown\}\s*Solution", line) for line in student_lines)
    code = [c for c in student.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)


@pytest.mark.parametrize("stem", CHAPTER_IDS)
def test_student_exercises_raise_their_task_and_checks_say_not_implemented(built, stem):
    out, summary = built
    namespace, printed, section = run_exercise_section(read(out, "student", stem))  # runs as is, no error
    exercises = summary[stem]["exercises"]
    stubs = [i for i, c in enumerate(section) if c.cell_type == "code" and "raise NotImplementedError" in c.source]
    assert len(stubs) == len(exercises)
    for ex, index in zip(exercises, stubs):
        report = printed[index]
        assert report.startswith(f"… {ex.check}: not implemented yet. Your task: {ex.task}\n"), report
        assert "Traceback" not in report
        name = re.search(r"^def (\w+)\(", section[index].source, re.M).group(1)
        with pytest.raises(NotImplementedError) as raised:
            namespace[name](*([None] * namespace[name].__code__.co_argcount))
        assert str(raised.value) == ex.task


@pytest.mark.parametrize("stem", CHAPTER_IDS)
def test_teacher_solutions_pass_their_checks(built, stem):
    out, summary = built
    _, printed, _ = run_exercise_section(read(out, "teacher", stem))
    text = "".join(printed.values())
    for ex in summary[stem]["exercises"]:
        assert f"✓ {ex.check}: passed all" in text, text


@pytest.mark.parametrize("stem", CHAPTER_IDS)
def test_teacher_notebook_is_the_chapter_with_nbgrader_metadata(built, stem):
    out, summary = built
    teacher = read(out, "teacher", stem)
    for ex in summary[stem]["exercises"]:
        cell = teacher.cells[ex.cell]
        assert classroom.BEGIN in cell.source and cell.metadata["nbgrader"]["solution"] is True
        assert "hide-input" in cell.metadata.get("tags", []), "the site hides exercise solutions behind a toggle"
    assert "jupytext" not in teacher.metadata


def test_zips_and_readme(built):
    out, summary = built
    with zipfile.ZipFile(out / "student.zip") as z:
        names = set(z.namelist())
    assert {f"student/{stem}.ipynb" for stem in summary} | {"student/README.md"} == names
    with zipfile.ZipFile(out / "teacher.zip") as z:
        assert {f"teacher/{stem}.ipynb" for stem in summary} | {"README.md"} == set(z.namelist())
    readme = (out / "README.md").read_text()
    for stem, entry in summary.items():
        assert f"## {stem}: {entry['title']}" in readme
        for ex in entry["exercises"]:
            assert f"`{ex.check}`" in readme


def test_stub_keeps_the_indentation_and_the_code_around_it():
    source = "# Exercise: double it\ndef f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    y = 2 * x\n" \
             "    ### END SOLUTION\n    return y\n\nexercises.check(\"a.b\", f)"
    assert classroom.stub_source(source, "double it") == (
        "# Exercise: double it\ndef f(x):\n    y = 1\n    # YOUR CODE HERE\n"
        "    raise NotImplementedError('double it')\n    return y\n\nexercises.check(\"a.b\", f)")
    task, check, solution, function = classroom.parse_exercise(source, "here")
    assert (task, check, solution, function) == ("double it", "a.b", ["    y = 2 * x"], "f")


@pytest.mark.parametrize(("source", "message"), [
    ("def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\nexercises.check('a.b', f)",
     "must start with '# Exercise: <one-line task>'"),
    ("# Exercise: t\ndef f(x):\n    ### BEGIN SOLUTION\n    return x\nexercises.check('a.b', f)", "has no"),
    ("# Exercise: t\n### END SOLUTION\n### BEGIN SOLUTION\nx = 1", "does not pair"),
    ("# Exercise: t\ndef f(x):\n    ### BEGIN SOLUTION\n    ### END SOLUTION\nexercises.check('a.b', f)",
     "is empty"),
    ("# Exercise: t\ndef f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n", "must end with"),
])
def test_malformed_exercises_are_refused_with_the_place(source, message):
    with pytest.raises(classroom.ClassroomError, match=re.escape(message)) as raised:
        classroom.parse_exercise(source, "03_x.py, cell 7")
    assert "03_x.py, cell 7" in str(raised.value)


def test_unregistered_check_is_refused():
    ex = classroom.Exercise("03_x", 6, "t", "grokking.nothing", ["x"])
    with pytest.raises(classroom.ClassroomError, match="'grokking.nothing'.*known: .*curvefit"):
        classroom.validate_checks([ex])


def test_only_solution_dropdowns_are_removed():
    text = ("1. Why?\n\n:::{dropdown} Solution\nBecause.\n\n::::{note}\ninner\n::::\n:::\n\n"
            ":::{dropdown} More detail\nKept.\n:::\n\n```{admonition} Answer\n:class: dropdown\nHidden.\n```\n\n"
            "```{admonition} Note\nKept too.\n```")
    kept, removed = classroom.remove_solution_dropdowns(text, "here")
    assert "Because." in removed and "Hidden." in removed and "inner" in removed
    assert "Kept." in kept and "Kept too." in kept and "Because" not in kept and "Hidden" not in kept
    assert kept.count(classroom.REMOVED_NOTE) == 2
    with pytest.raises(classroom.ClassroomError, match="never closed"):
        classroom.remove_solution_dropdowns(":::{dropdown} Solution\nopen", "here")


def test_timings_are_recorded_per_device_and_mode(tmp_path):
    path = tmp_path / "timings.json"
    cpu = {"device": "cpu", "machine": "a 2-core CPU (torch 2.13.0, 1 thread)", "torch": "2.13.0", "cores": 2,
           "threads": 1}
    classroom.record_timing(path, "01_grokking", "full", 250.04, cpu)
    classroom.record_timing(path, "01_grokking", "fast", 41.0, cpu)
    data = json.loads(path.read_text())
    assert data["chapters"]["01_grokking"]["cpu"]["full"]["seconds"] == 250.0
    assert set(data["chapters"]["01_grokking"]["cpu"]) == {"full", "fast"}


def test_only_selects_chapters_and_names_the_known_ones(tmp_path):
    summary = classroom.build(tmp_path, ROOT / "nbs", mode="fast", execute_notebooks=False, record=False,
                              only=["00"])
    assert [entry["stem"] for entry in summary] == ["00_start_here"]
    assert sorted(p.name for p in (tmp_path / "student").glob("*.ipynb")) == ["00_start_here.ipynb"]
    with pytest.raises(classroom.ClassroomError, match="--only 42: no such chapter; chapters are 00_start_here"):
        classroom.build(tmp_path, ROOT / "nbs", mode="fast", execute_notebooks=False, record=False, only=["42"])


TINY = '''# %% [markdown]
# # A tiny chapter

# %%
from minilib import exercises

# %% [markdown]
# ## Exercises

# %% tags=["hide-input"]
# Exercise: return the noise floor.
def my_noise_floor(noise):
    ### BEGIN SOLUTION
    return {answer}
    ### END SOLUTION


exercises.check("curvefit.noise_floor", my_noise_floor)
'''


@pytest.mark.slow
@pytest.mark.parametrize(("answer", "after", "error"), [
    ("noise**2", "", None),
    ("noise", "", "the reference solution does not pass its check 'curvefit.noise_floor'"),
    ("noise**2", "\n# %%\n1 / 0\n", "stopped at a failing cell (fast mode), the cell starting `1 / 0`"),
])
def test_executing_the_teacher_edition(tmp_path, answer, after, error):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    (nbs / "00_tiny.py").write_text(TINY.replace("{answer}", answer) + after)
    timings = tmp_path / "timings.json"
    build = lambda: classroom.build(tmp_path / "out", nbs, mode="fast", execute_notebooks=True, record=True,
                                    timings=timings)
    if error:
        with pytest.raises(classroom.ClassroomError, match=re.escape(error)) as raised:
            build()
        assert "00_tiny.py" in str(raised.value) and ("ZeroDivisionError" in str(raised.value)) == bool(after)
        assert not timings.exists()
        return
    build()
    teacher = read(tmp_path / "out", "teacher", "00_tiny")
    assert "✓ curvefit.noise_floor: passed all" in classroom.outputs_text(teacher.cells[-1])
    entry = json.loads(timings.read_text())["chapters"]["00_tiny"]["cpu"]["fast"]
    assert 0 < entry["seconds"] < 120 and entry["threads"] >= 1 and "CPU" in entry["machine"]
    assert "00_tiny: A tiny chapter" in (tmp_path / "out" / "README.md").read_text()


@pytest.mark.parametrize("stem", CHAPTER_IDS)
def test_the_student_editions_point_at_no_source_file_nor_the_sites_toggles(built, stem):
    out, _ = built
    for notebook in (out / "student" / f"{stem}.ipynb", out / "nbgrader" / "source" / stem / f"{stem}.ipynb"):
        text = "\n".join(c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "markdown")
        assert not re.search(r"Show\s+code\s+cell\s+source|toggle", text), notebook
        assert not re.search(r"\bnbs/|make lab", text), notebook
    assert "make lab" not in (out / "student" / "README.md").read_text()
    assert "nbs/" not in (out / "student" / "README.md").read_text()


@pytest.mark.parametrize("stem", CHAPTER_IDS)
def test_every_exercise_states_its_tolerance(built, stem):
    out, summary = built
    student = read(out, "student", stem)
    for ex in summary[stem]["exercises"]:
        lines = student.cells[ex.cell].source.splitlines()
        assert lines[0].startswith("# Exercise:") and lines[1].startswith("# Checked: your results with the")
        assert "within" in student.cells[ex.cell].source


def test_the_readme_lists_every_question_numbered_as_in_the_notebook(built):
    out, summary = built
    readme = (out / "README.md").read_text()
    for stem, entry in summary.items():
        chapter = readme.split(f"## {stem}:")[1].split("\n## ")[0]
        numbers = re.findall(r"^\| (\d+) \| (prose|coded) \|", chapter, re.M)
        assert numbers == [(q.number, q.kind) for q in entry["questions"]], (stem, numbers)
        assert len(numbers) >= len(entry["exercises"])
        for ex in entry["exercises"]:
            assert ex.number and (ex.number, "coded") in numbers
        assert "prose" in {k for _, k in numbers} or not entry["dropdowns"]
        assert re.search(r"Student time for the exercises: about \d+ minutes", chapter)
    # built without executing: no time is claimed as measured
    assert "not measured in this build" in readme and "Time: " not in readme.replace("Time: not measured", "")


def test_building_writes_nothing_tracked(tmp_path):
    """`make classroom` writes under its output folder only (timings included), never results/."""
    before = subprocess.run(["git", "status", "--porcelain", "--", "results"], cwd=ROOT, capture_output=True,
                            text=True).stdout
    stamp = {p: p.stat().st_mtime_ns for p in (ROOT / "results").rglob("*") if p.is_file()}
    classroom.build(tmp_path, ROOT / "nbs", mode="fast", execute_notebooks=False, record=True, only=["00"])
    assert {p: p.stat().st_mtime_ns for p in (ROOT / "results").rglob("*") if p.is_file()} == stamp
    assert subprocess.run(["git", "status", "--porcelain", "--", "results"], cwd=ROOT, capture_output=True,
                          text=True).stdout == before
    info = {"device": "cpu", "machine": "a test machine", "cores": 2}
    classroom.record_timing(tmp_path / "timings.json", "00_start_here", "fast", 12.0, info)
    assert "12 s in fast mode on a test machine" in classroom.teacher_readme(
        [{"stem": "00_start_here", "title": "t", "exercises": [], "dropdowns": 0, "questions": []}], "fast", True,
        tmp_path / "timings.json")
