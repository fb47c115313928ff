"""What makes two runs the same run, so that an output folder resumes only the run that made it.

A run's identity is its config without the cosmetic keys (:data:`COSMETIC`: how it is shown or
chunked, where it is written) plus digests of the weights it used (generator, LPIPS, perceptual
backbone), because the same checkpoint path can hold other weights tomorrow. The runner stores
it as ``run.json`` in the output folder; a re-run whose identity differs is refused with the
keys that differ and the two ways forward.
"""

from __future__ import annotations

import json
import os
import shutil

# Keys that do not change any result: display, output place, chunking of the compiled loop (the
# engine's chunked run equals the single call), the devices and hosts the images are split over
# (each image's key is its index in the run), and the overwrite switch itself.
COSMETIC = ("name", "output_dir", "overwrite", "progress", "chunk", "devices", "distributed")
FILE = "run.json"


class DifferentRun(ValueError):
    """The output folder holds another run's results; the message names what differs."""


def _flatten(tree, prefix=""):
    out = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, path + "."))
        else:
            out[path] = value
    return out


def identity(config, weights: dict, cosmetic: tuple[str, ...] = COSMETIC) -> dict:
    """``{'config': {dotted key: value}, 'weights': {what: digest}}`` of a run; the top-level
    keys in ``cosmetic`` are left out."""
    flat = _flatten(json.loads(config.to_json_best_effort()))
    settings = {k: v for k, v in flat.items() if k.split(".")[0] not in cosmetic}
    return {"config": settings, "weights": dict(weights)}


def differences(old: dict, new: dict) -> list[str]:
    """Human-readable differences between two identities (``key: old -> new``)."""
    out = []
    a, b = old.get("config", {}), new.get("config", {})
    for key in sorted(set(a) | set(b)):
        if a.get(key, "<absent>") != b.get(key, "<absent>"):
            out.append(f"{key}: {a.get(key, '<absent>')!r} -> {b.get(key, '<absent>')!r}")
    wa, wb = old.get("weights", {}), new.get("weights", {})
    for what in sorted(set(wa) | set(wb)):
        if wa.get(what) != wb.get(what):
            out.append(f"the {what} weights")
    return out


def check(out: str, current: dict, results: str = "images") -> bool:
    """Whether ``out`` already holds this run (True: resume; False: a fresh folder).

    Raises DifferentRun naming the differing keys when it holds another run, or results (the
    folder ``results``) without a ``run.json`` (made before identities were recorded)."""
    path = os.path.join(out, FILE)
    if not os.path.exists(path):
        if os.path.isdir(os.path.join(out, results)):
            raise DifferentRun(f"{out} holds results of a run with no {FILE}, so whether they "
                               f"came from this config is unknown; write to a new "
                               f"--config.output_dir, or pass --config.overwrite=True to "
                               f"delete them and start clean")
        return False
    with open(path) as f:
        stored = json.load(f)
    changed = differences(stored, current)
    if changed:
        shown = "; ".join(changed[:6]) + (f"; and {len(changed) - 6} more" if len(changed) > 6
                                          else "")
        raise DifferentRun(f"{out} holds another run ({shown}); write to a new "
                           f"--config.output_dir, or pass --config.overwrite=True to delete its "
                           f"results and start clean")
    return True


def delete_outputs(out: str, outputs) -> None:
    """Deletes the files and folders named ``outputs`` in ``out`` (and nothing else there)."""
    for name in outputs:
        path = os.path.join(out, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)


def remove_leftovers(out: str) -> None:
    """Removes the ``.tmp-*`` files and folders an interrupted atomic write left in ``out``."""
    for folder, dirs, files in os.walk(out):
        for name in [d for d in dirs if d.startswith(".tmp-")]:
            shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
            dirs.remove(name)
        for name in files:
            if name.startswith(".tmp-"):
                os.remove(os.path.join(folder, name))


def prepare(out: str, current: dict, overwrite: bool, outputs, results: str = "images") -> bool:
    """Readies the output folder ``out`` for the run ``current``: with ``overwrite`` the
    ``outputs`` an earlier run wrote are deleted first; otherwise :func:`check` (DifferentRun
    when ``out`` holds another run). Creates the folder and clears interrupted writes. Returns
    whether the run resumes."""
    resumed = False
    if overwrite:
        delete_outputs(out, outputs)
    else:
        resumed = check(out, current, results)
    os.makedirs(out, exist_ok=True)
    remove_leftovers(out)
    return resumed
