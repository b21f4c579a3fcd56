"""
ARM parity: the bundled models and the fusion core give x86's results on aarch64.

The reference is x86's: ``test/data/arm64_reference.npz`` (model outputs, detections and mAP
on frames of the fixed evaluation bag, stored as JPEG) and ``test/data/arm64_fusion.json.gz``
(the fusion pipeline's inputs over that bag, in arrival order, and x86's fused poses). Both are
written by ``python tools/arm64/make_reference.py`` on x86.

On x86 these tests guard the reference: today's outputs must still match it. Under aarch64
(``tools/arm64/run_stage.sh`` runs them in an arm64 Debian root filesystem under QEMU) they are
the proof that the ARM wheels and kernels give the same answers. Set ``ROS2_INFER_PARITY_REPORT``
to a file path to get the measured differences as JSON.
"""

import dataclasses
import gzip
import hashlib
import importlib
import json
import os
from pathlib import Path
import platform

import cv2
import numpy as np
import pytest
from ros2_infer.core.metrics import box_iou
from ros2_infer.models import bundled_spec, MODELS_DIR

DATA = Path(__file__).resolve().parent / 'data'
REFERENCE = DATA / 'arm64_reference.npz'
FUSION = DATA / 'arm64_fusion.json.gz'
EVAL_CONF, EVAL_IOU = 0.001, 0.6      # the COCO protocol of ros2_infer.evaluation
AGREE_CONF = 0.25                     # detections compared one by one: the node's threshold
RAW_FRAMES = 1                        # frames whose raw model outputs are stored

# Bundled variant -> (label, tolerances). Stated tolerances, checked on every platform:
#   raw_box: max |diff| of the raw box rows (pixels at the 320x240 model input),
#   raw_score: max |diff| of raw class scores (0..1), depth: max |diff| of raw depth (m),
#   iou / agree: fraction ``agree`` of x86's detections (score >= 0.25) must have a detection
#   of the same class with IoU >= ``iou`` on ARM; map: |mAP diff| (0.01 = 1 point).
DETECTOR_VARIANTS = {
    'tinydet': ('ONNX Runtime fp32', {'raw_box': 0.05, 'raw_score': 1e-3, 'iou': 0.99,
                                      'agree': 1.0, 'map': 0.01}),
    'tinydet_int8_arm': ('ONNX Runtime int8 (QDQ, arm)',
                         {'raw_box': 4.0, 'raw_score': 0.05, 'iou': 0.9, 'agree': 0.95,
                          'map': 0.01}),
    'tinydet_ts': ('TorchScript fp32', {'raw_box': 0.05, 'raw_score': 1e-3, 'iou': 0.99,
                                        'agree': 1.0, 'map': 0.01}),
    'tinydet_ts_int8_qnnpack': ('torch int8 (FX, qnnpack)',
                                {'raw_box': 4.0, 'raw_score': 0.05, 'iou': 0.9, 'agree': 0.95,
                                 'map': 0.01}),
}
DEPTH_VARIANTS = {
    'tinydepth': ('ONNX Runtime fp32', {'depth': 1e-3}),
    'tinydepth_int8_arm': ('ONNX Runtime int8 (QDQ, arm)', {'depth': 0.1}),
    'tinydepth_ts': ('TorchScript fp32', {'depth': 1e-3}),
}
POSE_TOLERANCE_M = 1e-3               # fused position, every pose of the stream
YAW_TOLERANCE_RAD = 1e-3

pytestmark = pytest.mark.skipif(
    not (REFERENCE.is_file() and (MODELS_DIR / 'tinydet.yaml').is_file()),
    reason='no stored x86 reference or bundled models')

_REPORT = {}


@pytest.fixture(scope='module', autouse=True)
def _parity_report():
    """Write the measured differences to $ROS2_INFER_PARITY_REPORT after the module."""
    yield
    path = os.environ.get('ROS2_INFER_PARITY_REPORT')
    if path and _REPORT:
        Path(path).write_text(json.dumps({'machine': platform.machine(), **_REPORT},
                                         indent=1, sort_keys=True))


# ---------------------------------------------------------------- shared with make_reference.py
def decode_frames(blob: np.ndarray, offsets: np.ndarray) -> list:
    """RGB frames from the JPEG bytes concatenated in ``blob`` (``offsets`` has N+1 entries)."""
    frames = []
    for start, end in zip(offsets[:-1], offsets[1:]):
        bgr = cv2.imdecode(blob[start:end], cv2.IMREAD_COLOR)
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return frames


