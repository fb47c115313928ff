"""PmSFC: prior multi-subspace feature composition (Li et al., AAAI 2021; guanyuelee/PmSFC).

Two stages on a generator split at layer k (G1 = the first k conv layers, G2 the rest: the
family's :class:`~jaxinv.generators.FeatureSplit`; the paper's is PGGAN,
:mod:`jaxinv.generators.pggan`), features F [h, w, C]:

1. **Subspace discovery** (:func:`discover`). A self-expressive matrix S [C, C] with
   diag(S) = 0 exactly rewrites every channel as a combination of the others. Flattening F to
   [N, C] (positions x channels), the reconstruction is ``F S`` and ``T`` folds it back to
   [h, w, C]. S is trained with Adam (lr 1e-4) on fresh z ~ N(0, I) every step to minimise
   ``||F - F S||^2 + lambda ||G2(F) - G2(T(F S))||^2 + mu ||S||_1`` (each norm a mean over its
   entries, as the code computes them). The affinity ``A`` over channels is clustered into R
   subspaces by Ng-Jordan-Weiss spectral clustering (:func:`spectral_clustering`).
2. **Inversion** (:func:`build`): codes are composed in each subspace separately, so different
   channel groups (different semantics) get their own codes.

Presets (``PRESETS``; ``paper`` is the default):

================  ===========================================  ===================================
                  ``paper`` (the AAAI text)                    ``official`` (released code)
================  ===========================================  ===================================
S init, batch     1e-4, 4 (not stated; the code's values)      1e-4, 4
lambda, mu, steps 10, 1, 3000                                  1, 1, 10000
sparsity          L1                                           L1 (``sparsity='l2'`` as an option)
affinity          ``A = (|S| + |S^T|) / 2``                    DSC-Net post-processing of S:
                                                               relu, keep each column's largest
                                                               entries up to ``rho`` = 20% of its
                                                               L1 mass, symmetrise, rank
                                                               ``d R + 1`` SVD (d = 6), rows of
                                                               ``U sqrt(s)`` normalised,
                                                               ``relu(U U^T) ** 2``, scaled to max 1
codes             R = 6 subspaces x K = 5 codes, z ~ N(0, 1),  R x K codes and one base code, all
                  weights w [R, K, C] through tanh (start      zero at the start
                  w = 1, i.e. uniform)
composition       Eq. (6): per subspace r, ``F_r = sum_k       ``f = sum_t m_{r(t)} G1(z_t) +
                  tanh(w_rk) G1(z_rk) / sum_k tanh(w_rk)``;    G1(z_base)``
                  Eq. (7): ``F = sum_r m_r F_r`` (channels
                  back in their order), ``x = G2(F)``
loss              as mGANprior: MSE + VGG16 relu3_3 L1         ``0.01 MSE(G2(f), y) + MSE(G2(G1(
                  (the runner's ``config.loss``)               z_base)), y)``
optimiser         Adam, lr 0.01 for z and w (not stated; our   Adam, lr 1e-4; 20000 steps (its
                  choice), 7000 steps                          README's command)
================  ===========================================  ===================================

Both presets cluster with Ng-Jordan-Weiss (normalised affinity, top-R eigenvectors, rows
normalised, k-means with restarts); the released code uses scikit-learn's ``SpectralClustering``
with ``assign_labels='discretize'`` instead. Labels are numbered by subspace size, largest
first, as the code renumbers them. The released code indexes layers by its own block list; here
``layer`` is mGANprior's index (the output of conv layer ``layer - 1``).

A discovery is saved (:func:`save_subspaces`: S, A, labels, loss curves, and a
fingerprint of the generator it belongs to) so it runs once per generator, layer and preset;
:func:`prepare_subspaces` finds or makes it (the method's ``prepare`` hook).

Settings (``config.method``, :class:`Settings`): preset, layer, num_subspaces (R),
codes_per_subspace (K), subspaces (the discovery folder; '' = ``<output_dir>/subspaces``, or
none when the run has no output folder), discovery_steps, discovery_checkpoint (a snapshot of
the discovery every so many steps in ``<subspaces>/partial``, from which an interrupted
discovery resumes; 0 = none), lam, mu (-1 = the preset's) and sparsity ('' = the preset's).
Roles of ``config.lr``: ``latent`` -> z, ``weights`` -> w
(``paper``) or the base code (``official``).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.generators.base import Family, Generator
from jaxinv.methods.base import Job, Method, MethodSpec
from jaxinv.methods.mganprior import require_split
from jaxinv.methods.problem import Problem, no_penalty


@dataclasses.dataclass(frozen=True)
class Preset:
    init_scale: float
    batch: int
    lam: float
    mu: float
    discovery_steps: int
    sparsity: str            # 'l1' or 'l2'
    affinity: str            # 'symmetric' (paper) or 'dscnet' (official post-processing)
    composition: str         # 'tanh' (paper Eq. 6/7) or 'base' (official)
    steps: int
    lr: float
    dscnet_rho: float = 0.2
    dscnet_dim: int = 6
    dscnet_power: float = 2.0


PRESETS = {
    "paper": Preset(init_scale=1e-4, batch=4, lam=10.0, mu=1.0, discovery_steps=3000,
                    sparsity="l1", affinity="symmetric", composition="tanh", steps=7000,
                    lr=0.01),
    "official": Preset(init_scale=1e-4, batch=4, lam=1.0, mu=1.0, discovery_steps=10000,
                       sparsity="l1", affinity="dscnet", composition="base", steps=20000,
                       lr=1e-4),
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown PmSFC preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]


# --------------------------------------------------------------------------- subspace discovery

def off_diagonal(s):
    """S with its diagonal set to exactly 0 (the self-expressive constraint)."""
    return s * (1.0 - jnp.eye(s.shape[0], dtype=s.dtype))


def self_expression(f, s):
    """``T(F S)``: features f [B, h, w, C] rewritten by S [C, C] (column j: channel j's
    coefficients over the other channels)."""
    return jnp.einsum("bhwc,cd->bhwd", f, off_diagonal(s))


def discovery_loss(family: Family, cfg, layer: int, preset: Preset, variables, data, context,
                   key, step):
    """The engine's loss for S (``variables = {'s': [C, C]}``): fresh z [batch, z_dim] from
    ``key``; returns ``(loss, {'feature', 'data', 'sparse'})``."""
    params = context["generator"]
    s = off_diagonal(variables["s"])
    split = family.split
    z = jax.random.normal(key, (preset.batch, family.latent_dim(cfg)))
    f = split.features(cfg, params, z, layer)
    f_rec = self_expression(f, s)
    feature = jnp.mean((f - f_rec) ** 2)
    if preset.lam:
        images = split.from_features(cfg, params, jnp.concatenate([f, f_rec]), layer)
        data_term = jnp.mean((images[:preset.batch] - images[preset.batch:]) ** 2)
    else:
        data_term = jnp.zeros(())
    sparse = jnp.mean(jnp.abs(s)) if preset.sparsity == "l1" else jnp.mean(s ** 2)
    loss = feature + preset.lam * data_term + preset.mu * sparse
    return loss, {"feature": feature, "data": data_term, "sparse": sparse}


def _zero_diagonal(variables, context, step):
    return {"s": off_diagonal(variables["s"])}


def _check_layer(family: Family, cfg, layer: int) -> None:
    n = require_split("pmsfc", family).num_layers(cfg)
    if not 1 <= layer < n:
        raise ValueError(f"subspace layer must be in 1..{n - 1}, got {layer}")


@functools.lru_cache(maxsize=8)
def _discovery_objective(family: Family, cfg, layer: int, preset: Preset):
    """The same objective for the same discovery, so its compiled steps are reused."""
    import optax

    from jaxinv import engine

    return engine.Objective(functools.partial(discovery_loss, family, cfg, layer, preset),
                            optax.adam(1e-4), _zero_diagonal)


def discover(generator: Generator, layer: int, preset: Preset, key, steps=None,
             chunk: int = 250, callback=None, checkpoint=None):
    """Trains S; returns ``(S [C, C] numpy with a zero diagonal, {'total', 'feature', 'data',
    'sparse'}: loss curves [steps])``. Raises ``FloatingPointError`` if the loss diverges.
    ``checkpoint``: a :class:`jaxinv.engine.Checkpoint`; an interrupted discovery resumes from
    its last snapshot and ends as the uninterrupted one would."""
    from jaxinv import engine

    family, cfg = generator.family, generator.cfg
    _check_layer(family, cfg, layer)
    steps = preset.discovery_steps if steps is None else steps
    channels = family.split.channels(cfg, layer)
    s0 = off_diagonal(jnp.full((channels, channels), preset.init_scale))
    result = engine.optimize(_discovery_objective(family, cfg, layer, preset), {"s": s0[None]},
                             {}, {"generator": generator.params}, key[None], steps, chunk=chunk,
                             callback=callback, checkpoint=checkpoint)
    engine.check_finite(result, ["self-expressive layer"])
    curves = {"total": result.losses[0], **{k: v[0] for k, v in result.aux.items()}}
    return np.asarray(result.variables["s"][0]), curves


def symmetric_affinity(s):
    """The paper's ``A = (|S| + |S^T|) / 2`` [C, C]."""
    a = np.abs(np.asarray(s, np.float64))
    return (a + a.T) / 2.0


