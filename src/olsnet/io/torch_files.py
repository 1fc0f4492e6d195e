"""Torch model files, read without running code from them.

* A *state dict* of ``nn.Linear`` layers in sequence (keys ``0.weight``, ``0.bias``,
  ``1.weight``, ...), as ``torch.save(net.state_dict(), path)`` writes it: read with
  ``torch.load(weights_only=True)`` (PyTorch's restricted unpickler: tensors and plain
  containers only) and rebuilt as a :class:`~olsnet.LinearNetwork`.
* A TorchScript file (``torch.jit.save``): **refused unless ``allow_torchscript=True``**.
  Loading TorchScript runs code stored in the file (``__setstate__`` and the module's methods
  are executed by ``torch.jit.load``), so a hostile file can read or write any file the user
  can, or never return. With the opt-in, an ``nn.Sequential`` of ``nn.Linear`` layers is
  rebuilt from its weights.
* A pickled whole module (``torch.save(net)``): always refused (unpickling runs code).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

from ..errors import FormatError

__all__ = ["is_torchscript", "load_torch_file"]


def is_torchscript(path: Path) -> bool:
    """Whether ``path`` is a TorchScript archive (a zip holding ``code/`` or ``constants.pkl``);
    read from the zip directory only."""
    try:
        with zipfile.ZipFile(path) as zf:
            return any("/code/" in name or name.endswith("constants.pkl") for name in zf.namelist())
    except zipfile.BadZipFile:
        return False


def _network_from_state_dict(state: Any, path: Path) -> Any:
    """The LinearNetwork whose layers are the ``{i}.weight`` / ``{i}.bias`` tensors."""
    from ..nn import LinearNetwork

    if not isinstance(state, dict) or not state:
        raise FormatError(
            f"{path}: expected a state dict of nn.Linear layers, got {type(state).__name__}"
        )
    keys = [k.rsplit(".", 2)[-2:] for k in state]
    layers = sorted({int(k[0]) for k in keys if len(k) == 2 and k[0].isdigit()})
    expected = {f"{i}.{kind}" for i in layers for kind in ("weight", "bias")}
    suffixes = {".".join(k) for k in keys}
    if (
        not layers
        or not suffixes <= expected
        or layers != list(range(layers[0], layers[0] + len(layers)))
    ):
        raise FormatError(
            f"{path}: the state dict has keys {sorted(state)[:6]}; olsnet reads state dicts of "
            "nn.Linear layers in sequence ('0.weight', '0.bias', '1.weight', ...). Save other "
            "modules with torch.jit.save or export them to ONNX"
        )
    prefix = next(iter(state))[: -len(".".join(keys[0]))]
    weights = [state[f"{prefix}{i}.weight"] for i in layers]
    has_bias = f"{prefix}{layers[0]}.bias" in state
    widths = [int(weights[0].shape[1])] + [int(W.shape[0]) for W in weights]
    net = LinearNetwork(
        widths[0], widths[-1], tuple(widths[1:-1]), bias=has_bias, dtype=weights[0].dtype
    )
    try:
        net.load_state_dict({k[len(prefix) :]: v for k, v in state.items()})
    except RuntimeError as exc:
        raise FormatError(f"{path}: the layers do not chain: {str(exc).splitlines()[0]}") from None
    return net


def _network_from_torchscript(module: Any, path: Path) -> Any:
    """A TorchScript nn.Sequential of nn.Linear layers, as a LinearNetwork (its code is not
    run; only its structure and weights are read)."""
    children = [c.original_name for c in module.children()]
    if module.original_name != "Sequential" or not children or set(children) != {"Linear"}:
        raise FormatError(
            f"{path}: a TorchScript {module.original_name} with parts {children}; olsnet reads "
            "TorchScript files holding an nn.Sequential of nn.Linear layers. Export other "
            "modules to ONNX (olsnet collapses affine ONNX graphs)"
        )
    return _network_from_state_dict(dict(module.state_dict()), path)


def load_torch_file(path: str | os.PathLike[str], *, allow_torchscript: bool = False) -> Any:
    """A LinearNetwork from a ``.pt`` / ``.pth`` file, executing nothing from it by default.

    Parameters
    ----------
    path : str or path-like
        A state dict of ``nn.Linear`` layers in sequence, or (with ``allow_torchscript``) a
        TorchScript ``nn.Sequential`` of ``nn.Linear`` layers.
    allow_torchscript : bool, default False
        Load TorchScript files with ``torch.jit.load``, which runs code from the file. Only for
        files you trust as you would trust a program.

    Returns
    -------
    LinearNetwork

    Raises
    ------
    FormatError
        A TorchScript file without ``allow_torchscript``; a pickled module or anything else
        ``torch.load(weights_only=True)`` refuses; a state dict that is not a chain of Linear
        layers (the keys are named).
    """
    import torch

    path = Path(path)
    if is_torchscript(path):
        if not allow_torchscript:
            raise FormatError(
                f"{path}: a TorchScript file. Loading TorchScript runs code stored in the file "
                "(torch.jit.load executes its __setstate__ and methods), so olsnet does not load "
                "it unless you opt in: --allow-torchscript on the command line, "
                "allow_torchscript=True in Python, for files you trust. Safer: save "
                "net.state_dict() or export to ONNX"
            )
        module = torch.jit.load(str(path), map_location="cpu")
        return _network_from_torchscript(module, path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        raise FormatError(
            f"{path}: not a state dict of tensors (a pickled module?); olsnet does not "
            "unpickle it, because unpickling runs code from the file. Save "
            "net.state_dict(), or export to ONNX"
        ) from None
    return _network_from_state_dict(state, path)
