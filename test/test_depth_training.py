"""Depth training pieces: the masked loss, the metrics, and a short fit on synthetic scenes."""

import numpy as np
import pytest
from ros2_infer.core.metrics import depth_metrics
from ros2_infer.core.spec import InputSpec
from ros2_infer.training.depth_training import depth_loss, depth_target, DepthFrame, train_depth
import torch


def floor_scene(seed: int, width: int = 128, height: int = 96) -> DepthFrame:
    """Make a textured floor under a horizon: depth grows towards the horizon, sky unknown."""
    rng = np.random.default_rng(seed)
    rows = np.arange(height, dtype=np.float32)[:, None] + 0.5
    horizon = height * rng.uniform(0.3, 0.45)
    depth = np.where(rows > horizon + 1, 30.0 / np.maximum(rows - horizon, 1e-3), np.nan)
    depth = np.repeat(depth, width, axis=1).astype(np.float32)
    depth[depth > 10.0] = np.nan
    shade = np.where(np.isfinite(depth), 200 - 15 * np.nan_to_num(depth), 20)
    image = np.clip(shade[..., None] + rng.normal(0, 4, (height, width, 3)), 0, 255)
    return DepthFrame(image.astype(np.uint8), depth)


def test_loss_ignores_pixels_without_ground_truth():
    target = torch.full((1, 4, 4), float('nan'))
    target[0, 2:, :] = 2.0
    perfect = torch.full((1, 1, 4, 4), float(np.log(2.0)))
    perfect[0, 0, :2] = 50.0  # garbage where there is no ground truth: not penalised
    assert float(depth_loss(perfect, target)) == pytest.approx(0.0, abs=1e-6)
    assert float(depth_loss(perfect + 0.1, target)) == pytest.approx(0.1, abs=1e-4)


def test_metrics_and_target_resizing():
    truth = np.array([[1.0, 2.0], [4.0, np.nan]], np.float32)
    metrics = depth_metrics(truth * 1.1, truth)
    assert metrics['abs_rel'] == pytest.approx(0.1, abs=1e-6)
    assert metrics['delta1'] == 1.0 and metrics['pixels'] == 3
    target = depth_target(np.full((8, 8), 20.0, np.float32), (4, 4), max_depth=10.0)
    assert target.shape == (4, 4) and np.isnan(target).all()


def test_short_training_learns_depth_from_the_floor():
    frames = [floor_scene(seed) for seed in range(24)]
    spec = InputSpec(width=64, height=48, resize='stretch')
    model, history = train_depth(frames, input_spec=spec, epochs=25, batch_size=8,
                                 learning_rate=3e-3)
    assert history[-1]['loss'] < 0.5 * history[0]['loss']
    image = torch.from_numpy(frames[0].image[::2, ::2].astype(np.float32).transpose(2, 0, 1)
                             [None] / 255.0)
    with torch.no_grad():
        prediction = model(image).numpy()[0, 0]
    truth = depth_target(frames[0].depth, (32, 24), 10.0)
    assert depth_metrics(prediction, truth)['abs_rel'] < 0.3
