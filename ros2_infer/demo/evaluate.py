"""
Evaluation of a demo run against the simulator's ground truth (the only ground-truth reader).

Localization: replay's unaligned ATE per stream
(:func:`ros2_infer.replay.outputs.compute_metrics`).
Detection: COCO mAP of the detections *as produced online* (the pipeline's detector threshold)
against ``/ground_truth/detections``, matched by the image stamp.
"""

import numpy as np

from ros2_infer.core.metrics import coco_map
from ros2_infer.rosbag.reader import iter_messages
from ros2_infer.training.bag_dataset import ground_truth_arrays, VisibilityRule

GT_DETECTIONS = '/ground_truth/detections'


def stamp_ns(header) -> int:
    """Integer nanoseconds of a header stamp."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def detection_map(bag, predictions: dict, class_names, rule: VisibilityRule = VisibilityRule()
                  ) -> dict:
    """
    Return COCO mAP of ``predictions`` ({image stamp: Detections}) on the bag's ground truth.

    Images without a prediction (none was produced online) count with no detections.
    """
    truth, predicted = [], []
    missing = 0
    for item in iter_messages(bag, [GT_DETECTIONS]):
        boxes, classes, visible = ground_truth_arrays(item.msg, class_names)
        truth.append((boxes, classes, rule.ignored(boxes, visible)))
        det = predictions.get(stamp_ns(item.msg.header))
        if det is None:
            missing += 1
            predicted.append((np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64)))
        else:
            predicted.append((det.boxes, det.scores, det.class_ids))
    report = coco_map(truth, predicted, class_names)
    report['images_without_detections_output'] = missing
    return report


def memory_summary(samples: list, warmup_fraction: float = 0.2) -> dict:
    """
    Resident memory and pipeline queue over the run, and the RSS growth after warm-up.

    :param samples: ``(images, rss_mb, queue_length)`` taken every N images.
    """
    rows = [s for s in samples if s[1] is not None]
    out = {'samples': [list(s) for s in samples], 'rss_growth_after_warmup_pct': None,
           'max_queue': max((s[2] for s in samples), default=None)}
    if len(rows) >= 3:
        start = rows[min(len(rows) - 1, max(1, int(len(rows) * warmup_fraction)))]
        out['rss_after_warmup_mb'] = float(start[1])
        out['rss_end_mb'] = float(rows[-1][1])
        out['rss_growth_after_warmup_pct'] = float(100.0 * (rows[-1][1] - start[1]) / start[1])
    return out


def latency_summary(timings: dict) -> dict:
    """Per stage: count, p50, p95, mean and max in milliseconds."""
    out = {}
    for stage, values in timings.items():
        a = np.asarray(values, float)
        if a.size == 0:
            continue
        out[stage] = {'n': int(a.size), 'p50_ms': float(np.percentile(a, 50)),
                      'p95_ms': float(np.percentile(a, 95)), 'mean_ms': float(a.mean()),
                      'max_ms': float(a.max())}
    return out
