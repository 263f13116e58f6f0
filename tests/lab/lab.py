"""JupyterLab started exactly as `make lab` starts it, a chromium page on one chapter, and a side channel
into that chapter's kernel (to count training threads and read the explorer's state).

Used by tests/lab/conftest.py and tests/lab/test_lab.py.
"""

from __future__ import annotations

import ast
import builtins
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NBS = ROOT / "nbs"
CHROMIUM = Path(os.environ.get("CHROMIUM") or os.environ.get("MINILIB_CHROMIUM") or "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
#: nbtest's result cache: when `make test` has just filled it, a copy lets the chapters load their stored
#: runs instead of training them again (the copy keeps the test's cache private).
NBCACHE = ROOT / "build" / "nbcache"
OUT = ROOT / "build" / "labtest"  # screenshots, the server log and the measured timings
THREAD_PREFIX = "minilib-explorer"


def chromium_path() -> Path:
    """The chromium to drive (Debian's by default; CHROMIUM or MINILIB_CHROMIUM names another)."""
    if not CHROMIUM.exists():
        import pytest

        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (`apt-get install -y chromium`; "
                    "`make labtest` does this) or point CHROMIUM at one")
    return CHROMIUM


def chapter_stems() -> list[str]:
    return sorted(p.stem for p in NBS.glob("[0-9][0-9]_*.py"))


def explorer_cells(path: Path) -> tuple[list[int], list[int]]:
    """The cells the Lab test executes in a chapter: its explorer cells and every cell they need.

    Returns (cells to run, explorer cells), as indices into the notebook's cells (markdown included), in
    order. An explorer cell is a code cell that calls `explorer(...)` (`widgets.explorer`); a cell is needed
    when it is the last cell before a needed cell to define a name that cell uses (imports, assignments,
    functions), found by reading the cells' Python -- so the explorer's settings, the cells that compute
    them and the imports follow the chapter as it changes. A cell needed only for a side effect, with no
    name the explorer's cells use, would be missed (none is needed so far: docs/explorer.md).
    """
    import jupytext
    from IPython.core.inputtransformer2 import TransformerManager

    cells = jupytext.read(path).cells
    code = [i for i, c in enumerate(cells) if c.cell_type == "code"]
    defines, uses, explorers = {}, {}, []
    for i in code:
        tree = ast.parse(TransformerManager().transform_cell(cells[i].source))  # %magics become Python
        d, u = set(), set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                (u if isinstance(node.ctx, ast.Load) else d).add(node.id)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                d.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                d.add(node.name)
            elif isinstance(node, ast.Call):
                f = node.func
                if (f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")) == "explorer":
                    explorers.append(i)
        defines[i], uses[i] = d, u - set(dir(builtins))
    explorers = sorted(set(explorers))
    needed, todo = set(explorers), list(explorers)
    while todo:
        i = todo.pop()
        for name in uses[i]:
            source = next((j for j in reversed(code) if j < i and name in defines[j]), None)
            if source is not None and source not in needed:
                needed.add(source)
                todo.append(source)
    return sorted(needed), explorers


def git_status(path: str = "nbs") -> str:
    return subprocess.run(["git", "status", "--porcelain", "--", path], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LabServer:
    """`make lab` with LAB_ARGS for a headless run: no browser, a free port, a known token."""

    tmp: Path
    url: str = ""
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    proc: subprocess.Popen | None = None

    @property
    def runtime_dir(self) -> Path:
        return self.tmp / "runtime"

    def start(self, timeout: float = 300.0) -> LabServer:
        cache = self.tmp / "cache"
        if NBCACHE.is_dir():
            shutil.copytree(NBCACHE, cache)
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = dict(os.environ, MINILIB_FAST="1", MINILIB_CACHE=str(cache), JUPYTER_RUNTIME_DIR=str(self.runtime_dir),
                   JUPYTER_CONFIG_DIR=str(self.tmp / "config"), IPYTHONDIR=str(self.tmp / "ipython"),
                   OMP_WAIT_POLICY="PASSIVE")
        args = f"--no-browser --port={port} --IdentityProvider.token={self.token} " \
               f"--LabApp.workspaces_dir={self.tmp / 'workspaces'}"
        OUT.mkdir(parents=True, exist_ok=True)
        log = open(OUT / "server.log", "w")  # noqa: SIM115 - kept open for the server's lifetime
        # Its own session, so that stopping it also stops make and jupyter-lab (and through them the kernels).
        self.proc = subprocess.Popen(["make", "-s", "lab", f"LAB_ARGS={args}"], cwd=ROOT, env=env, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        t0 = time.monotonic()
        while True:
            try:
                self.api("status")
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() - t0 > timeout:
                    raise RuntimeError(f"`make lab` did not serve {self.url} within {timeout:.0f} s:\n"
                                       + (OUT / "server.log").read_text()[-3000:]) from None
                time.sleep(0.3)

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=60) as r:
            body = r.read()
            return json.loads(body) if body else None

    def shut_down(self, notebook: str):
        """End the Lab session of `notebook` and its kernel (its explorer's memory goes with it)."""
        for s in self.api("sessions"):
            if s["path"] == notebook:
                self.api(f"sessions/{s['id']}", method="DELETE")

    def kernel_for(self, notebook: str, timeout: float = 300.0) -> Kernel:
        """A client of the kernel that the Lab session for `notebook` (e.g. 'nbs/00_start_here.py') uses."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            for s in self.api("sessions"):
                if s["path"] == notebook and s.get("kernel"):
                    f = self.runtime_dir / f"kernel-{s['kernel']['id']}.json"
                    if f.exists():
                        return Kernel(f)
            time.sleep(0.3)
        raise RuntimeError(f"no kernel session for {notebook}: {self.api('sessions')}")

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


class Kernel:
    """Evaluates expressions in a running kernel without producing output or execution counts in Lab."""

    def __init__(self, connection_file: Path):
        from jupyter_client import BlockingKernelClient

        self.client = BlockingKernelClient(connection_file=str(connection_file))
        self.client.load_connection_file()
        self.client.start_channels()

    def eval(self, expr: str, timeout: float = 30.0):
        """The Python value of expr in the kernel's namespace (via repr -> literal)."""
        msg_id = self.client.execute("", silent=True, store_history=False, user_expressions={"v": expr})
        t0 = time.monotonic()
        while True:
            reply = self.client.get_shell_msg(timeout=max(timeout - (time.monotonic() - t0), 0.1))
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        v = reply["content"]["user_expressions"]["v"]
        if v["status"] != "ok":
            raise RuntimeError(f"{expr!r} failed in the kernel: {v.get('ename')}: {v.get('evalue')}")
        import ast

        text = v["data"]["text/plain"]
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text

    def threads(self) -> list[str]:
        """Names of the explorer training threads alive in the kernel (each run's name is new)."""
        return self.eval("[t.name for t in __import__('threading').enumerate() "
                         f"if t.name.startswith({THREAD_PREFIX!r})]")

    def explorer(self, module: str, attr: str):
        return self.eval(f"__import__('minilib.widgets', fromlist=['_']).live_explorers()[{module!r}].{attr}")

    def close(self):
        self.client.stop_channels()


def poll(fn, timeout: float, every: float = 0.05, what: str = "condition"):
    """Call fn until it returns a truthy value; that value (AssertionError after timeout seconds)."""
    t0 = time.monotonic()
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"{what} not reached within {timeout:.0f} s")
        time.sleep(every)


def exact(text: str) -> re.Pattern:
    return re.compile(rf"^\s*{re.escape(text)}\s*$")
