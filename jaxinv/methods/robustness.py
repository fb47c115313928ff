"""Robustness of an inversion to its latent code (SPHInX, Figure 1).

For a solved problem with ``sample_wplus``/``render_wplus``: (1) render from ``num_samples``
fresh draws (SPHInX's heads take fresh z+ and s; deterministic methods give one image), and
(2) add Gaussian noise to W+ at each signal-to-noise ratio, ``SNR = 10 log10(mean(ws^2) /
noise_var)`` dB. Each is scored against the target with PSNR and, given LPIPS params, LPIPS;
the report has the mean and standard deviation over the draws.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxinv import metrics
from jaxinv.losses import lpips as lpips_lib
from jaxinv.methods.problem import REPRESENTATIVE_KEY


@functools.partial(jax.jit, static_argnames=("sample_wplus", "render_wplus", "num_samples",
                                             "snrs", "lpips_net"))
def _report_arrays(variables, context, target, key, lpips_params, *, sample_wplus, render_wplus,
                   num_samples, snrs, lpips_net):
    """Every case's images rendered in one vmapped batch (one render in the compiled program,
    not one per case), then scored and split by case."""
    keys = jax.random.split(key, num_samples)
    ws_fresh, const_fresh = jax.vmap(lambda k: sample_wplus(variables, context, k))(keys)
    ws, const = sample_wplus(variables, context, REPRESENTATIVE_KEY)
    stds = jnp.sqrt(jnp.mean(ws ** 2) / 10.0 ** (jnp.asarray(snrs) / 10.0))
    noise = jax.vmap(lambda k: jax.random.normal(k, ws.shape))(keys)
    ws_noisy = (ws + stds.reshape((-1,) + (1,) * noise.ndim) * noise).reshape((-1,) + ws.shape)
    all_ws = jnp.concatenate([ws_fresh, ws_noisy])
    all_consts = jnp.concatenate([const_fresh, jnp.broadcast_to(
        const, (ws_noisy.shape[0],) + const.shape)])
    images = jax.vmap(lambda w, c: render_wplus(variables, context, w, c)[0])(all_ws, all_consts)
    targets = jnp.broadcast_to(target, images.shape)
    scores = {"psnr": metrics.psnr(images, targets)}
    if lpips_net is not None:
        scores["lpips"] = lpips_lib.distance(lpips_net, lpips_params, images, targets)
    cases = ["fresh"] + [f"snr_{snr:g}db" for snr in snrs]
    return {case: {m: v[i * num_samples:(i + 1) * num_samples] for m, v in scores.items()}
            for i, case in enumerate(cases)}


def report(problem, variables, context, target, key, num_samples: int = 8,
           snrs: tuple = (30.0, 20.0, 10.0), lpips_net: str | None = None) -> dict:
    """Robustness of one image's solution.

    Args:
      variables: one image's solved variables; target: [H, W, 3] in [-1, 1].
      lpips_net: backbone name when ``context['lpips']`` holds converted LPIPS params.
    Returns ``{'fresh' | 'snr_<x>db': {metric: {'mean', 'std'}}}``.
    """
    if problem.sample_wplus is None:
        raise ValueError("this method exposes no W+ sampler; robustness needs one")
    arrays = _report_arrays(variables, context, target, key,
                            context.get("lpips") if lpips_net else None,
                            sample_wplus=problem.sample_wplus, render_wplus=problem.render_wplus,
                            num_samples=num_samples, snrs=tuple(float(s) for s in snrs),
                            lpips_net=lpips_net)
    return {case: {m: {"mean": float(jnp.mean(v)), "std": float(jnp.std(v))}
                   for m, v in scores.items()} for case, scores in arrays.items()}
