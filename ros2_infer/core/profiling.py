"""Measurements that put latencies in context: GEMM throughput and FLOPs per frame."""

from pathlib import Path
import time
from typing import Dict, Optional, Sequence

import numpy as np


def _time_calls(call, seconds: float) -> float:
    call()
    count, start = 0, time.perf_counter()
    while True:
        call()
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and count >= 3:
            return elapsed / count


def measure_gemm_gflops(threads: int, size: int = 2048, seconds: float = 0.4) -> float:
    """
    Best fp32 matrix-multiply throughput (GFLOP/s) of this machine with ``threads`` threads.

    The physical limit a model's achieved GFLOP/s is compared with: measured, not looked up,
    as the best of torch's BLAS and onnxruntime's MLAS (MKL runs slow code paths on some CPUs).
    """
    import torch

    flops = 2.0 * size ** 3
    a = torch.rand(size, size)
    b = torch.rand(size, size)
    out = torch.empty(size, size)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        best = flops / _time_calls(lambda: torch.mm(a, b, out=out), seconds) / 1e9
    finally:
        torch.set_num_threads(previous)
    try:
        from onnx import helper, TensorProto
        import onnxruntime as ort
    except ImportError:
        return best
    shape = [size, size]
    graph = helper.make_graph(
        [helper.make_node('MatMul', ['A', 'B'], ['C'])], 'gemm',
        [helper.make_tensor_value_info('A', TensorProto.FLOAT, shape),
         helper.make_tensor_value_info('B', TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info('C', TensorProto.FLOAT, shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])
    model.ir_version = min(model.ir_version, 8)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=['CPUExecutionProvider'])
    feed = {'A': a.numpy(), 'B': b.numpy()}
    return max(best, flops / _time_calls(lambda: session.run(None, feed), seconds) / 1e9)


def onnx_flops(path: Path) -> Optional[float]:
    """
    Count the FLOPs (2 x multiply-accumulates) of one forward pass from the graph's shapes.

    Counts Conv, ConvTranspose, Gemm and MatMul, which dominate vision models; returns None
    when shapes cannot be inferred (dynamic sizes).
    """
    import onnx
    from onnx import numpy_helper, shape_inference

    model = shape_inference.infer_shapes(onnx.load(str(path)))
    graph = model.graph
    shapes: Dict[str, Sequence[int]] = {}
    for value in list(graph.value_info) + list(graph.input) + list(graph.output):
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = [d.dim_value if d.HasField('dim_value') else -1 for d in dims]
    for init in graph.initializer:
        shapes[init.name] = list(numpy_helper.to_array(init).shape)
    total = 0.0
    for node in graph.node:
        if node.op_type not in ('Conv', 'ConvTranspose', 'Gemm', 'MatMul', 'QLinearConv',
                                'ConvInteger', 'MatMulInteger', 'QLinearMatMul'):
            continue
        weight_index = 3 if node.op_type.startswith('QLinear') else 1
        out_shape = list(shapes.get(node.output[0]) or [])
        if out_shape and out_shape[0] < 0:
            out_shape[0] = 1  # shape inference loses the batch behind Resize; we run batch 1
        weight = shapes.get(node.input[weight_index]) if len(node.input) > weight_index else None
        if not out_shape or not weight or min(out_shape) < 0 or min(weight) < 0:
            return None
        if 'Conv' in node.op_type:
            if node.op_type == 'ConvTranspose':
                in_shape = shapes.get(node.input[0])
                if not in_shape or min(in_shape) < 0:
                    return None
                total += 2.0 * float(np.prod(in_shape)) * float(np.prod(weight[1:]))
            else:
                # weight: [C_out, C_in / groups, kH, kW]
                total += 2.0 * float(np.prod(out_shape)) * float(np.prod(weight[1:]))
        elif node.op_type == 'Gemm':
            trans_b = any(a.name == 'transB' and a.i for a in node.attribute)
            total += 2.0 * float(np.prod(out_shape)) * float(weight[1] if trans_b else weight[0])
        else:
            total += 2.0 * float(np.prod(out_shape)) * float(weight[-2])
    return total


def torch_flops(module, example) -> Optional[float]:
    """Count the FLOPs of one forward pass of a torch module (TorchScript included), or None."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    try:
        with FlopCounterMode(display=False) as counter, torch.inference_mode():
            module(example)
        return float(counter.get_total_flops()) or None
    except Exception:  # some scripted or quantized ops have no FLOP formula
        return None
