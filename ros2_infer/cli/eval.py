"""
``ros2-infer eval detector|depth --data BAG``: accuracy of a model on a simulator bag.

Detection: COCO-protocol mAP@0.5 and mAP@0.5:0.95 (see ros2_infer.evaluation for the ignore
rule). Depth: AbsRel, RMSE and delta<1.25 of the metric output against ground truth.
"""

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('task', choices=('detector', 'depth'))
    parser.add_argument('--data', type=Path, nargs='+', required=True,
                        help='bag folder(s) from ros2-infer sim (depth: recorded with --depth)')
    parser.add_argument('--model', type=Path,
                        help='model spec (default: the bundled tinydet / tinydepth)')
    parser.add_argument('--backend', choices=('torchscript', 'onnxruntime'),
                        help='default: what the model file implies')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=0)
    parser.add_argument('--min-area', type=float, default=100.0,
                        help='detector: ground-truth boxes below this area (px^2) are ignored')
    parser.add_argument('--min-visible', type=float, default=0.5,
                        help='detector: ground-truth objects with a smaller visible fraction '
                             '(the rest hidden behind other things or outside the image) are '
                             'ignored; 0 counts all')
    parser.add_argument('--json', action='store_true', help='print the full JSON report')


def run(args: argparse.Namespace) -> int:
    from ros2_infer.core.errors import Ros2InferError
    from ros2_infer.evaluation import evaluate_depth, evaluate_detector
    from ros2_infer.models import bundled_spec, DEFAULT_DEPTH, DEFAULT_DETECTOR
    from ros2_infer.training.bag_dataset import VisibilityRule

    for bag in args.data:
        if not (bag / 'metadata.yaml').is_file():
            raise Ros2InferError(f'--data {bag}: not a rosbag2 folder (no metadata.yaml)')
    if args.task == 'detector':
        spec = args.model or bundled_spec(DEFAULT_DETECTOR)
        report = evaluate_detector(spec, args.data, backend=args.backend, device=args.device,
                                   threads=args.threads or None,
                                   rule=VisibilityRule(min_area=args.min_area,
                                                       min_visible=args.min_visible))
        summary = (f'{report["variant"]}: mAP@0.5 {report["map50"]:.3f}, mAP@0.5:0.95 '
                   f'{report["map50_95"]:.3f} over {report["images"]} images, '
                   f'{report["objects"]} objects ({report["ignored_objects"]} ignored)')
    else:
        spec = args.model or bundled_spec(DEFAULT_DEPTH)
        report = evaluate_depth(spec, args.data, backend=args.backend, device=args.device,
                                threads=args.threads or None)
        summary = (f'{report["variant"]}: AbsRel {report["abs_rel"]:.3f}, delta<1.25 '
                   f'{report["delta1"]:.3f}, RMSE {report["rmse"]:.3f} m over '
                   f'{report["frames"]} frames')
    print(json.dumps(report, indent=2) if args.json else summary)
    return 0
