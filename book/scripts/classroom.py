"""Classroom editions of the chapters: student and teacher notebooks from the one source in nbs/.

    python book/scripts/classroom.py                # make classroom: teacher notebooks executed at full size
    python book/scripts/classroom.py --mode fast    # the same with MINILIB_FAST=1
    python book/scripts/classroom.py --no-execute   # notebooks only (what the tests build)

Writes, under build/classroom/:
    student/NN_*.ipynb   exercise solutions replaced by a stub, outputs cleared, solution dropdowns removed
    teacher/NN_*.ipynb   the chapter as in the book, solutions included, executed
    student.zip, teacher.zip, README.md (for the teacher: time, CPU/GPU, exercises and their checks)

A coded exercise is a code cell whose first line is `# Exercise: <one-line task>` and whose solution sits
between nbgrader's `### BEGIN SOLUTION` and `### END SOLUTION` lines; it ends with
`exercises.check("<name>", <function>)` (minilib/exercises.py). In the student edition each marked
region becomes `raise NotImplementedError("<task>")` at the indentation of its BEGIN line, so the function
exists and the check answers "not implemented yet". The teacher edition keeps the markers and carries
nbgrader's cell metadata, so it can also be fed to nbgrader. A solution dropdown is a markdown block
`:::{dropdown} Solution` (or an admonition with `:class: dropdown`) whose title names a solution or an
answer (book/testing.md); the student edition replaces it by a one-line note.

Executing the teacher notebooks measures each chapter: wall-clock seconds from a fresh kernel and an
empty result cache (shipped results are loaded, MINILIB_REQUIRE_RESULTS=1), recorded per device and mode
in results/timings.json, which the chapters' first cells show (`exercises.timing_note`).
"""

from __future__ import annotations

import argparse
import copy
import datetime
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
CHECK = re.compile(r"""exercises\.check\(\s*["'](?P<name>[\w.]+)["']""")
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


def parse_exercise(source: str, where: str) -> tuple[str, str, list[str]] | None:
    """(task, check name, solution lines) of an exercise cell; None for a cell without markers."""
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
    return task.group("task"), check.group("name"), solution


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


def chapter_title(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ""


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
            task, check, solution = parsed
            found.append(Exercise(path.stem, index, task, check, solution))
            s_cell.source = stub_source(t_cell.source, task)
            grade_id = "ex-" + check.replace(".", "-")
            # nbgrader's "autograded answer" cell; the check itself prints, it does not grade.
            t_cell.metadata["nbgrader"] = {"grade": False, "grade_id": grade_id, "locked": False,
                                           "schema_version": 3, "solution": True, "task": False}
        elif t_cell.cell_type == "markdown":
            s_cell.source, _ = remove_solution_dropdowns(t_cell.source, where)
    return teacher, student, found


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
                     "ended; written by `make classroom` (book/scripts/classroom.py), shown by "
                     "minilib.exercises.timing_note.")
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
library's reference and prints one verdict, or the first input that fails with a hint.
The notebooks need the book's library, `minilib`: in the book's repository run `make setup` (or
`pip install -e .`), then open them with JupyterLab (`make lab`, or `jupyter lab` in this folder).
"""


def teacher_readme(chapters: list[dict], mode: str | None, executed: bool) -> str:
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
        f"- `teacher/` (`teacher.zip`, with this file): the chapters with their solutions, {how}. The "
        "solution lines keep nbgrader's `### BEGIN SOLUTION` / `### END SOLUTION` markers and the cells carry "
        "nbgrader's metadata, so the notebooks can also be given to nbgrader.",
        "- Students need the book's library (`make setup` in the repository, or `pip install -e .`); "
        "`student/README.md` says how to check an answer.", "",
        "Times are measured, not estimated: the seconds a fresh kernel took to execute the chapter from an "
        "empty result cache (results/timings.json, written when `make classroom` executes the notebooks).", "",
    ]
    for ch in chapters:
        lines += [f"## {ch['stem']}: {ch['title']}", ""]
        timed = registry.timing_lines(ch["stem"])
        if timed:
            lines += ["Time: " + "; ".join(timed.values()) + ".",
                      "Needs: " + ("a CPU is enough (measured above); a GPU is used when there is one."
                                   if "cpu" in timed else "measured on a GPU only; no CPU measurement yet."), ""]
        else:
            lines += ["Time: not measured yet (run `make classroom`).", ""]
        if ch.get("slowest"):
            lines += ["Slowest cells in this build: " + "; ".join(
                f"cell {n} ({s:.0f} s, `{first[:60]}`)" for s, n, first in ch["slowest"][:3]) + ".", ""]
        if ch["exercises"]:
            lines += ["| # | task | check | what the check tries | wrong answers it recognises |",
                      "|---|---|---|---|---|"]
            for number, ex in enumerate(ch["exercises"], start=1):
                entry = registry.get(ex.check)
                mistakes = "; ".join(m.what for m in entry.mistakes)
                cells = [str(number), ex.task, f"`{ex.check}`", entry.summary, mistakes]
                lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
            lines.append("")
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
    info = machine() if execute_notebooks else None
    summary = []
    for path in chapters:
        teacher, student, found = editions(path)
        validate_checks(found)
        dropdowns = sum(1 for c in student.cells if c.cell_type == "markdown" for line in c.source.splitlines()
                        if line == REMOVED_NOTE)
        entry = {"stem": path.stem, "title": chapter_title(teacher), "exercises": found, "dropdowns": dropdowns}
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
                record_timing(timings or (ROOT / "results" / "timings.json"), path.stem, mode, seconds, info)
        nbformat.write(teacher, teacher_dir / f"{path.stem}.ipynb")
        nbformat.write(student, student_dir / f"{path.stem}.ipynb")
        summary.append(entry)
    (student_dir / "README.md").write_text(STUDENT_README)
    readme = out / "README.md"
    readme.write_text(teacher_readme(summary, mode, execute_notebooks))
    write_zip(student_dir, out / "student.zip")
    write_zip(teacher_dir, out / "teacher.zip", extra=[readme])
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("full", "fast"), default="full",
                        help="execute the teacher notebooks at full size (default) or with MINILIB_FAST=1")
    parser.add_argument("--no-execute", action="store_true", help="write the notebooks without executing them")
    parser.add_argument("--no-record", action="store_true", help="do not write the times to results/timings.json")
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
