"""jaxinv against the PyTorch originals that install from the package registry, in one process:
the same weights, the same inputs, the same device kind and threads, interleaved repeats.

    python benchmarks/side_by_side.py [--workloads dcgan lpips biggan] [--batches 1 8]
        [--repeats 5] [--iters 5] [--paper] [--out benchmarks/side_by_side_<backend>.json]

Workloads (one iteration each):
- ``dcgan``: one Z-inversion step (forward, per-image MSE, backward to z, Adam) of the PyTorch
  DCGAN tutorial's generator (nz 100, ngf 64, 64 px), built here with plain ``torch.nn``; jaxinv
  runs it through the engine (``engine.run_chunk``), both as one compiled ``lax.scan`` over the
  iterations ("scan") and as one compiled step per call with donated state ("per step").
- ``lpips-alex`` / ``lpips-vgg``: LPIPS forward and gradient with respect to the first image,
  against the ``lpips`` package (its v0.1 linear layers; the backbone random: speed only).
- ``biggan``: BigGAN-deep forward and backward to z (MSE to a target) against
  pytorch-pretrained-biggan's model with random weights, converted by ``converters/biggan_hf.py``.

Default sizes are small (LPIPS at 64 px, BigGAN-deep 128 px with channel width 32); ``--paper``
uses the papers' (LPIPS at 256 px, biggan-deep-256's layout with channel width 128). Before
timing, each pair's outputs are compared (``rel_err``: ||jax - torch|| / ||torch||). Each
repeat times ``--iters`` iterations of jaxinv, then of PyTorch; warm-up and compilation are
excluded (jaxinv's compile time is reported apart). ``ratio`` = PyTorch median / jaxinv median
(> 1: jaxinv is faster). ``flops`` is XLA's cost analysis of one jaxinv iteration, ``tflops``
the rate achieved at the median; ``jax_mb`` the compiled program's arguments, outputs and
temporaries, ``torch_mb`` PyTorch's peak allocation (GPU only). ``torch_tflops`` is the same
FLOP count at PyTorch's median; ``ratio_at_peak`` the ratio jaxinv would reach running at the
device's measured peak (the faster framework's 4096 x 4096 float32 matrix product, in
``meta.matmul_tflops``): a goal ratio above it cannot be reached. Prints a table, writes JSON.
Needs ``pip install -e ".[bench]"`` (torch, torchvision, lpips, pytorch-pretrained-biggan).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import platform
import statistics
import sys
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from compiled_costs import compile_with_costs  # noqa: E402
from jaxinv import engine, ops  # noqa: E402
from jaxinv.generators import base as generators, biggan, dcgan  # noqa: E402
from jaxinv.losses import lpips  # noqa: E402
from jaxinv.methods import latent  # noqa: E402
from jaxinv.methods.problem import LossWeights, reconstruction_loss  # noqa: E402
from jaxinv.report.tables import write_json, write_markdown  # noqa: E402

WORKLOADS = ("dcgan", "lpips-alex", "lpips-vgg", "biggan")
# Dense peaks (FLOP/s) by device kind: float32 on the CUDA cores, TF32 on the tensor cores
# (JAX's and cuDNN's default for float32 convolutions on these cards).
PEAKS = {"H100": (67e12, 495e12), "H200": (67e12, 495e12), "A100": (19.5e12, 156e12)}


@dataclasses.dataclass
class Side:
    """One implementation of a workload: ``call()`` runs ``iters_per_call`` iterations and
    returns something to wait on; ``sync(out)`` waits for it."""

    call: Callable
    sync: Callable
    iters_per_call: int = 1


def _jax_sync(out):
    jax.block_until_ready(out)


def _rel_err(a, b) -> float:
    """||a - b|| / ||b||; a side with non-finite values is named on stdout (the comparison is
    then nan)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    for side, v in (("jaxinv", a), ("PyTorch", b)):
        if not np.isfinite(v).all():
            print(f"check: {side}'s output has {v.size - np.isfinite(v).sum()} non-finite "
                  f"values of {v.size}")
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def _nchw(torch, x, device):
    return torch.from_numpy(np.array(np.asarray(x).transpose(0, 3, 1, 2))).to(device)


