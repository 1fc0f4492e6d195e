"""Bad input to networks: clear errors naming what is wrong."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import olsnet
from olsnet._types import OPTIMIZERS
from olsnet.errors import ConvergenceError, DataError, DimensionError, NotAffineError, OptionError


def test_mismatched_feature_count(diabetes):
    X, y = diabetes
    net = olsnet.LinearNetwork(9)
    with pytest.raises(DimensionError, match="10 features but the network takes 9"):
        net.fit(X, y)
    with pytest.raises(DimensionError, match="10 features"):
        olsnet.compare(net, X, y)
    with pytest.raises(DimensionError, match="2 target"):
        olsnet.LinearNetwork(10).fit(X, np.c_[y, y])


def test_non_finite_data(diabetes):
    X, y = diabetes
    X = X.copy()
    X[7, 3] = np.nan
    with pytest.raises(DataError, match="row 7"):
        olsnet.LinearNetwork(10).fit(X, y)


@pytest.mark.parametrize("hidden", [(0,), (3, -1), (2.5,), ("4",), (True,), "3"])
def test_hidden_widths_must_be_positive_ints(hidden):
    with pytest.raises(OptionError, match="positive int"):
        olsnet.LinearNetwork(3, hidden=hidden)


def test_unknown_optimizer_lists_the_accepted_names(diabetes):
    X, y = diabetes
    with pytest.raises(OptionError) as err:
        olsnet.train(olsnet.LinearNetwork(10), X, y, optimizer="rmsprop")
    for name in OPTIMIZERS:
        assert repr(name) in str(err.value)


def test_nonlinear_layer_is_named(diabetes):
    X, y = diabetes
    seq = torch.nn.Sequential(
        torch.nn.Linear(10, 3, dtype=torch.float64),
        torch.nn.Tanh(),
        torch.nn.Linear(3, 1, dtype=torch.float64),
    )
    with pytest.raises(NotAffineError, match=r"layer '1' \(Tanh\)"):
        olsnet.train(seq, X, y)


def test_divergence_raises_with_epoch_and_keeps_finite_weights(diabetes):
    X, y = diabetes
    net = olsnet.LinearNetwork(10, seed=0)
    with pytest.raises(ConvergenceError, match=r"diverged in epoch \d+"):
        olsnet.train(net, X, y, optimizer="gd", lr=1e6, max_epochs=5000)
    assert all(torch.isfinite(t).all() for t in net.parameters())


def test_bad_options(diabetes):
    X, y = diabetes
    net = olsnet.LinearNetwork(10)
    with pytest.raises(OptionError, match="batch_size"):
        olsnet.train(net, X, y, optimizer="gd", batch_size=10)
    with pytest.raises(OptionError, match="lr"):
        olsnet.train(net, X, y, lr=-1.0)
    with pytest.raises(OptionError, match="weight_decay"):
        olsnet.train(net, X, y, weight_decay=float("nan"))
