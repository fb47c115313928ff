"""Reading ``torch.save`` files without torch, through a restricted unpickler.

A ``torch.save`` file (PyTorch >= 1.6) is a zip archive: ``<name>/data.pkl`` pickles the object
and refers to tensor storages by key, and ``<name>/data/<key>`` holds each storage's raw bytes.
:func:`load` reads such a file into plain Python containers of numpy arrays. Its unpickler knows
exactly the globals a weights file needs (``OrderedDict``, the tensor and parameter rebuild
functions and the typed storage classes), each mapped to a local function that only builds
numpy arrays; any other global is refused with :class:`CheckpointError`, so nothing in the file
is ever executed. The library uses it for weights shipped inside installed packages, which must
load on a machine without torch.
"""

from __future__ import annotations

import collections
import pickle
import zipfile
from typing import Any, NamedTuple

import numpy as np

from jaxinv.io.checkpoints import CheckpointError


class _Storage(NamedTuple):
    dtype: np.dtype


STORAGE_DTYPES = {"FloatStorage": "float32", "DoubleStorage": "float64",
                  "HalfStorage": "float16", "BFloat16Storage": "bfloat16",
                  "LongStorage": "int64", "IntStorage": "int32", "ShortStorage": "int16",
                  "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool"}


def storage_dtype(name: str) -> np.dtype:
    if name == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None,
                    metadata=None):
    del requires_grad, hooks, metadata
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if len(size) != len(stride) or min(size + stride, default=0) < 0 or offset < 0:
        raise pickle.UnpicklingError(f"invalid tensor layout size={size} stride={stride}")
    if 0 in size:
        return np.zeros(size, storage.dtype)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= storage.size:
        raise pickle.UnpicklingError(f"tensor of size {size} reaches past its storage")
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], size, tuple(s * storage.itemsize for s in stride), writeable=False)
    return np.array(view)


def rebuild_parameter(data, requires_grad=False, hooks=None):
    del requires_grad, hooks
    return data


_GLOBALS = {("collections", "OrderedDict"): collections.OrderedDict,
            ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor,
            ("torch._utils", "_rebuild_parameter"): rebuild_parameter}


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, archive: zipfile.ZipFile, prefix: str, big_endian: bool):
        super().__init__(file)
        self._archive, self._prefix, self._big_endian = archive, prefix, big_endian
        self._storages: dict[str, np.ndarray] = {}

    def find_class(self, module, name):
        if module == "torch" and name in STORAGE_DTYPES:
            return _Storage(storage_dtype(STORAGE_DTYPES[name]))
        if (module, name) in _GLOBALS:
            return _GLOBALS[module, name]
        raise pickle.UnpicklingError(f"refused global {module}.{name}: only tensors and plain "
                                     f"containers are read")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _Storage)):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r:.80}")
        storage, key = pid[1], str(pid[2])
        if key not in self._storages:
            raw = self._archive.read(f"{self._prefix}/data/{key}")
            dtype = storage.dtype.newbyteorder(">") if self._big_endian else storage.dtype
            self._storages[key] = np.frombuffer(raw, dtype).astype(storage.dtype)
        return self._storages[key]


def load(path: str, what: str) -> Any:
    """The object saved in ``path`` by ``torch.save``, tensors as numpy arrays (C order).

    Args:
      path: a ``torch.save`` zip file.
      what: what the caller expects there, for error messages.

    Raises:
      CheckpointError naming the file: missing, not a zip ``torch.save`` file (the legacy tar
      format is not read), or holding anything other than tensors and plain containers.
    """
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: does not exist (expected {what})") from None
    except (zipfile.BadZipFile, OSError) as e:
        raise CheckpointError(f"{path}: not a torch.save zip file (expected {what}; {e})") from None
    with archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise CheckpointError(f"{path}: not a torch.save zip file (expected {what}: one "
                                  f"<name>/data.pkl)")
        prefix = pickles[0].split("/")[0]
        names = set(archive.namelist())
        big = (f"{prefix}/byteorder" in names
               and archive.read(f"{prefix}/byteorder").strip() == b"big")
        try:
            with archive.open(pickles[0]) as f:
                return _Unpickler(f, archive, prefix, big).load()
        except (pickle.UnpicklingError, KeyError, EOFError, ValueError, TypeError,
                AttributeError, zipfile.BadZipFile) as e:
            raise CheckpointError(f"{path}: cannot be read as {what} ({type(e).__name__}: "
                                  f"{e})") from None