# --- DCGAN: the PyTorch tutorial's generator, one Z-inversion step -------------------------------

def _torch_dcgan(torch, cfg: dcgan.DCGANConfig, params):
    """The tutorial's ``Generator`` (``self.main``: ConvTranspose2d / BatchNorm2d / ReLU ...,
    Tanh) holding jaxinv's ``params`` (the inverse of ``dcgan.from_state_dict``)."""
    nn = torch.nn
    layers, cin = [], cfg.z_dim
    for i, cout in enumerate(cfg.channels):
        layers += [nn.ConvTranspose2d(cin, cout, 4, 1 if i == 0 else 2, 0 if i == 0 else 1,
                                      bias=False), nn.BatchNorm2d(cout, eps=cfg.bn_eps),
                   nn.ReLU(True)]
        cin = cout
    layers += [nn.ConvTranspose2d(cin, cfg.out_channels, 4, 2, 1, bias=False), nn.Tanh()]

    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            self.main = nn.Sequential(*layers)

        def forward(self, z):
            return self.main(z)

    net = Generator()
    unflip = lambda w: np.ascontiguousarray(np.asarray(w).transpose(2, 3, 0, 1)[:, :, ::-1, ::-1])
    sd = {}
    for i, block in enumerate(params["blocks"]):
        sd[f"main.{3 * i}.weight"] = unflip(block["weight"])
        for name, key in dcgan.BATCH_NORM_KEYS:
            sd[f"main.{3 * i + 1}.{key}"] = np.asarray(block["bn"][name])
    sd[f"main.{3 * len(cfg.channels)}.weight"] = unflip(params["to_rgb"]["weight"])
    state = net.state_dict()
    state.update({k: torch.from_numpy(np.array(v)) for k, v in sd.items()})
    net.load_state_dict(state)
    return net.eval().requires_grad_(False)


def dcgan_pairs(torch, device, batch: int, iters: int, paper: bool):
    cfg = dcgan.DCGANConfig.tutorial()
    params = dcgan.init_params(cfg, jax.random.PRNGKey(0))
    gen = generators.Generator(generators.get("dcgan"), cfg, params)
    problem = latent.build(gen, latent.Settings(), {"lr": 0.05})
    loss_fn = functools.partial(reconstruction_loss, problem, ops.identity(), LossWeights(mse=1.0))
    keys = jax.random.split(jax.random.PRNGKey(1), batch)
    z0 = jax.random.normal(jax.random.PRNGKey(2), (batch, cfg.z_dim))
    target = dcgan.generate(cfg, params, jax.random.normal(jax.random.PRNGKey(3),
                                                           (batch, cfg.z_dim)))
    data = {"target": target, "op": {}}
    context = {"generator": params}
    objective = engine.Objective(loss_fn, engine.build_optimizer({"z": 0}, {"z": {"lr": 0.05}},
                                                                 iters))
    net = _torch_dcgan(torch, cfg, params).to(device)
    check = _rel_err(dcgan.generate(cfg, params, z0),
                     net(_nchw(torch, z0[:, None, None, :], device)).cpu().numpy()
                     .transpose(0, 2, 3, 1))

    def engine_side(num_steps):
        state = engine.loop.init_state(objective.optimizer, {"z": z0})
        compiled, info = compile_with_costs(engine.loop.run_chunk, state, data, context,
                                            keys, jnp.int32(0), objective=objective,
                                            num_steps=num_steps)
        holder = {"state": state}

        def call():
            holder["state"], losses, _ = compiled(holder["state"], data, context, keys,
                                                  jnp.int32(0))
            return losses
        return Side(call, _jax_sync, num_steps), info

    z = _nchw(torch, z0[:, None, None, :], device).requires_grad_(True)
    y = _nchw(torch, target, device)
    opt = torch.optim.Adam([z], lr=0.05)

    def torch_step():
        opt.zero_grad(set_to_none=True)
        loss = ((net(z) - y) ** 2).mean(dim=(1, 2, 3)).sum()
        loss.backward()
        opt.step()
        return loss

    torch_side = Side(torch_step, _torch_sync(torch, device))
    scan, scan_info = engine_side(iters)
    step, step_info = engine_side(1)
    scan_info["flops"] = step_info["flops"]  # per iteration: one step's, whatever the loop
    return [("dcgan 64px z-step (scan)", scan, scan_info, torch_side, check),
            ("dcgan 64px z-step (per step)", step, step_info, torch_side, check)]


