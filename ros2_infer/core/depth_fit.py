"""
Relative inverse depth to metres: ``1 / z = scale * r + shift`` fitted to metric samples.

numpy only (no model, no OpenCV): the fusion pipeline fits a relative depth image to the scan
with it, and the depth node to the scan it subscribes to. See ``core/depth.py``.
"""

from dataclasses import dataclass

import numpy as np

from ros2_infer.core.errors import InputError


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
