"""
``ros2-infer train detector|depth``: regenerate a bundled model from the simulator, on a CPU.

Simulates the training seeds (cached), trains from scratch with a seed, exports every variant
(TorchScript fp32, ONNX fp32, ONNX int8 QDQ for x86 and ARM, torch FX int8 for qnnpack) with
their specs, evaluates on held-out seeds and writes the model card and the training curve.
"""

import argparse
from pathlib import Path


def _seed_list(text: str):
    seeds = []
    for part in text.split(','):
        if '-' in part:
            low, high = part.split('-', 1)
            seeds.extend(range(int(low), int(high) + 1))
        elif part.strip():
            seeds.append(int(part))
    return seeds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ros2_infer.models import MODELS_DIR

    parser.add_argument('task', choices=('detector', 'depth'), help='which model to train')
    parser.add_argument('--out', type=Path, default=MODELS_DIR,
                        help=f'output folder (default: the bundled models, {MODELS_DIR})')
    parser.add_argument('--seed', type=int, default=0, help='training seed (weights, order)')
    parser.add_argument('--train-seeds', type=_seed_list, default=None,
                        help='simulator seeds for training data, e.g. 101-120 (default: '
                             'detector 101-180, depth 201-206)')
    parser.add_argument('--eval-seeds', type=_seed_list, default=None,
                        help='held-out layouts for evaluation (default: detector 1-30, '
                             'depth 1,2)')
    parser.add_argument('--duration', type=float, default=45.0,
                        help='simulated seconds per training seed')
    parser.add_argument('--epochs', type=int, default=0, help='epochs (default: per task)')
    parser.add_argument('--time-budget', type=float, default=600.0,
                        help='stop training after this many seconds (default 600)')
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--threads', type=int, default=0, help='default: physical cores')
    parser.add_argument('--precision', choices=('auto', 'fp32', 'bf16'), default='auto',
                        help='detector training arithmetic; auto: bf16 autocast where the CPU '
                             'has native bf16 (AVX512-BF16/AMX), else fp32')


def run(args: argparse.Namespace) -> int:
    from ros2_infer.training.pipeline import train_depth_model, train_detector_model

    if args.task == 'detector':
        report = train_detector_model(args)
    else:
        report = train_depth_model(args)
    print(report)
    return 0