def dscnet_affinity(s, num_subspaces: int, dim: int = 6, rho: float = 0.2, power: float = 2.0):
    """The released code's post-processing of S (from DSC-Net) into an affinity [C, C]."""
    c = np.maximum(np.asarray(s, np.float64), 0.0)
    kept = np.zeros_like(c)
    for j in range(c.shape[1]):  # keep column j's largest entries up to rho of its L1 mass
        order = np.argsort(-c[:, j])
        mass = np.cumsum(c[order, j])
        if mass[-1] <= 0:
            continue
        n = int(np.searchsorted(mass, rho * mass[-1], side="right")) + 1
        kept[order[:n], j] = c[order[:n], j]
    c = (kept + kept.T) / 2.0
    rank = min(dim * num_subspaces + 1, c.shape[0] - 1)
    u, sv, _ = np.linalg.svd(c)
    u = u[:, :rank] * np.sqrt(sv[:rank])
    u /= np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-12)
    z = u @ u.T
    a = np.abs(np.maximum(z, 0.0) ** power)
    a /= max(a.max(), 1e-12)
    return (a + a.T) / 2.0


def affinity(s, num_subspaces: int, preset: Preset):
    if preset.affinity == "symmetric":
        return symmetric_affinity(s)
    return dscnet_affinity(s, num_subspaces, preset.dscnet_dim, preset.dscnet_rho,
                           preset.dscnet_power)


