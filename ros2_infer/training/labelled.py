"""
Labelled images: what training and evaluation read from simulator bags.

Kept free of torch so that evaluating an ONNX Runtime model (``ros2-infer eval``, the demo's
report) works on a deployment that never installed it.
"""

from dataclasses import dataclass
from typing import Optional

import numpy as np


@dataclass
class LabelledImage:
    """An RGB image with its ground-truth boxes (xyxy source pixels) and class ids."""

    image: np.ndarray
    boxes: np.ndarray
    class_ids: np.ndarray
    ignore: Optional[np.ndarray] = None  # boxes that count neither as hits nor as misses
