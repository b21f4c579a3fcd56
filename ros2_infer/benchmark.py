"""
Side-by-side model benchmark: every variant of a model measured in one run.

Each variant runs in its own spawned process, so peak RSS belongs to that variant alone and one
runtime's thread pool does not slow the next. Parity compares raw outputs and decoded
detections with the fp32 reference on the same images.
"""

from dataclasses import asdict, dataclass, field
import multiprocessing
from pathlib import Path
import platform
import time
from typing import Dict, List, Optional, Sequence

import numpy as np

from ros2_infer.core.errors import Ros2InferError
from ros2_infer.core.spec import load_spec, ModelSpec

# --backends names -> predicate over a spec
BACKEND_FILTERS = {
    'torchscript': lambda s: s.default_backend == 'torchscript' and s.precision != 'int8',
    'torchscript-int8': lambda s: s.default_backend == 'torchscript' and s.precision == 'int8',
    'onnxruntime': lambda s: s.default_backend == 'onnxruntime' and s.precision != 'int8',
    'onnxruntime-int8': lambda s: s.default_backend == 'onnxruntime' and s.precision == 'int8',
}


@dataclass
class VariantResult:
    label: str
    spec_path: str
    file_mb: float
    load_ms: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    end_to_end_p50_ms: float = 0.0
    throughput_fps: float = 0.0
    peak_rss_mb: float = 0.0
    active_device: str = ''
    fallback: Optional[str] = None
    max_abs_diff: Optional[float] = None
    detection_agreement: Optional[float] = None
    speedup_vs_reference: Optional[float] = None
    achieved_gflops: Optional[float] = None
    efficiency: Optional[float] = None
    error: Optional[str] = None
    outputs: List[Dict[str, np.ndarray]] = field(default_factory=list, repr=False)
    detections: List[tuple] = field(default_factory=list, repr=False)


def collect_specs(paths: Sequence[Path]) -> List[ModelSpec]:
    """Specs from files or folders (every ``*.yaml`` spec in a folder), fp32 first."""
    specs = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            files = sorted(p for p in path.glob('*.yaml'))
            if not files:
                raise Ros2InferError(f'no model specs (*.yaml) in {path}')
            specs.extend(load_spec(p) for p in files)
        else:
            specs.append(load_spec(path))
    order = {'fp32': 0, 'fp16': 1, 'int8': 2}
    return sorted(specs, key=lambda s: (order[s.precision], s.default_backend != 'torchscript',
                                        str(s.model_path)))


def _measure(spec_path: str, images: List[np.ndarray], runs: int, warmup: int, device: str,
             threads: int, conf_threshold: float, queue) -> None:
    """Child process: load, warm up, time, and return outputs for parity."""
    import warnings

    # A fresh interpreter: silence torch's deprecation notices as the CLI does.
    warnings.filterwarnings('ignore', category=FutureWarning)
    warnings.filterwarnings('ignore', category=DeprecationWarning)
    try:
        from ros2_infer.core.detector import Detector
        from ros2_infer.core.hardware import peak_rss_mb
        from ros2_infer.core.model import load_model
        from ros2_infer.core.preprocess import Preprocessor

        start = time.perf_counter()
        model = load_model(spec_path, device=device, threads=threads, warmup_runs=warmup)
        load_ms = (time.perf_counter() - start) * 1e3
        preprocess = Preprocessor(model.spec.input)
        tensors = [preprocess(image, 'rgb')[0].copy() for image in images]
        outputs = [model.run(t) for t in tensors]
        latencies = []
        for i in range(runs):
            tensor = tensors[i % len(tensors)]
            begin = time.perf_counter()
            model.run(tensor)
            latencies.append(time.perf_counter() - begin)
        detections = []
        end_to_end = []
        if model.spec.task == 'detect':
            detector = Detector(model, conf_threshold=conf_threshold)
            for i in range(max(len(images), min(runs, 50))):
                begin = time.perf_counter()
                result = detector(images[i % len(images)])
                end_to_end.append(time.perf_counter() - begin)
                if i < len(images):
                    detections.append((result.boxes, result.scores, result.class_ids))
        latencies = np.asarray(latencies) * 1e3
        queue.put({
            'load_ms': load_ms,
            'p50_ms': float(np.percentile(latencies, 50)),
            'p95_ms': float(np.percentile(latencies, 95)),
            'end_to_end_p50_ms': float(np.percentile(end_to_end, 50) * 1e3) if end_to_end
            else 0.0,
            'throughput_fps': float(1e3 / latencies.mean()),
            'peak_rss_mb': peak_rss_mb(),
            'active_device': model.backend.active_device,
            'fallback': model.backend.fallback_reason,
            'outputs': outputs,
            'detections': detections,
        })
    except Exception as error:  # reported per variant; the other variants still run
        queue.put({'error': f'{type(error).__name__}: {error}'})


