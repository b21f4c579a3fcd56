"""
Accuracy of a model on simulator bags (reads ground truth: evaluation only, never the pipeline).

Detection follows the COCO protocol (pycocotools): every image of the bag that has ground
truth, detections at a low threshold (0.001), mAP@0.5 and mAP@0.5:0.95. Ground-truth boxes
smaller than the visibility rule's minimum area or side (at the camera's resolution; boxes are
already occlusion-aware, covering only visible pixels), and objects more hidden than the rule
allows (visible fraction below ``min_visible``), are ignore regions: neither a miss nor, when
detected, a false positive.
"""

from pathlib import Path
import sys
import time
from typing import Dict, Optional, Sequence

import cv2
import numpy as np
from ros2_infer.training.bag_dataset import (iter_frames, load_detection_frames,
                                             VisibilityRule, visible_fraction_kind)


def evaluate_detector(spec_path: Path, bags: Sequence[Path], *, backend: Optional[str] = None,
                      device: str = 'cpu', threads: Optional[int] = None,
                      conf_threshold: float = 0.001, iou_threshold: float = 0.6,
                      rule: VisibilityRule = VisibilityRule(),
                      frames: Optional[Sequence] = None,
                      fraction_kind: Optional[str] = None) -> Dict:
    """
    COCO mAP of a detector spec on the labelled frames of ``bags``.

    ``frames`` (from ``load_detection_frames(bags, class_names, rule=rule)``) and
    ``fraction_kind`` (from ``visible_fraction_kind(bags)``) save reading the bags again when
    several models are evaluated on them.
    """
    from ros2_infer.core.detector import Detector
    from ros2_infer.core.metrics import coco_map
    from ros2_infer.core.model import load_model

    if rule.min_visible <= 0:
        kind = 'whole_object'  # not used: no object is ignored for being hidden
    else:
        kind = fraction_kind or visible_fraction_kind(bags)
    visibility_known = kind != 'none'
    if kind == 'none':
        print(f'warning: the ground truth of {", ".join(map(str, bags))} carries no visible '
              f'fractions (every score is 1.0: simulated before they existed?); objects '
              f'hidden behind others count in full, min_visible {rule.min_visible} is not '
              f'applied. Simulate the bag again for the documented protocol.', file=sys.stderr)
    elif kind == 'in_image':
        print(f'warning: the visible fractions of {", ".join(map(str, bags))} cover only the '
              f'part of each object inside the image (simulated before 2026-11-25): objects '
              f'mostly outside the image count in full, so mAP comes out lower than under the '
              f'documented protocol. Simulate the bag again.', file=sys.stderr)
    model = load_model(spec_path, backend=backend, device=device, threads=threads)
    detector = Detector(model, conf_threshold=conf_threshold, iou_threshold=iou_threshold)
    class_names = model.spec.class_names
    if frames is None:
        frames = load_detection_frames(bags, class_names, rule=rule)
    ground_truth, predictions, latencies = [], [], []
    for frame in frames:
        start = time.perf_counter()
        result = detector(frame.image)
        latencies.append((time.perf_counter() - start) * 1e3)
        predictions.append((result.boxes, result.scores, result.class_ids))
        ground_truth.append((frame.boxes, frame.class_ids, frame.ignore))
    report = coco_map(ground_truth, predictions, class_names)
    report.update({
        'model': str(spec_path), 'variant': model.spec.variant_label(),
        'bags': [str(b) for b in bags],
        'protocol': {'conf_threshold': conf_threshold, 'nms_iou': iou_threshold,
                     'min_box_area_px': rule.min_area, 'min_box_side_px': rule.min_side,
                     'min_visible_fraction': rule.min_visible if visibility_known else None,
                     'visible_fraction_of': kind if rule.min_visible > 0 else None,
                     'boxes': 'occlusion-aware (visible pixels only)'},
        'latency_ms_p50': float(np.percentile(latencies, 50)),
    })
    return report


def evaluate_depth(spec_path: Path, bags: Sequence[Path], *, backend: Optional[str] = None,
                   device: str = 'cpu', threads: Optional[int] = None,
                   max_depth: float = 10.0) -> Dict:
    """Measure AbsRel, RMSE and delta1 of the model's metric output against ground truth."""
    from ros2_infer.core.depth import DepthEstimator
    from ros2_infer.core.model import load_model
    from ros2_infer.training.bag_dataset import decode_depth
    from ros2_infer.core.metrics import depth_metrics

    model = load_model(spec_path, backend=backend, device=device, threads=threads)
    if model.spec.output.format != 'metric':
        raise NotImplementedError('evaluating relative depth needs the lidar fit of the '
                                  'pipeline; only metric models are evaluated here')
    estimator = DepthEstimator(model)
    per_frame = []
    for bag in bags:
        for _, image, truth in iter_frames(Path(bag), depth=True):
            result = estimator(image)
            per_frame.append(depth_metrics(result.values, decode_depth(truth), max_depth))
    if not per_frame:
        raise ValueError('no frames with /ground_truth/depth (simulate with --depth)')
    summary = {key: float(np.nanmean([m[key] for m in per_frame]))
               for key in ('abs_rel', 'rmse', 'delta1')}
    summary.update({'frames': len(per_frame), 'model': str(spec_path),
                    'variant': model.spec.variant_label(), 'max_depth_m': max_depth,
                    'scale_source': 'metric output (no ground-truth scaling)'})
    return summary


def draw_detections(image: np.ndarray, boxes, labels, color=(255, 64, 64)) -> np.ndarray:
    """Annotated RGB copy (for reports)."""
    canvas = image.copy()
    for box, label in zip(np.asarray(boxes).reshape(-1, 4), labels):
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color, 2)
        cv2.putText(canvas, str(label), (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    color, 1, cv2.LINE_AA)
    return canvas
