"""Count the FLOPs of an ONNX graph from its inferred shapes (Conv, ConvTranspose, Gemm, MatMul).

Those ops hold nearly all the arithmetic of the networks submitted here; element-wise ops, pooling
and normalisation are not counted (documented in the bench output). A multiply-add counts 2 FLOPs,
as in ``torch.utils.flop_counter``.
"""

from __future__ import annotations

import math
from pathlib import Path


def _shapes(model) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for vi in [*model.graph.input, *model.graph.value_info, *model.graph.output]:
        dims = vi.type.tensor_type.shape.dim
        if all(d.HasField("dim_value") for d in dims):
            out[vi.name] = [int(d.dim_value) for d in dims]
    for init in model.graph.initializer:
        out[init.name] = [int(d) for d in init.dims]
    return out


def _fix_inputs(model, concrete: dict[str, list[int]]) -> None:
    for vi in model.graph.input:
        if vi.name in concrete:
            dims = vi.type.tensor_type.shape.dim
            for d, v in zip(dims, concrete[vi.name], strict=False):
                d.ClearField("dim_param")
                d.dim_value = v


def onnx_graph_flops(path: str | Path, shape, static_dim: int, dynamic_dim: int, role: str,
                     modality: str = "video") -> int | None:
    """FLOPs of one forward pass of ``role`` (encoder / decoder) for a single sequence of ``shape``."""
    import onnx

    from .modality import input_name

    model = onnx.load(str(path))
    t = int(shape[0])
    concrete = (
        {input_name(modality): [1, *map(int, shape)]}
        if role == "encoder"
        else {"static": [1, static_dim], "dynamic": [1, t, dynamic_dim]}
    )
    _fix_inputs(model, concrete)
    try:
        model = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:
        return None
    shapes = _shapes(model)
    total = 0
    for node in model.graph.node:
        ins = [shapes.get(n) for n in node.input]
        outs = [shapes.get(n) for n in node.output]
        if node.op_type in ("Conv", "ConvTranspose", "Gemm", "MatMul") and (ins[0] is None or ins[1] is None):
            return None
        if node.op_type == "MatMul":
            if outs[0] is None:
                return None
            total += 2 * math.prod(outs[0]) * ins[0][-1]
        elif node.op_type == "Gemm":
            attrs = {a.name: a.i for a in node.attribute}
            m, k = (ins[0][1], ins[0][0]) if attrs.get("transA") else (ins[0][0], ins[0][1])
            n = ins[1][0] if attrs.get("transB") else ins[1][1]
            total += 2 * m * n * k
        elif node.op_type == "Conv":
            if outs[0] is None:
                return None
            w = ins[1]
            total += 2 * math.prod(outs[0]) * w[1] * math.prod(w[2:])
        elif node.op_type == "ConvTranspose":
            w = ins[1]
            total += 2 * math.prod(ins[0]) * w[1] * math.prod(w[2:])
    return int(total)