def _box_agreement(reference, candidate, iou_threshold: float = 0.5) -> Optional[float]:
    """F1 of candidate detections against the reference (same class, IoU >= threshold)."""
    ref_boxes, _, ref_classes = reference
    boxes, _, classes = candidate
    if len(ref_boxes) == 0 and len(boxes) == 0:
        return None
    if len(ref_boxes) == 0 or len(boxes) == 0:
        return 0.0
    from ros2_infer.core.metrics import box_iou

    iou = box_iou(ref_boxes, boxes)
    iou[ref_classes[:, None] != classes[None, :]] = 0.0
    matches = 0
    # Greedy matching on IoU: good enough for parity where matches are near-identical boxes.
    while iou.size and iou.max() >= iou_threshold:
        i, j = np.unravel_index(np.argmax(iou), iou.shape)
        matches += 1
        iou[i, :] = 0.0
        iou[:, j] = 0.0
    return 2.0 * matches / (len(ref_boxes) + len(boxes))


def run_benchmark(specs: Sequence[ModelSpec], *, images: List[np.ndarray], runs: int = 100,
                  warmup: int = 5, device: str = 'cpu', threads: Optional[int] = None,
                  conf_threshold: float = 0.25, gemm_gflops: Optional[float] = None,
                  flops: Optional[float] = None, progress=None) -> Dict:
    """Measure every spec; the first fp32 one is the reference for parity and speed-up."""
    from ros2_infer.core.hardware import physical_core_count

    threads = threads or physical_core_count()
    context = multiprocessing.get_context('spawn')
    results: List[VariantResult] = []
    for spec in specs:
        result = VariantResult(label=spec.variant_label(), spec_path=str(spec.spec_path),
                               file_mb=spec.model_path.stat().st_size / 1e6
                               if spec.model_path.exists() else 0.0)
        queue = context.Queue()
        process = context.Process(target=_measure, args=(
            str(spec.spec_path), images, runs, warmup, device, threads, conf_threshold, queue))
        process.start()
        try:
            data = queue.get(timeout=600)
        except Exception:  # queue.Empty or a crashed child
            data = {'error': 'the benchmark process died or timed out'}
        process.join(timeout=30)
        for key, value in data.items():
            setattr(result, key, value)
        results.append(result)
        if progress:
            progress(result)
    reference = next((r for r, s in zip(results, specs)
                      if s.precision == 'fp32' and r.error is None), None)
    for result in results:
        if result.error or reference is None:
            continue
        diffs = [float(np.max(np.abs(out[k].astype(np.float64) - ref[k])))
                 for out, ref in zip(result.outputs, reference.outputs)
                 for k in ref if k in out and out[k].shape == ref[k].shape]
        result.max_abs_diff = max(diffs) if diffs else None
        agreements = [a for a in (_box_agreement(r, c) for r, c in
                                  zip(reference.detections, result.detections))
                      if a is not None]
        result.detection_agreement = float(np.mean(agreements)) if agreements else None
        result.speedup_vs_reference = reference.p50_ms / result.p50_ms
        if flops:
            result.achieved_gflops = flops / (result.p50_ms * 1e-3) / 1e9
            if gemm_gflops:
                result.efficiency = result.achieved_gflops / gemm_gflops
    return {
        'machine': {'cpu': platform.processor() or platform.machine(),
                    'arch': platform.machine(), 'threads': threads,
                    'fp32_gemm_gflops': gemm_gflops},
        'model': {'name': specs[0].name if specs else '', 'flops_per_frame': flops,
                  'input': f'{specs[0].input.width}x{specs[0].input.height}' if specs else ''},
        'reference': reference.label if reference else None,
        'runs': runs,
        'variants': [{k: v for k, v in asdict(r).items() if k not in ('outputs', 'detections')}
                     for r in results],
    }


