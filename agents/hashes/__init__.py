"""What a trained policy becomes: a deterministic hash function (the network and its
certified fast path, :class:`agents.PolicyHash`, :class:`agents.QuantizedHash`) and the
ONNX artifact that ships it. Imports :mod:`agents.common`, never
:mod:`agents.algorithms` or :mod:`agents.runs`.
"""
