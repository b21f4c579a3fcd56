"""
``ros2-infer bench``: latency, throughput, memory and parity of every model variant.

Without ``--model`` it benchmarks every variant of the bundled detector (trained by the package
on its simulator); ``--generated`` benchmarks a freshly exported random-weight TinyDet instead.
Either way it runs on a fresh clone with no download.
"""

import argparse
import json
from pathlib import Path
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--model', nargs='*', type=Path, default=[],
                        help='model spec(s) or folder(s) of specs (default: every variant '
                             'of the bundled detector)')
    parser.add_argument('--generated', action='store_true',
                        help='benchmark a freshly generated random-weight TinyDet')
    parser.add_argument('--backends', default='',
                        help='comma-separated subset: torchscript, onnxruntime, '
                             'onnxruntime-int8, torchscript-int8 (default: all)')
    parser.add_argument('--device', default='cpu', help='cpu, cuda[:N], tensorrt, openvino, '
                        'auto (default: cpu)')
    parser.add_argument('--threads', type=int, default=0,
                        help='threads for torch and onnxruntime (default: physical cores)')
    parser.add_argument('--runs', type=int, default=200, help='timed runs per variant')
    parser.add_argument('--warmup', type=int, default=10, help='untimed runs per variant')
    parser.add_argument('--images', type=int, default=8,
                        help='synthetic parity images (detection agreement, max |diff|)')
    parser.add_argument('--conf', type=float, default=0.25, help='detection threshold')
    parser.add_argument('--regenerate', action='store_true',
                        help='re-export the generated model even if it is cached')
    parser.add_argument('--json', action='store_true', help='print JSON instead of a table')
    parser.add_argument('--output', type=Path, help='also write the JSON report here')


def run(args: argparse.Namespace) -> int:
    from ros2_infer.benchmark import (BACKEND_FILTERS, collect_specs, default_model_dir,
                                      format_table, model_flops, run_benchmark)
    from ros2_infer.core.errors import Ros2InferError
    from ros2_infer.core.hardware import physical_core_count
    from ros2_infer.core.profiling import measure_gemm_gflops
    from ros2_infer.training.generated import generate_detector, synthetic_images

    log = sys.stderr
    from ros2_infer.models import MODELS_DIR

    paths = list(args.model)
    if not paths and not args.generated and (MODELS_DIR / 'tinydet.yaml').is_file():
        paths = sorted(MODELS_DIR.glob('tinydet*.yaml'))
    if not paths:
        folder = default_model_dir()
        if args.regenerate or not any(folder.glob('*.yaml')):
            print(f'generating TinyDet (random weights) in every variant into {folder} ...',
                  file=log)
            generate_detector(folder)
        paths = [folder]
    specs = collect_specs(paths)
    if args.backends:
        wanted = [b.strip() for b in args.backends.split(',') if b.strip()]
        unknown = [b for b in wanted if b not in BACKEND_FILTERS]
        if unknown:
            raise Ros2InferError(f'unknown backend(s) {unknown}; choose from '
                                 f'{", ".join(BACKEND_FILTERS)}')
        specs = [s for s in specs if any(BACKEND_FILTERS[b](s) for b in wanted)]
        if not specs:
            raise Ros2InferError(f'no model variant matches --backends {args.backends}')
    threads = args.threads or physical_core_count()
    print(f'measuring fp32 GEMM throughput on {threads} threads ...', file=log)
    gemm = measure_gemm_gflops(threads)
    flops = model_flops(specs)

    def progress(result):
        state = f'error: {result.error}' if result.error else f'p50 {result.p50_ms:.2f} ms'
        print(f'  {result.label}: {state}', file=log)

    report = run_benchmark(specs, images=synthetic_images(max(1, args.images), seed=7),
                           runs=args.runs, warmup=args.warmup, device=args.device,
                           threads=threads, conf_threshold=args.conf, gemm_gflops=gemm,
                           flops=flops, progress=progress)
    text = json.dumps(report, indent=2)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + '\n')
    print(text if args.json else format_table(report))
    return 1 if any(v['error'] for v in report['variants']) else 0
