"""
Train TinyDet on labelled images (simulator frames with ground-truth boxes).

Single-process data loading on purpose: the target is a 2-core CPU, where worker processes only
compete with the training threads.
"""

import math
import time
from typing import Callable, Dict, List, Optional, Sequence

import cv2
import numpy as np
from ros2_infer.core.preprocess import Preprocessor
from ros2_infer.core.spec import InputSpec
from ros2_infer.training.detection_loss import DetectionLoss
from ros2_infer.training.labelled import LabelledImage
from ros2_infer.training.tinydet import TinyDet
import torch


class DetectionDataset(torch.utils.data.Dataset):
    """Letterboxed tensors + targets ``[class, x1, y1, x2, y2, ignore]`` in input pixels."""

    def __init__(self, samples: Sequence[LabelledImage], input_spec: InputSpec, *,
                 augment: bool, seed: int = 0, min_box: float = 2.0):
        self.samples = list(samples)
        self.preprocess = Preprocessor(input_spec)
        self.augment = augment
        self.rng = np.random.default_rng(seed)
        self.min_box = min_box

    def __len__(self) -> int:
        return len(self.samples)

    def _jitter_colours(self, image: np.ndarray) -> np.ndarray:
        """
        Shift hue anywhere on the wheel, scale saturation and brightness widely, sometimes grey.

        Wide on purpose: the detector must recognise objects by shape under colours, materials
        and light levels it was never trained on, not by the colours of its training runs.
        """
        # Lookup tables on the uint8 channels: the same values as shifting and scaling a float
        # copy and clipping it, at a fraction of the cost (the clip dominated data loading).
        hue, saturation, value = cv2.split(cv2.cvtColor(image, cv2.COLOR_RGB2HSV))
        levels = np.arange(256, dtype=np.float32)
        hue_table = (levels + self.rng.uniform(0, 180)) % 180
        saturation_table = levels * np.exp(self.rng.uniform(np.log(0.35), np.log(2.0)))
        value_table = levels * np.exp(self.rng.uniform(np.log(0.45), np.log(1.4)))
        channels = [cv2.LUT(channel, np.clip(table, 0, 255).astype(np.uint8))
                    for channel, table in ((hue, hue_table), (saturation, saturation_table),
                                           (value, value_table))]
        image = cv2.cvtColor(cv2.merge(channels), cv2.COLOR_HSV2RGB)
        if self.rng.random() < 0.1:
            grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
            image = cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)
        return image

    def _zoom(self, image: np.ndarray, boxes: np.ndarray, keep_columns: np.ndarray):
        """Random zoom in or out about a random point: objects at other distances."""
        scale = float(np.exp(self.rng.uniform(np.log(0.6), np.log(1.6))))
        height, width = image.shape[:2]
        center_x = self.rng.uniform(0.3, 0.7) * width
        center_y = self.rng.uniform(0.3, 0.7) * height
        matrix = np.array([[scale, 0.0, (1 - scale) * center_x],
                           [0.0, scale, (1 - scale) * center_y]], np.float32)
        image = cv2.warpAffine(np.ascontiguousarray(image), matrix, (width, height),
                               flags=cv2.INTER_LINEAR, borderValue=(114, 114, 114))
        moved = boxes * scale + np.tile(matrix[:, 2], 2)
        clipped = moved.copy()
        np.clip(clipped[:, 0::2], 0, width, out=clipped[:, 0::2])
        np.clip(clipped[:, 1::2], 0, height, out=clipped[:, 1::2])
        area = np.prod(np.clip(moved[:, 2:] - moved[:, :2], 1e-6, None), axis=1)
        kept_area = np.prod(np.clip(clipped[:, 2:] - clipped[:, :2], 0, None), axis=1)
        keep = kept_area >= 0.3 * area  # mostly cut off: drop rather than teach a fragment
        return image, clipped[keep], keep_columns[keep]

    def __getitem__(self, index: int):
        """
        Return the image tensor and its targets ``[class, x1, y1, x2, y2, ignore]``.

        Boxes the visibility rule ignores stay as don't-care regions: the loss neither teaches
        them as objects nor punishes a detection on them, as the evaluation treats them.
        """
        sample = self.samples[index]
        image, boxes = sample.image, sample.boxes.astype(np.float32).reshape(-1, 4)
        ignore = (np.zeros(len(boxes), bool) if sample.ignore is None
                  else np.asarray(sample.ignore, bool))
        columns = np.stack([sample.class_ids.astype(np.float32),
                            ignore.astype(np.float32)], axis=1).reshape(-1, 2)
        if self.augment:
            image, boxes, columns = self._zoom(image, boxes, columns)
            if self.rng.random() < 0.5:
                image = image[:, ::-1]
                width = image.shape[1]
                boxes = np.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0],
                                  boxes[:, 3]], axis=1)
            image = self._jitter_colours(np.ascontiguousarray(image))
        tensor, transform = self.preprocess(np.ascontiguousarray(image), 'rgb')
        model_boxes = boxes.copy()
        model_boxes[:, 0::2] = boxes[:, 0::2] * transform.scale_x + transform.pad_x
        model_boxes[:, 1::2] = boxes[:, 1::2] * transform.scale_y + transform.pad_y
        sizes = model_boxes[:, 2:] - model_boxes[:, :2]
        valid = (sizes >= self.min_box).all(axis=1)
        targets = np.concatenate([columns[valid, :1], model_boxes[valid],
                                  columns[valid, 1:]], axis=1).astype(np.float32)
        return torch.from_numpy(tensor[0].copy()), torch.from_numpy(targets)


