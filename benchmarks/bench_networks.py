"""Training a single linear neuron to the exact OLS coefficients, against the usual ways.

    python benchmarks/bench_networks.py [--quick] [--threads N]

Writes benchmarks/results/networks.md. Target (issue "Linear regression as a neural network"):
on a (100,000 x 20) float64 problem, ``olsnet.LinearNetwork(20).fit`` (default L-BFGS) reaches
1e-9 relative coefficient error in at most 20x the time of the exact fit
(``olsnet.LinearRegression().fit``), and faster than a plain PyTorch loop (nn.Linear, Adam,
MSELoss) reaching the same error, if that loop reaches it at all. Alongside: plain gradient
descent with step 1/L, torch's L-BFGS with default settings, scikit-learn's SGDRegressor and
MLPRegressor(activation="identity"), each with the error it reaches within its budget.

Error = max over the intercept and the 20 coefficients of |b - b*| / |b*|, with b* the exact
fit. The exact fit and the olsnet network are timed as medians of repeats, in this one run;
the iterative baselines run once each, up to a stated budget of steps and seconds.
"""

from __future__ import annotations

import os

# unset before NumPy / OpenBLAS load (as _common does), so the host's tuning does not skew it
UNSET = [v for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if os.environ.pop(v, None)]

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import _common  # noqa: E402
import olsnet  # noqa: E402
from olsnet.solve import exact_lstsq  # noqa: E402

_common.UNSET = UNSET  # what this process unset, for the environment note

TARGET_ERR = 1e-9


