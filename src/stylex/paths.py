"""Checks of the folders a command writes and the small files it reads, shared by every command.

Each check runs before any work and turns a bad path or a damaged file into one
:class:`~stylex.errors.StylexError` line that names the option or file and says what to do, instead of a
traceback (or, worse, a failure after an hour of training).
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from .errors import StylexError


def check_output_dir(path: str | os.PathLike, option: str = "--out") -> Path:
    """Make sure ``path`` is, or can become, a folder this process can write into; create nothing.

    An existing folder is probed by writing (and removing) an empty file in it; for a new one, the nearest
    existing parent is probed, so a refused command leaves no empty folder behind.

    Args:
        path: the output folder.
        option: the command-line option that gave it, for the message.

    Returns:
        ``Path(path)``.

    Raises:
        StylexError: ``path`` is a file, lies below a file, or is not writable (read-only file system,
            permissions).
    """
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise StylexError(f"{option} {path} is a file, not a folder: give a folder path (it is created if needed)")
    parent = next(p for p in [out, *out.absolute().parents] if p.exists())
    if not parent.is_dir():
        raise StylexError(f"{option} {path}: cannot write there ({parent} is a file); give a writable folder")
    probe = parent / f".stylex-write-test-{uuid.uuid4().hex}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise StylexError(f"{option} {path}: cannot write there ({reason}); give a writable folder") from None
    return out


def check_output_file(path: str | os.PathLike, option: str) -> Path:
    """Make sure the file ``path`` can be written (its folder is created and writable, it is no folder)."""
    target = Path(path)
    if target.is_dir():
        raise StylexError(f"{option} {path} is a folder: give a file path")
    check_output_dir(target.parent, f"{option} {path}: folder")
    return target


def read_json_object(path: str | os.PathLike, producer: str) -> dict[str, Any]:
    """Read a JSON file that must hold an object; a missing or damaged file is named with what to do.

    Args:
        path: the file.
        producer: the command that writes it (e.g. ``stylex attfind``), named in the messages.
    """
    path = Path(path)
    if not path.is_file():
        raise StylexError(f"{path} not found: {path.name} is written by `{producer}`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:   # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise StylexError(f"{path} is not valid JSON ({exc}); rerun `{producer}`") from None
    if not isinstance(data, dict):
        raise StylexError(f"{path} does not hold a JSON object; rerun `{producer}`")
    return data


def check_run_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Read and check ``run_dir/config.json`` of a StylEx run: a damaged file is named, never a traceback.

    Only the outline is checked (sections ``train`` and ``data`` are objects, ``class_names`` a list, and a
    ``network`` object where the file has no ``layout``); the values are checked where they are used.
    """
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise StylexError(f"{run_dir} is not a StylEx run directory (no config.json); train one with `stylex train`")
    doc = read_json_object(path, "stylex train")
    expected = {"train": dict, "data": dict, "class_names": list, **({} if "layout" in doc else {"network": dict})}
    bad = [k for k, kind in expected.items() if not isinstance(doc.get(k), kind)]
    if bad:
        raise StylexError(f"{path} is damaged: {', '.join(bad)} missing or of the wrong type; restore it from a "
                          "copy or train the run again with `stylex train`")
    return doc