def collate(batch):
    images, targets = zip(*batch)
    return torch.stack(images), list(targets)


def class_balanced_weights(samples: Sequence[LabelledImage], num_classes: int) -> List[float]:
    """
    Weigh each frame for sampling so that frames showing rare classes are drawn more often.

    The arena has nine pillars and a handful of other objects, so uniform sampling teaches
    mostly pillars; a frame's weight is the inverse frequency of its rarest class (square-
    rooted, so frequent classes are not starved).
    """
    counts = np.ones(num_classes)
    for sample in samples:
        counts += np.bincount(sample.class_ids, minlength=num_classes)[:num_classes]
    inverse = counts.sum() / counts
    weights = []
    for sample in samples:
        present = np.unique(sample.class_ids)
        weights.append(float(np.sqrt(inverse[present].max())) if present.size else 1.0)
    return weights


def cpu_bf16_supported() -> bool:
    """Return whether this CPU runs bf16 convolutions natively (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str) -> str:
    """Turn ``auto`` into ``bf16`` where the CPU has native bf16, else ``fp32``."""
    if precision == 'auto':
        return 'bf16' if cpu_bf16_supported() else 'fp32'
    if precision not in ('fp32', 'bf16'):
        raise ValueError(f'precision must be auto, fp32 or bf16, got {precision!r}')
    return precision


class WeightAverage:
    """
    Exponential moving average of a model's weights and batch-norm statistics.

    The averaged copy is what gets exported: late in a short schedule the raw weights still
    move with every batch, and the average smooths that out (YOLOv5/v8 train the same way; on
    this task it measured neither better nor worse than the last step, docs/models.md). The
    decay ramps up from zero so early, poor weights fade quickly.
    """

    def __init__(self, model: torch.nn.Module, decay: float = 0.999, ramp_steps: float = 500.0):
        import copy

        self.average = copy.deepcopy(model).eval()
        for parameter in self.average.parameters():
            parameter.requires_grad_(False)
        self.decay = decay
        self.ramp_steps = ramp_steps
        self.updates = 0
        # Pairs of tensors, collected once: the optimizer updates the model's in place, so
        # the references stay valid and no state dict is built at every training step.
        self._floats, self._latest, self._counters = [], [], []
        for value, source in zip(self.average.state_dict().values(),
                                 model.state_dict().values()):
            if value.dtype.is_floating_point:
                self._floats.append(value)
                self._latest.append(source)
            else:
                self._counters.append((value, source))  # batch-norm step counters

    @torch.no_grad()
    def update(self) -> None:
        """Fold the model's current weights (the one given at construction) into the average."""
        self.updates += 1
        decay = self.decay * (1.0 - math.exp(-self.updates / self.ramp_steps))
        # One fused call over all tensors: a Python loop per tensor costs more than the maths.
        torch._foreach_mul_(self._floats, decay)
        torch._foreach_add_(self._floats, self._latest, alpha=1.0 - decay)
        for value, source in self._counters:
            value.copy_(source)


