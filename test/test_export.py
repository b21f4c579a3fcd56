"""Export: every variant loads through its spec, int8 is smaller and keeps the head float."""

import numpy as np
import onnx

from ros2_infer.core.detector import Detector
from ros2_infer.core.model import load_model
from ros2_infer.core.spec import load_spec
from ros2_infer.training.export import output_head_nodes

VARIANT_FILES = ['tinydet_ts.torchscript', 'tinydet.onnx', 'tinydet_int8_x86.onnx',
                 'tinydet_int8_arm.onnx', 'tinydet_ts_int8_x86.torchscript',
                 'tinydet_ts_int8_qnnpack.torchscript']


def test_every_variant_has_a_spec_that_loads(generated_detector_dir):
    for name in VARIANT_FILES:
        spec = load_spec(generated_detector_dir / name)
        assert spec.model_path.name == name
        assert spec.precision == ('int8' if 'int8' in name else 'fp32')
        if spec.precision == 'int8':
            assert spec.quantization.format == ('qdq' if name.endswith('.onnx') else 'fx')
            assert spec.quantization.calibration


def test_int8_files_are_much_smaller(generated_detector_dir):
    fp32 = (generated_detector_dir / 'tinydet.onnx').stat().st_size
    for name in ('tinydet_int8_x86.onnx', 'tinydet_int8_arm.onnx'):
        assert (generated_detector_dir / name).stat().st_size * 3.0 < fp32


def test_int8_keeps_the_output_head_in_float(generated_detector_dir):
    fp32 = onnx.load(str(generated_detector_dir / 'tinydet.onnx'))
    head = output_head_nodes(fp32)
    head_convs = [n for n in fp32.graph.node if n.name in head and n.op_type == 'Conv']
    assert len(head_convs) == 6  # box + class prediction per level
    int8 = onnx.load(str(generated_detector_dir / 'tinydet_int8_x86.onnx'))
    producers = {o: n for n in int8.graph.node for o in n.output}
    for node in int8.graph.node:
        if node.name in {c.name for c in head_convs}:
            weight_source = producers.get(node.input[1])
            assert weight_source is None or weight_source.op_type != 'DequantizeLinear'
    quantized = [n for n in int8.graph.node if n.op_type == 'DequantizeLinear']
    assert len(quantized) > 20


def test_int8_variants_agree_with_fp32(generated_detector_dir, test_images):
    reference = Detector(load_model(generated_detector_dir / 'tinydet.yaml'))
    for name in ('tinydet_int8_x86.yaml', 'tinydet_int8_arm.yaml', 'tinydet_ts_int8_x86.yaml'):
        detector = Detector(load_model(generated_detector_dir / name))
        scores = []
        for image in test_images:
            reference(image)
            detector(image)
            ref_raw = reference.last_raw_outputs['output0'][0, 4:]
            raw = detector.last_raw_outputs['output0'][0, 4:]
            scores.append(np.abs(ref_raw - raw).mean())
        # Class scores (0..1) survive quantization of the backbone closely on average.
        assert np.mean(scores) < 0.03, (name, scores)
