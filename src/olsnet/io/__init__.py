"""Model files: ONNX export and import (``onnx``), safe archives (``archive``).

Nothing here is imported by ``import olsnet``; ``olsnet.to_onnx``, ``olsnet.from_onnx``,
``olsnet.save`` and ``olsnet.load`` load their module on first use.
"""