def format_table(report: Dict) -> str:
    """Format the human-readable table that ``ros2-infer bench`` prints."""
    machine, model = report['machine'], report['model']
    flops, gemm = model['flops_per_frame'], machine['fp32_gemm_gflops']
    header = f'model {model["name"]} ({model["input"]})'
    if flops:
        header += f', {flops / 1e9:.3f} GFLOP/frame'
    lines = [header]
    if gemm:
        lines.append(f'machine {machine["arch"]}, {machine["threads"]} threads, measured fp32 '
                     f'GEMM {gemm:.1f} GFLOP/s (eff = achieved GFLOP/s / GEMM GFLOP/s)')
    lines += [
        f'reference for parity and speed-up: {report["reference"]}; {report["runs"]} runs each',
        '',
        f'{"variant":34} {"MB":>6} {"p50 ms":>8} {"p95 ms":>8} {"e2e ms":>8} {"fps":>7} '
        f'{"speedup":>7} {"RSS MB":>7} {"max|diff|":>9} {"det agr":>7} {"eff":>5}',
    ]

    def fmt(value, spec):
        return format(value, spec) if value is not None else 'n/a'

    for v in report['variants']:
        if v['error']:
            lines.append(f"{v['label']:34} ERROR {v['error']}")
            continue
        lines.append(
            f"{v['label']:34} {v['file_mb']:6.2f} {v['p50_ms']:8.2f} {v['p95_ms']:8.2f} "
            f"{v['end_to_end_p50_ms']:8.2f} {v['throughput_fps']:7.1f} "
            f"{fmt(v['speedup_vs_reference'], '6.2f')}x {v['peak_rss_mb']:7.0f} "
            f"{fmt(v['max_abs_diff'], '9.2e')} {fmt(v['detection_agreement'], '7.3f')} "
            f"{fmt(v['efficiency'], '5.0%')}")
        if v['fallback']:
            lines.append(f'  ! requested {v["label"]} fell back to {v["active_device"]}: '
                         f'{v["fallback"]}')
    return '\n'.join(line for line in lines if line is not None)


def model_flops(specs: Sequence[ModelSpec]) -> Optional[float]:
    """Count FLOPs per frame on the fp32 ONNX variant if there is one, else on TorchScript."""
    from ros2_infer.core.profiling import onnx_flops, torch_flops

    for spec in specs:
        if spec.precision == 'fp32' and spec.model_path.suffix == '.onnx':
            try:
                return onnx_flops(spec.model_path)
            except Exception:  # unreadable graph: fall through to the TorchScript count
                break
    for spec in specs:
        if spec.precision == 'fp32' and spec.default_backend == 'torchscript':
            import torch
            module = torch.jit.load(str(spec.model_path), map_location='cpu')
            return torch_flops(module, torch.zeros(spec.input.shape()))
    return None


def default_model_dir() -> Path:
    return Path.home() / '.cache' / 'ros2_infer' / 'generated' / 'tinydet'