def train_detector(train: Sequence[LabelledImage], *, num_classes: int, input_spec: InputSpec,
                   epochs: int = 20, batch_size: int = 16, learning_rate: float = 3e-3,
                   seed: int = 0, threads: Optional[int] = None,
                   progress: Optional[Callable[[Dict], None]] = None,
                   time_budget_s: Optional[float] = None,
                   augment: bool = True, precision: str = 'auto',
                   model_options: Optional[Dict] = None,
                   average_decay: float = 0.999) -> (TinyDet, List[Dict]):
    """
    Train a TinyDet from scratch; returns the model (eval mode) and the per-epoch history.

    ``time_budget_s`` shortens the cosine schedule's tail and stops at the budget, mid-epoch
    if need be (the last history record then covers a partial epoch).
    ``precision`` bf16 runs convolutions under CPU autocast in channels-last layout (weights,
    optimizer state and the loss stay fp32): about twice the steps per second on a CPU with
    native bf16; ``auto`` picks it only there, since emulated bf16 is slower than fp32.
    The returned model is the moving average of the weights (``average_decay``; 0 returns the
    last step's weights).
    """
    from ros2_infer.core.hardware import physical_core_count

    torch.manual_seed(seed)
    torch.set_num_threads(threads or physical_core_count())
    bf16 = resolve_precision(precision) == 'bf16'
    model = TinyDet(num_classes, **(model_options or {}))
    if bf16:
        model = model.to(memory_format=torch.channels_last)
    loss_fn = DetectionLoss(model)
    average = WeightAverage(model, decay=average_decay) if average_decay > 0 else None
    dataset = DetectionDataset(train, input_spec, augment=augment, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    sampler = torch.utils.data.WeightedRandomSampler(
        class_balanced_weights(train, num_classes), num_samples=len(dataset), replacement=True,
        generator=generator)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, sampler=sampler,
                                         collate_fn=collate,
                                         drop_last=len(dataset) > batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=5e-4)
    total_steps = max(1, epochs * len(loader))
    warmup = min(200, total_steps // 10)

    start = time.monotonic()

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        # Progress is steps or time, whichever is further along: under a time budget the
        # cosine still reaches its low tail instead of being cut off at a high rate.
        done = (step - warmup) / max(1, total_steps - warmup)
        if time_budget_s:
            done = max(done, (time.monotonic() - start) / time_budget_s)
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, done)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    history: List[Dict] = []
    model.train()
    step = 0
    for epoch in range(epochs):
        sums = {'loss': 0.0, 'cls': 0.0, 'box': 0.0, 'dfl': 0.0}
        batches = 0
        for images, targets in loader:
            if bf16:
                images = images.contiguous(memory_format=torch.channels_last)
            with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
                raw = model.forward_raw(images)
            raw = [(box.float().contiguous(), cls.float().contiguous()) for box, cls in raw]
            loss, parts = loss_fn(raw, targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimizer.step()
            scheduler.step()
            if average is not None:
                average.update()
            step += 1
            batches += 1
            sums['loss'] += float(loss.detach())
            for key, value in parts.items():
                sums[key] += value
            if time_budget_s and time.monotonic() - start > time_budget_s:
                break  # mid-epoch: the cosine tail is already reached, an epoch is ~80 s
        record = {k: v / max(1, batches) for k, v in sums.items()}
        record.update(epoch=epoch + 1, batches=batches, seconds=time.monotonic() - start,
                      lr=optimizer.param_groups[0]['lr'], precision='bf16' if bf16 else 'fp32')
        history.append(record)
        if progress:
            progress(record)
        if time_budget_s and time.monotonic() - start > time_budget_s:
            break
    if average is not None:
        model = average.average
    # Exports (tracing, ONNX, int8) expect the default layout.
    return model.to(memory_format=torch.contiguous_format).eval(), history