def _torch_sync(torch, device):
    if device.type == "cuda":
        return lambda out: torch.cuda.synchronize()
    return lambda out: None


# --- LPIPS: the lpips package ---------------------------------------------------------------------

def lpips_pairs(torch, device, batch: int, iters: int, paper: bool, net_name: str):
    import lpips as lpips_torch

    size = 256 if paper else 64
    model = lpips_torch.LPIPS(net=net_name, pretrained=True, pnet_rand=True, verbose=False)
    model = model.to(device).eval().requires_grad_(False)
    sd = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    features = {"features." + k.split(".", 2)[2]: v for k, v in sd.items()
                if k.startswith("net.slice")}
    params = {"backbone": lpips.backbone_from_state_dict(net_name, features),
              "lin": lpips.lin_from_state_dict(net_name, sd)}
    params = jax.tree_util.tree_map(jnp.asarray, params)
    rng = np.random.default_rng(0)
    x0 = rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32)
    x1 = rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32)
    fn = jax.value_and_grad(lambda x, y, p: jnp.sum(lpips.distance(net_name, p, x, y)))
    compiled, info = compile_with_costs(jax.jit(fn), x0, x1, params)
    a, b = _nchw(torch, x0, device).requires_grad_(True), _nchw(torch, x1, device)
    check = _rel_err(lpips.distance(net_name, params, x0, x1), model(a, b).detach().cpu()
                     .numpy().reshape(-1))

    def torch_call():
        a.grad = None
        d = model(a, b).sum()
        d.backward()
        return d

    on_device = jnp.asarray(x0), jnp.asarray(x1)
    jax_side = Side(lambda: compiled(*on_device, params), _jax_sync)
    return [(f"lpips-{net_name} {size}px fwd+grad", jax_side, info,
             Side(torch_call, _torch_sync(torch, device)), check)]


# --- BigGAN-deep: pytorch-pretrained-biggan -------------------------------------------------------

def _biggan_config(paper: bool) -> dict:
    """biggan-deep-256's layout, or biggan-deep-128's with channel width 32 instead of 128."""
    return (biggan.BigGANConfig.deep(256) if paper
            else biggan.BigGANConfig.deep(128, channel_width=32)).to_dict()


def _converged_spectral_norm(sd: dict, iterations: int = 30) -> dict:
    """The state dict with each spectral-normalised layer's ``weight_u`` / ``weight_v`` run
    through power iterations, as training leaves them: a fresh model's random u and v make
    ``sigma = u . W v`` arbitrary (near zero or negative), and its images overflow."""
    sd = dict(sd)
    for key in [k for k in sd if k.endswith(".weight_orig")]:
        prefix = key[:-len(".weight_orig")]
        w = sd[key].reshape(sd[key].shape[0], -1).astype(np.float64)
        u = sd[prefix + ".weight_u"].astype(np.float64)
        for _ in range(iterations):
            v = w.T @ u
            v /= np.linalg.norm(v)
            u = w @ v
            u /= np.linalg.norm(u)
        sd[prefix + ".weight_u"], sd[prefix + ".weight_v"] = u.astype(np.float32), v.astype(
            np.float32)
    return sd


