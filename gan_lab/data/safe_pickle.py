"""Unpickling data files without running code from them.

``pickle.load`` calls whatever a file names (``os.system`` included). The official CIFAR python files are
pickles of dicts holding bytes, lists of ints and numpy arrays, so :func:`load` admits exactly the numpy
globals that rebuild an array and refuses every other global with ``pickle.UnpicklingError``.
"""

from __future__ import annotations

import io
import pickle
from typing import BinaryIO

# (module, name) a data pickle may refer to: numpy's array reconstruction (numpy 1 and 2 module names; the
# buffer form of pickle protocol 5) and the str -> bytes step protocol 2 uses for byte strings. None of them
# can call anything else.
ALLOWED_GLOBALS = frozenset({
    (numpy_core, name) for numpy_core in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
} | {("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
     ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")})


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"the file refers to {module}.{name}, which a data file never needs: "
                                     "refused (it could run code)")


def load(f: BinaryIO | bytes, encoding: str = "bytes"):
    """``pickle.load`` that only rebuilds builtins and numpy arrays (``encoding`` as for py2 pickles)."""
    if isinstance(f, (bytes, bytearray)):
        f = io.BytesIO(f)
    return RestrictedUnpickler(f, encoding=encoding).load()