def spectral_clustering(a, num_clusters: int, seed: int = 0, restarts: int = 10):
    """Ng-Jordan-Weiss spectral clustering of a symmetric non-negative affinity a [n, n]:
    ``D^-1/2 A D^-1/2`` (diagonal of A ignored), its top ``num_clusters`` eigenvectors with rows
    normalised, then k-means (best of ``restarts`` k-means++ starts). Returns labels [n] in
    0..num_clusters-1, numbered by cluster size, largest first."""
    from scipy.cluster.vq import kmeans2
    from scipy.linalg import eigh

    a = np.array(a, np.float64)
    n = a.shape[0]
    if not 1 <= num_clusters <= n:
        raise ValueError(f"cannot split {n} channels into {num_clusters} subspaces")
    np.fill_diagonal(a, 0.0)
    d = 1.0 / np.sqrt(np.maximum(a.sum(axis=1), 1e-12))
    lap = d[:, None] * a * d[None, :]
    _, vecs = eigh(lap, subset_by_index=(n - num_clusters, n - 1))
    u = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    rng = np.random.default_rng(seed)
    best, best_cost = None, np.inf
    for _ in range(restarts):
        centres, labels = kmeans2(u, num_clusters, minit="++", seed=rng)
        cost = float(np.sum((u - centres[labels]) ** 2))
        if cost < best_cost:
            best, best_cost = labels, cost
    sizes = np.bincount(best, minlength=num_clusters)
    rank = np.empty(num_clusters, int)
    rank[np.argsort(-sizes, kind="stable")] = np.arange(num_clusters)
    return rank[best]


