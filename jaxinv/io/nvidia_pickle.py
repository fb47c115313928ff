"""Reading NVIDIA's network pickles (stylegan2-ada-pytorch, stylegan3 and their forks) without
running them and without torch.

Such a ``.pkl`` pickles each network through ``torch_utils.persistence``: the object is rebuilt
by ``_reconstruct_persistent_obj(meta)``, where ``meta`` holds the *source code* of the module
that defines the class (NVIDIA's loader executes it) and the object's ``__dict__`` (``state``:
``_parameters``, ``_buffers``, ``_modules`` and plain attributes). Tensors are pickled with
``torch._utils._rebuild_tensor_v2`` over storages that ``torch.storage._load_from_bytes`` reads
from a legacy ``torch.save`` stream.

:func:`load` maps exactly those globals to local functions that build plain data: a
:class:`PersistentObject` (class name and state; the source code is dropped, never executed),
numpy arrays and scalars, dicts. Any other global is refused with :class:`CheckpointError` naming the file,
so a crafted pickle cannot run code.
"""

from __future__ import annotations

import collections
import io
import pickle
from typing import Any, NamedTuple

import numpy as np

from jaxinv.io.checkpoints import CheckpointError
from jaxinv.io.torch_zip import STORAGE_DTYPES, rebuild_parameter, rebuild_tensor, storage_dtype

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class PersistentObject(NamedTuple):
    """A network object of the pickle as data: ``class_name`` and its ``state`` (``__dict__``)."""

    class_name: str
    state: dict

    def module(self, name: str) -> "PersistentObject":
        return self.state["_modules"][name]

    def tensor(self, name: str) -> np.ndarray | None:
        """Parameter or buffer ``name`` (None when the object has none by that name)."""
        for group in ("_parameters", "_buffers"):
            found = self.state.get(group, {}).get(name)
            if found is not None:
                return found
        return None


def _persistent_object(meta):
    if not isinstance(meta, dict) or meta.get("type") != "class" or "class_name" not in meta:
        raise pickle.UnpicklingError("a persistent object without a class name")
    return PersistentObject(str(meta["class_name"]), dict(meta.get("state") or {}))


class _NoGlobals(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refused global {module}.{name} in a storage header")


class _StorageKey(NamedTuple):
    key: str


class _LegacyStorageUnpickler(_NoGlobals):
    """The object pickle of a legacy ``torch.save`` stream holding one storage."""

    def __init__(self, file):
        super().__init__(file)
        self.dtypes: dict[str, np.dtype] = {}

    def find_class(self, module, name):
        if module == "torch" and name in STORAGE_DTYPES:
            return storage_dtype(STORAGE_DTYPES[name])
        return super().find_class(module, name)

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
                and isinstance(pid[1], np.dtype)):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r:.80}")
        self.dtypes[str(pid[2])] = pid[1]
        return _StorageKey(str(pid[2]))


def _storage_from_bytes(data):
    """A storage saved by ``torch.save`` in the legacy format: header pickles, the object
    pickle, the storage keys, then each storage as a little-endian int64 count and its raw
    little-endian elements."""
    if not isinstance(data, (bytes, bytearray)):
        raise pickle.UnpicklingError("a storage that is not bytes")
    f = io.BytesIO(data)
    if _NoGlobals(f).load() != _LEGACY_MAGIC:
        raise pickle.UnpicklingError("a storage without torch's legacy magic number")
    _NoGlobals(f).load()  # protocol version
    _NoGlobals(f).load()  # system info
    objects = _LegacyStorageUnpickler(f)
    root = objects.load()
    storages = {}
    for key in _NoGlobals(f).load():
        dtype = objects.dtypes[str(key)]
        count = int.from_bytes(f.read(8), "little")
        raw = f.read(count * dtype.itemsize)
        if len(raw) != count * dtype.itemsize:
            raise pickle.UnpicklingError("a storage shorter than its count")
        storages[str(key)] = np.frombuffer(raw, dtype.newbyteorder("<")).astype(dtype)
    if not isinstance(root, _StorageKey) or root.key not in storages:
        raise pickle.UnpicklingError("a storage stream that holds no storage")
    return storages[root.key]


def _numpy_scalar(dtype, data):
    """``numpy.core.multiarray.scalar``: NVIDIA's layers keep gains as numpy floats."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, bytes):
        raise pickle.UnpicklingError("a numpy scalar that is not plain numbers")
    return np.frombuffer(data, dtype)[0]


def _numpy_array(subtype, shape, dtype_code):
    """``numpy.core.multiarray._reconstruct``: an empty ndarray that the pickle then fills."""
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError("a numpy array of a subclass")
    return np.ndarray.__new__(np.ndarray, shape, dtype_code)


_GLOBALS = {("collections", "OrderedDict"): collections.OrderedDict,
            ("numpy", "dtype"): np.dtype, ("numpy", "ndarray"): np.ndarray,
            **{(f"numpy.{core}.multiarray", name): f
               for core in ("core", "_core")
               for name, f in (("scalar", _numpy_scalar), ("_reconstruct", _numpy_array))},
            ("dnnlib.util", "EasyDict"): dict,
            ("torch_utils.persistence", "_reconstruct_persistent_obj"): _persistent_object,
            ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
            ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor,
            ("torch._utils", "_rebuild_parameter"): rebuild_parameter}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _GLOBALS:
            return _GLOBALS[module, name]
        raise pickle.UnpicklingError(f"refused global {module}.{name}: only NVIDIA's persistent "
                                     f"networks, tensors and plain containers are read")


def load(path: str, what: str) -> Any:
    """The pickled object of ``path`` as plain data (networks as :class:`PersistentObject`,
    tensors as numpy arrays). Raises :class:`CheckpointError` naming the file when it is
    missing, not a pickle, or holds anything else."""
    try:
        with open(path, "rb") as f:
            return _Unpickler(f).load()
    except FileNotFoundError:
        raise CheckpointError(f"{path}: does not exist (expected {what})") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, AttributeError,
            IndexError) as e:
        raise CheckpointError(f"{path}: cannot be read as {what} ({type(e).__name__}: "
                              f"{e})") from None
