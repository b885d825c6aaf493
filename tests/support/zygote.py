"""A process that has imported every service and forks workers from itself.

``python -m oms_<name> worker`` spends about 1.5 s of CPU importing its modules before it
does anything; the tests start some 200 workers. This process imports them once and forks a
child per worker, which then runs ``oms_<name>``'s ``__main__`` exactly as ``python -m``
would, in a session of its own, with the test's environment and log file: still one OS
process per worker, started, signalled and killed as before, without the imports.

Protocol (one JSON line each way on stdin/stdout): ``{"module", "args", "env", "log",
"exit_file"}`` is answered ``{"pid"}``; when a child ends, its exit code (negative: the
signal that ended it, as ``subprocess`` says) is written to its ``exit_file``. The process
ends when its stdin closes: the test process that started it is gone.
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import runpy
import select
import sys
import traceback
from pathlib import Path
from typing import Any

SERVICES = Path(__file__).resolve().parents[2] / "services"


def _run_child(request: dict[str, Any], started: int) -> None:
    """In the forked child: become ``python -m <module> <args>``; never returns. A byte on
    ``started`` says its session exists, so the test may signal its process group."""
    code = 1
    try:
        os.setsid()
        os.write(started, b"s")
        os.close(started)
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = [request["module"], *request["args"]]
        try:
            runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)


def _reap(exit_files: dict[int, str]) -> None:
    while exit_files:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        path = exit_files.pop(pid, None)
        if path is not None:
            written = Path(path + ".part")
            written.write_text(str(os.waitstatus_to_exitcode(status)))
            written.rename(path)  # whole or absent to a reader


def main() -> None:
    for service in sorted(SERVICES.iterdir()):
        try:
            importlib.import_module(f"oms_{service.name}.bootstrap")
        except ImportError:
            pass  # not installed here: a child imports what it runs itself
    requests, replies = sys.stdin.buffer, sys.stdout
    exit_files: dict[int, str] = {}
    while True:
        readable, _, _ = select.select([requests], [], [], 0.05)
        _reap(exit_files)
        if not readable:
            continue
        line = requests.readline()
        if not line:
            return  # the test process is gone; its workers are its fixtures' to stop
        request = json.loads(line)
        started, child_started = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(started)
            _run_child(request, child_started)
        os.close(child_started)
        os.read(started, 1)  # empty if the child died first: its exit file says how
        os.close(started)
        exit_files[pid] = request["exit_file"]
        replies.write(json.dumps({"pid": pid}) + "\n")
        replies.flush()


if __name__ == "__main__":
    main()