def biggan_pairs(torch, device, batch: int, iters: int, paper: bool):
    from pytorch_pretrained_biggan import BigGAN, BigGANConfig

    from converters.biggan_hf import convert_state_dict

    config = _biggan_config(paper)
    torch.manual_seed(0)
    model = BigGAN(BigGANConfig.from_dict(config)).eval().requires_grad_(False)
    sd = _converged_spectral_norm({k: v.numpy() for k, v in model.state_dict().items()})
    # the final batch norm's affine parameters are torch.Tensor(n), left uninitialised for the
    # released weights to fill: whatever memory held, now and then nan on both sides
    sd["generator.bn.weight"] = np.ones_like(sd["generator.bn.weight"])
    sd["generator.bn.bias"] = np.zeros_like(sd["generator.bn.bias"])
    model.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
    model = model.to(device)
    cfg, params = convert_state_dict(sd, config)
    params = jax.tree_util.tree_map(jnp.asarray, params)
    truncation = 0.4
    rng = np.random.default_rng(0)
    z0 = (truncation * rng.standard_normal((batch, 128))).astype(np.float32)
    classes = np.eye(1000, dtype=np.float32)[rng.integers(0, 1000, batch)]
    size = config["output_dim"]
    target = rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32)

    def loss(z, c, y, p):
        return jnp.mean((biggan.generate(cfg, p, z, c, truncation) - y) ** 2)

    compiled, info = compile_with_costs(jax.jit(jax.value_and_grad(loss)), z0, classes, target,
                                        params)
    z = torch.from_numpy(z0).to(device).requires_grad_(True)
    c, y = torch.from_numpy(classes).to(device), _nchw(torch, target, device)
    with torch.no_grad():
        check = _rel_err(biggan.generate(cfg, params, z0, classes, truncation),
                         model(z, c, truncation).cpu().numpy().transpose(0, 2, 3, 1))

    on_device = tuple(jnp.asarray(a) for a in (z0, classes, target))

    def torch_call():
        z.grad = None
        l = ((model(z, c, truncation) - y) ** 2).mean()
        l.backward()
        return l

    return [(f"biggan-deep {size}px ch{config['channel_width']} fwd+bwd",
             Side(lambda: compiled(*on_device, params), _jax_sync), info,
             Side(torch_call, _torch_sync(torch, device)), check)]


# --- timing ---------------------------------------------------------------------------------------

