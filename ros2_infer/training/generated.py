"""
Models and images the package makes itself, so benchmarks and tests need no download.

``generate_detector`` builds a TinyDet with seeded random weights and exports every variant;
the calibration and parity images are synthetic scenes (textured floor, coloured shapes).
"""

from pathlib import Path
from statistics import NormalDist
from typing import List, Sequence

import cv2
import numpy as np

from ros2_infer.core.preprocess import Preprocessor
from ros2_infer.core.spec import InputSpec, ModelSpec, OutputSpec

DEMO_CLASSES = ('pillar', 'traffic_cone', 'box', 'barrel', 'ball', 'chair', 'signpost')


def synthetic_images(count: int, width: int = 640, height: int = 480,
                     seed: int = 0) -> List[np.ndarray]:
    """Seeded RGB scenes: a gradient floor, noise, and a few filled shapes per image."""
    rng = np.random.default_rng(seed)
    images = []
    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    for _ in range(count):
        top, bottom = rng.integers(40, 220, 3), rng.integers(40, 220, 3)
        image = (top * (1 - rows) + bottom * rows).repeat(width, axis=1)
        image += rng.normal(0, 6, image.shape)
        image = np.clip(image, 0, 255).astype(np.uint8)
        for _ in range(int(rng.integers(2, 7))):
            color = tuple(int(c) for c in rng.integers(0, 256, 3))
            cx, cy = int(rng.integers(0, width)), int(rng.integers(height // 4, height))
            size = int(rng.integers(15, 120))
            if rng.random() < 0.5:
                cv2.rectangle(image, (cx - size // 2, cy - size), (cx + size // 2, cy), color,
                              -1)
            else:
                cv2.circle(image, (cx, cy), size // 2, color, -1)
        images.append(image)
    return images


def calibration_tensors(images: Sequence[np.ndarray], spec: InputSpec) -> List[np.ndarray]:
    """Preprocess images exactly as inference will (copies: the preprocessor reuses buffers)."""
    preprocess = Preprocessor(spec)
    return [preprocess(image, 'rgb')[0].copy() for image in images]


def detector_template(name: str = 'tinydet', width: int = 320, height: int = 240,
                      classes: Sequence[str] = DEMO_CLASSES, source=None) -> ModelSpec:
    return ModelSpec(
        name=name, task='detect', model_path=Path(f'{name}.onnx'),
        input=InputSpec(width=width, height=height, name='images', color='rgb',
                        mean=(0.0, 0.0, 0.0), std=(255.0, 255.0, 255.0), resize='letterbox'),
        output=OutputSpec(format='yolov8', names=('output0',)), class_names=tuple(classes),
        source=dict(source or {}))


# A generated detector with YOLOv8n's cost and output layout: 8.7 GFLOP at 640x640, 2.8 M
# parameters, 80 classes ([1, 84, 8400]), the model most users put behind a node at 640.
YOLOV8N_CLASS = {'widths': (24, 48, 96, 160, 256), 'neck_width': 80,
                 'classes': tuple(f'class{i}' for i in range(80))}


def _upper_quantile(num_classes: int) -> float:
    """Return z with P(N(0,1) > z) = P(N(0,1) > 4/1.5) x 7 / num_classes."""
    tail = 1.0 - NormalDist().cdf(4.0 / 1.5)
    return NormalDist().inv_cdf(1.0 - min(0.5, tail * len(DEMO_CLASSES) / num_classes))


def generate_detector(out_dir: Path, *, seed: int = 0, width: int = 320, height: int = 240,
                      variants=None, calibration_images: int = 16, widths=None,
                      neck_width: int = 48, classes: Sequence[str] = DEMO_CLASSES,
                      ) -> List[ModelSpec]:
    """
    Export a seeded random-weight TinyDet in every variant; returns the written specs.

    ``widths``, ``neck_width`` and ``classes`` size the network (default: the bundled TinyDet's
    architecture; ``**YOLOV8N_CLASS``: a YOLOv8n-sized one).
    """
    import torch

    from ros2_infer.training.export import ALL_VARIANTS, export_variants
    from ros2_infer.training.tinydet import TinyDet

    out_dir = Path(out_dir)
    if out_dir.exists():
        # Stale variants from an earlier export must not be benchmarked as if they were new.
        for old in list(out_dir.glob('*.yaml')) + list(out_dir.glob('*.onnx')) + list(
                out_dir.glob('*.torchscript')):
            old.unlink()
    torch.manual_seed(seed)
    size = {'neck_width': neck_width}
    if widths is not None:
        size['widths'] = tuple(widths)
    module = TinyDet(len(classes), prior_prob=0.1, **size).eval()
    # PyTorch's default init shrinks activations layer after layer, so untrained scores would
    # all sit at the prior. He init keeps features image-dependent, and the class logits are
    # then standardised to N(-4, 1.5) over synthetic images: random weights still give a few
    # detections per image for the backends' parity to be compared on.
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(layer.weight, nonlinearity='relu')
    template = detector_template(width=width, height=height, classes=classes)
    probe = torch.from_numpy(np.concatenate(calibration_tensors(
        synthetic_images(4, seed=seed + 2000), template.input)))
    # More classes, more chances per anchor: lower the mean so that the expected number of
    # (anchor, class) scores above a threshold stays that of the 7-class model.
    mean = -4.0 - 1.5 * (_upper_quantile(len(classes)) - _upper_quantile(len(DEMO_CLASSES)))
    with torch.no_grad():
        for (_, logits), head in zip(module.forward_raw(probe), module.heads):
            gain = 1.5 / float(logits.std().clamp_min(1e-6))
            head.cls.weight.mul_(gain)
            head.cls.bias.copy_((head.cls.bias - float(logits.mean())) * gain + mean)
    template = detector_template(width=width, height=height, classes=classes, source={
        'kind': 'generated', 'weights': f'random, torch seed {seed}', 'trained': False,
        'license': 'Apache-2.0'})
    calibration = calibration_tensors(
        synthetic_images(calibration_images, seed=seed + 1000), template.input)
    return export_variants(module, template, out_dir, calibration=calibration,
                           variants=variants or ALL_VARIANTS,
                           quantizable_modules=module.quantizable_modules(),
                           calibration_note=f'{calibration_images} synthetic images, '
                                            f'seed {seed + 1000}')


def synthetic_labelled(count: int, width: int = 320, height: int = 240, seed: int = 0):
    """Labelled synthetic scenes: filled rectangles are class 0, filled circles class 1."""
    from ros2_infer.training.labelled import LabelledImage

    rng = np.random.default_rng(seed)
    samples = []
    for background in synthetic_images(count, width, height, seed=seed + 1):
        image = background.copy()
        image[:] = cv2.GaussianBlur(image, (0, 0), 3)
        boxes, classes = [], []
        for _ in range(int(rng.integers(1, 4))):
            color = tuple(int(c) for c in rng.integers(0, 256, 3))
            size = int(rng.integers(16, 70))
            x = int(rng.integers(0, width - size))
            y = int(rng.integers(0, height - size))
            if rng.random() < 0.5:
                cv2.rectangle(image, (x, y), (x + size - 1, y + size - 1), color, -1)
                classes.append(0)
            else:
                cv2.circle(image, (x + size // 2, y + size // 2), size // 2, color, -1)
                classes.append(1)
            boxes.append([x, y, x + size, y + size])
        samples.append(LabelledImage(image, np.asarray(boxes, np.float32),
                                     np.asarray(classes, np.int64)))
    return samples
