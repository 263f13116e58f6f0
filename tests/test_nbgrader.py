"""The classroom course folder graded by real nbgrader: `generate_assignment` releases chapter 0 and one of
chapters 2-5 without a leak, `autograde` (fast mode, this environment's kernel) gives 0 to an untouched
release, full marks to the teacher's solutions and partial marks to a partly right submission, and
`validate` fails on an untouched notebook.

One module-scoped build and one `autograde` per chapter (three submissions each) keep it to about a
minute on two cores: the submissions share one result cache (as nbgrader_config.py sets up for a class),
so only the first execution of a chapter computes its results.
"""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook  # the dev extra installs nbgrader: no skip when it is missing

ROOT = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("classroom", ROOT / "book" / "scripts" / "classroom.py")
classroom = importlib.util.module_from_spec(SPEC)
sys.modules.setdefault("classroom", classroom)
SPEC.loader.exec_module(classroom)

# Chapter 0 and chapter 4, the quickest of chapters 2-5 in fast mode.
CHAPTERS = ["00_start_here", "04_projection_heads"]
MAX_BYTES = 2 * 1024 * 1024
STUDENTS = ("untouched", "solved", "partial")


def kernel_of_this_environment(course: Path) -> Path:
    """A jupyter data folder whose `python3` kernel is this Python (JUPYTER_PATH comes before the user's)."""
    folder = course.parent / "jupyter"
    spec = folder / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (minilib)", "language": "python"}))
    return folder


def nbgrader(course: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run nbgrader in the course folder with this environment's executables (its kernel, alembic)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "JUPYTER_PATH": str(kernel_of_this_environment(course)),
           "MINILIB_CACHE": str(course / ".minilib-cache"), "OMP_NUM_THREADS": "1"}
    env.pop("MINILIB_FAST", None)  # nbgrader_config.py sets fast mode itself
    out = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True,
                         text=True, timeout=600)
    if check and out.returncode != 0:
        raise AssertionError(f"nbgrader {' '.join(args)} exited {out.returncode}:\n{out.stdout[-3000:]}"
                             f"\n{out.stderr[-3000:]}")
    return out


def answer_ids(nb, cell_type: str = "code") -> list[str]:
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == cell_type]


def submission(release, source, solved: set[str]):
    """The release with the teacher's code in the answer cells named in `solved`."""
    nb = nbformat.from_dict(json.loads(json.dumps(release)))
    teacher = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells if "nbgrader" in c.metadata}
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in solved:
            cell.source = teacher[grade_id]
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    out = tmp_path_factory.mktemp("classroom")
    summary = classroom.build(out, ROOT / "nbs", mode="fast", execute_notebooks=False, record=False,
                              only=CHAPTERS)
    course = out / "nbgrader"
    for stem in CHAPTERS:
        nbgrader(course, "generate_assignment", stem, "--create", "--force")
        release = nbformat.read(course / "release" / stem / f"{stem}.ipynb", as_version=4)
        source = nbformat.read(course / "source" / stem / f"{stem}.ipynb", as_version=4)
        ids, prose = answer_ids(source), answer_ids(source, "markdown")
        for student, solved in zip(STUDENTS, (set(), set(ids) | set(prose), set(ids[:1]))):
            folder = course / "submitted" / student / stem
            folder.mkdir(parents=True)
            nbformat.write(submission(release, source, solved), folder / f"{stem}.ipynb")
        nbgrader(course, "autograde", stem, "--create")
    return course, {entry["stem"]: entry for entry in summary}


def scores(course: Path, stem: str, student: str) -> dict:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(stem, stem, student)
        return {"score": nb.score, "max": nb.max_score, "code": nb.code_score, "max_code": nb.max_code_score,
                "failed": sorted(g.name for g in nb.grades if g.cell_type == "code" and g.auto_score == 0)}


@pytest.mark.parametrize("stem", CHAPTERS)
def test_untouched_release_scores_zero_of_a_positive_maximum(course, stem):
    result = scores(course[0], stem, "untouched")
    assert result["max"] > result["max_code"] > 0  # the prose answers count too
    assert result["score"] == 0 and result["code"] == 0, result
    with Gradebook(f"sqlite:///{course[0] / 'gradebook.db'}") as gb:
        assert not gb.find_submission_notebook(stem, stem, "untouched").needs_manual_grade  # unanswered: 0


