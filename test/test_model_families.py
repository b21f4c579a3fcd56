"""Each decoder against a real model of its family (random weights), end to end."""

from pathlib import Path

import numpy as np
import pytest
from ros2_infer.core.depth import DepthEstimator, fit_scale_shift
from ros2_infer.core.detector import Detector
from ros2_infer.core.model import load_model
from ros2_infer.core.spec import InputSpec, ModelSpec, OutputSpec
from ros2_infer.training.export import export_variants
import torch
from torch import nn


class YoloV5Style(nn.Module):
    """A YOLOv5-layout head on a tiny backbone: anchors, grid, sigmoid, [1, N, 5 + nc]."""

    def __init__(self, num_classes=3, stride=16):
        super().__init__()
        self.stride = stride
        self.num_outputs = 5 + num_classes
        self.anchors = torch.tensor([[20.0, 30.0], [60.0, 40.0]])
        self.backbone = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU(),
                                      nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(),
                                      nn.Conv2d(32, 32, 3, 2, 1), nn.ReLU(),
                                      nn.Conv2d(32, 32, 3, 2, 1), nn.ReLU())
        self.detect = nn.Conv2d(32, 2 * self.num_outputs, 1)

    def forward(self, x):
        y = self.detect(self.backbone(x))
        batch, _, height, width = y.shape
        y = y.view(batch, 2, self.num_outputs, height, width).permute(0, 1, 3, 4, 2).sigmoid()
        gy, gx = torch.meshgrid(torch.arange(height), torch.arange(width), indexing='ij')
        grid = torch.stack([gx, gy], dim=-1).float().view(1, 1, height, width, 2)
        xy = (y[..., :2] * 2 - 0.5 + grid) * self.stride
        wh = (y[..., 2:4] * 2) ** 2 * self.anchors.view(1, 2, 1, 1, 2)
        return torch.cat([xy, wh, y[..., 4:]], dim=-1).view(batch, -1, self.num_outputs)


class TorchvisionWrapper(nn.Module):
    """The usual export wrapper: a [1, 3, H, W] tensor in, boxes / labels / scores out."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        result = self.model(list(x))
        if isinstance(result, tuple):  # scripted torchvision models return (losses, dets)
            result = result[1]
        return result[0]['boxes'], result[0]['labels'], result[0]['scores']


def _export(module, tmp_path: Path, output_format, classes, names=('output0',), size=(320, 320),
            variants=('torchscript', 'onnx'), mean=(0, 0, 0), std=(255, 255, 255)):
    template = ModelSpec(name='m', task='detect', model_path=Path('m.onnx'),
                         input=InputSpec(width=size[0], height=size[1], mean=mean, std=std),
                         output=OutputSpec(format=output_format, names=tuple(names)),
                         class_names=tuple(classes))
    return export_variants(module, template, tmp_path, variants=variants)


def test_yolov5_family_model(tmp_path, test_images):
    torch.manual_seed(0)
    specs = _export(YoloV5Style(), tmp_path, 'yolov5', ['a', 'b', 'c'])
    results = []
    for spec in specs:
        detector = Detector(load_model(spec.spec_path), conf_threshold=0.2)
        raw = None
        for image in test_images:
            result = detector(image)
            raw = detector.last_raw_outputs['output0']
            assert np.all(result.boxes[:, 2] >= result.boxes[:, 0])
            assert np.all(result.boxes >= 0) and np.all(result.boxes[:, ::2] <= 640)
        assert raw.shape == (1, 2 * 20 * 20, 8)
        results.append(len(result))
    assert results[0] == results[1] and results[0] > 0


def test_torchvision_family_model(tmp_path, test_images):
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.detection.ssdlite320_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=4, score_thresh=0.01,
        detections_per_img=20).eval()
    specs = _export(TorchvisionWrapper(model), tmp_path, 'torchvision',
                    ['background', 'a', 'b', 'c'], names=('boxes', 'labels', 'scores'),
                    variants=('torchscript',), mean=(0, 0, 0), std=(255, 255, 255))
    detector = Detector(load_model(specs[0].spec_path), conf_threshold=0.0)
    result = detector(test_images[0])
    raw = detector.last_raw_outputs
    assert set(raw) == {'boxes', 'labels', 'scores'}
    assert len(result) == raw['scores'].shape[0] <= 20
    # Boxes come back in source pixels: the 320x320 letterbox of a 640x480 image is undone.
    np.testing.assert_allclose(result.boxes[:, 0], (raw['boxes'][:, 0] - 0) / 0.5, atol=1e-3)
    np.testing.assert_allclose(result.boxes[:, 1],
                               np.clip((raw['boxes'][:, 1] - 40) / 0.5, 0, 480), atol=1e-3)


class MetricDepthNet(nn.Module):
    """Encoder-decoder predicting metres at 1/4 resolution (softplus keeps depth positive)."""

    def __init__(self, inverse=False):
        super().__init__()
        self.inverse = inverse
        self.net = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, 2, 1),
                                 nn.ReLU(), nn.Conv2d(8, 1, 3, 1, 1))

    def forward(self, x):
        return nn.functional.softplus(self.net(x)) + 0.5


@pytest.mark.parametrize('output_format', ['metric', 'inverse_relative'])
def test_depth_family_models(tmp_path, test_images, output_format):
    torch.manual_seed(0)
    template = ModelSpec(name='d', task='depth', model_path=Path('d.onnx'),
                         input=InputSpec(width=128, height=96, resize='stretch'),
                         output=OutputSpec(format=output_format, names=('depth',),
                                           min_depth=0.1, max_depth=10.0))
    specs = export_variants(MetricDepthNet(), template, tmp_path, variants=('onnx',))
    estimator = DepthEstimator(load_model(specs[0].spec_path))
    result = estimator(test_images[0])
    assert result.values.shape == (480, 640) and result.kind == output_format
    if output_format == 'metric':
        finite = result.values[np.isfinite(result.values)]
        assert finite.size > 0 and finite.min() >= 0.1 and finite.max() <= 10.0
        np.testing.assert_array_equal(estimator.to_metric(result, None), result.values)
    else:
        rows, cols = np.mgrid[200:220, 0:640:8]
        truth = 1.0 / (0.3 * result.values[rows, cols] + 0.02)
        fit = fit_scale_shift(result.values[rows, cols], truth)
        metric = estimator.to_metric(result, fit)
        np.testing.assert_allclose(metric[rows, cols], truth, rtol=1e-3)