def frame_digest(frame: np.ndarray) -> str:
    """Identify a decoded frame: ARM must decode the very pixels x86 decoded."""
    return hashlib.sha1(np.ascontiguousarray(frame).tobytes()).hexdigest()


def run_detector(name: str, frames: list) -> dict:
    """Raw outputs of the first frames, detections per frame (evaluation protocol)."""
    from ros2_infer.core.detector import Detector
    from ros2_infer.core.model import load_model

    detector = Detector(load_model(bundled_spec(name)), conf_threshold=EVAL_CONF,
                        iou_threshold=EVAL_IOU)
    raw, boxes, scores, classes, counts = [], [], [], [], []
    for index, frame in enumerate(frames):
        result = detector(frame)
        if index < RAW_FRAMES:
            raw.append(np.asarray(next(iter(detector.last_raw_outputs.values())), np.float32))
        boxes.append(result.boxes.reshape(-1, 4))
        scores.append(result.scores)
        classes.append(result.class_ids)
        counts.append(len(result))
    detector.model.close()
    return {'raw': np.stack(raw), 'boxes': np.concatenate(boxes).astype(np.float32),
            'scores': np.concatenate(scores).astype(np.float32),
            'classes': np.concatenate(classes).astype(np.int64),
            'offsets': np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)}


def run_depth(name: str, frames: list) -> dict:
    """Raw depth output (metres at the model's size) of the first frames."""
    from ros2_infer.core.model import load_model
    from ros2_infer.core.preprocess import Preprocessor

    model = load_model(bundled_spec(name))
    preprocess = Preprocessor(model.spec.input)
    raw = []
    for frame in frames[:RAW_FRAMES]:
        tensor, _ = preprocess(frame, 'rgb')
        raw.append(np.asarray(next(iter(model.run(tensor).values())), np.float32))
    model.close()
    return {'raw': np.stack(raw)}


def split(flat: np.ndarray, offsets: np.ndarray) -> list:
    """Per-frame slices of a concatenated array."""
    return [flat[start:end] for start, end in zip(offsets[:-1], offsets[1:])]


def mean_ap(result: dict, reference) -> dict:
    """COCO mAP of a detector run against the stored ground truth."""
    from ros2_infer.core.metrics import coco_map

    gt_offsets = reference['gt_offsets']
    truth = list(zip(split(reference['gt_boxes'], gt_offsets),
                     split(reference['gt_classes'], gt_offsets),
                     split(reference['gt_ignore'], gt_offsets)))
    predictions = list(zip(split(result['boxes'], result['offsets']),
                           split(result['scores'], result['offsets']),
                           split(result['classes'], result['offsets'])))
    names = [str(n) for n in reference['class_names']]
    report = coco_map(truth, predictions, names)
    return {'map50': report['map50'], 'map50_95': report['map50_95']}