def make_problem(n: int, p: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Correlated, unevenly scaled columns (condition number of X about 1e3), noisy target."""
    rng = np.random.default_rng(seed)
    mix = np.eye(p) + 0.5 * rng.normal(size=(p, p)) / np.sqrt(p)
    X = rng.normal(size=(n, p)) @ mix * rng.uniform(0.1, 10.0, size=p) + rng.normal(size=p)
    beta = rng.uniform(1.0, 3.0, size=p) * rng.choice([-1.0, 1.0], size=p)
    y = 4.0 + X @ beta + rng.normal(size=n) * 5.0
    return X, y


def rel_err(intercept: float, coef: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(np.r_[intercept, coef] - ref) / np.abs(ref)))


def torch_loop(
    X, y, ref, make_opt, loss_fn, max_steps, max_seconds, check_every=50, closure_opt=False
):
    """Run a plain torch loop on nn.Linear; (seconds to TARGET_ERR or None, error, steps, s)."""
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)[:, None]
    torch.manual_seed(0)
    lin = torch.nn.Linear(X.shape[1], 1, dtype=torch.float64)
    opt = make_opt(lin)

    def closure():
        opt.zero_grad()
        loss = loss_fn(lin(Xt), yt)
        loss.backward()
        return loss

    start = time.perf_counter()
    reached, err, step = None, float("inf"), 0
    while step < max_steps:
        if closure_opt:
            opt.step(closure)
        else:
            closure()
            opt.step()
        step += 1
        if step % check_every == 0 or step == max_steps:
            with torch.no_grad():
                err = rel_err(lin.bias.item(), lin.weight[0].numpy(), ref)
            if not np.isfinite(err):
                break
            if err <= TARGET_ERR:
                reached = time.perf_counter() - start
                break
            if time.perf_counter() - start > max_seconds:
                break
    return reached, err, step, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes, short budgets")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="limit torch and BLAS to this many threads (both sides alike)",
    )
    args = parser.parse_args()
    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(args.threads)
        threadpool_limits(args.threads)
    n, p = (20_000, 20) if args.quick else (100_000, 20)
    repeats = 3 if args.quick else 5
    budget_s = 5.0 if args.quick else 15.0
    X, y = make_problem(n, p)
    sol = exact_lstsq(X, y[:, None], None, True)
    ref = sol.params[:, 0]  # (1 + p,) intercept first

    t_exact = _common.median_time(lambda: olsnet.LinearRegression().fit(X, y), repeats)
    lr = olsnet.LinearRegression().fit(X, y)
    err_exact = rel_err(lr.intercept_, lr.coef_, ref)

    def fit_net():
        return olsnet.LinearNetwork(p, seed=0).fit(X, y)

    t_net = _common.median_time(fit_net, repeats)
    net = fit_net()
    A = net.collapse()
    err_net = rel_err(A.bias[0], A.weight[0], ref)
    log = net.training_log_

    rows = [
        (
            "olsnet LinearRegression.fit (exact)",
            "default accuracy policy",
            f"{err_exact:.2e}",
            f"{t_exact:.4f}",
            "1",
            "yes",
        ),
        (
            "olsnet LinearNetwork(20).fit",
            f"L-BFGS, {log.objective} objective, {log.epochs} steps",
            f"{err_net:.2e}",
            f"{t_net:.4f}",
            f"{t_net / t_exact:.1f}",
            "yes" if err_net <= TARGET_ERR else "no",
        ),
    ]

    mse = torch.nn.MSELoss()
    A1 = np.c_[np.ones(n), X]
    L = float(np.linalg.eigvalsh(A1.T @ A1 / n)[-1])  # Hessian of ½ mean r²: step 1/L
    baselines = [
        (
            "plain torch: nn.Linear + Adam(lr=0.01) + MSELoss",
            "full batch",
            lambda m: torch.optim.Adam(m.parameters(), lr=0.01),
            mse,
            20_000,
            False,
        ),
        (
            "plain torch: gradient descent, step 1/L",
            "full batch, ½ MSE",
            lambda m: torch.optim.SGD(m.parameters(), lr=1.0 / L),
            lambda o, t: 0.5 * mse(o, t),
            20_000,
            False,
        ),
        (
            "torch.optim.LBFGS, default settings",
            "full batch",
            lambda m: torch.optim.LBFGS(m.parameters()),
            mse,
            2_000,
            True,
        ),
    ]
    for name, how, make_opt, loss_fn, max_steps, closure_opt in baselines:
        reached, err, steps, secs = torch_loop(
            X, y, ref, make_opt, loss_fn, max_steps, budget_s, closure_opt=closure_opt
        )
        t = reached if reached is not None else secs
        rows.append(
            (
                name,
                f"{how}, {steps} steps",
                f"{err:.2e}",
                f"{t:.3f}",
                f"{t / t_exact:.0f}",
                "yes" if reached is not None else "no",
            )
        )

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import SGDRegressor
    from sklearn.neural_network import MLPRegressor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        sgd = SGDRegressor(random_state=0).fit(X, y)
        t = time.perf_counter() - start
        err = rel_err(float(sgd.intercept_[0]), sgd.coef_, ref)
        rows.append(
            (
                "sklearn SGDRegressor()",
                f"{sgd.n_iter_} epochs",
                f"{err:.2e}",
                f"{t:.3f}",
                f"{t / t_exact:.0f}",
                "yes" if err <= TARGET_ERR else "no",
            )
        )
        mlp_iter = 20 if args.quick else 50
        start = time.perf_counter()
        mlp = MLPRegressor(activation="identity", max_iter=mlp_iter, random_state=0).fit(X, y)
        t = time.perf_counter() - start
        W = mlp.coefs_[1].T @ mlp.coefs_[0].T  # (1, p): identity activations multiply out
        b = mlp.coefs_[1].T @ mlp.intercepts_[0] + mlp.intercepts_[1]
        err = rel_err(float(b[0]), W[0], ref)
        rows.append(
            (
                f"sklearn MLPRegressor(activation='identity', max_iter={mlp_iter})",
                f"{mlp.n_iter_} epochs (Adam)",
                f"{err:.2e}",
                f"{t:.3f}",
                f"{t / t_exact:.0f}",
                "yes" if err <= TARGET_ERR else "no",
            )
        )

    ratio = t_net / t_exact
    header = (
        "method",
        "how",
        "max rel coef error",
        "seconds",
        "x exact fit",
        f"reached {TARGET_ERR:g}",
    )
    lines = [
        "## Networks: a single linear neuron trained to the exact OLS coefficients",
        "",
        f"Problem: ({n:,} x {p}) float64, correlated columns with scales 0.1 to 10 "
        f"(condition number of [1 X] {sol.condition_number:.3g}). Error: largest relative "
        "difference from the exact OLS coefficients (intercept included). olsnet rows: median "
        f"of {repeats} runs; baselines: one run each, up to their step budget or {budget_s:g} s "
        "(time shown is to reach 1e-9 when they do, else the time spent).",
        "",
        _common.markdown_table(header, rows),
        "",
        f"Target: LinearNetwork.fit reaches 1e-9 in <= 20x the exact fit: **{ratio:.1f}x, "
        f"{'met' if ratio <= 20 and err_net <= TARGET_ERR else 'NOT met'}** "
        f"(torch threads: {torch.get_num_threads()}; BLAS threads as below).",
        "",
        _common.environment_note()
        + " Load average at the end of the run: "
        + ", ".join(f"{v:.1f}" for v in os.getloadavg())
        + ".",
        "",
    ]
    text = "\n".join(lines)
    out = _common.RESULTS / "networks.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
