"""Train TinyDepth on simulator frames with ground-truth z-depth (masked log-L1 + gradients)."""

from dataclasses import dataclass
import math
import time
from typing import Callable, Dict, List, Optional, Sequence

import cv2
import numpy as np
from ros2_infer.core.preprocess import Preprocessor
from ros2_infer.core.spec import InputSpec
from ros2_infer.training.depthnet import TinyDepth
import torch


@dataclass
class DepthFrame:
    """An RGB image and its metric z-depth (NaN or <= 0 where unknown), same size."""

    image: np.ndarray
    depth: np.ndarray


def depth_target(depth: np.ndarray, size, max_depth: float) -> np.ndarray:
    """Resize ground truth to the output grid (nearest: no blending across edges); NaN invalid."""
    depth = np.where(np.isfinite(depth) & (depth > 0) & (depth <= max_depth), depth, np.nan)
    return cv2.resize(depth.astype(np.float32), size, interpolation=cv2.INTER_NEAREST)


class DepthDataset(torch.utils.data.Dataset):
    def __init__(self, frames: Sequence[DepthFrame], input_spec: InputSpec, *, augment: bool,
                 max_depth: float, seed: int = 0):
        self.frames = list(frames)
        self.preprocess = Preprocessor(input_spec)
        self.output_size = (input_spec.width // 2, input_spec.height // 2)
        self.augment = augment
        self.max_depth = max_depth
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int):
        frame = self.frames[index]
        image, depth = frame.image, frame.depth
        if self.augment and self.rng.random() < 0.5:
            image, depth = image[:, ::-1], depth[:, ::-1]
        if self.augment:
            gain = self.rng.uniform(0.7, 1.3, 3)
            image = np.clip(image * gain, 0, 255).astype(np.uint8)
        tensor, _ = self.preprocess(np.ascontiguousarray(image), 'rgb')
        target = depth_target(np.ascontiguousarray(depth), self.output_size, self.max_depth)
        return torch.from_numpy(tensor[0].copy()), torch.from_numpy(target)


def depth_loss(log_prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 on log depth over valid pixels, plus an edge-aware gradient-matching term."""
    valid = torch.isfinite(target)
    log_target = torch.log(torch.where(valid, target, torch.ones_like(target)))
    prediction = log_prediction[:, 0]
    difference = torch.where(valid, prediction - log_target, torch.zeros_like(prediction))
    count = valid.sum().clamp_min(1)
    l1 = difference.abs().sum() / count
    grad_x = (difference[:, :, 1:] - difference[:, :, :-1]).abs()
    grad_y = (difference[:, 1:] - difference[:, :-1]).abs()
    valid_x = valid[:, :, 1:] & valid[:, :, :-1]
    valid_y = valid[:, 1:] & valid[:, :-1]
    gradient = ((grad_x * valid_x).sum() + (grad_y * valid_y).sum()) / count
    return l1 + 0.5 * gradient


def train_depth(frames: Sequence[DepthFrame], *, input_spec: InputSpec, epochs: int = 20,
                batch_size: int = 16, learning_rate: float = 2e-3, max_depth: float = 10.0,
                seed: int = 0, threads: Optional[int] = None,
                progress: Optional[Callable[[Dict], None]] = None,
                time_budget_s: Optional[float] = None):
    """Train TinyDepth from scratch; returns the model (eval mode) and the per-epoch history."""
    from ros2_infer.core.hardware import physical_core_count

    torch.manual_seed(seed)
    torch.set_num_threads(threads or physical_core_count())
    model = TinyDepth()
    dataset = DepthDataset(frames, input_spec, augment=True, max_depth=max_depth, seed=seed)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True,
                                         generator=torch.Generator().manual_seed(seed),
                                         drop_last=len(dataset) > batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=1e-4)
    total = max(1, epochs * len(loader))
    start = time.monotonic()

    def schedule(step: int) -> float:
        done = step / total
        if time_budget_s:  # as in detector training: the cosine tail is reached in time
            done = max(done, (time.monotonic() - start) / time_budget_s)
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, done)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    history: List[Dict] = []
    model.train()
    for epoch in range(epochs):
        losses = []
        for images, targets in loader:
            loss = depth_loss(model.forward_log(images), targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
        record = {'epoch': epoch + 1, 'loss': float(np.mean(losses)),
                  'seconds': time.monotonic() - start, 'lr': optimizer.param_groups[0]['lr']}
        history.append(record)
        if progress:
            progress(record)
        if time_budget_s and time.monotonic() - start > time_budget_s:
            break
    return model.eval(), history
