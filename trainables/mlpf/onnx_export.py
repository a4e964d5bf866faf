"""MLPF -> ONNX: the deployment path of the MLPF papers (CMSSW runs the network through ONNX Runtime;
Pata et al., EPJC 81 (2021) 381 and arXiv:2309.06782).

The exported graph takes one input and returns the raw network outputs:

* ``X`` float32 ``[batch, elements, 17]``: element features in the layout of ``schema.py``; padding
  rows are all zeros (element type 0), the padding mask is computed inside the graph.
* ``binary [B, N, 2]``, ``cls [B, N, 6]``, ``charge [B, N, 3]`` (logits) and ``reg [B, N, 5]`` (log pT
  ratio, eta, sin phi, cos phi, log E ratio; ``dataset.decode_regression`` turns them into pT, eta, phi, E).

Both axes are dynamic (``torch.export`` with symbolic batch and element counts): the GNN-LSH binning
derives the number of bins from N inside the graph, and FAVOR+ attention has no N-dependent
parameters.  One operator needs a translation of ours: the stable ``argsort`` that orders elements by
LSH bucket becomes ONNX ``TopK`` over the whole axis, whose specification breaks ties by the lower
index, i.e. a stable sort.
"""
from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .model import MLPF
from .schema import COL_TYPE, N_FEATURES

log = logging.getLogger("hpo.mlpf")
OUTPUTS = ("binary", "cls", "charge", "reg")
OPSET = 18


class MLPFForExport(nn.Module):
    """The trained network with the padding mask derived from the element type (one input, four outputs)."""

    def __init__(self, model: MLPF):
        super().__init__()
        self.model = model.eval()
        self.eval()

    def forward(self, X: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(X, X[..., COL_TYPE] != 0)
        return tuple(out[k] for k in OUTPUTS)


def _stable_sort(self, stable=None, dim: int = -1, descending: bool = False):
    """aten::sort.stable as ONNX TopK with k = the axis length (ties keep index order, per the ONNX spec)."""
    from onnxscript import opset18 as op

    k = op.Shape(self, start=dim, end=None if dim == -1 else dim + 1)
    return op.TopK(self, k, axis=dim, largest=1 if descending else 0, sorted=1)


def export_onnx(model: MLPF, path: str | Path, metadata: dict | None = None, example_elements: int = 64) -> Path:
    """Write ``model`` as ONNX (dynamic batch and element axes); ``metadata`` goes into the model's
    metadata_props as JSON strings.  Needs the ``export`` extra (onnx, onnxscript)."""
    try:
        import onnx
        import onnxscript  # noqa: F401  (torch's exporter uses it)
    except ImportError as exc:
        raise RuntimeError(f"ONNX export needs the 'export' extra: pip install 'hpo[export]' ({exc})") from None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapped = MLPFForExport(model).cpu()
    X = example_events(2, example_elements, seed=0)
    batch, elements = torch.export.Dim("batch", min=1), torch.export.Dim("elements", min=2)
    quiet = logging.getLogger("torch.onnx._internal.exporter._registration")  # "torchvision is not installed"
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():  # the exporter's own deprecation notices, not the user's business
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(wrapped, (X,), str(path), input_names=["X"], output_names=list(OUTPUTS), dynamo=True,
                              dynamic_shapes={"X": {0: batch, 1: elements}}, opset_version=OPSET,
                              external_data=False, verbose=False,
                              custom_translation_table={torch.ops.aten.sort.stable: _stable_sort})
    finally:
        quiet.setLevel(level)
    proto = onnx.load(str(path))
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return path


def example_events(batch: int, elements: int, seed: int = 0, padded_from: int | None = None) -> torch.Tensor:
    """Element features with plausible ranges (tracks and clusters, padding after ``padded_from``)."""
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(batch, elements, N_FEATURES, generator=g) * 5.0
    X[..., COL_TYPE] = torch.randint(1, 3, (batch, elements), generator=g).float()
    X[..., 2] = X[..., 2] - 2.5  # eta
    phi = (torch.rand(batch, elements, generator=g) * 2 - 1) * torch.pi
    X[..., 3], X[..., 4] = torch.sin(phi), torch.cos(phi)
    if padded_from is not None:
        X[0, padded_from:] = 0.0
    return X


def compare_with_torch(model: MLPF, onnx_path: str | Path, X: torch.Tensor) -> dict[str, float]:
    """Largest absolute difference per output between ONNX Runtime and PyTorch on ``X``."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        ref = MLPFForExport(model).cpu()(X.cpu())
    got = session.run(list(OUTPUTS), {"X": X.cpu().numpy().astype(np.float32)})
    return {k: float(np.abs(r.numpy() - g).max()) for k, r, g in zip(OUTPUTS, ref, got)}
