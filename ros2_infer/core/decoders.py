"""
Raw model outputs -> detections or depth, for the output formats a spec can name.

Detection formats:
  * ``yolov8``: one tensor ``[1, 4 + nc, N]`` (YOLOv8 / YOLO11 export): cx, cy, w, h in input
    pixels, then per-class scores already passed through a sigmoid.
  * ``yolov5``: one tensor ``[1, N, 5 + nc]``: cx, cy, w, h, objectness, class probabilities.
  * ``torchvision``: three tensors boxes ``[N, 4]`` xyxy, labels ``[N]``, scores ``[N]``
    (torchvision detection models behind an export wrapper), already suppressed.
Depth formats: ``metric`` (z-depth in metres) and ``inverse_relative`` (MiDaS / Depth Anything:
inverse depth up to an unknown scale and shift, see :mod:`ros2_infer.core.depth`).
"""

from typing import Dict, Tuple

import numpy as np
from ros2_infer.core.errors import InputError

RawDetections = Tuple[np.ndarray, np.ndarray, np.ndarray]


def _cxcywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    half = boxes[:, 2:4] * 0.5
    return np.concatenate([boxes[:, 0:2] - half, boxes[:, 0:2] + half], axis=1)


# Up to this many candidates, NMS computes all pairwise IoUs at once (256 x 256 floats is
# 256 KiB), which costs one vectorised pass instead of a handful of numpy calls per kept box.
_NMS_MATRIX_LIMIT = 256


def _greedy_from_matrix(boxes: np.ndarray, areas: np.ndarray, order: np.ndarray,
                        iou_threshold: float, max_detections: int) -> np.ndarray:
    """Greedy NMS over boxes already sorted best first; return indices into ``order``'s."""
    x0, y0, x1, y1 = boxes.T
    width = np.minimum(x1[:, None], x1[None]) - np.maximum(x0[:, None], x0[None])
    height = np.minimum(y1[:, None], y1[None]) - np.maximum(y0[:, None], y0[None])
    inter = np.maximum(width, 0.0) * np.maximum(height, 0.0)
    union = areas[:, None] + areas[None] - inter
    overlaps = inter > iou_threshold * union  # IoU > threshold, without dividing by zero
    np.fill_diagonal(overlaps, False)
    suppressed = np.zeros(len(order), bool)
    keep = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(i)
        if len(keep) == max_detections:
            break
        suppressed |= overlaps[i]
    return order[np.asarray(keep, np.int64)]


def non_max_suppression(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray,
                        iou_threshold: float, max_detections: int) -> np.ndarray:
    """
    Class-aware greedy NMS; return the kept indices, best first.

    Same result as torchvision.ops.batched_nms (boxes of different classes never suppress
    each other; IoU > threshold suppresses), in numpy: it stops once ``max_detections`` are
    kept, and keeps torch out of ONNX Runtime-only deployments. Right after an inference,
    torch's first op also pays to wake its thread pool, several times the NMS itself.
    """
    count = boxes.shape[0]
    if count == 0 or max_detections <= 0:
        return np.zeros(0, np.int64)
    boxes = np.asarray(boxes, np.float32)
    # Shift each class to its own region so that one IoU pass stays class-aware.
    span = float(np.max(boxes)) - min(float(np.min(boxes)), 0.0) + 1.0
    shifted = boxes + (np.asarray(class_ids, np.float32) * span)[:, None]
    x0, y0, x1, y1 = shifted.T
    areas = np.maximum(x1 - x0, 0.0) * np.maximum(y1 - y0, 0.0)
    order = np.argsort(-np.asarray(scores, np.float32), kind='stable')
    if count <= _NMS_MATRIX_LIMIT:
        return _greedy_from_matrix(shifted[order], areas[order], order, iou_threshold,
                                   max_detections)
    keep = []
    while order.size and len(keep) < max_detections:
        best = order[0]
        keep.append(best)
        rest = order[1:]
        width = np.minimum(x1[best], x1[rest]) - np.maximum(x0[best], x0[rest])
        height = np.minimum(y1[best], y1[rest]) - np.maximum(y0[best], y0[rest])
        inter = np.maximum(width, 0.0) * np.maximum(height, 0.0)
        union = areas[best] + areas[rest] - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, np.int64)


def _squeeze_batch(output: np.ndarray, name: str, ndim: int) -> np.ndarray:
    if output.ndim == ndim + 1:
        if output.shape[0] != 1:
            raise InputError(f'{name}: expected batch size 1, got shape {output.shape}')
        output = output[0]
    if output.ndim != ndim:
        raise InputError(f'{name}: unexpected output shape {output.shape}')
    return output


