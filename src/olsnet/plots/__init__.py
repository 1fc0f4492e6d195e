"""Figures: the network diagram, the training picture and regression diagnostics.

The only module of olsnet that imports matplotlib, and only when a plot is drawn. Figures are
bare ``matplotlib.figure.Figure`` objects on an Agg canvas (no GUI backend, no pyplot state);
each function returns its Figure and saves it when given a ``path`` (PNG, SVG or PDF by
extension).
"""

from ._diagnostics import plot_diagnostics
from ._network import plot_network
from ._training import plot_training

__all__ = ["plot_diagnostics", "plot_network", "plot_training"]
