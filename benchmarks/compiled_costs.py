"""Ahead-of-time compilation with what XLA reports about the program, shared by the benchmark
scripts of this folder."""

from __future__ import annotations

import time


def compile_with_costs(jitted, *args, **static):
    """``jitted`` (a ``jax.jit`` function) compiled for ``args`` and ``static`` keyword
    arguments. Returns ``(compiled, {'compile_s', 'flops', 'jax_mb'})``: the compile time, the
    FLOP count of one call and the program's memory in MB (arguments, outputs and temporaries,
    less donated buffers; None where the backend does not say).

    The FLOPs are XLA's cost analysis of the program as lowered, before backend optimisation:
    the same count on every backend. (The compiled program's analysis on a GPU leaves out the
    convolutions handed to cuDNN as library calls, and undercounts them a hundredfold.)"""
    t0 = time.perf_counter()
    lowered = jitted.lower(*args, **static)
    compiled = lowered.compile()
    seconds = time.perf_counter() - t0
    cost = lowered.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    mem = compiled.memory_analysis()
    mb = None if mem is None else (mem.argument_size_in_bytes + mem.output_size_in_bytes
                                   + mem.temp_size_in_bytes - mem.alias_size_in_bytes) / 2**20
    return compiled, {"compile_s": seconds, "flops": float((cost or {}).get("flops", 0.0)),
                      "jax_mb": mb}