def decode_yolov8(output: np.ndarray, *, num_classes: int, conf_threshold: float,
                  iou_threshold: float, max_detections: int,
                  input_size: Tuple[int, int] = (1, 1),
                  normalized_boxes: bool = False) -> RawDetections:
    """Decode ``[1, 4 + nc, N]`` into (xyxy boxes in input pixels, scores, class ids)."""
    output = _squeeze_batch(output, 'yolov8', 2)
    if output.shape[0] != 4 + num_classes:
        raise InputError(f"yolov8 output has {output.shape[0]} rows; the spec's "
                         f'{num_classes} classes need {4 + num_classes} (4 box + classes)')
    class_scores = output[4:]
    # max over the class rows is a fast contiguous reduction; argmax is not (several times
    # slower on an 80 x 8400 output), so it only runs on the few columns above the threshold.
    keep = np.flatnonzero(class_scores.max(axis=0) >= conf_threshold)
    candidates = class_scores[:, keep]
    class_ids = candidates.argmax(axis=0)
    scores = candidates[class_ids, np.arange(keep.size)].astype(np.float32)
    class_ids = class_ids.astype(np.int64)
    boxes = _cxcywh_to_xyxy(output[:4, keep].T.astype(np.float32))
    if normalized_boxes:
        boxes *= np.array([input_size[0], input_size[1]] * 2, np.float32)
    kept = non_max_suppression(boxes, scores, class_ids, iou_threshold, max_detections)
    return boxes[kept], scores[kept], class_ids[kept]


def decode_yolov5(output: np.ndarray, *, num_classes: int, conf_threshold: float,
                  iou_threshold: float, max_detections: int,
                  input_size: Tuple[int, int] = (1, 1),
                  normalized_boxes: bool = False) -> RawDetections:
    """Decode ``[1, N, 5 + nc]``; the score is objectness x class probability."""
    output = _squeeze_batch(output, 'yolov5', 2)
    if output.shape[1] != 5 + num_classes:
        raise InputError(f"yolov5 output has {output.shape[1]} columns; the spec's "
                         f'{num_classes} classes need {5 + num_classes}')
    candidates = np.flatnonzero(output[:, 4] >= conf_threshold)
    rows = output[candidates]
    class_scores = rows[:, 5:] * rows[:, 4:5]
    class_ids = class_scores.argmax(axis=1)
    scores = class_scores[np.arange(rows.shape[0]), class_ids]
    keep = scores >= conf_threshold
    boxes = _cxcywh_to_xyxy(rows[keep, :4].astype(np.float32))
    if normalized_boxes:
        boxes *= np.array([input_size[0], input_size[1]] * 2, np.float32)
    scores = scores[keep].astype(np.float32)
    class_ids = class_ids[keep].astype(np.int64)
    kept = non_max_suppression(boxes, scores, class_ids, iou_threshold, max_detections)
    return boxes[kept], scores[kept], class_ids[kept]


def decode_torchvision(outputs: Dict[str, np.ndarray], *, conf_threshold: float,
                       max_detections: int, **_) -> RawDetections:
    """Read boxes / labels / scores (by name, else by order) and apply the threshold."""
    if all(k in outputs for k in ('boxes', 'labels', 'scores')):
        boxes, labels, scores = outputs['boxes'], outputs['labels'], outputs['scores']
    elif len(outputs) == 3:
        boxes, labels, scores = outputs.values()
    else:
        raise InputError(f'torchvision format needs boxes, labels and scores outputs, got '
                         f'{list(outputs)}')
    boxes = _squeeze_batch(np.asarray(boxes), 'torchvision boxes', 2)
    labels = _squeeze_batch(np.asarray(labels), 'torchvision labels', 1)
    scores = _squeeze_batch(np.asarray(scores), 'torchvision scores', 1)
    keep = np.flatnonzero(scores >= conf_threshold)
    keep = keep[np.argsort(-scores[keep], kind='stable')][:max_detections]
    return (boxes[keep].astype(np.float32), scores[keep].astype(np.float32),
            labels[keep].astype(np.int64))


DETECTION_DECODERS = {
    'yolov8': decode_yolov8,
    'yolov5': decode_yolov5,
}


def decode_depth_map(output: np.ndarray) -> np.ndarray:
    """Return a (H, W) float32 map from a ``[1, 1, H, W]``, ``[1, H, W]`` or ``[H, W]`` output."""
    depth = np.asarray(output, dtype=np.float32)
    while depth.ndim > 2 and depth.shape[0] == 1:
        depth = depth[0]
    if depth.ndim != 2:
        raise InputError(f'depth output must be one (H, W) map, got shape {output.shape}')
    return depth