@pytest.mark.parametrize("stem", CHAPTERS)
def test_the_teachers_solutions_get_full_marks(course, stem):
    """Full marks for the code from autograding; the prose answers wait for the teacher, who marks them."""
    result = scores(course[0], stem, "solved")
    assert result["code"] == result["max_code"] > 0, result
    with Gradebook(f"sqlite:///{course[0] / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(stem, stem, "solved")
        written = [g for g in nb.grades if g.cell_type == "markdown"]
        assert written and nb.needs_manual_grade and all(g.auto_score is None for g in written)
        for grade in written:  # the teacher reads the answers (the book's own) and gives full marks
            grade.manual_score = grade.max_score
        gb.db.commit()
        assert nb.score == nb.max_score > result["max_code"]


@pytest.mark.parametrize("stem", CHAPTERS)
def test_a_partly_right_submission_gets_partial_marks(course, stem):
    result = scores(course[0], stem, "partial")
    assert 0 < result["code"] < result["max_code"], result


@pytest.mark.parametrize("stem", CHAPTERS)
def test_a_failed_grade_cell_reports_the_checks_verdict(course, stem):
    graded = nbformat.read(course[0] / "autograded" / "partial" / stem / f"{stem}.ipynb", as_version=4)
    failing = [c for c in graded.cells if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"
               and any(o.get("output_type") == "error" for o in c.outputs)]
    assert failing
    for cell in failing:
        error = next(o for o in cell.outputs if o.get("output_type") == "error")
        assert error["ename"] == "AssertionError"
        assert re.search(r"… [\w.]+: not implemented yet", error["evalue"]), error["evalue"]


@pytest.mark.parametrize("stem", CHAPTERS)
def test_the_release_has_no_solution_no_widget_state_and_is_small(course, stem):
    course_dir, summary = course
    path = course_dir / "release" / stem / f"{stem}.ipynb"
    assert path.stat().st_size <= MAX_BYTES
    text = path.read_text()
    nb = nbformat.read(path, as_version=4)
    assert "### BEGIN SOLUTION" not in text and "widgets" not in nb.metadata
    assert "application/vnd.jupyter.widget" not in text and not any(c.get("outputs") for c in nb.cells
                                                                      if c.cell_type == "code")
    cells = "\n".join(c.source for c in nb.cells)
    code_lines = {line.strip() for ex in summary[stem]["exercises"] for line in ex.solution
                  if line.strip() and not classroom_trivial(line.strip())}
    leaked = [line for line in code_lines if line in {x.strip() for x in cells.splitlines()}]
    assert not leaked, leaked
    source = nbformat.read(course_dir / "source" / stem / f"{stem}.ipynb", as_version=4)
    prose = [c.source for c in source.cells
             if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("solution")]
    assert prose, "every chapter has prose questions with the teacher's answers"
    for answer in prose:
        assert answer.strip() not in cells
        assert not any(len(line) > 30 and line in cells for line in answer.splitlines())
    manual = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "markdown"]
    assert len(manual) == len(prose) and all(c.metadata["nbgrader"]["grade"] for c in manual)
    grades = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"]
    assert len(grades) == len(summary[stem]["exercises"])
    assert all(c.metadata["nbgrader"]["locked"] and c.metadata["nbgrader"]["points"] > 0 for c in grades)
    assert "Show code cell source" not in cells and "nbs/" not in cells


def classroom_trivial(line: str) -> bool:
    return bool(re.match(r"^(else:|try:|finally:|pass|return|break|continue|[)\]}]+[,:]?)$", line))


def test_validate_fails_on_an_untouched_notebook(course, tmp_path):
    course_dir, _ = course
    stem = CHAPTERS[0]
    notebook = tmp_path / f"{stem}.ipynb"
    shutil.copy(course_dir / "release" / stem / f"{stem}.ipynb", notebook)
    out = nbgrader(course_dir, "validate", str(notebook), check=False)
    text = out.stdout + out.stderr
    assert "VALIDATION FAILED" in text and "Success! Your notebook passes all the tests." not in text, text[-2000:]
    assert "not implemented yet" in text
