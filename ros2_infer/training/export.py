"""
PyTorch module -> TorchScript -> ONNX -> int8 (ONNX QDQ static; torch FX x86 / qnnpack).

Every file gets its spec YAML next to it. int8 quantizes the backbone, not the output head:
box coordinates in pixels and scores in 0..1 would share one int8 scale at the output and lose
either the boxes or the scores.
"""

import copy
from dataclasses import replace
import logging
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Set
import warnings

import numpy as np
import onnx
from ros2_infer.core.errors import Ros2InferError
from ros2_infer.core.spec import ModelSpec, Quantization
import torch

logger = logging.getLogger('ros2_infer.export')

# Each ONNX int8 target with the settings that suit its integer kernels.
ONNX_INT8_TARGETS = {
    # x86 with VNNI/AVX-512: unsigned activations x signed weights is the fast path.
    'x86': {'activation': 'uint8', 'weight': 'int8'},
    # ARM (Cortex-A72/A76 via MLAS): signed x signed; no reliance on dot-product extensions.
    'arm': {'activation': 'int8', 'weight': 'int8'},
}
TORCH_INT8_ENGINES = ('x86', 'qnnpack')
ALL_VARIANTS = ('torchscript', 'onnx', 'onnx-int8-x86', 'onnx-int8-arm', 'torch-int8-x86',
                'torch-int8-qnnpack')


def export_torchscript(module: torch.nn.Module, example: torch.Tensor, path: Path) -> Path:
    """Trace ``module`` (eval mode) and save it with ``torch.jit.save``."""
    module = module.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        traced = torch.jit.trace(module, example, check_trace=False)
        traced = torch.jit.freeze(traced)
    torch.jit.save(traced, str(path))
    return path


def export_onnx(module: torch.nn.Module, example: torch.Tensor, path: Path, *,
                input_name: str = 'images', output_names: Sequence[str] = ('output0',),
                opset: int = 17) -> Path:
    """Export to ONNX with fixed input size, and check the result."""
    module = module.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        # The TorchScript-based exporter keeps module scopes in node names and needs no
        # onnxscript; it is deprecated, so fall back to the dynamo exporter if it is gone.
        try:
            torch.onnx.export(module, (example,), str(path), input_names=[input_name],
                              output_names=list(output_names), opset_version=opset,
                              dynamo=False, do_constant_folding=True)
        except TypeError:
            torch.onnx.export(module, (example,), str(path), input_names=[input_name],
                              output_names=list(output_names), opset_version=opset)
    onnx.checker.check_model(onnx.load(str(path)))
    return path


def output_head_nodes(model: onnx.ModelProto) -> Set[str]:
    """
    Names of the nodes that form the output head of an ONNX graph.

    Walking back from the graph outputs, every node up to and including the first Conv/Gemm
    on each path is head: the final prediction layers and the decode arithmetic after them.
    """
    producers = {}
    for node in model.graph.node:
        for output in node.output:
            producers[output] = node
    head: Set[str] = set()
    stack = [o.name for o in model.graph.output]
    seen: Set[str] = set()
    while stack:
        tensor = stack.pop()
        node = producers.get(tensor)
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        head.add(node.name)
        if node.op_type in ('Conv', 'Gemm', 'MatMul'):
            continue
        stack.extend(node.input)
    return head


class _ArrayReader:
    """Feeds calibration tensors to onnxruntime's static quantizer."""

    def __init__(self, input_name: str, tensors: Iterable[np.ndarray]):
        self._items = iter([{input_name: t} for t in tensors])

    def get_next(self):
        return next(self._items, None)

    def rewind(self):  # onnxruntime >= 1.17 may call this
        pass


def quantize_onnx_static(fp32_path: Path, int8_path: Path, calibration: Sequence[np.ndarray],
                         *, input_name: str, target: str = 'x86') -> Path:
    """Quantize to static QDQ int8 (per-channel weights), calibrated on the given tensors."""
    from onnxruntime.quantization import (CalibrationMethod, quantize_static, QuantFormat,
                                          QuantType)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not calibration:
        raise Ros2InferError('int8 export needs calibration images')
    settings = ONNX_INT8_TARGETS[target]
    types = {'uint8': QuantType.QUInt8, 'int8': QuantType.QInt8}
    prepared = int8_path.with_suffix('.prep.onnx')
    try:
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        excluded = sorted(output_head_nodes(onnx.load(str(prepared))))
        quantize_static(str(prepared), str(int8_path),
                        _ArrayReader(input_name, calibration),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=types[settings['activation']],
                        weight_type=types[settings['weight']],
                        calibrate_method=CalibrationMethod.MinMax,
                        nodes_to_exclude=excluded,
                        extra_options={'ActivationSymmetric': settings['activation'] == 'int8'})
    finally:
        prepared.unlink(missing_ok=True)
    return int8_path