def encode(value):
    """JSON-ready form of core dataclasses, arrays and containers (exact float round trip)."""
    if dataclasses.is_dataclass(value):
        fields = {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {'__type__': f'{type(value).__module__}:{type(value).__name__}', 'fields': fields}
    if isinstance(value, np.ndarray):
        return {'__array__': value.dtype.str, 'shape': list(value.shape),
                'data': value.ravel().tolist()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    return value


def decode(value):
    """Inverse of :func:`encode`."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if '__array__' in value:
        return np.array(value['data'], dtype=np.dtype(value['__array__'])).reshape(
            value['shape'])
    if '__type__' in value:
        module, name = value['__type__'].split(':')
        cls = getattr(importlib.import_module(module), name)
        return cls(**{k: decode(v) for k, v in value['fields'].items()})
    return {k: decode(v) for k, v in value.items()}


def replay_fusion(calls: list) -> np.ndarray:
    """Feed recorded pipeline calls to a fresh pipeline: fused poses (stamp, x, y, yaw)."""
    from ros2_infer.core.pipeline import FusionPipeline

    pipeline = FusionPipeline()
    poses = []
    for method, args, kwargs in calls:
        for output in getattr(pipeline, method)(*args, **kwargs):
            if output.kind == 'pose':
                poses.append((output.stamp_ns, *output.data.pose))
    return np.array(poses, np.float64).reshape(-1, 4)


# ---------------------------------------------------------------- tests
@pytest.fixture(scope='module')
def reference():
    with np.load(REFERENCE, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope='module')
def frames(reference):
    decoded = decode_frames(reference['frames_jpeg'], reference['frames_offsets'])
    digests = [frame_digest(f) for f in decoded]
    # JPEG decoding itself must be bit-exact, or nothing after it can be compared.
    assert digests == [str(d) for d in reference['frames_sha1']]
    return decoded


def _stored(reference, name):
    prefix = f'{name}/'
    return {k[len(prefix):]: v for k, v in reference.items() if k.startswith(prefix)}


@pytest.mark.parametrize('name', sorted(DETECTOR_VARIANTS))
def test_detector_matches_x86(name, reference, frames):
    label, tol = DETECTOR_VARIANTS[name]
    x86 = _stored(reference, name)
    here = run_detector(name, frames)
    assert here['raw'].shape == x86['raw'].shape
    box_diff = float(np.abs(here['raw'][:, :, :4] - x86['raw'][:, :, :4]).max())
    score_diff = float(np.abs(here['raw'][:, :, 4:] - x86['raw'][:, :, 4:]).max())

    matched = total = 0
    for ref_boxes, ref_scores, ref_classes, boxes, classes in zip(
            split(x86['boxes'], x86['offsets']), split(x86['scores'], x86['offsets']),
            split(x86['classes'], x86['offsets']), split(here['boxes'], here['offsets']),
            split(here['classes'], here['offsets'])):
        keep = ref_scores >= AGREE_CONF
        total += int(keep.sum())
        if keep.any() and len(boxes):
            iou = box_iou(ref_boxes[keep], boxes)
            same = ref_classes[keep][:, None] == classes[None, :]
            matched += int(((iou >= tol['iou']) & same).any(axis=1).sum())
    agreement = matched / max(total, 1)
    arm_map, x86_map = mean_ap(here, reference), {'map50': float(x86['map50']),
                                                  'map50_95': float(x86['map50_95'])}
    _REPORT.setdefault('detector', {})[name] = {
        'label': label, 'raw_box_max_abs_diff_px': box_diff,
        'raw_score_max_abs_diff': score_diff, 'detections_x86': total,
        'agreement': agreement, 'agreement_iou': tol['iou'], 'map50': arm_map['map50'],
        'map50_x86': x86_map['map50'], 'map50_95': arm_map['map50_95'],
        'map50_95_x86': x86_map['map50_95']}
    assert total >= 10
    assert box_diff <= tol['raw_box'] and score_diff <= tol['raw_score'], (box_diff, score_diff)
    assert agreement >= tol['agree'], agreement
    for key in ('map50', 'map50_95'):
        assert abs(arm_map[key] - x86_map[key]) <= tol['map'], (key, arm_map, x86_map)


@pytest.mark.parametrize('name', sorted(DEPTH_VARIANTS))
def test_depth_matches_x86(name, reference, frames):
    if not (MODELS_DIR / f'{name}.yaml').is_file():
        pytest.skip(f'{name} not bundled')
    label, tol = DEPTH_VARIANTS[name]
    x86 = _stored(reference, name)['raw']
    here = run_depth(name, frames)['raw']
    assert here.shape == x86.shape
    diff = np.abs(here - x86)
    _REPORT.setdefault('depth', {})[name] = {
        'label': label, 'max_abs_diff_m': float(diff.max()),
        'mean_abs_diff_m': float(diff.mean())}
    assert float(diff.max()) <= tol['depth'], float(diff.max())


def test_fusion_gives_x86_poses_within_1_mm():
    pytest.importorskip('gtsam')
    with gzip.open(FUSION, 'rt') as handle:
        stored = json.load(handle)
    calls = decode(stored['calls'])
    x86 = np.array(stored['poses'], np.float64)
    here = replay_fusion(calls)
    assert here.shape == x86.shape and len(here) > 50
    assert np.array_equal(here[:, 0], x86[:, 0])                # same stamps
    position = float(np.linalg.norm(here[:, 1:3] - x86[:, 1:3], axis=1).max())
    yaw = float(np.abs(np.angle(np.exp(1j * (here[:, 3] - x86[:, 3])))).max())
    final = float(np.linalg.norm(here[-1, 1:3] - x86[-1, 1:3]))
    _REPORT['fusion'] = {'poses': len(here), 'max_position_diff_m': position,
                         'final_position_diff_m': final, 'max_yaw_diff_rad': yaw}
    assert position <= POSE_TOLERANCE_M and yaw <= YAW_TOLERANCE_RAD, (position, yaw)