def _seconds_per_iter(side: Side, iters: int) -> float:
    calls = max(1, iters // side.iters_per_call)
    t0 = time.perf_counter()
    out = None
    for _ in range(calls):
        out = side.call()
    side.sync(out)
    return (time.perf_counter() - t0) / (calls * side.iters_per_call)


def measure(name, jax_side, info, torch_side, check, torch, device, batch, args) -> dict:
    for side in (jax_side, torch_side):
        _seconds_per_iter(side, side.iters_per_call)  # warm-up
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    jax_s, torch_s = [], []
    for _ in range(args.repeats):
        jax_s.append(_seconds_per_iter(jax_side, args.iters))
        torch_s.append(_seconds_per_iter(torch_side, args.iters))
    jax_med, torch_med = statistics.median(jax_s), statistics.median(torch_s)
    return {"workload": name, "batch": batch, "rel_err": check,
            "jax_ms_min": 1e3 * min(jax_s), "jax_ms_median": 1e3 * jax_med,
            "torch_ms_min": 1e3 * min(torch_s), "torch_ms_median": 1e3 * torch_med,
            "ratio": torch_med / jax_med, "compile_s": info["compile_s"],
            "flops": info["flops"], "tflops": info["flops"] / jax_med / 1e12,
            "jax_mb": info["jax_mb"],
            "torch_mb": (torch.cuda.max_memory_allocated(device) / 2**20
                         if device.type == "cuda" else None)}


def _matmul_tflops(torch, device, n: int = 4096, repeats: int = 5) -> dict:
    """The fastest of ``repeats`` n x n float32 matrix products in each framework, in TFLOP/s:
    what this device's convolutions could at best approach."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    product = jax.jit(lambda x: x @ x)
    on_device, a_torch = jnp.asarray(a), torch.from_numpy(a).to(device)
    sides = {"jax": Side(lambda: product(on_device), _jax_sync),
             "torch": Side(lambda: a_torch @ a_torch, _torch_sync(torch, device))}
    rates = {}
    for name, side in sides.items():
        _seconds_per_iter(side, 1)
        rates[name] = 2 * n ** 3 / min(_seconds_per_iter(side, 1) for _ in range(repeats)) / 1e12
    return rates


def _fmt(v, digits=3):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--paper", action="store_true")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    import torch

    backend = jax.default_backend()
    device = torch.device("cuda" if backend == "gpu" and torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(os.cpu_count())
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                   f"side_by_side_{backend}.json")
    kind = jax.devices()[0].device_kind
    peaks = next((v for k, v in PEAKS.items() if k in kind), None)
    meta = {"backend": backend, "device": kind, "cpu_count": os.cpu_count(),
            "machine": platform.machine(), "jax": jax.__version__, "torch": torch.__version__,
            "torch_device": str(device), "paper": args.paper, "repeats": args.repeats,
            "iters": args.iters, "date": time.strftime("%Y-%m-%d"),
            "jax_default_matmul_precision": str(jax.config.jax_default_matmul_precision),
            "torch_cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "torch_matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "command": "python benchmarks/side_by_side.py " + " ".join(argv or sys.argv[1:]),
            "matmul_tflops": _matmul_tflops(torch, device)}
    peak = max(meta["matmul_tflops"].values())
    builders = {"dcgan": dcgan_pairs, "biggan": biggan_pairs,
                "lpips-alex": functools.partial(lpips_pairs, net_name="alex"),
                "lpips-vgg": functools.partial(lpips_pairs, net_name="vgg")}
    rows = []
    for workload in args.workloads:
        for batch in args.batches:
            for pair in builders[workload](torch, device, batch, args.iters, args.paper):
                row = measure(*pair, torch, device, batch, args)
                row["torch_tflops"] = row["flops"] / row["torch_ms_median"] / 1e9
                row["ratio_at_peak"] = peak / row["torch_tflops"]
                if peaks:
                    row["mfu_fp32"], row["mfu_tf32"] = (row["tflops"] * 1e12 / peaks[0],
                                                        row["tflops"] * 1e12 / peaks[1])
                rows.append(row)
                print(f"{row['workload']:<34} b{batch:<3} jax {row['jax_ms_median']:9.2f} ms  "
                      f"torch {row['torch_ms_median']:9.2f} ms  ratio {row['ratio']:5.2f}  "
                      f"rel_err {row['rel_err']:.1e}", flush=True)
                write_json(out, {"meta": meta, "results": rows})
    header = ["workload", "batch", "jaxinv ms (min / median)", "PyTorch ms (min / median)",
              "ratio", "ratio at peak", "rel err", "compile s", "GFLOP / iter",
              "TFLOP/s jaxinv / PyTorch", "jax MB", "torch MB"]
    table = [[r["workload"], r["batch"], f"{_fmt(r['jax_ms_min'])} / {_fmt(r['jax_ms_median'])}",
              f"{_fmt(r['torch_ms_min'])} / {_fmt(r['torch_ms_median'])}", f"{r['ratio']:.2f}",
              f"{r['ratio_at_peak']:.2f}", f"{r['rel_err']:.1e}", f"{r['compile_s']:.1f}",
              _fmt(r["flops"] / 1e9), f"{_fmt(r['tflops'])} / {_fmt(r['torch_tflops'])}",
              _fmt(r["jax_mb"]), _fmt(r["torch_mb"])] for r in rows]
    print(write_markdown(os.path.splitext(out)[0] + ".md", header, table))
    print(f"matrix product peak (TFLOP/s): {meta['matmul_tflops']}; wrote {out} ({kind}, "
          f"jax {jax.__version__}, torch {torch.__version__})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
