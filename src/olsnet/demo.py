"""``olsnet demo``: the whole idea of olsnet, on real data, in under a minute.

On the Longley (1967) data shipped with olsnet it (a) prints the exact regression summary,
(b) trains the single neuron and shows it reaches the same coefficients, (c) trains a network
with a hidden layer of three nodes, collapses it and shows that ``cᵀW`` is the regression,
(d) shows plain gradient descent crawling on the unscaled, ill-conditioned columns while the
exact solver does not, and standardization fixing it, (e) writes the three figures.

The demo prints (through a rich console); the library itself never does.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["run"]

GD_EPOCHS = 2000
GD_EPOCHS_QUICK = 300


def _say(console: Any, text: str = "", *, style: str | None = None) -> None:
    """Print plain text (never parsed as rich markup: tables contain brackets)."""
    console.print(text, style=style, markup=False, highlight=False)


def _rule(console: Any, title: str) -> None:
    console.rule(title, style="cyan")


def _rel_err(coef: np.ndarray, ref: np.ndarray) -> float:
    """Largest relative coefficient difference, ``max_j |c_j − r_j| / |r_j|``."""
    return float(np.max(np.abs(coef - ref) / np.abs(ref)))


def _matrix(a: np.ndarray, row_names: list[str], col_names: list[str]) -> str:
    """A small right-aligned matrix with row and column names."""
    width = max(14, *(len(c) + 2 for c in col_names))
    first = max(len(r) for r in row_names) + 1
    head = " " * first + "".join(f"{c:>{width}}" for c in col_names)
    lines = [head]
    for name, row in zip(row_names, np.atleast_2d(a), strict=True):
        lines.append(f"{name:<{first}}" + "".join(f"{v:>{width}.7g}" for v in row))
    return "\n".join(lines)


def _pow2(v: np.ndarray) -> np.ndarray:
    return np.exp2(np.round(np.log2(np.where(v > 0, v, 1.0))))


def _path_recorder(X: np.ndarray, y: np.ndarray) -> tuple[list[np.ndarray], Any]:
    """A training callback that records the collapsed coefficients (intercept first) per epoch.

    During training the network lives in standardized coordinates (``olsnet.train``: inputs
    centred and divided by the power of two nearest their standard deviation, y likewise); the
    recorder maps each collapsed map back to the data's units, ``W_u = c W_s / d``,
    ``b_u = c (b_s − W_s m / d) + m_y``. The demo checks the last recorded point against the
    trained network, so a change in that convention cannot go unnoticed.
    """
    import olsnet

    m, d = X.mean(axis=0), _pow2(X.std(axis=0))  # (p,), (p,)
    my, c = float(y.mean()), float(_pow2(np.array(y.std())))
    paths: list[np.ndarray] = []

    def record(net: Any) -> Any:
        def callback(epoch: int, log: Any) -> bool:
            a = olsnet.collapse(net)
            Ws, bs = np.asarray(a.weight[0], dtype=np.float64), float(a.bias[0])
            paths.append(np.r_[c * (bs - Ws @ (m / d)) + my, c * Ws / d])
            return False

        return callback

    return paths, record


def _align_paths(
    paths: list[np.ndarray], final: np.ndarray, n_rows: int, console: Any
) -> list[np.ndarray]:
    """One row per logged loss (epochs 0..E): the start, the callbacks, the trained network.

    The last recorded row must agree with the trained network (mapped back by olsnet.train
    itself); if it does not, the recorder's standardization convention is out of date and the
    paths are left out rather than drawn wrong.
    """
    if len(paths) < 2 or not np.allclose(paths[-1], final, rtol=1e-6, atol=0):
        _say(
            console,
            "(coefficient paths left out of the training figure: they do not end at "
            "the trained network)",
            style="yellow",
        )
        return []
    rows = paths[:n_rows]
    rows += [final] * (n_rows - len(rows))
    rows[-1] = final
    return rows


def _relu_network_as_local_regression(
    console: Any, X: np.ndarray, y: np.ndarray, names: list[str], beta: np.ndarray
) -> dict[str, Any]:
    """Part (e): train a small ReLU network, then collapse it at one year: the exact regression
    the network computes in that year's linear region, and the radius where it holds."""
    import torch
    from torch import nn

    import olsnet

    _rule(console, "(e) a ReLU network is, around each input, a linear regression")
    torch.manual_seed(0)
    m, d = X.mean(axis=0), _pow2(X.std(axis=0))  # (p,), (p,) exact power-of-two scales
    my, c = float(y.mean()), float(_pow2(np.array(y.std())))
    Z = torch.from_numpy((X - m) / d)  # (n, p)
    T = torch.from_numpy((y - my) / c)[:, None]  # (n, 1)
    first, last = nn.Linear(len(names), 8).double(), nn.Linear(8, 1).double()
    net = nn.Sequential(first, nn.ReLU(), last)
    opt = torch.optim.LBFGS(net.parameters(), max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = ((net(Z) - T) ** 2).mean()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():  # fold the scaling into the first and last layers: user units
        first.bias.sub_(first.weight @ torch.from_numpy(m / d))
        first.weight.div_(torch.from_numpy(d))
        last.weight.mul_(c)
        last.bias.mul_(c).add_(my)
    net.eval()
    row = len(X) // 2
    x = X[row]  # (p,)
    local = olsnet.collapse(net, at=x)
    cert = local.certificate
    if cert is None or cert.radius is None:  # collapse(at=x) always certifies with a radius
        raise RuntimeError("the local map came without its certificate")
    coef = np.r_[local.bias[0], local.weight[0]]  # (1 + p,)
    _say(
        console,
        f"A network with 8 ReLU units, trained on the same data, is not affine: it bends. But "
        f"around each input it is exactly affine. At year {int(x[-1])} "
        f"olsnet.collapse(net, at=x) returns the regression the network computes in that "
        f"year's linear region, exact within a radius of {cert.radius:.3g} "
        f"({cert.radius / np.linalg.norm(x):.1e} of ‖x‖):",
    )
    _say(
        console,
        _matrix(np.column_stack([coef, beta]), ["Intercept", *names], ["local map", "OLS"]),
    )
    _say(console, f"local map {cert}")
    return {"net": net, "x": x, "weight": local.weight, "bias": local.bias, "radius": cert.radius}


def run(
    outdir: str | Path = "olsnet-demo", *, console: Any = None, quick: bool = False
) -> dict[str, Any]:
    """Run the demo: print the story, write three figures into ``outdir``.

    Parameters
    ----------
    outdir : str or Path, default "olsnet-demo"
        Folder for network.png, training.png and diagnostics.png (created if missing).
    console : rich.console.Console, optional
        Where to print; a new Console by default.
    quick : bool, default False
        Fewer gradient-descent epochs in part (d) (300 instead of 2,000); everything else is
        the same.

    Returns
    -------
    dict
        ``ols`` (coefficients, intercept first), ``ols_vs_certified`` (largest relative
        difference from NIST's certified values), ``neuron`` and ``hidden`` (the networks'
        collapsed coefficients), ``W``, ``c`` and ``cW``, ``neuron_rel_err``,
        ``hidden_rel_err``, ``gd`` (for the runs "raw", "standardized" and "momentum": epochs,
        relative coefficient error, relative loss gap, seconds), ``local`` (the ReLU network of
        part (e), the point ``x``, its local map and radius), ``figures`` (name -> path) and
        ``seconds``.
    """
    start = time.perf_counter()
    if console is None:
        from rich.console import Console

        console = Console()
    import torch  # noqa: F401  (networks need it; imported here so the timing below is fair)

    import olsnet
    from olsnet.data import ArraySource, Design
    from olsnet.datasets import load_longley
    from olsnet.plots import plot_diagnostics, plot_network, plot_training

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    data = load_longley()
    X, y, names = np.array(data.X), np.array(data.y), list(data.feature_names)
    target = data.target_name
    source = ArraySource(Design(X, y[:, None], None, tuple(names), (target,), 1))

    _rule(console, "olsnet demo: a linear regression is a linear neural network")
    _say(console, f"Data: {data.title}: {data.n_samples} rows; {target} on {', '.join(names)}.")
    _say(console, f"Source: {data.source}; licence: {data.licence}.")

    # (a) the exact regression --------------------------------------------------------------
    _rule(console, "(a) the exact regression")
    t0 = time.perf_counter()
    ols = olsnet.LinearRegression().fit(source)
    t_exact = time.perf_counter() - t0
    res = ols.result_
    beta = np.r_[ols.intercept_, ols.coef_].astype(np.float64)  # (7,) intercept first
    _say(console, str(ols.summary()))
    vs_nist = _rel_err(beta, np.asarray(data.certified_params))
    _say(
        console,
        f"exact fit: {t_exact * 1e3:.1f} ms; condition number of [1 X]: "
        f"{res.condition_number:.3g}; largest relative difference from NIST's "
        f"certified coefficients: {vs_nist:.1e}",
    )

    # (b) the single neuron ------------------------------------------------------------------
    _rule(console, "(b) the single neuron: y = b0 + b1 x1 + ... + b6 x6")
    neuron = olsnet.LinearNetwork(
        len(names), hidden=(), seed=0, feature_names=names, target_names=[target]
    )
    t0 = time.perf_counter()
    neuron.fit(X, y)  # L-BFGS on standardized data; the weights come back in the data's units
    t_neuron = time.perf_counter() - t0
    a1 = neuron.collapse()
    b_neuron = np.r_[a1.bias[0], a1.weight[0]].astype(np.float64)
    _say(console, f"trained ({t_neuron:.2f} s with set-up): {neuron.training_log_}")
    _say(console, str(olsnet.compare(neuron, X, y)))

    # (c) a hidden layer of three nodes, collapsed -------------------------------------------
    _rule(console, "(c) three hidden nodes and an output node, collapsed: cᵀW = the regression")
    net = olsnet.LinearNetwork(
        len(names), hidden=(3,), seed=0, feature_names=names, target_names=[target]
    )
    paths, recorder = _path_recorder(X, y)
    recorder(net)(0, None)  # the start: an untrained network starts in standardized units
    t0 = time.perf_counter()
    net.fit(X, y, lbfgs_iter=5, callback=recorder(net))  # short L-BFGS epochs: a finer path
    t_hidden = time.perf_counter() - t0
    log = net.training_log_
    a3 = net.collapse()
    b_hidden = np.r_[a3.bias[0], a3.weight[0]].astype(np.float64)
    W = net[0].weight.detach().numpy().copy()  # (3, 6)
    bW = net[0].bias.detach().numpy().copy()  # (3,)
    c = net[1].weight.detach().numpy().copy()  # (1, 3)
    d = float(net[1].bias.detach().numpy()[0])
    cW = c @ W  # (1, 6)
    _say(console, f"trained ({t_hidden:.2f} s with set-up): {log}")
    _say(console, "hidden layer: h = W x + b (one column per hidden node, W transposed):")
    _say(console, _matrix(np.vstack([W.T, bW]), [*names, "bias b"], ["h1", "h2", "h3"]))
    _say(
        console,
        f"output node: ŷ = c·h + d with c = {np.array2string(c[0], precision=6)}, d = {d:.6g}",
    )
    collapsed = np.r_[c[0] @ bW + d, cW[0]]  # (7,) cᵀb + d, then cᵀW
    _say(console, "collapsed: cᵀW beside the OLS coefficients (cᵀb + d beside the intercept):")
    _say(
        console,
        _matrix(
            np.column_stack([collapsed, beta, np.abs(collapsed - beta) / np.abs(beta)]),
            ["Intercept", *names],
            ["cᵀW, cᵀb+d", "OLS", "rel diff"],
        ),
    )
    paths = _align_paths(paths, b_hidden, len(log.loss), console)

    # (d) unscaled, ill-conditioned data ------------------------------------------------------
    n_gd = GD_EPOCHS_QUICK if quick else GD_EPOCHS
    _rule(console, "(d) ill-conditioned data: gradient descent crawls, the exact solver does not")
    opt_loss = float(res.ssr) / (2 * data.n_samples)
    gd: dict[str, dict[str, float]] = {}
    t0 = time.perf_counter()
    olsnet.LinearRegression().fit(X, y)  # timed again: the first fit above paid for imports
    t_exact = time.perf_counter() - t0
    lines = [
        f"{'method':<34}{'epochs':>7}{'seconds':>9}{'coef err':>11}{'loss gap':>11}",
        f"{'exact least squares (QR)':<34}{'-':>7}{t_exact:>9.3f}{0.0:>11.1e}{0.0:>11.1e}",
    ]
    runs = (
        ("raw", "gradient descent, raw columns", False, 0.0),
        ("standardized", "gradient descent, standardized", True, 0.0),
        ("momentum", "  + momentum 0.98", True, 0.98),
    )
    for key, label, standardize, momentum in runs:
        g = olsnet.LinearNetwork(len(names), hidden=(), seed=0)
        with warnings.catch_warnings():  # it is not expected to converge: we report how far
            warnings.simplefilter("ignore", olsnet.errors.TrainingWarning)
            glog = olsnet.train(
                g, X, y, optimizer="gd", standardize=standardize, momentum=momentum, max_epochs=n_gd
            )
        secs = glog.seconds  # the training loop itself, as for L-BFGS below
        ag = g.collapse()
        err = _rel_err(np.r_[ag.bias[0], ag.weight[0]].astype(np.float64), beta)
        gap = (glog.final_loss - opt_loss) / opt_loss
        gd[key] = {"epochs": float(glog.epochs), "rel_err": err, "loss_gap": gap, "seconds": secs}
        lines.append(f"{label:<34}{glog.epochs:>7}{secs:>9.3f}{err:>11.1e}{gap:>11.1e}")
    nlog = neuron.training_log_
    lines.append(
        f"{'L-BFGS, standardized (as in (b))':<34}{nlog.epochs:>7}{nlog.seconds:>9.3f}"
        f"{_rel_err(b_neuron, beta):>11.1e}"
        f"{(nlog.final_loss - opt_loss) / opt_loss:>11.1e}"
    )
    _say(console, "\n".join(lines))
    _say(console, "coef err: largest relative coefficient error; loss gap: (J − J*) / J*.")
    A = np.column_stack([np.ones(len(y)), X])
    Z = np.column_stack([np.ones(len(y)), (X - X.mean(axis=0)) / X.std(axis=0)])
    _say(
        console,
        f"Why: gradient descent's speed is set by the condition number of the Gram matrix "
        f"[1 X]ᵀ[1 X]: {np.linalg.cond(A) ** 2:.1e} on the raw columns, beyond what float64 "
        f"resolves, so some directions never move. Standardizing brings it to "
        f"{np.linalg.cond(Z) ** 2:.1e}: the problem becomes solvable, plain gradient descent "
        "still needs some 1e5 epochs, momentum fewer, and L-BFGS (olsnet's default, which "
        "standardizes for you and undoes it in the weights) needs a handful. The exact "
        "solver works on the R factor of a QR decomposition and never squares the condition "
        "number: no epochs at all.",
    )

    # (e) a ReLU network is, around each input, a linear regression -------------------------
    local = _relu_network_as_local_regression(console, X, y, names, beta)

    # (f) figures -------------------------------------------------------------------------------
    _rule(console, "(f) figures")
    figures = {
        "network": out / "network.png",
        "training": out / "training.png",
        "diagnostics": out / "diagnostics.png",
    }
    plot_network(net, figures["network"])
    plot_training(
        log, figures["training"], reference=ols, coef_paths=np.array(paths) if paths else None
    )
    plot_diagnostics(ols, figures["diagnostics"], labels=[str(int(v)) for v in X[:, -1]])
    for name, path in figures.items():
        _say(console, f"{name:<12} {path.resolve()}")
    seconds = time.perf_counter() - start
    _say(console, f"done in {seconds:.1f} s")
    return {
        "ols": beta,
        "ols_vs_certified": vs_nist,
        "neuron": b_neuron,
        "hidden": b_hidden,
        "W": W,
        "c": c,
        "cW": cW,
        "neuron_rel_err": _rel_err(b_neuron, beta),
        "hidden_rel_err": _rel_err(b_hidden, beta),
        "gd": gd,
        "local": local,
        "figures": {k: str(v) for k, v in figures.items()},
        "seconds": seconds,
    }
