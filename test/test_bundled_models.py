"""
Guard the shipped model files.

They load, match their specs and model cards, stay small, and reproduce the accuracy recorded
when they were trained.
"""

import json

import pytest
from ros2_infer.core.model import load_model
from ros2_infer.core.spec import load_spec
from ros2_infer.models import bundled_spec, MODELS_DIR

DETECTOR_FILES = ['tinydet', 'tinydet_ts', 'tinydet_int8_x86', 'tinydet_int8_arm',
                  'tinydet_ts_int8_qnnpack']
DEPTH_FILES = ['tinydepth', 'tinydepth_ts', 'tinydepth_int8_x86', 'tinydepth_int8_arm']

pytestmark = pytest.mark.skipif(not (MODELS_DIR / 'tinydet.yaml').is_file(),
                                reason='bundled models not generated yet')


def _metrics(name):
    return json.loads((MODELS_DIR / f'{name}_metrics.json').read_text())


@pytest.mark.parametrize('name', DETECTOR_FILES + DEPTH_FILES)
def test_shipped_file_matches_its_spec_and_is_small(name):
    if name.startswith('tinydepth') and not (MODELS_DIR / 'tinydepth.yaml').is_file():
        pytest.skip('depth model not generated yet')
    spec = load_spec(bundled_spec(name))
    assert spec.model_path.is_file()
    assert spec.model_path.stat().st_size <= 5_000_000
    assert spec.source['license'] == 'Apache-2.0'
    assert spec.source['train_seeds']
    if name.startswith('tinydet'):
        assert spec.class_names[0] == 'pillar' and len(spec.class_names) == 7
        assert (spec.input.width, spec.input.height) == (320, 240)
    if 'qnnpack' in name:
        return  # ARM kernels: run under aarch64 (tools/arm64), too slow to emulate here
    model = load_model(spec.spec_path)  # checks the spec against the file and runs it
    assert model.backend.fallback_reason is None


def test_int8_is_at_least_3_5x_smaller():
    fp32 = (MODELS_DIR / 'tinydet.onnx').stat().st_size
    int8 = (MODELS_DIR / 'tinydet_int8_x86.onnx').stat().st_size
    assert fp32 / int8 >= 3.5


def test_recorded_accuracy_int8_parity_and_regression_floor():
    metrics = _metrics('tinydet')['metrics']
    for split in ('held_out_layouts', 'unseen_appearance'):
        fp32 = metrics[split]['onnxruntime fp32']
        for variant in ('onnxruntime int8 (qdq, x86)', 'onnxruntime int8 (qdq, arm)'):
            int8 = metrics[split][variant]
            # int8 loses at most 1 point mAP@0.5 and 2 points mAP@0.5:0.95 (issue 4).
            assert fp32['map50'] - int8['map50'] <= 0.01, (split, variant)
            assert fp32['map50_95'] - int8['map50_95'] <= 0.02, (split, variant)
    # The targets (issue 4), under the stated protocol: objects at least half visible, the part
    # outside the image counting as not visible (docs/models.md).
    assert metrics['held_out_layouts']['onnxruntime fp32']['map50'] >= 0.90
    assert metrics['unseen_appearance']['onnxruntime fp32']['map50'] >= 0.65
    protocol = _metrics('tinydet')['protocol']
    assert protocol['min_visible_fraction'] == 0.5 and protocol['min_box_area_px'] == 100
    assert metrics['held_out_layouts']['onnxruntime fp32']['per_class_ap50']['pillar'] >= 0.9


def test_recorded_depth_accuracy_meets_the_targets():
    if not (MODELS_DIR / 'tinydepth_metrics.json').is_file():
        pytest.skip('depth model not generated yet')
    for variant, result in _metrics('tinydepth')['metrics'].items():
        assert result['abs_rel'] <= 0.10, variant
        assert result['delta1'] >= 0.90, variant


def test_shipped_depth_reproduces_recorded_accuracy():
    from ros2_infer.evaluation import evaluate_depth
    from ros2_infer.training.simdata import simulate_runs

    if not (MODELS_DIR / 'tinydepth.yaml').is_file():
        pytest.skip('depth model not generated yet')
    bags = simulate_runs([1], duration=8.0, camera_rate=1.0, randomize=True, depth=True)
    result = evaluate_depth(bundled_spec('tinydepth'), bags)
    assert result['abs_rel'] <= 0.10 and result['delta1'] >= 0.90


@pytest.mark.parametrize('variant, stem', [('onnxruntime fp32', 'tinydet'),
                                           ('onnxruntime int8 (qdq, x86)', 'tinydet_int8_x86'),
                                           ('onnxruntime int8 (qdq, arm)', 'tinydet_int8_arm')])
def test_shipped_detector_reproduces_recorded_map_on_the_fixed_bag(variant, stem):
    from ros2_infer.evaluation import evaluate_detector
    from ros2_infer.training.pipeline import fixed_eval_bags

    recorded = _metrics('tinydet')['metrics']['fixed_eval_bag'][variant]
    result = evaluate_detector(bundled_spec(stem), fixed_eval_bags())
    assert result['objects'] == recorded['objects']
    assert result['map50'] == pytest.approx(recorded['map50'], abs=0.02)
    assert result['map50_95'] == pytest.approx(recorded['map50_95'], abs=0.02)


def test_int8_and_fp32_detect_the_same_objects():
    from ros2_infer.core.detector import Detector
    from ros2_infer.core.metrics import box_iou
    from ros2_infer.training.bag_dataset import iter_frames
    from ros2_infer.training.pipeline import fixed_eval_bags

    reference = Detector(load_model(bundled_spec('tinydet')))
    quantized = Detector(load_model(bundled_spec('tinydet_int8_x86')))
    matched = total = 0
    for _, image, _ in iter_frames(fixed_eval_bags()[0]):
        a, b = reference(image), quantized(image)
        total += len(a)
        if len(a) and len(b):
            iou = box_iou(a.boxes, b.boxes)
            same_class = a.class_ids[:, None] == b.class_ids[None, :]
            matched += int(((iou > 0.7) & same_class).any(axis=1).sum())
    assert total > 20
    assert matched >= 0.9 * total
