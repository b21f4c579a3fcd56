"""Backends: registry, loud fallback, clear errors for corrupt files and contradicting specs."""

import logging
import shutil

import numpy as np
import pytest
from ros2_infer.core.backends import backend_names, create_backend, is_available
from ros2_infer.core.detector import Detector
from ros2_infer.core.errors import BackendError, ModelLoadError, SpecError
from ros2_infer.core.hardware import physical_core_count
from ros2_infer.core.model import load_model
import yaml


def test_registry_names_and_unknown_backend(generated_detector_dir):
    assert {'torchscript', 'onnxruntime'} <= set(backend_names())
    assert is_available('onnxruntime') and not is_available('tensorflow')
    with pytest.raises(BackendError) as raised:
        create_backend('tensorflow', generated_detector_dir / 'tinydet.onnx')
    assert str(raised.value) == ("unknown backend 'tensorflow'; choose one of: "
                                 'torchscript, onnxruntime')


@pytest.mark.parametrize('suffix', ['.onnx', '.torchscript'])
def test_corrupt_model_file_gives_one_clear_error(tmp_path, generated_detector_dir, suffix):
    stem = 'tinydet' if suffix == '.onnx' else 'tinydet_ts'
    shutil.copy(generated_detector_dir / f'{stem}.yaml', tmp_path / f'{stem}.yaml')
    (tmp_path / f'{stem}{suffix}').write_bytes(b'\x08\x01garbage' * 100)
    with pytest.raises(ModelLoadError) as raised:
        load_model(tmp_path / f'{stem}.yaml')
    message = str(raised.value)
    assert f'{stem}{suffix}' in message and 'cannot be loaded' in message
    assert '\n' not in message


def test_missing_model_file(tmp_path, generated_detector_dir):
    shutil.copy(generated_detector_dir / 'tinydet.yaml', tmp_path / 'tinydet.yaml')
    with pytest.raises(ModelLoadError, match='model file not found'):
        load_model(tmp_path / 'tinydet.yaml')


@pytest.mark.parametrize('stem, error', [('tinydet', SpecError),
                                         ('tinydet_ts', ModelLoadError)])
def test_spec_contradicting_model_input_is_caught(tmp_path, generated_detector_dir, stem,
                                                  error):
    for suffix in ('.onnx', '.torchscript'):
        if (generated_detector_dir / f'{stem}{suffix}').exists():
            shutil.copy(generated_detector_dir / f'{stem}{suffix}', tmp_path)
    data = yaml.safe_load((generated_detector_dir / f'{stem}.yaml').read_text())
    data['input']['width'], data['input']['height'] = 640, 640
    data['input']['layout'] = 'NHWC'
    (tmp_path / f'{stem}.yaml').write_text(yaml.safe_dump(data))
    with pytest.raises(error) as raised:
        load_model(tmp_path / f'{stem}.yaml')
    assert '(1, 640, 640, 3)' in str(raised.value)


def test_cuda_request_without_cuda_falls_back_loudly(generated_detector_dir, caplog):
    import onnxruntime

    if 'CUDAExecutionProvider' in onnxruntime.get_available_providers():
        pytest.skip('this onnxruntime has CUDA: no fallback to show')
    with caplog.at_level(logging.ERROR, logger='ros2_infer.backend'):
        model = load_model(generated_detector_dir / 'tinydet.yaml', device='cuda')
    assert model.backend.fell_back
    assert model.backend.active_device == 'CPUExecutionProvider'
    assert 'CUDAExecutionProvider not in this onnxruntime build' in model.backend.fallback_reason
    assert 'FELL BACK' in model.backend.describe()
    assert any('requested device' in r.message for r in caplog.records)


def test_unknown_device_is_rejected(generated_detector_dir):
    with pytest.raises(BackendError, match='unknown device'):
        load_model(generated_detector_dir / 'tinydet.yaml', device='tpu')
    with pytest.raises(BackendError, match='fp16 needs a CUDA device'):
        load_model(generated_detector_dir / 'tinydet_ts.yaml', half=True)


def test_threads_default_to_physical_cores(generated_detector_dir):
    model = load_model(generated_detector_dir / 'tinydet.yaml')
    assert model.backend.threads == physical_core_count()
    assert load_model(generated_detector_dir / 'tinydet.yaml', threads=1).backend.threads == 1


def test_torchscript_and_onnx_agree(generated_detector_dir, test_images):
    onnx_model = load_model(generated_detector_dir / 'tinydet.yaml')
    ts_model = load_model(generated_detector_dir / 'tinydet_ts.yaml')
    onnx_detector, ts_detector = Detector(onnx_model), Detector(ts_model)
    total = 0
    for image in test_images:
        a, b = onnx_detector(image), ts_detector(image)
        raw_a = onnx_detector.last_raw_outputs['output0']
        raw_b = ts_detector.last_raw_outputs['output0']
        assert raw_a.shape == (1, 4 + 7, 1580)
        np.testing.assert_allclose(raw_a, raw_b, atol=2e-3)
        assert len(a) == len(b)
        np.testing.assert_allclose(a.boxes, b.boxes, atol=0.05)
        total += len(a)
        assert set(a.timings_ms) == {'preprocess', 'inference', 'postprocess'}
    assert total > 0, 'the generated model should detect something on synthetic scenes'