def masks_from_labels(labels, num_subspaces: int):
    """One-hot channel masks [R, C] float32."""
    return (np.asarray(labels)[None, :] == np.arange(num_subspaces)[:, None]).astype(np.float32)


def block_order(labels):
    """Channel order that groups subspaces (for showing A's block structure)."""
    return np.argsort(np.asarray(labels), kind="stable")


def generator_fingerprint(cfg, params) -> str:
    """SHA-256 over the architecture and every weight: a saved discovery belongs to one model."""
    h = hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True).encode())
    for leaf in jax.tree_util.tree_leaves(params):
        h.update(np.ascontiguousarray(np.asarray(leaf, np.float32)).tobytes())
    return h.hexdigest()


def save_subspaces(directory: str, s, a, labels, curves: dict, meta: dict) -> None:
    """Writes a discovery (params.npz + meta.json, atomically) and ``affinity.png``: A with
    channels grouped by subspace, brighter = stronger."""
    import os

    from jaxinv.io.checkpoints import save_params
    from jaxinv.io.images import save_image

    tree = {"s": np.asarray(s, np.float32), "affinity": np.asarray(a, np.float32),
            "labels": np.asarray(labels, np.int32),
            "curves": {k: np.asarray(v, np.float32) for k, v in curves.items()}}
    save_params(directory, tree, {"family": "pmsfc_subspaces", **meta})
    order = block_order(labels)
    shown = np.asarray(a)[np.ix_(order, order)]
    shown = shown / max(float(shown.max()), 1e-12)
    zoom = max(1, 256 // shown.shape[0])  # at least ~256 px wide, each entry a square
    shown = np.repeat(np.repeat(shown, zoom, axis=0), zoom, axis=1)
    image = np.repeat(shown[:, :, None] * 2.0 - 1.0, 3, axis=-1)
    save_image(os.path.join(directory, "affinity.png"), image.astype(np.float32))


def load_subspaces(directory: str):
    """Returns ``(tree {'s', 'affinity', 'labels', 'curves'}, meta)``."""
    from jaxinv.io.checkpoints import load_params

    return load_params(directory, family="pmsfc_subspaces")


# --------------------------------------------------------------------------------- inversion

@dataclasses.dataclass(frozen=True)
class Spec:
    family: Family
    cfg: object
    layer: int
    num_subspaces: int
    codes_per_subspace: int
    composition: str


def _init(spec: Spec, key, context):
    r, k, zdim = spec.num_subspaces, spec.codes_per_subspace, spec.family.latent_dim(spec.cfg)
    if spec.composition == "tanh":
        return {"z": jax.random.normal(key, (r, k, zdim)),
                "w": jnp.ones((r, k, spec.family.split.channels(spec.cfg, spec.layer)))}
    return {"z": jnp.zeros((r * k, zdim)), "base": jnp.zeros((1, zdim))}


def compose(spec: Spec, variables, context):
    """Composed features [1, h, w, C]; ``context['subspaces']`` holds the masks [R, C]."""
    params, masks = context["generator"], context["subspaces"]
    cfg, r, k = spec.cfg, spec.num_subspaces, spec.codes_per_subspace
    features = spec.family.split.features
    if spec.composition == "tanh":
        feats = features(cfg, params, variables["z"].reshape(r * k, -1), spec.layer)
        feats = feats.reshape((r, k) + feats.shape[1:])
        t = jnp.tanh(variables["w"])[:, :, None, None, :]
        denom = jnp.sum(t, axis=1)
        denom = jnp.where(jnp.abs(denom) < 1e-6, 1e-6, denom)
        per_subspace = jnp.sum(t * feats, axis=1) / denom          # Eq. (6) [R, h, w, C]
        return jnp.sum(per_subspace * masks[:, None, None, :], axis=0, keepdims=True)  # Eq. (7)
    feats = features(cfg, params, jnp.concatenate([variables["z"], variables["base"]]),
                     spec.layer)
    code_masks = jnp.repeat(masks, k, axis=0)[:, None, None, :]
    return jnp.sum(feats[:-1] * code_masks, axis=0, keepdims=True) + feats[-1:]


def _render(spec: Spec, variables, context, key, step):
    params, split = context["generator"], spec.family.split
    f = compose(spec, variables, context)
    if spec.composition == "tanh":
        return split.from_features(spec.cfg, params, f, spec.layer)
    base = split.features(spec.cfg, params, variables["base"], spec.layer)
    return split.from_features(spec.cfg, params, jnp.concatenate([f, base]), spec.layer)


def _latents(spec: Spec, variables, context):
    return {"features": compose(spec, variables, context)[0]}


def exchange(spec: Spec, va, vb, context):
    """The paper's feature exchange (Fig. 4): image a with the channels of subspace r taken
    from image b, one image per subspace [R, H, W, 3]."""
    fa, fb = compose(spec, va, context), compose(spec, vb, context)
    m = context["subspaces"][:, None, None, :]
    return spec.family.split.from_features(spec.cfg, context["generator"], fa * (1 - m) + fb * m,
                                           spec.layer)


def build(family: Family, cfg, layer: int, num_subspaces: int = 6,
          codes_per_subspace: int = 5, preset: str = "paper",
          learning_rates: dict | None = None) -> Problem:
    """The PmSFC inversion problem. Needs ``context['subspaces']``: masks [R, C] from
    :func:`masks_from_labels`. Variables: ``paper``: z [R, K, z_dim], w [R, K, C];
    ``official``: z [R K, z_dim], base [1, z_dim] (the render is then two views, composed and
    base, weighted 0.01 and 1). ``learning_rates`` default to the preset's for every
    variable."""
    p = get_preset(preset)
    _check_layer(family, cfg, layer)
    spec = Spec(family, cfg, layer, num_subspaces, codes_per_subspace, p.composition)
    names = ("z", "w") if p.composition == "tanh" else ("z", "base")
    rates = learning_rates or {n: {"lr": p.lr} for n in names}
    bind = lambda f: functools.partial(f, spec)
    return Problem(init=bind(_init), render=bind(_render), penalty=no_penalty, project=None,
                   latents=bind(_latents), learning_rates=rates,
                   view_weights=None if p.composition == "tanh" else (0.01, 1.0),
                   exchange=bind(exchange))


@dataclasses.dataclass(frozen=True)
class Settings:
    """The ``pmsfc`` method's settings (see the module docstring)."""

    preset: str = "paper"
    layer: int = 6
    num_subspaces: int = 6
    codes_per_subspace: int = 5
    subspaces: str = ""
    discovery_steps: int = -1
    discovery_checkpoint: int = 500
    lam: float = -1.0
    mu: float = -1.0
    sparsity: str = ""


def discovery_preset(settings: Settings) -> Preset:
    """The preset with the settings' overrides of lambda, mu and the sparsity."""
    overrides = {k: v for k, v in (("lam", settings.lam), ("mu", settings.mu)) if v >= 0}
    if settings.sparsity:
        if settings.sparsity not in ("l1", "l2"):
            raise ValueError(f"sparsity = {settings.sparsity!r}; choose 'l1' or 'l2'")
        overrides["sparsity"] = settings.sparsity
    return dataclasses.replace(get_preset(settings.preset), **overrides)


def prepare_subspaces(settings: Settings, generator: Generator, job: Job):
    """The channel masks [R, C]: read from ``settings.subspaces`` (default
    ``<job.output_dir>/subspaces``) when a discovery for this generator, layer and preset is
    there, otherwise discovered now and saved there (nowhere when neither folder is given).
    Returns ``({'subspaces': masks}, notes)``; a cached discovery made for other settings is
    refused, naming each mismatch."""
    import os

    from jaxinv.io.checkpoints import OptimizationCheckpoint
    from jaxinv.report.progress import Bar

    preset = discovery_preset(settings)
    root = settings.subspaces or (os.path.join(job.output_dir, "subspaces")
                                  if job.output_dir else "")
    folder = os.path.abspath(root) if root else ""
    steps = settings.discovery_steps if settings.discovery_steps >= 0 else preset.discovery_steps
    wanted = {"layer": settings.layer, "preset": settings.preset, "steps": steps,
              "generator": generator_fingerprint(generator.cfg, generator.params),
              "lam": preset.lam, "mu": preset.mu, "sparsity": preset.sparsity}
    curves = None  # set when S is discovered now (then it is saved)
    if folder and os.path.exists(os.path.join(folder, "meta.json")):
        tree, meta = load_subspaces(folder)
        found = {k: meta.get(k) for k in wanted}
        if found != wanted:
            diff = ", ".join(f"{k} {found[k]!r} (wanted {wanted[k]!r})" for k in wanted
                             if found[k] != wanted[k])
            raise ValueError(f"subspaces: {folder} holds a discovery for another setting: "
                             f"{diff}; point it elsewhere or remove it")
        s = tree["s"]
        note = f"PmSFC subspaces read from {folder} (discovered once, {steps} steps)."
    else:
        bar = Bar(steps, "subspace discovery (method.discovery_steps)", "steps", job.progress)
        snapshots = (OptimizationCheckpoint(os.path.join(folder, "partial"),
                                            {**wanted, "seed": job.seed},
                                            settings.discovery_checkpoint)
                     if folder and settings.discovery_checkpoint > 0 else None)
        try:
            s, curves = discover(generator, settings.layer, preset,
                                 jax.random.PRNGKey(job.seed + 31), steps=steps,
                                 chunk=job.chunk, callback=bar, checkpoint=snapshots)
        except FloatingPointError as e:
            raise ValueError(f"PmSFC subspace discovery diverged: {e}") from None
        finally:
            bar.close()
        where = f" and saved to {folder}" if folder else ""
        note = (f"PmSFC subspaces discovered ({steps} steps, self-expressive loss "
                f"{curves['total'][0]:.4g} -> {curves['total'][-1]:.4g}){where}.")
    r = settings.num_subspaces
    a = affinity(s, r, preset)
    labels = spectral_clustering(a, r, seed=job.seed)
    sizes = np.bincount(labels, minlength=r)
    if not sizes.all():
        raise ValueError(f"num_subspaces = {r}: clustering the discovery gave an empty "
                         f"subspace (sizes {sizes.tolist()})")
    if curves is not None and folder:
        save_subspaces(folder, s, a, labels, curves,
                       {**wanted, "num_subspaces": r})
    if job.output_dir:
        _write_figures(os.path.join(job.output_dir, "figures"), a, labels,
                       curves if curves is not None else tree["curves"])
    return ({"subspaces": masks_from_labels(labels, r)},
            (note + f" Subspace sizes: {sizes.tolist()}.",))


def _write_figures(folder: str, a, labels, curves) -> None:
    """The report's figures of a discovery: the affinity grouped by subspace with the cluster
    boundaries, and the self-expressive loss per discovery step."""
    import os

    from jaxinv.report import plots

    os.makedirs(folder, exist_ok=True)
    plots.block_affinity(os.path.join(folder, "subspace_affinity.png"), a, labels,
                         f"PmSFC channel affinity, {len(np.unique(labels))} subspaces")
    plots.loss_curves(os.path.join(folder, "subspace_discovery_loss.png"),
                      {"self-expressive loss": np.asarray(curves["total"])},
                      title="subspace discovery")


def _build_method(generator, settings: Settings, job: Job) -> Method:
    p = get_preset(settings.preset)
    names = ("z", "w") if p.composition == "tanh" else ("z", "base")
    problem = build(generator.family, generator.cfg, settings.layer, settings.num_subspaces,
                    settings.codes_per_subspace, settings.preset,
                    {names[0]: job.rate("latent", p.lr), names[1]: job.rate("weights", p.lr)})
    discovery_preset(settings)  # refuse a bad override before any work
    return Method(problem=problem, prepare=functools.partial(prepare_subspaces, settings))


METHOD = MethodSpec("pmsfc", Settings, _build_method,
                    summary="PmSFC: subspace discovery, then composition per subspace")
