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
from ros2_infer.core.errors import InputError, SpecError
from ros2_infer.core.model import Model
from ros2_infer.core.preprocess import Preprocessor


@dataclass(frozen=True)
class DepthFit:
    """Result of fitting ``1/z = scale * r + shift`` to metric samples."""

    scale: float
    shift: float
    samples: int
    inliers: int
    rms_inverse_error: float
    shift_observable: bool
    ok: bool
    reason: str = ''

    def apply(self, inverse_relative: np.ndarray, min_depth: float,
              max_depth: float) -> np.ndarray:
        """Metric z-depth (metres) with NaN where the fit gives no valid depth (REP 118)."""
        inverse = inverse_relative * np.float32(self.scale) + np.float32(self.shift)
        with np.errstate(divide='ignore', invalid='ignore'):
            depth = np.float32(1.0) / inverse
        depth[~((depth >= min_depth) & (depth <= max_depth))] = np.nan
        return depth


def fit_scale_shift(relative: np.ndarray, metric_depth: np.ndarray, *, min_samples: int = 12,
                    min_relative_spread: float = 0.08, prior_shift: float = 0.0,
                    huber: float = 0.05, iterations: int = 10) -> DepthFit:
    """
    Fit scale and shift that map relative inverse depth to metric inverse depth.

    :param relative: the model's relative inverse depth at the sample pixels.
    :param metric_depth: metric z-depth (e.g. lidar) at the same pixels; non-finite or
        non-positive entries are ignored.
    :param min_relative_spread: the samples' relative inverse depth must span at least this
        fraction of its mean, or the shift is not observable and only the scale is fitted.
    """
    relative = np.asarray(relative, np.float64).ravel()
    metric_depth = np.asarray(metric_depth, np.float64).ravel()
    if relative.shape != metric_depth.shape:
        raise InputError(f'depth fit: {relative.size} relative values but '
                         f'{metric_depth.size} metric ones')
    valid = np.isfinite(relative) & np.isfinite(metric_depth) & (metric_depth > 0)
    x = relative[valid]
    y = 1.0 / metric_depth[valid]
    n = int(x.size)
    if n < min_samples:
        return DepthFit(1.0, prior_shift, n, 0, float('nan'), False, False,
                        f'{n} valid samples, need {min_samples}')
    spread = ((np.percentile(x, 90) - np.percentile(x, 10))
              / max(abs(float(np.median(x))), 1e-9))
    shift_observable = spread >= min_relative_spread
    weights = np.ones(n)
    scale, shift = 1.0, prior_shift
    for _ in range(iterations):
        if shift_observable:
            design = np.stack([x, np.ones(n)], axis=1) * np.sqrt(weights)[:, None]
            solution, *_ = np.linalg.lstsq(design, y * np.sqrt(weights), rcond=None)
            scale, shift = float(solution[0]), float(solution[1])
        else:
            denominator = float(np.sum(weights * x * x))
            scale = float(np.sum(weights * x * (y - prior_shift)) / max(denominator, 1e-12))
        residual = np.abs(scale * x + shift - y) / np.maximum(np.abs(y), 1e-9)
        # Huber near the fit, zero far from it: wrong lidar-to-pixel associations (edges,
        # thin objects) are gross outliers that a plain Huber weight would still feel.
        weights = np.where(residual <= huber, 1.0, huber / np.maximum(residual, 1e-12))
        weights[residual > 4.0 * huber] = 0.0
    residual = scale * x + shift - y
    inliers = int(np.sum(np.abs(residual) <= huber * np.abs(y)))
    rms = float(np.sqrt(np.mean((residual / y) ** 2)))
    ok = scale > 0 and inliers >= max(min_samples, n // 2)
    reason = '' if ok else f'only {inliers}/{n} samples agree with the fit (scale {scale:.3g})'
    if ok and not shift_observable:
        reason = f'relative depth spread {spread:.3f} too small to fit the shift; scale only'
    return DepthFit(scale, shift, n, inliers, rms, bool(shift_observable), bool(ok), reason)


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
