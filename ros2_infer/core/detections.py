"""Plain data types that flow between core stages (no ROS, no torch)."""

from dataclasses import dataclass, field
from typing import Dict, List, Sequence

import numpy as np


@dataclass
class Detections:
    """
    2D detections in source-image pixels.

    ``boxes`` is (N, 4) float32 xyxy with continuous pixel coordinates (edges at integers),
    ``scores`` (N,) float32 in 0..1, ``class_ids`` (N,) int64 indexing ``class_names``.
    """

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    class_names: Sequence[str] = ()
    timings_ms: Dict[str, float] = field(default_factory=dict)

    @classmethod
    def empty(cls, class_names: Sequence[str] = ()) -> 'Detections':
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                   np.zeros(0, np.int64), class_names)

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def labels(self) -> List[str]:
        """Class names of the detections (the numeric id where the name is unknown)."""
        names = self.class_names
        return [names[i] if 0 <= i < len(names) else str(int(i)) for i in self.class_ids]
