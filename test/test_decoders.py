"""Output decoders against hand-made tensors with known boxes, and the depth scale fit."""

import numpy as np
import pytest

from ros2_infer.core.decoders import (decode_depth_map, decode_torchvision, decode_yolov5,
                                      decode_yolov8, non_max_suppression)
from ros2_infer.core.depth import fit_scale_shift
from ros2_infer.core.errors import InputError

KW = {'conf_threshold': 0.25, 'iou_threshold': 0.5, 'max_detections': 100}


def yolov8_tensor(rows):
    """Rows of (cx, cy, w, h, class scores...) -> [1, 4 + nc, N]."""
    return np.asarray(rows, np.float32).T[None]


def test_yolov8_decodes_known_boxes_and_suppresses_duplicates():
    output = yolov8_tensor([
        [100, 100, 40, 20, 0.9, 0.1],   # class 0, kept
        [102, 101, 40, 20, 0.8, 0.0],   # duplicate of the first, same class: suppressed
        [102, 101, 40, 20, 0.0, 0.7],   # same place, other class: kept
        [300, 200, 10, 10, 0.1, 0.2],   # below threshold
    ])
    boxes, scores, classes = decode_yolov8(output, num_classes=2, **KW)
    order = np.argsort(-scores)
    np.testing.assert_allclose(boxes[order[0]], [80, 90, 120, 110])
    np.testing.assert_allclose(scores[order], [0.9, 0.7], rtol=1e-6)
    assert classes[order].tolist() == [0, 1]


def test_yolov8_normalised_boxes_scale_to_input():
    output = yolov8_tensor([[0.5, 0.5, 0.25, 0.5, 0.9]])
    boxes, _, _ = decode_yolov8(output, num_classes=1, input_size=(320, 240),
                                normalized_boxes=True, **KW)
    np.testing.assert_allclose(boxes, [[120, 60, 200, 180]])


def test_yolov8_class_count_mismatch_is_clear():
    with pytest.raises(InputError, match='need 7'):
        decode_yolov8(np.zeros((1, 6, 10), np.float32), num_classes=3, **KW)


def test_yolov5_multiplies_objectness_and_class():
    output = np.array([[
        [50, 60, 20, 40, 0.9, 0.1, 0.8],   # score 0.72, class 1
        [50, 60, 20, 40, 0.2, 1.0, 0.0],   # objectness too low
        [10, 10, 4, 4, 0.5, 0.4, 0.3],     # 0.2 < 0.25
    ]], np.float32)
    boxes, scores, classes = decode_yolov5(output, num_classes=2, **KW)
    np.testing.assert_allclose(boxes, [[40, 40, 60, 80]])
    np.testing.assert_allclose(scores, [0.72], rtol=1e-6)
    assert classes.tolist() == [1]


def test_torchvision_by_name_and_threshold():
    outputs = {'boxes': np.array([[1, 2, 3, 4], [5, 6, 7, 8]], np.float32),
               'labels': np.array([3, 1]), 'scores': np.array([0.2, 0.9], np.float32)}
    boxes, scores, classes = decode_torchvision(outputs, conf_threshold=0.5, max_detections=5)
    np.testing.assert_allclose(boxes, [[5, 6, 7, 8]])
    assert classes.tolist() == [1] and scores.tolist() == pytest.approx([0.9])


def test_depth_map_shapes():
    assert decode_depth_map(np.zeros((1, 1, 6, 8))).shape == (6, 8)
    assert decode_depth_map(np.zeros((1, 6, 8))).shape == (6, 8)
    with pytest.raises(InputError):
        decode_depth_map(np.zeros((2, 6, 8)))


def test_scale_shift_fit_recovers_affine_inverse_depth():
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.3, 3.5, 200)
    relative = (1.0 / depth - 0.05) / 0.4  # 1/z = 0.4 r + 0.05
    relative[:10] += 5.0  # gross outliers (wrong lidar associations)
    fit = fit_scale_shift(relative, depth)
    assert fit.ok and fit.shift_observable
    assert fit.scale == pytest.approx(0.4, rel=1e-3)
    assert fit.shift == pytest.approx(0.05, abs=1e-3)
    metric = fit.apply(relative[10:].astype(np.float32), 0.1, 10.0)
    np.testing.assert_allclose(metric, depth[10:], rtol=1e-3)


def test_scale_shift_fit_detects_ill_conditioning():
    depth = np.full(50, 2.0) + np.random.default_rng(1).normal(0, 0.001, 50)
    fit = fit_scale_shift(1.0 / depth, depth)  # every sample at ~the same depth
    assert not fit.shift_observable
    assert 'scale only' in fit.reason
    assert fit.scale == pytest.approx(1.0, rel=1e-2)
    few = fit_scale_shift(np.ones(3), np.ones(3))
    assert not few.ok and 'need' in few.reason


@pytest.mark.parametrize('count', [1, 7, 60, 256, 257, 1500])
def test_numpy_nms_matches_torchvision_batched_nms(count):
    torch = pytest.importorskip('torch')
    torchvision = pytest.importorskip('torchvision')
    rng = np.random.default_rng(count)
    for _ in range(4):
        corner = rng.random((count, 2), dtype=np.float32) * 300
        boxes = np.concatenate([corner, corner + rng.random((count, 2), np.float32) * 80 + 1], 1)
        scores = rng.random(count, dtype=np.float32)
        classes = rng.integers(0, 3, count)
        expected = torchvision.ops.batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores),
                                               torch.from_numpy(classes), 0.45)[:100].numpy()
        np.testing.assert_array_equal(non_max_suppression(boxes, scores, classes, 0.45, 100),
                                      expected)
