#!/usr/bin/env python3
"""
Single-frame accuracy of the 3D object centres, per class and source (docs/localization.md).

Replays the localisation bags of ``tools/eval_localization.py`` (no landmarks), places each
object the pipeline estimated (base frame, at the image stamp) in the map with the *true*
robot pose, and measures its distance to the nearest true object of its class. So the numbers
are the object estimator's own error, not the localisation's. Beyond ``--far`` an estimate is
counted as another object's (e.g. the wall behind a thin pole) and reported apart.

    PYTHONPATH=. python tools/eval_object_centres.py [--detections ground-truth] [--seeds 1 2]
        [--depth-model bundled:tinydepth]
"""

import argparse
from collections import defaultdict
import logging
from pathlib import Path
import sys

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_localization import LOC_EXTRA, model_spec  # noqa: E402, I100
from ros2_infer.core.geometry import se2_to_matrix  # noqa: E402
from ros2_infer.core.pipeline import FusionPipeline, PipelineConfig  # noqa: E402
from ros2_infer.replay import metrics as M  # noqa: E402
from ros2_infer.replay.runner import replay  # noqa: E402
from ros2_infer.training.simdata import simulate_runs  # noqa: E402


def centre_errors(seed: int, detections: str, depth_spec: str | None = None) -> dict:
    """Return {(class, source): [error in m, ...]} for one localisation bag."""
    bag = simulate_runs([seed], duration=180, camera_rate=10, randomize=False,
                        extra=LOC_EXTRA)[0]
    truth, objects = M.ground_truth(bag)
    errors = defaultdict(list)

    def on_output(_log_ns, out):
        if out.kind != 'objects':
            return
        pose = truth.at(out.stamp_ns)
        if pose is None:
            return
        map_from_base = se2_to_matrix(pose)
        for map_object in out.data:
            obj = map_object.object
            position = (map_from_base @ np.append(obj.position, 1.0))[:2]
            distances = [np.linalg.norm(position - np.asarray(p[:2]))
                         for cls, p in objects.values() if cls == obj.class_name]
            if distances:
                errors[(obj.class_name, obj.source)].append(float(min(distances)))

    pipeline = FusionPipeline(PipelineConfig(deskew=False, use_landmarks=False))
    replay(bag, pipeline, detections=detections, model_spec=model_spec(), on_output=on_output,
           depth_spec=depth_spec)
    return errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--seeds', type=int, nargs='+', default=[1, 2, 3, 4])
    parser.add_argument('--detections', default='ground-truth',
                        choices=('ground-truth', 'model'))
    parser.add_argument('--depth-model', default=None, metavar='SPEC',
                        help='run this depth model too (bundled:tinydepth or a spec path)')
    parser.add_argument('--far', type=float, default=0.5,
                        help='errors beyond this (m) count as another object')
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    errors = defaultdict(list)
    depth = None
    if args.depth_model:
        from ros2_infer.models import resolve_model_spec
        depth = str(resolve_model_spec(args.depth_model))
    for seed in args.seeds:
        for key, values in centre_errors(seed, args.detections, depth).items():
            errors[key] += values
    print('| class | source | estimates | beyond far | median (cm) | p90 (cm) |')
    print('|---|---|---|---|---|---|')
    for (cls, source), values in sorted(errors.items()):
        values = np.asarray(values)
        close = values[values <= args.far]
        stats = (f'{100 * np.median(close):.1f} | {100 * np.percentile(close, 90):.1f}'
                 if close.size else '- | -')
        print(f'| {cls} | {source} | {values.size} | {values.size - close.size} | {stats} |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
