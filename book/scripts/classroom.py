"""Classroom editions of the chapters: student and teacher notebooks from the one source in nbs/.

    python book/scripts/classroom.py                # make classroom: teacher notebooks executed at full size
    python book/scripts/classroom.py --mode fast    # the same with MINILIB_FAST=1
    python book/scripts/classroom.py --no-execute   # notebooks only (what the tests build)

Writes, under build/classroom/:
    student/NN_*.ipynb   exercise solutions replaced by a stub, outputs cleared, solution dropdowns removed
    teacher/NN_*.ipynb   the chapter as in the book, solutions included, executed
    nbgrader/            an nbgrader course folder: source/NN_*/NN_*.ipynb and nbgrader_config.py
    student.zip, teacher.zip, README.md (for the teacher: time, CPU/GPU, every question and its check)
    timings.json         each executed chapter's measured time (nothing tracked is rewritten)

A coded exercise is a code cell whose first line is `# Exercise: <one-line task>` and whose solution sits
between nbgrader's `### BEGIN SOLUTION` and `### END SOLUTION` lines; it ends with
`exercises.check("<name>", <function>)` (minilib/exercises.py). In the student edition each marked
region becomes `raise NotImplementedError("<task>")` at the indentation of its BEGIN line, so the function
exists and the check answers "not implemented yet". A comment under the task states what the check
compares and within which tolerance. A solution dropdown is a markdown block `:::{dropdown} Solution`
(or an admonition with `:class: dropdown`) whose title names a solution or an answer (book/testing.md);
the student edition replaces it by a one-line note. Questions are the `N. ` lines of the Exercises section.

The nbgrader source (nbgrader_source) is the unexecuted teacher notebook in which each coded exercise is
an autograded answer cell followed by a locked grade cell (`exercises.grade`, POINTS_CODED points) and
each solution dropdown is a manually graded answer cell (POINTS_PROSE) holding the teacher's answer;
`nbgrader generate_assignment` turns it into a release without solutions (tests/test_nbgrader.py).

Executing the teacher notebooks measures each chapter: wall-clock seconds from a fresh kernel and an
empty result cache (shipped results are loaded, MINILIB_REQUIRE_RESULTS=1), recorded per device and mode
in build/classroom/timings.json, which the teacher README shows.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import datetime
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from build_book import find_chapters  # noqa: E402  (one definition of what a chapter file is)

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
TASK = re.compile(r"^# Exercise:\s*(?P<task>\S.*?)\s*$")
CHECK = re.compile(r"""exercises\.check\(\s*["'](?P<name>[\w.]+)["']\s*,\s*(?P<fn>[A-Za-z_]\w*)""")
QUESTION = re.compile(r"^(?P<number>\d+)\.\s+(?P<text>\S.*)$")  # a numbered exercise in the Exercises section
MINUTES = re.compile(r"\*\((?P<minutes>\d+)\s+minutes?,?\s*(?P<level>[^)]*?)\.?\)\*")  # "*(10 minutes, easy.)*"
# The site's "Show code cell source" toggle exists on the website only: the student editions say so.
TOGGLE = [(re.compile(r"On\s+the\s+website,?\s+the\s+solution\s+is\s+behind\s+the\s+cell.s\s+\"Show\s+code\s+cell\s+"
                      r"source\"\s+toggle;\s+in\s+the\s+student\s+edition(\s+of\s+this\s+book)?\s+\(`make\s+classroom`\)\s+"
                      r"it\s+is"), "In this edition the solution is"),
          (re.compile(r"On\s+the\s+website,?\s+the\s+solution\s+is\s+behind\s+the\s+cell.s\s+\"Show\s+code\s+cell\s+"
                      r"source\"\s+toggle;\s+in\s+the\s+student\s+edition(\s+of\s+this\s+book)?\s+\(`make\s+classroom`\)"),
           "In this edition"),
          (re.compile(r"\s*The\s+solution\s+is\s+behind\s+the\s+cell.s\s+\"Show\s+code\s+cell\s+source\"\s+"
                      r"toggle\."), "")]
POINTS_CODED, POINTS_PROSE = 2, 1  # nbgrader points of a coded exercise (autograded) and of a prose answer
SOLUTION_TITLE = re.compile(r"solution|answer", re.I)
COLON_OPEN = re.compile(r"^(?P<fence>:{3,})\{dropdown\}\s*(?P<title>.*)$")
TICK_OPEN = re.compile(r"^(?P<fence>`{3,})\{(?P<kind>dropdown|admonition)\}\s*(?P<title>.*)$")
REMOVED_NOTE = "*Solution: in the teacher edition.*"
# Grid point of the zip entries' timestamps, so that equal notebooks give equal archives.
ZIP_DATE = (2020, 1, 1, 0, 0, 0)


class ClassroomError(ValueError):
    """A chapter's exercise or dropdown is malformed; the message names the chapter and the cell."""


@dataclass(frozen=True)
class Exercise:
    chapter: str
    cell: int  # index of the cell in the notebook
    task: str
    check: str
    solution: list[str]  # the lines between the markers
    function: str = ""  # the name of the function the cell defines and checks
    number: str = ""  # the question's number in the Exercises section ("4"), "" when it has none


@dataclass(frozen=True)
class Question:
    """A numbered question of a chapter's Exercises section: prose (answered in words) or coded."""

    number: str
    kind: str  # "prose" or "coded"
    text: str  # its first line, without the number
    minutes: int | None  # the chapter's own estimate, "*(10 minutes, easy.)*", when it gives one
    check: str = ""  # coded: the check's name
    level: str = ""  # "easy", "medium", ... when the chapter says
    answered: bool = False  # prose: the chapter gives its answer (a solution dropdown: a graded answer cell)


def parse_exercise(source: str, where: str) -> tuple[str, str, list[str], str] | None:
    """(task, check name, solution lines, function name) of an exercise cell; None for a cell without
    markers."""
    lines = source.splitlines()
    marks = [(i, line.strip()) for i, line in enumerate(lines) if line.strip() in (BEGIN, END)]
    if not marks:
        return None
    task = TASK.match(lines[0]) if lines else None
    if task is None:
        raise ClassroomError(f"{where}: an exercise cell must start with '# Exercise: <one-line task>', "
                             f"found {lines[0]!r}")
    solution, open_at = [], None
    for i, mark in marks:
        if (mark == BEGIN) == (open_at is not None):
            raise ClassroomError(f"{where}: line {i + 1} {mark!r} does not pair with the marker before it "
                                 f"(markers must alternate {BEGIN!r}, {END!r})")
        if mark == BEGIN:
            open_at = i
        else:
            solution += lines[open_at + 1 : i]
            open_at = None
    if open_at is not None:
        raise ClassroomError(f"{where}: {BEGIN!r} on line {open_at + 1} has no {END!r}")
    if not any(line.strip() for line in solution):
        raise ClassroomError(f"{where}: the solution between the markers is empty")
    check = CHECK.search("\n".join(lines[marks[-1][0] + 1 :]))
    if check is None:
        raise ClassroomError(f"{where}: an exercise cell must end with exercises.check(\"<name>\", <function>) "
                             "after its solution")
    return task.group("task"), check.group("name"), solution, check.group("fn")


def stub_source(source: str, task: str) -> str:
    """The cell with each marked region replaced by a stub that raises NotImplementedError(task)."""
    out, inside = [], False
    for line in source.splitlines():
        if line.strip() == BEGIN:
            indent = line[: len(line) - len(line.lstrip())]
            out += [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError({task!r})"]
            inside = True
        elif line.strip() == END:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def remove_solution_dropdowns(markdown: str, where: str) -> tuple[str, list[str]]:
    """The markdown without its solution dropdowns, and the lines removed."""
    lines, out, removed, i = markdown.splitlines(), [], [], 0
    while i < len(lines):
        colon, tick = COLON_OPEN.match(lines[i]), TICK_OPEN.match(lines[i])
        opening = colon or tick
        if opening is None:
            out.append(lines[i])
            i += 1
            continue
        fence = opening.group("fence")
        closing = re.compile(rf"^{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        end = next((j for j in range(i + 1, len(lines)) if closing.match(lines[j])), None)
        if end is None:
            raise ClassroomError(f"{where}: the block opened by {lines[i]!r} is never closed with {fence}")
        block = lines[i : end + 1]
        is_dropdown = colon or tick.group("kind") == "dropdown" or any(
            re.match(r"^:class:.*\bdropdown\b", line) for line in block[1:])
        if is_dropdown and SOLUTION_TITLE.search(opening.group("title")):
            removed += block
            out.append(REMOVED_NOTE)
        else:
            out += block
        i = end + 1
    return "\n".join(out), removed


def student_text(markdown: str) -> str:
    """Markdown for the student editions: no pointer at the website's solution toggles."""
    for pattern, replacement in TOGGLE:
        markdown = pattern.sub(replacement, markdown)
    return markdown


def with_tolerance(source: str, check: str) -> str:
    """The exercise cell with a comment after its task line stating what its check compares and within
    which tolerance (minilib.exercises.tolerance_text), so the task states every tolerance."""
    import textwrap

    from minilib import exercises as registry

    lines = source.splitlines()
    text = "Checked: " + registry.tolerance_text(registry.get(check)) + "."
    return "\n".join(lines[:1] + textwrap.wrap(text, 110, initial_indent="# ", subsequent_indent="#   ")
                     + lines[1:])


def questions(nb, exercises: list[Exercise]) -> list[Question]:
    """The numbered questions of the notebook's Exercises section, in order, prose and coded."""
    found, inside = [], False
    by_cell = {ex.cell: ex for ex in exercises}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            lines = cell.source.splitlines()
            for i, line in enumerate(lines):
                if line.startswith("## "):
                    inside = line.startswith("## Exercises")
                opening = COLON_OPEN.match(line) or TICK_OPEN.match(line)
                if inside and found and opening and SOLUTION_TITLE.search(opening.group("title")):
                    found[-1] = dataclasses.replace(found[-1], answered=True)
                match = QUESTION.match(line) if inside else None
                if match:
                    rest = [match.group("text")] + [x.strip() for x in itertools.takewhile(
                        lambda x: x.startswith("   ") and x.strip(), lines[i + 1:])]
                    whole = " ".join(rest)
                    minutes = MINUTES.search(whole)
                    found.append(Question(match.group("number"), "prose", _first_sentence(MINUTES.sub("", whole)),
                                          int(minutes.group("minutes")) if minutes else None,
                                          level=minutes.group("level").strip() if minutes else ""))
        elif index in by_cell and found:
            last = found[-1]
            found[-1] = dataclasses.replace(last, kind="coded", check=by_cell[index].check)
    return found


def _first_sentence(text: str, limit: int = 200) -> str:
    """The question's text up to its first question mark (or its first sentence), without emphasis marks."""
    text = re.sub(r"\s+", " ", text.replace("**", "")).strip(" *")
    end = re.search(r"[?]|\.(\s|$)", text)
    text = text[: end.end()].strip() if end and end.end() > 30 else text
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def chapter_title(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ""


def _nbgrader(grade_id: str, *, grade: bool, solution: bool, locked: bool, points: int | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution,
            "task": False}
    if points is not None:
        meta["points"] = points
    return meta


def editions(path: Path):
    """(teacher notebook, student notebook, exercises) of one chapter source."""
    source = jupytext.read(path, fmt="py:percent")
    source.metadata.pop("jupytext", None)  # a plain notebook: no pairing with a .py file on the reader's side
    teacher, student = copy.deepcopy(source), copy.deepcopy(source)
    found = []
    for index, (t_cell, s_cell) in enumerate(zip(teacher.cells, student.cells)):
        where = f"{path.name}, cell {index + 1}"
        if t_cell.cell_type == "code":
            s_cell.outputs, s_cell.execution_count = [], None
            parsed = parse_exercise(t_cell.source, where)
            if parsed is None:
                continue
            task, check, solution, function = parsed
            found.append(Exercise(path.stem, index, task, check, solution, function))
            t_cell.source = with_tolerance(t_cell.source, check)
            s_cell.source = stub_source(t_cell.source, task)
            # nbgrader's "autograded answer" cell; the course folder (nbgrader_source) adds its grade cell.
            t_cell.metadata["nbgrader"] = _nbgrader("ex-" + check.replace(".", "-"), grade=False, solution=True,
                                                    locked=False)
        elif t_cell.cell_type == "markdown":
            s_cell.source, _ = remove_solution_dropdowns(student_text(t_cell.source), where)
    numbers = {q.check: q.number for q in questions(teacher, found) if q.kind == "coded"}
    found = [Exercise(**{**ex.__dict__, "number": numbers.get(ex.check, "")}) for ex in found]
    return teacher, student, found


def nbgrader_source(teacher, exercises: list[Exercise], stem: str):
    """The chapter as an nbgrader source notebook (before execution: no outputs, no widget state).

    Each coded exercise's cell is an autograded answer and is followed by a locked grade cell worth
    POINTS_CODED that calls exercises.grade (its failure message is the check's verdict); each solution
    dropdown becomes a manually graded answer cell worth POINTS_PROSE holding the teacher's answer, which
    `nbgrader generate_assignment` replaces by "YOUR ANSWER HERE"; the text around it stays as it was."""
    nb = copy.deepcopy(teacher)
    nb.metadata.pop("widgets", None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    by_cell = {ex.cell: ex for ex in exercises}
    cells, number = [], ""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cells.append(cell)
            if index in by_cell:
                ex = by_cell[index]
                grade = nbformat.v4.new_code_cell(
                    f"# Grading of question {ex.number or ex.check} (locked: nbgrader restores this cell before "
                    f"grading).\nexercises.grade({ex.check!r}, {ex.function})")
                grade.metadata["nbgrader"] = _nbgrader("grade-" + ex.check.replace(".", "-"), grade=True,
                                                       solution=False, locked=True, points=POINTS_CODED)
                cells.append(grade)
            continue
        if cell.cell_type != "markdown":
            cells.append(cell)
            continue
        cell.source = student_text(cell.source)
        kept, removed = remove_solution_dropdowns(cell.source, f"{stem}, cell {index + 1}")
        if not removed:
            cells.append(cell)
            number = _last_number(cell.source, number)
            continue
        # the cell split at each solution dropdown: text, answer cell, text, ...
        answers = _dropdown_bodies(cell.source)
        for i, text in enumerate(kept.split(REMOVED_NOTE)):
            if text.strip():
                cells.append(nbformat.v4.new_markdown_cell(text.strip("\n")))
                number = _last_number(text, number)
            if i < len(answers):
                label = f"q{number}" if number else f"cell{index + 1}"
                answer = nbformat.v4.new_markdown_cell(answers[i])
                answer.metadata["nbgrader"] = _nbgrader(f"answer-{label}-{i + 1}", grade=True, solution=True,
                                                        locked=False, points=POINTS_PROSE)
                cells.append(answer)
    nb.cells = cells
    for i, cell in enumerate(nb.cells):  # fresh, unique ids: the split cells are new
        cell["id"] = f"cell-{i}"
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nb


def _last_number(text: str, number: str) -> str:
    for line in text.splitlines():
        match = QUESTION.match(line)
        if match:
            number = match.group("number")
    return number


def _dropdown_bodies(markdown: str) -> list[str]:
    """The text inside each solution dropdown of the markdown, in order."""
    _, removed = remove_solution_dropdowns(markdown, "")
    bodies, current = [], None
    for line in removed:
        if COLON_OPEN.match(line) or TICK_OPEN.match(line):
            current = []
        elif re.match(r"^(:{3,}|`{3,})\s*$", line):
            bodies.append("\n".join(l for l in current if not l.startswith(":class:")).strip())
        else:
            current.append(line)
    return bodies


def validate_checks(exercises: list[Exercise]) -> None:
    from minilib import exercises as registry
    from minilib import phenomenon

    phenomenon.phenomena()  # each chapter's module registers its checks when imported

    for ex in exercises:
        if ex.check not in registry.EXERCISES:
            raise ClassroomError(f"{ex.chapter}.py, cell {ex.cell + 1}: exercises.check({ex.check!r}, ...) names no "
                                 f"registered check; known: {', '.join(sorted(registry.EXERCISES))}")


def machine() -> dict:
    """The machine the notebooks execute on, in the words the chapters show."""
    import torch

    from minilib import runtime

    device = runtime.pick_device("auto")
    threads = torch.get_num_threads()
    info = {"device": device.type, "torch": torch.__version__, "cores": os.cpu_count(), "threads": threads}
    if device.type == "cuda":
        info["machine"] = f"a {torch.cuda.get_device_name(0)} GPU (torch {torch.__version__})"
    else:
        info["machine"] = (f"a {os.cpu_count()}-core CPU (torch {torch.__version__}, {threads} "
                           f"thread{'s' if threads != 1 else ''})")
    return info


def execute(nb, mode: str, where: str) -> tuple[float, list[tuple[float, int, str]]]:
    """Execute nb in place from an empty result cache; (seconds, [(seconds, cell number, first line)])."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    with tempfile.TemporaryDirectory(prefix="minilib-classroom-cache-") as cache:
        env = {"MINILIB_CACHE": cache, "MINILIB_REQUIRE_RESULTS": "1", "MINILIB_FAST": "1" if mode == "fast" else "0"}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            client = NotebookClient(nb, timeout=None, kernel_name="python3",
                                    resources={"metadata": {"path": str(ROOT / "nbs")}})
            started = time.perf_counter()
            try:
                client.execute()
            except CellExecutionError as err:
                # nbclient's message quotes the cell between dashed lines and ends with its error; the
                # kernel's traceback in between is colour-coded.
                text = [line for line in re.sub(r"\x1b\[[0-9;]*m", "", str(err)).splitlines() if line.strip()]
                dashes = [i for i, line in enumerate(text) if set(line.strip()) == {"-"}]
                first = text[dashes[0] + 1].strip() if dashes and dashes[0] + 1 < len(text) else "?"
                raise ClassroomError(f"{where}: the teacher edition stopped at a failing cell ({mode} mode), the "
                                     f"cell starting `{first}`:\n  {text[-1].strip()}") from None
            seconds = time.perf_counter() - started
        finally:
            for k, v in saved.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    cells = []
    for number, cell in enumerate(nb.cells, start=1):
        stamps = cell.get("metadata", {}).get("execution", {})
        if cell.cell_type == "code" and "iopub.execute_input" in stamps and "shell.execute_reply" in stamps:
            parse = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
            spent = (parse(stamps["shell.execute_reply"]) - parse(stamps["iopub.execute_input"])).total_seconds()
            cells.append((spent, number, cell.source.strip().splitlines()[0] if cell.source.strip() else ""))
    return seconds, sorted(cells, reverse=True)


def outputs_text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def record_timing(path: Path, chapter: str, mode: str, seconds: float, info: dict) -> None:
    data = json.loads(path.read_text()) if path.exists() else {}
    data["about"] = ("Seconds to execute each chapter top to bottom from a fresh kernel and an empty result cache "
                     "(shipped results loaded), per device and mode, with the 1-minute load average when it "
                     "ended; written by `make classroom` (book/scripts/classroom.py) next to the teacher README, "
                     "which shows them.")
    entry = {"seconds": round(seconds, 1), "date": datetime.date.today().isoformat(),
             "load": round(os.getloadavg()[0], 1), **info}
    data.setdefault("chapters", {}).setdefault(chapter, {}).setdefault(info["device"], {})[mode] = entry
    path.write_text(json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


def write_zip(folder: Path, target: Path, extra: list[Path] = ()) -> None:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")) + list(extra):
            if path.is_file():
                name = str(path.relative_to(folder.parent))
                archive.writestr(zipfile.ZipInfo(name, ZIP_DATE), path.read_bytes(), zipfile.ZIP_DEFLATED)


STUDENT_README = """# Student notebooks

Each notebook is a chapter of the book without its solutions. The coded exercises are functions whose
body is `raise NotImplementedError(...)`: replace that line with your code and run the cell; the check
at the end of the cell (`exercises.check(name, your_function)`) compares your function with the
library's reference and prints one verdict, or the first input that fails with a hint. The comment
under each exercise's task says what the check compares and within which tolerance.

The notebooks need the book's library, `minilib`, installed in the Python that runs them (your teacher
says how); then open them with JupyterLab (`jupyter lab` in this folder) and run them top to bottom.
"""

NBGRADER_CONFIG = """\"\"\"nbgrader configuration of the minilib course folder (written by `make classroom`).

    cd build/classroom/nbgrader
    nbgrader generate_assignment 00_start_here --create --force   # release/00_start_here/: no solutions
    nbgrader autograde 00_start_here --create                     # grades submitted/<student>/00_start_here/

Autograding executes each submission top to bottom in fast mode (MINILIB_FAST=1: reduced sizes, every
chapter well under the cell timeout below on two CPU cores); the chapters' own computations are cached in
.minilib-cache/ next to this file, so only the first submission computes them. Each coded exercise is
followed by a locked grade cell whose failure message is the check's verdict; the prose questions are
manually graded answer cells (`nbgrader formgrader`, or the gradebook).
\"\"\"

import os

c = get_config()  # noqa: F821  (nbgrader's config loader defines it)
HERE = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.root = HERE
c.CourseDirectory.course_id = "minilib"
# Seconds a cell may run: fast mode keeps a whole chapter under two minutes on two cores; ten minutes per
# cell leaves room for a busy machine. Each check also stops a student's function after 10 s per case.
c.Execute.timeout = 600
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
os.environ.setdefault("MINILIB_FAST", "1")
os.environ.setdefault("MINILIB_CACHE", os.path.join(HERE, ".minilib-cache"))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
"""


def _plan_minutes(question: Question, check_cases: int) -> str:
    if question.minutes is not None:
        level = f", {question.level}" if question.level else ""
        return f"{question.minutes} (the chapter's estimate{level})"
    return "15 (our estimate)" if question.kind == "coded" else "10 (our estimate)"


def teacher_readme(chapters: list[dict], mode: str | None, executed: bool, timings: Path) -> str:
    from minilib import exercises as registry

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    built = f" (commit {commit.stdout.strip()})" if commit.returncode == 0 and commit.stdout.strip() else ""
    if executed:
        how = f"executed top to bottom in {'fast mode (MINILIB_FAST=1)' if mode == 'fast' else 'full size'}"
    else:
        how = "not executed in this build (`--no-execute`)"
    lines = [
        "# Classroom editions", "",
        f"Built by `make classroom` on {datetime.date.today().isoformat()}{built} from the chapters in nbs/.", "",
        "- `student/` (`student.zip`): one notebook per chapter with the coded exercises' solutions replaced "
        "by `raise NotImplementedError(\"<task>\")`, outputs cleared and the solution dropdowns of the "
        "questions removed. Each exercise cell ends with a check that prints \"not implemented yet\" until "
        "the student writes the function, then a verdict: passed, or the first failing input with expected vs "
        "got and a hint.",
        f"- `teacher/` (`teacher.zip`, with this file): the chapters with their solutions, {how}.",
        "- `nbgrader/`: a ready nbgrader course folder, `source/<chapter>/<chapter>.ipynb` and "
        "`nbgrader_config.py` (cell timeout, fast mode, a shared result cache for autograding).",
        "- Students need the book's library, `minilib`, installed in the Python that runs the notebooks; "
        "`student/README.md` says how to check an answer.", "",
        "## Grading with nbgrader", "",
        "```",
        "cd build/classroom/nbgrader",
        "nbgrader generate_assignment 00_start_here --create --force   # release/00_start_here/00_start_here.ipynb",
        "# hand out release/00_start_here/; collect each student's notebook as submitted/<student>/00_start_here/",
        "nbgrader autograde 00_start_here --create",
        "nbgrader formgrader   # or: nbgrader export, for the scores",
        "```", "",
        f"In the release every coded exercise is an answer cell followed by a locked grade cell worth {POINTS_CODED} "
        "points, which calls `exercises.grade(name, function)`: it passes when the check passes, and otherwise "
        "fails with the check's verdict as its message (the student's feedback). Every prose question is a "
        f"manually graded answer cell worth {POINTS_PROSE} point; the teacher's answer is in the source "
        "notebook (and in the teacher edition). The release holds no solution, code or prose, and no outputs. "
        "Autograding executes the whole chapter in fast mode; a student can run `nbgrader validate` on their "
        "notebook, which fails while a check fails.", "",
        "## Time", "",
        "Each chapter's time is measured, not estimated, when `make classroom` executes the teacher notebooks "
        "(from a fresh kernel and an empty result cache; shipped results are loaded), and is written to "
        "`timings.json` next to this file. A chapter without a line below was not executed in this build: "
        "its time is not measured. Fast mode (MINILIB_FAST=1) keeps every chapter under two minutes on two "
        "CPU cores by the project's rule.", "",
        "Student time per exercise: the chapter's own estimate where its question gives one (\"*(10 minutes, "
        "easy.)*\"), else ours: 15 minutes for a coded exercise, 10 for a prose question.", "",
    ]
    for ch in chapters:
        lines += [f"## {ch['stem']}: {ch['title']}", ""]
        timed = registry.timing_lines(ch["stem"], timings)
        if timed:
            lines += ["Time: " + "; ".join(timed.values()) + ".",
                      "Needs: " + ("a CPU is enough (measured above); a GPU is used when there is one."
                                   if "cpu" in timed else "measured on a GPU only; no CPU measurement yet."), ""]
        else:
            lines += ["Time: not measured in this build (`make classroom` without `--no-execute` measures it).", ""]
        if ch.get("slowest"):
            lines += ["Slowest cells in this build: " + "; ".join(
                f"cell {n} ({s:.0f} s, `{first[:60]}`)" for s, n, first in ch["slowest"][:3]) + ".", ""]
        coded = {ex.check: ex for ex in ch["exercises"]}
        if ch.get("questions"):
            total = 0
            lines += ["| # | kind | question | what the check tries | wrong answers it recognises | student time "
                      "(minutes) |", "|---|---|---|---|---|---|"]
            for q in ch["questions"]:
                if q.kind == "coded":
                    entry = registry.get(q.check)
                    tries = (f"`{q.check}`: {entry.summary}; compares {registry.tolerance_text(entry)}"
                             .replace("your results with the reference's: ", ""))
                    mistakes = "; ".join(m.what for m in entry.mistakes)
                    task = coded[q.check].task
                elif q.answered:
                    tries, mistakes, task = ("manually graded answer cell (the teacher's answer is in the teacher "
                                             "edition and the nbgrader source)", "", q.text)
                else:
                    tries, mistakes, task = "not graded: the chapter gives no answer (an open question)", "", q.text
                minutes = _plan_minutes(q, 0)
                total += int(minutes.split()[0])
                cells = [q.number, q.kind, task, tries, mistakes, minutes]
                lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
            lines += ["", f"Student time for the exercises: about {total} minutes in all.", ""]
        lines += [f"Questions with solution dropdowns (removed from the student edition): {ch['dropdowns']}.", ""]
    return "\n".join(lines)


def build(out: Path, nbs: Path, *, mode: str, execute_notebooks: bool, record: bool,
          timings: Path | None = None, only: list[str] | None = None) -> list[dict]:
    """Write both editions of the chapters in nbs/ under out/; returns what the README lists per chapter.

    `only`: chapter numbers or names ("01", "01_grokking") to build, instead of all of them.
    """
    chapters = find_chapters(nbs)
    if only:
        unknown = [o for o in only if not any(p.stem == o or p.stem[:2] == o for p in chapters)]
        if unknown:
            raise ClassroomError(f"--only {' '.join(unknown)}: no such chapter; chapters are "
                                 + ", ".join(p.stem for p in chapters))
        chapters = [p for p in chapters if p.stem in only or p.stem[:2] in only]
    if not chapters:
        raise ClassroomError(f"no chapters (NN_name.py) in {nbs}")
    student_dir, teacher_dir = out / "student", out / "teacher"
    for folder in (student_dir, teacher_dir):
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.ipynb"):
            old.unlink()
    course = out / "nbgrader"
    for old in (course / "source").glob("*/*.ipynb"):
        old.unlink()
    info = machine() if execute_notebooks else None
    summary = []
    for path in chapters:
        teacher, student, found = editions(path)
        validate_checks(found)
        source_dir = course / "source" / path.stem
        source_dir.mkdir(parents=True, exist_ok=True)
        nbformat.write(nbgrader_source(teacher, found, path.stem), source_dir / f"{path.stem}.ipynb")
        dropdowns = sum(1 for c in student.cells if c.cell_type == "markdown" for line in c.source.splitlines()
                        if line == REMOVED_NOTE)
        entry = {"stem": path.stem, "title": chapter_title(teacher), "exercises": found, "dropdowns": dropdowns,
                 "questions": questions(teacher, found)}
        if execute_notebooks:
            print(f"classroom: executing {path.stem} ({mode})", flush=True)
            seconds, entry["slowest"] = execute(teacher, mode, path.name)
            for ex in found:
                text = outputs_text(teacher.cells[ex.cell])
                if f"✓ {ex.check}: passed" not in text:
                    raise ClassroomError(f"{path.name}, cell {ex.cell + 1}: the reference solution does not pass "
                                         f"its check {ex.check!r}:\n{text}")
            print(f"classroom: {path.stem} took {seconds:.1f} s", flush=True)
            if record:
                record_timing(timings or (out / "timings.json"), path.stem, mode, seconds, info)
        nbformat.write(teacher, teacher_dir / f"{path.stem}.ipynb")
        nbformat.write(student, student_dir / f"{path.stem}.ipynb")
        summary.append(entry)
    (student_dir / "README.md").write_text(STUDENT_README)
    (course / "nbgrader_config.py").write_text(NBGRADER_CONFIG)
    readme = out / "README.md"
    readme.write_text(teacher_readme(summary, mode, execute_notebooks, timings or (out / "timings.json")))
    write_zip(student_dir, out / "student.zip")
    write_zip(teacher_dir, out / "teacher.zip", extra=[readme])
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("full", "fast"), default="full",
                        help="execute the teacher notebooks at full size (default) or with MINILIB_FAST=1")
    parser.add_argument("--no-execute", action="store_true", help="write the notebooks without executing them")
    parser.add_argument("--no-record", action="store_true",
                        help="do not write the times to timings.json in the output folder")
    parser.add_argument("--nbs", type=Path, default=ROOT / "nbs", help="chapter folder (default: nbs/)")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "classroom", help="output folder")
    parser.add_argument("--only", nargs="+", metavar="CHAPTER", help="build only these chapters (01 or 01_grokking)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        summary = build(args.out.resolve(), args.nbs.resolve(), mode=args.mode,
                        execute_notebooks=not args.no_execute, record=not args.no_record, only=args.only)
    except ClassroomError as err:
        print(f"classroom: {err}", file=sys.stderr)
        return 1
    count = sum(len(ch["exercises"]) for ch in summary)
    print(f"classroom: {len(summary)} chapter(s), {count} coded exercise(s), {time.perf_counter() - started:.0f} s "
          f"-> {args.out}/student, {args.out}/teacher, README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
