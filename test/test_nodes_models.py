"""Tiny models for the node and launch tests (a depth model; the detector is TinyDet)."""

from pathlib import Path

import numpy as np
import yaml


def make_depth_model(folder: Path, width: int = 64, height: int = 48) -> Path:
    """
    Export a tiny relative inverse-depth model (ONNX) and its spec; return the spec path.

    The "model" maps brightness to inverse depth (brighter = nearer), enough to exercise the
    depth pipeline end to end.
    """
    import torch

    from ros2_infer.training.export import export_onnx

    class Brightness(torch.nn.Module):

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean(dim=1, keepdim=True) + 0.1

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(1, 3, height, width)
    export_onnx(Brightness().eval(), example, folder / 'brightdepth.onnx', input_name='images',
                output_names=['depth'])
    spec = {
        'spec_version': 1, 'name': 'brightdepth', 'task': 'depth', 'model': 'brightdepth.onnx',
        'precision': 'fp32',
        'input': {'name': 'images', 'width': width, 'height': height, 'layout': 'NCHW',
                  'color': 'rgb', 'dtype': 'float32', 'mean': [0, 0, 0],
                  'std': [255, 255, 255], 'resize': 'stretch'},
        'output': {'format': 'inverse_relative', 'names': ['depth'], 'min_depth': 0.05,
                   'max_depth': 20.0},
        'source': {'kind': 'generated', 'license': 'Apache-2.0'},
    }
    path = folder / 'brightdepth.yaml'
    path.write_text(yaml.safe_dump(spec), encoding='utf-8')
    return path


def test_depth_model_loads_and_runs(tmp_path):
    from ros2_infer.core.depth import DepthEstimator
    from ros2_infer.core.model import load_model

    model = load_model(make_depth_model(tmp_path), warmup_runs=1)
    try:
        result = DepthEstimator(model)(np.full((480, 640, 3), 200, np.uint8), 'rgb')
    finally:
        model.close()
    assert result.kind == 'inverse_relative' and result.values.shape == (480, 640)
    assert np.allclose(result.values, 200 / 255 + 0.1, atol=1e-3)