def quantize_torch_fx(module: torch.nn.Module, example: torch.Tensor,
                      calibration: Sequence[np.ndarray], *, engine: str,
                      modules: Sequence[str]) -> torch.jit.ScriptModule:
    """Quantize the named submodules to int8 with torch FX (static), traced to TorchScript."""
    from torch.ao.quantization import get_default_qconfig, QConfigMapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        qconfig = get_default_qconfig(engine)
        mapping = QConfigMapping()
        for name in modules:
            mapping.set_module_name(name, qconfig)
        float_model = copy.deepcopy(module).eval()
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            prepared = prepare_fx(float_model, mapping, example_inputs=(example,))
            with torch.no_grad():
                for tensor in calibration:
                    prepared(torch.from_numpy(tensor))
            quantized = convert_fx(prepared)
            with torch.no_grad():
                traced = torch.jit.trace(quantized, example, check_trace=False)
                traced = torch.jit.freeze(traced)
    finally:
        torch.backends.quantized.engine = previous
    return traced


def export_variants(module: torch.nn.Module, template: ModelSpec, out_dir: Path, *,
                    calibration: Sequence[np.ndarray] = (),
                    variants: Sequence[str] = ALL_VARIANTS,
                    quantizable_modules: Optional[Sequence[str]] = None,
                    calibration_note: str = '') -> List[ModelSpec]:
    """
    Write every requested variant of ``module`` with its spec into ``out_dir``.

    ``template`` supplies task, input, output and classes; each variant's spec gets its own
    model path, precision and quantization. Returns the written specs.
    """
    unknown = set(variants) - set(ALL_VARIANTS)
    if unknown:
        raise Ros2InferError(f'unknown export variants {sorted(unknown)}; choose from '
                             f'{", ".join(ALL_VARIANTS)}')
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    module = module.eval()
    example = torch.zeros(template.input.shape(), dtype=torch.float32)
    input_name = template.input.name or 'images'
    output_names = list(template.output.names) or ['output0']
    base = replace(template, input=replace(template.input, name=input_name),
                   output=replace(template.output, names=tuple(output_names)))
    name = template.name
    written: List[ModelSpec] = []

    def finish(path: Path, precision: str, quantization: Optional[Quantization] = None):
        spec = replace(base, model_path=path.resolve(), precision=precision,
                       quantization=quantization)
        spec = replace(spec, spec_path=spec.save().resolve())
        written.append(spec)
        logger.info('wrote %s (%.2f MB)', path, path.stat().st_size / 1e6)

    if 'torchscript' in variants:
        finish(export_torchscript(module, example, out_dir / f'{name}_ts.torchscript'), 'fp32')
    fp32_onnx = out_dir / f'{name}.onnx'
    if any(v.startswith('onnx') for v in variants):
        export_onnx(module, example, fp32_onnx, input_name=input_name,
                    output_names=output_names)
        if 'onnx' in variants:
            finish(fp32_onnx, 'fp32')
    for target in ONNX_INT8_TARGETS:
        if f'onnx-int8-{target}' not in variants:
            continue
        path = quantize_onnx_static(fp32_onnx, out_dir / f'{name}_int8_{target}.onnx',
                                    calibration, input_name=input_name, target=target)
        settings = ONNX_INT8_TARGETS[target]
        finish(path, 'int8', Quantization('qdq', target, settings['activation'],
                                          settings['weight'], calibration_note))
    if 'onnx' not in variants and fp32_onnx.exists():
        fp32_onnx.unlink()
    for engine in TORCH_INT8_ENGINES:
        if f'torch-int8-{engine}' not in variants:
            continue
        if engine not in torch.backends.quantized.supported_engines:
            logger.warning('skipping torch int8 for %s: not in this torch build', engine)
            continue
        names = quantizable_modules or [n for n, _ in module.named_children()]
        traced = quantize_torch_fx(module, example, calibration, engine=engine, modules=names)
        path = out_dir / f'{name}_ts_int8_{engine}.torchscript'
        torch.jit.save(traced, str(path))
        finish(path, 'int8', Quantization('fx', engine, 'uint8', 'int8', calibration_note))
    return written
