"""Model spec loading: valid specs load, every mistake is named in one clear error."""

from pathlib import Path

import pytest
from ros2_infer.core.errors import SpecError
from ros2_infer.core.spec import load_spec, sidecar_path, spec_from_dict
import yaml

VALID = {
    'name': 'det', 'task': 'detect', 'model': 'det.onnx', 'precision': 'fp32',
    'input': {'width': 320, 'height': 240, 'layout': 'NCHW', 'color': 'rgb', 'mean': 0,
              'std': 255, 'resize': 'letterbox'},
    'output': {'format': 'yolov8', 'names': ['output0']},
    'classes': ['a', 'b'],
}


def write(tmp_path: Path, data, name='det.yaml') -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_valid_spec_resolves_model_next_to_yaml(tmp_path):
    spec = load_spec(write(tmp_path, VALID))
    assert spec.model_path == (tmp_path / 'det.onnx').resolve()
    assert spec.input.shape() == (1, 3, 240, 320)
    assert spec.input.std == (255.0, 255.0, 255.0)
    assert spec.default_backend == 'onnxruntime'
    assert spec.class_names == ('a', 'b')


def test_sidecar_found_from_model_path(tmp_path):
    write(tmp_path, VALID)
    assert load_spec(tmp_path / 'det.onnx').name == 'det'
    assert sidecar_path(tmp_path / 'x.torchscript') == tmp_path / 'x.yaml'


def test_round_trip_through_save(tmp_path):
    spec = load_spec(write(tmp_path, VALID))
    saved = spec.save(tmp_path / 'copy.yaml')
    again = load_spec(saved)
    assert again.to_dict() == spec.to_dict() or again.input == spec.input
    assert again.model_path == spec.model_path


@pytest.mark.parametrize('change, message', [
    ({'task': 'segment'}, "task: 'segment' is not one of detect, depth"),
    ({'input': {'width': 0, 'height': 240}}, 'input.width: must be a positive integer'),
    ({'input': {'width': 320, 'height': 240, 'layout': 'CHW'}}, "input.layout: 'CHW'"),
    ({'input': {'width': 320, 'height': 240, 'std': [1, 0, 1]}}, 'input.std: must not contain 0'),
    ({'input': {'width': 320, 'height': 240, 'mean': [1, 2]}}, 'input.mean: must be a number'),
    ({'output': {'format': 'ssd-ish'}}, "output.format: 'ssd-ish' is not one of yolov8"),
    ({'classes': []}, 'classes: a detection model needs its class names'),
    ({'classes': ['a', 'a']}, 'classes: names must be unique'),
    ({'precision': 'int8'}, 'quantization: an int8 model must say how'),
    ({'model': 'det.caffemodel'}, "model: unknown file type '.caffemodel'"),
    ({'colour': 'rgb'}, 'colour: unknown field'),
])
def test_each_mistake_is_reported_clearly(tmp_path, change, message):
    data = dict(VALID, **change)
    with pytest.raises(SpecError) as raised:
        load_spec(write(tmp_path, data))
    assert message in str(raised.value)
    assert str(tmp_path / 'det.yaml') in str(raised.value)


def test_all_mistakes_in_one_error():
    data = dict(VALID, task='detect', precision='fp64', classes=[])
    data['input'] = {'width': -1, 'height': 'tall'}
    with pytest.raises(SpecError) as raised:
        spec_from_dict(data)
    text = str(raised.value)
    for fragment in ('precision', 'input.width', 'input.height', 'classes'):
        assert fragment in text


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(SpecError, match='model spec not found'):
        load_spec(tmp_path / 'nothing.onnx')
    bad = tmp_path / 'bad.yaml'
    bad.write_text('task: [unclosed')
    with pytest.raises(SpecError, match='not valid YAML'):
        load_spec(bad)
    listing = tmp_path / 'list.yaml'
    listing.write_text('- 1\n- 2\n')
    with pytest.raises(SpecError, match='expected a mapping'):
        load_spec(listing)
