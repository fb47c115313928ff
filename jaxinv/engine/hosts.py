"""One evaluation run on several hosts, with JAX's own multi-process runtime (``jax.distributed``).

Images are independent, so hosts never exchange arrays: every host runs the same program on its
own share of the images (and splits each of its batches over its local devices,
:mod:`jaxinv.engine.sharding`), writes its images' results into the shared output folder, and
meets the others at barriers around the steps that must not overlap (preparing the folder,
reading what is already done). The first host then writes the run's summary. An image's keys
come from its index in the run, so the numbers do not depend on the host count either.

The barriers are the coordination service's (the one ``jax.distributed.initialize`` starts),
not a device collective: ``multihost_utils.sync_global_devices`` is an all-gather that fails
when the hosts arrive more than 30 s apart (gloo's key-value timeout on CPU), and hosts finish
their shares minutes or hours apart.
"""

from __future__ import annotations

import dataclasses

import jax

# How long a host waits at a barrier for the others (a week: a share of a large folder).
BARRIER_TIMEOUT_MS = 7 * 24 * 3600 * 1000


@dataclasses.dataclass(frozen=True)
class HostSettings:
    """enabled: join a multi-host run; coordinator: ``host:port`` of process 0 ('' = found by
    JAX's cluster detection: TPU pod slices, SLURM, Open MPI); processes: how many there are
    (0 = detected); process_id: this one's index (-1 = detected)."""

    enabled: bool = False
    coordinator: str = ""
    processes: int = 0
    process_id: int = -1

    def problems(self) -> list[str]:
        """What is wrong with these settings (key: reason), before anything starts."""
        out = []
        if self.processes < 0:
            out.append(f"processes = {self.processes}: must be 0 (detected) or a count")
        if self.process_id < -1 or (self.processes and self.process_id >= self.processes):
            out.append(f"process_id = {self.process_id}: must be -1 (detected) or in "
                       f"[0, processes)")
        if self.coordinator and ":" not in self.coordinator:
            out.append(f"coordinator = {self.coordinator!r}: must be host:port")
        return out


def initialize(settings: HostSettings) -> None:
    """Joins this process to the run's hosts (once per process; nothing when not enabled).
    Must come before anything runs on a device; raises RuntimeError from JAX otherwise."""
    if not settings.enabled or jax.distributed.is_initialized():
        return
    jax.distributed.initialize(settings.coordinator or None, settings.processes or None,
                               None if settings.process_id < 0 else settings.process_id)


def is_leader() -> bool:
    """Whether this process writes what belongs to the whole run (process 0)."""
    return jax.process_index() == 0


def share(items: list) -> list:
    """This host's share of ``items``: every ``process_count``-th one from its own index, so
    shares differ in length by at most one."""
    return list(items)[jax.process_index()::jax.process_count()]


def barrier(name: str) -> None:
    """Waits until every host reaches the barrier ``name`` (nothing on one host)."""
    if jax.process_count() > 1:
        from jax._src import distributed  # the client JAX's own array serialisation waits on

        distributed.global_state.client.wait_at_barrier(name, BARRIER_TIMEOUT_MS)
