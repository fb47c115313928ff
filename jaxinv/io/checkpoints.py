"""Reading untrusted PyTorch checkpoints and saving/restoring params pytrees.

PyTorch files are only ever read with ``torch.load(..., weights_only=True)``, PyTorch's restricted
unpickler: it rebuilds tensors and plain containers and refuses every other global, so a crafted
pickle cannot run code. Every failure is raised as :class:`CheckpointError` naming the file and
what was expected.

A converted checkpoint is a directory ``OUTPUT_DIR`` holding ``params.npz`` (the params pytree
flattened to ``'a.0.b'`` keys, numpy's archive format, read back with pickling refused) and
``meta.json`` (the family, its static architecture, where it came from, and a checksum of every
array: loading verifies them, so a damaged file is named instead of producing a diverging run).
Every process reads and writes these files on its own: in a multi-host run (``jax.distributed``)
each host saves its images' latents whenever they are done. (Orbax, used until 2026-11-29, treats
every save in such a run as a collective of all processes and writes numpy arrays only from
process 0; directories it wrote, with ``params/``, must be converted again.)
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from typing import Any, Mapping

import numpy as np


class CheckpointError(ValueError):
    """A checkpoint file or directory that cannot be used; the message names the file."""


def load_torch_file(path: str, what: str) -> Any:
    """Loads a PyTorch file with the restricted unpickler, onto the CPU.

    Args:
      path: the file.
      what: what the caller expects there, used in error messages (e.g. "a rosinality
        StyleGAN2 checkpoint {'g_ema': state_dict, 'latent_avg': tensor}").
    """
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such file (expected {what})")
    try:
        import torch
    except ImportError as e:
        raise CheckpointError(
            f"{path}: reading PyTorch files needs torch; install it with "
            f"`pip install 'jaxinv[convert]'`") from e
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types: UnpicklingError, RuntimeError, EOFError
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"{path}: cannot be read as {what}; it is corrupt, truncated, not a PyTorch file, "
            f"or holds objects other than tensors and plain containers, which are refused "
            f"for safety ({type(e).__name__}: {first_line})") from None


def state_dict_to_numpy(state: Mapping[str, Any], path: str, what: str) -> dict[str, np.ndarray]:
    """Converts a mapping of tensors to numpy (floats as float32), checking each is a tensor."""
    import torch

    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path}: expected {what}, found a {type(state).__name__}")
    out = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(
                f"{path}: expected {what}; entry {key!r} is a {type(value).__name__}, not a tensor")
        array = value.detach().cpu()
        if array.is_floating_point():
            array = array.float()
        out[str(key)] = array.numpy()
    return out


def require_keys(state: Mapping[str, Any], keys, path: str, what: str) -> None:
    missing = [k for k in keys if k not in state]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise CheckpointError(f"{path}: not {what}; missing keys {shown}")


def check_shapes(params: Any, expected: Any, where: str) -> None:
    """Raises CheckpointError naming ``where`` and the first array of ``params`` that is missing,
    extra or of another shape than in ``expected`` (a pytree of arrays or ShapeDtypeStructs)."""
    import jax

    def shapes(tree):
        return {jax.tree_util.keystr(path): tuple(np.shape(leaf)) for path, leaf in
                jax.tree_util.tree_flatten_with_path(tree)[0]}

    got, want = shapes(params), shapes(expected)
    for key, shape in want.items():
        if key not in got:
            raise CheckpointError(f"{where}: array {key} is missing")
        if got[key] != shape:
            raise CheckpointError(f"{where}: {key} has shape {got[key]}, expected {shape}")
    extra = sorted(set(got) - set(want))
    if extra:
        raise CheckpointError(f"{where}: unexpected arrays {', '.join(extra[:5])}")


def flatten_tree(tree: Any, prefix: str = "") -> dict[str, np.ndarray]:
    """Flattens nested dicts/lists of arrays to ``{'a.0.b': array}``."""
    if isinstance(tree, Mapping):
        items = tree.items()
    elif isinstance(tree, (list, tuple)):
        items = ((str(i), v) for i, v in enumerate(tree))
    else:
        return {prefix: np.asarray(tree)}
    flat = {}
    for key, value in items:
        key = str(key)
        if "." in key:
            raise ValueError(f"tree key {key!r} must not contain '.'")
        flat.update(flatten_tree(value, f"{prefix}.{key}" if prefix else key))
    return flat


def unflatten_tree(flat: Mapping[str, Any]) -> Any:
    """Inverse of :func:`flatten_tree`: numeric keys become list indices."""
    root: dict = {}
    for path, value in flat.items():
        node = root
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = np.asarray(value)

    def listify(node):
        if not isinstance(node, dict):
            return node
        node = {k: listify(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[str(i)] for i in range(len(node))]
        return node

    return listify(root)


def array_checksum(array) -> str:
    """A digest of an array's dtype, shape and bytes (blake2b, 128 bits, hex)."""
    import hashlib

    a = np.ascontiguousarray(np.asarray(array))
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def tree_checksum(tree: Any) -> str:
    """One digest of every array of a params pytree (keys, dtypes, shapes and bytes)."""
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    for key, array in sorted(flatten_tree(tree).items()):
        h.update(key.encode())
        h.update(array_checksum(array).encode())
    return h.hexdigest()


PARAMS_FILE = "params.npz"


def _write_arrays(path: str, flat: dict[str, np.ndarray]) -> None:
    odd = [k for k, a in flat.items() if a.dtype.kind not in "biufc"]
    if odd:  # numpy's format would store e.g. bfloat16 as raw bytes, not as numbers
        raise ValueError(f"{path}: array {odd[0]} has dtype {flat[odd[0]].dtype}, which numpy's "
                         f"archive cannot store; cast it to a numpy number type")
    with zipfile.ZipFile(path, "w") as archive:  # np.savez's layout, any key allowed
        for key, array in flat.items():
            with archive.open(key + ".npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, array, allow_pickle=False)


def _read_arrays(path: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {k: archive[k] for k in archive.files}
    except Exception as e:  # zipfile.BadZipFile, ValueError (pickled objects refused), OSError
        raise CheckpointError(f"{path}: cannot be read as a numpy archive of arrays "
                              f"({type(e).__name__}: {e})") from None


def save_params(directory: str, params: Any, meta: Mapping[str, Any]) -> None:
    """Writes ``params`` (``params.npz``) and ``meta`` (JSON) to ``directory`` atomically.

    The directory is assembled beside its destination and renamed into place, so a crash never
    leaves a half-written checkpoint under the final name. An existing directory is replaced.
    """
    directory = os.path.abspath(directory)
    parent = os.path.dirname(directory)
    os.makedirs(parent, exist_ok=True)
    from jaxinv.io.images import default_mode

    staging = tempfile.mkdtemp(prefix=".tmp-" + os.path.basename(directory) + "-", dir=parent)
    try:
        os.chmod(staging, default_mode(directory=True))  # mkdtemp makes it owner-only
        flat = flatten_tree(params)
        _write_arrays(os.path.join(staging, PARAMS_FILE), flat)
        meta = {**meta, "checksums": {k: array_checksum(v) for k, v in flat.items()}}
        with open(os.path.join(staging, "meta.json"), "w") as f:
            json.dump(dict(meta), f, indent=1, sort_keys=True)
        if os.path.exists(directory):
            old = directory + ".old"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(directory, old)
            os.replace(staging, directory)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def convert_generator(load, output_dir: str, family: str, fmt: str, source: str) -> int:
    """The converter scripts' shared ending: runs ``load() -> (cfg, params)``; a CheckpointError
    becomes one ``error:`` line on stderr and exit status 2, otherwise the params are saved with
    ``meta = {family, config: cfg.to_dict(), source, format}`` and a summary is printed."""
    import sys

    try:
        cfg, params = load()
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    config = cfg.to_dict()
    save_params(output_dir, params, {"family": family, "config": config, "source": source,
                                     "format": fmt})
    print(f"wrote {output_dir}: {family} " + ", ".join(f"{k} {v}" for k, v in config.items()))
    return 0


def load_params(directory: str, family: str | None = None) -> tuple[Any, dict]:
    """Restores ``(params, meta)`` written by :func:`save_params`.

    Args:
      directory: an OUTPUT_DIR written by a converter (or by :func:`save_params`).
      family: if given, the ``meta['family']`` the caller needs (e.g. ``'stylegan2'``).
    """
    meta_path = os.path.join(directory, "meta.json")
    params_path = os.path.join(directory, PARAMS_FILE)
    if os.path.isfile(meta_path) and os.path.isdir(os.path.join(directory, "params")):
        raise CheckpointError(
            f"{directory}: written in the orbax format of jaxinv before 2026-11-29 (params/), "
            f"which is no longer read; convert it again with its script in converters/ (or "
            f"rerun what wrote it)")
    if not os.path.isfile(meta_path) or not os.path.isfile(params_path):
        raise CheckpointError(
            f"{directory}: not a converted jaxinv checkpoint (expected meta.json and "
            f"{PARAMS_FILE} written by a script in converters/)")
    try:
        with open(meta_path) as f:
            meta = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{meta_path}: unreadable checkpoint metadata ({e})") from None
    if family is not None and meta.get("family") != family:
        raise CheckpointError(
            f"{directory}: holds a {meta.get('family')!r} checkpoint, expected {family!r}")
    flat = _read_arrays(params_path)
    expected = meta.get("checksums")
    if expected is not None:
        for key in sorted(set(expected) | set(flat)):
            if key not in flat or key not in expected:
                raise CheckpointError(f"{params_path}: array {key} is "
                                      f"{'missing' if key not in flat else 'not in meta.json'}"
                                      f"; the checkpoint is damaged")
            if array_checksum(flat[key]) != expected[key]:
                raise CheckpointError(f"{params_path}: array {key} does not match its checksum "
                                      f"in meta.json; the file is damaged (convert it again)")
    return unflatten_tree(flat), meta


class OptimizationCheckpoint:
    """A :class:`jaxinv.engine.Checkpoint` in ``directory`` (:func:`save_params`, written
    atomically): snapshots every ``every`` steps of one optimisation, named by ``identity`` (a
    JSON-able dict, e.g. the settings and the model's fingerprint). A snapshot made for another
    identity is not restored (and is replaced by the next save)."""

    def __init__(self, directory: str, identity: Mapping[str, Any], every: int):
        self.directory, self.identity = os.path.abspath(directory), dict(identity)
        self.every = every

    def restore(self, template):
        import jax

        from jaxinv.engine import Snapshot

        if not os.path.exists(os.path.join(self.directory, "meta.json")):
            return None
        tree, meta = load_params(self.directory, family="optimization_snapshot")
        if meta.get("identity") != json.loads(json.dumps(self.identity)):
            return None
        leaves = list(tree["state"])  # numbered keys come back as a list
        state = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(template), leaves)
        check_shapes(state, template, self.directory)
        return Snapshot(state, int(meta["done"]), tree["losses"], tree.get("aux", {}))

    def save(self, snapshot) -> None:
        import jax

        leaves = jax.tree_util.tree_leaves(snapshot.state)
        save_params(self.directory, {"state": {str(i): np.asarray(a) for i, a in
                                               enumerate(leaves)},
                                     "losses": snapshot.losses, "aux": snapshot.aux},
                    {"family": "optimization_snapshot", "identity": self.identity,
                     "done": snapshot.done})

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
