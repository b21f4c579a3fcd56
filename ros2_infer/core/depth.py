"""
Monocular depth: metric maps straight from the model, relative maps through a lidar fit.

A relative (affine-invariant) inverse-depth map ``r`` relates to metric z-depth by
``1 / z = scale * r + shift``: both unknowns must be fitted. The lidar lands in a thin band of
image rows, so the fit is robust (IRLS, Huber weight, gross outliers dropped) and checked for
conditioning: when
the samples span too little inverse depth to separate scale from shift, only the scale is fitted
(shift held at its prior) and the result says so.
"""

from dataclasses import dataclass
import time
from typing import Dict, Optional

import numpy as np

from ros2_infer.core.decoders import decode_depth_map
from ros2_infer.core.depth_fit import DepthFit, fit_scale_shift  # noqa: F401 - re-exported
from ros2_infer.core.errors import InputError, SpecError
from ros2_infer.core.model import Model
from ros2_infer.core.preprocess import Preprocessor


@dataclass
class DepthResult:
    """A depth prediction resampled to the source image."""

    values: np.ndarray
    kind: str  # 'metric' (metres, NaN invalid) or 'inverse_relative'
    timings_ms: Dict[str, float]


class DepthEstimator:
    """Runs a depth model on one image and returns its map at the source resolution."""

    def __init__(self, model: Model):
        if model.spec.task != 'depth':
            raise SpecError(f'{model.spec.name}: task is {model.spec.task!r}, not depth')
        self.model = model
        self.spec = model.spec
        self.preprocess = Preprocessor(self.spec.input)

    def __call__(self, image: np.ndarray, color: str = 'rgb') -> DepthResult:
        start = time.perf_counter()
        tensor, transform = self.preprocess(image, color)
        prepared = time.perf_counter()
        outputs = self.model.run(tensor)
        inferred = time.perf_counter()
        values = transform.map_to_source(decode_depth_map(next(iter(outputs.values()))))
        if self.spec.output.format == 'metric':
            values[~((values >= self.spec.output.min_depth)
                     & (values <= self.spec.output.max_depth))] = np.nan
        done = time.perf_counter()
        return DepthResult(values, self.spec.output.format, {
            'preprocess': (prepared - start) * 1e3,
            'inference': (inferred - prepared) * 1e3,
            'postprocess': (done - inferred) * 1e3,
        })

    def to_metric(self, result: DepthResult, fit: Optional[DepthFit]) -> np.ndarray:
        """Metric depth from a result: as is when metric, through ``fit`` when relative."""
        if result.kind == 'metric':
            return result.values
        if fit is None or not fit.ok:
            why = f': {fit.reason}' if fit is not None else ''
            raise InputError(f'relative depth needs a valid scale/shift fit to become metric{why}')
        return fit.apply(result.values, self.spec.output.min_depth, self.spec.output.max_depth)
