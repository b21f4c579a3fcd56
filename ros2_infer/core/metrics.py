"""Evaluation helpers shared by parity checks and accuracy metrics."""

from typing import Dict, Sequence, Tuple

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N, 4) and (M, 4) xyxy boxes -> (N, M)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def coco_map(ground_truth: Sequence[Tuple[np.ndarray, np.ndarray, np.ndarray]],
             predictions: Sequence[Tuple[np.ndarray, np.ndarray, np.ndarray]],
             class_names: Sequence[str]) -> Dict[str, object]:
    """
    COCO-protocol mAP (pycocotools) over images.

    :param ground_truth: per image (boxes xyxy, class ids, ignore flags). Ignored boxes (too
        small or too occluded by the evaluation's rule) neither count as misses nor make a
        detection on them a false positive, as COCO's crowd regions.
    :param predictions: per image (boxes xyxy, scores, class ids).
    :return: ``map50``, ``map50_95``, per-class AP@0.5 and counts.
    """
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, annotations, detections = [], [], []
    for image_id, ((boxes, classes, ignore), (p_boxes, p_scores, p_classes)) in enumerate(
            zip(ground_truth, predictions)):
        images.append({'id': image_id})
        for box, cls, ignored in zip(np.asarray(boxes).reshape(-1, 4), classes, ignore):
            width, height = float(box[2] - box[0]), float(box[3] - box[1])
            annotations.append({
                'id': len(annotations) + 1, 'image_id': image_id, 'category_id': int(cls),
                'bbox': [float(box[0]), float(box[1]), width, height],
                'area': width * height, 'iscrowd': int(bool(ignored))})
        for box, score, cls in zip(np.asarray(p_boxes).reshape(-1, 4), p_scores, p_classes):
            detections.append({
                'image_id': image_id, 'category_id': int(cls), 'score': float(score),
                'bbox': [float(box[0]), float(box[1]), float(box[2] - box[0]),
                         float(box[3] - box[1])]})
    counted = [a for a in annotations if not a['iscrowd']]
    result: Dict[str, object] = {'images': len(images), 'objects': len(counted),
                                 'ignored_objects': len(annotations) - len(counted),
                                 'detections': len(detections)}
    if not counted:
        result.update(map50=float('nan'), map50_95=float('nan'), per_class_ap50={})
        return result
    coco = COCO()
    coco.dataset = {'images': images, 'annotations': annotations,
                    'categories': [{'id': i, 'name': n} for i, n in enumerate(class_names)]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
        if detections:
            predicted = coco.loadRes(detections)
            evaluation = COCOeval(coco, predicted, 'bbox')
            evaluation.params.maxDets = [1, 10, 100]
            evaluation.evaluate()
            evaluation.accumulate()
            evaluation.summarize()
    if not detections:
        result.update(map50=0.0, map50_95=0.0, per_class_ap50={})
        return result
    precision = evaluation.eval['precision']  # [iou, recall, class, area, max_dets]
    per_class = {}
    for index, name in enumerate(class_names):
        values = precision[0, :, index, 0, -1]
        values = values[values > -1]
        if values.size:
            per_class[name] = float(values.mean())
    result.update(map50=float(evaluation.stats[1]), map50_95=float(evaluation.stats[0]),
                  per_class_ap50=per_class)
    return result


def depth_metrics(prediction: np.ndarray, truth: np.ndarray, max_depth: float = 10.0) -> Dict:
    """AbsRel, RMSE and delta < 1.25 over pixels valid in both maps."""
    valid = (np.isfinite(prediction) & np.isfinite(truth) & (truth > 0)
             & (truth <= max_depth) & (prediction > 0))
    if not valid.any():
        return {'abs_rel': float('nan'), 'rmse': float('nan'), 'delta1': float('nan'),
                'pixels': 0}
    p, t = prediction[valid].astype(np.float64), truth[valid].astype(np.float64)
    ratio = np.maximum(p / t, t / p)
    return {'abs_rel': float(np.mean(np.abs(p - t) / t)),
            'rmse': float(np.sqrt(np.mean((p - t) ** 2))),
            'delta1': float(np.mean(ratio < 1.25)), 'pixels': int(valid.sum())}
