"""The run folder of ``stylex train``: one process at a time (a lock), what counts as a run in it, and the
repair of ``stats.jsonl`` when a run resumes.

The lock is an OS advisory lock (``fcntl.flock``) on ``run.lock`` in the run folder, held for the life of the
training process: the operating system drops it when the process ends in any way (``kill -9`` included), so a
dead run never leaves a stale lock. The file holds the holder's process id and command, for the message a
second process gets; it is removed when the holder ends normally.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import time
from pathlib import Path
from typing import Any

from ..atomic import write_text
from ..errors import StylexError
from .checkpoint import CHECKPOINT_NAME, PREVIOUS_NAME

LOCK_NAME = "run.lock"
STATS_NAME = "stats.jsonl"
# temporary files of stylex.atomic (".NAME.<32 hex>.tmp") of the files `stylex train` writes, left behind only by a
# killed process (other commands' temporary files in the folder are not touched)
_ATOMIC_TEMP = re.compile(r"^\.(checkpoint(\.prev)?\.pt|config\.json|classifier\.pt)\.[0-9a-f]{32}\.tmp$")


class RunLock:
    """Hold the run folder ``out`` for this process (a context manager); a second holder is refused.

    Creates ``out`` when it does not exist (and removes it again on leaving if it is still empty, so a refused
    or failed command leaves nothing behind).

    Raises:
        StylexError: another process holds the folder; the message names it and its process id.
    """

    def __init__(self, out: str | os.PathLike, command: list[str] | None = None):
        self.out, self.command = Path(out), command
        self.path = self.out / LOCK_NAME
        self.fd: int | None = None
        self.created = False

    def __enter__(self) -> "RunLock":
        try:
            import fcntl
        except ImportError:          # no advisory locks on this platform (Windows): run unlocked
            return self
        self.created = not self.out.exists()
        self.out.mkdir(parents=True, exist_ok=True)
        for _ in range(5):           # the file may be replaced between open and lock: retry on a new one
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                self._leave_folder()
                raise StylexError(self._held_message()) from None
            if _same_file(fd, self.path):
                self.fd = fd
                self._write_holder()
                return self
            os.close(fd)
        raise StylexError(f"run folder {self.out}: cannot take {self.path} (it keeps being replaced)")

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            self.path.unlink(missing_ok=True)   # unlinked while still locked: a waiting opener sees a new file
            os.close(self.fd)
            self.fd = None
        self._leave_folder()

    def _write_holder(self) -> None:
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                  "command": self.command or sys.argv}
        os.ftruncate(self.fd, 0)
        os.write(self.fd, (json.dumps(holder) + "\n").encode())

    def _held_message(self) -> str:
        try:
            holder = json.loads(self.path.read_text())
            who = f"process {holder['pid']}" + ("" if holder.get("host") == socket.gethostname()
                                                 else f" on {holder.get('host')}")
            who += f", started {holder.get('started')}: {' '.join(map(str, holder.get('command') or []))}"
        except (OSError, ValueError, KeyError, TypeError):
            who = f"a process that has not yet written its id into {self.path}"
        return (f"run folder {self.out} is in use by another `stylex train` ({who}); wait for it to end or stop it "
                "(`kill PID` writes a checkpoint), or choose another --out")

    def _leave_folder(self) -> None:
        if self.created:
            try:
                self.out.rmdir()      # only when empty: a run that wrote anything keeps its folder
            except OSError:
                pass


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def run_progress(out: Path) -> list[str]:
    """The files in ``out`` that a run's training wrote (checkpoints, statistics rows, sample grids).

    A folder without any of them holds nothing of a run (``config.json`` and ``classifier.pt`` alone are
    written before the first step), so a new run may start in it.
    """
    found = [name for name in (CHECKPOINT_NAME, PREVIOUS_NAME) if (out / name).is_file()]
    stats = out / STATS_NAME
    if stats.is_file() and stats.stat().st_size > 0:
        found.append(STATS_NAME)
    if (out / "samples").is_dir() and any((out / "samples").glob("*.png")):
        found.append("samples/")
    return found


def remove_stale_temp_files(out: Path) -> list[str]:
    """Delete the temporary files a killed process left in ``out`` (half-written checkpoints); their names."""
    stale = [p for p in out.iterdir() if p.is_file() and _ATOMIC_TEMP.match(p.name)] if out.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return [p.name for p in stale]


def repair_stats(out: Path, last_step: int) -> list[str]:
    """Make ``stats.jsonl`` match a run resumed at optimiser step ``last_step``; what was dropped, for a message.

    Drops a torn line (the process was killed while writing it), any line that is not a JSON object, and the
    rows of ticks after ``last_step`` (logged after the checkpoint the run resumes from: they are logged again).
    The file is rewritten atomically, and only when something is dropped.
    """
    path = out / STATS_NAME
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.splitlines()
    said = []
    if lines and not text.endswith("\n"):
        lines.pop()
        said.append("a torn last line (the process was killed while writing it)")
    rows = [(line, _row(line)) for line in lines if line.strip()]
    bad = sum(row is None for _, row in rows)
    later = sum(row is not None and row["step"] > last_step for _, row in rows)
    kept = [line for line, row in rows if row is not None and row["step"] <= last_step]
    if bad:
        said.append(f"{bad} line(s) that are not statistics rows")
    if later and last_step:
        said.append(f"{later} row(s) logged after the checkpoint (step {last_step}), which the resumed run logs again")
    elif later:
        said.append(f"{later} row(s) of the attempt that stopped before its first checkpoint")
    if said:
        write_text(path, "".join(line + "\n" for line in kept))
    return said


def _row(line: str) -> dict[str, Any] | None:
    """A statistics row (a JSON object with its optimiser ``step``), or None."""
    try:
        row = json.loads(line)
    except ValueError:
        return None
    return row if isinstance(row, dict) and isinstance(row.get("step"), (int, float)) else None
