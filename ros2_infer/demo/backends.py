"""
Backend choice for the demo: the bundled model variants and a short timed run of each.

``auto`` measures every candidate on this machine (load, warm up, then a few timed frames of
preprocessing + model + decoding on a synthetic 640x480 image) and keeps the fastest median.
"""

from dataclasses import dataclass
import platform
import time

import numpy as np

# backend name -> (detector spec, depth spec); int8 depends on the CPU family.
BACKENDS = ('torchscript', 'onnxruntime', 'int8')


def int8_suffix() -> str:
    """Return the bundled int8 flavour made for this CPU (``x86`` or ``arm``)."""
    machine = platform.machine().lower()
    return 'arm' if machine.startswith(('arm', 'aarch')) else 'x86'


def model_names(backend: str) -> tuple[str, str]:
    """Bundled (detector, depth) model names of a backend choice."""
    if backend == 'torchscript':
        return 'tinydet_ts', 'tinydepth_ts'
    if backend == 'onnxruntime':
        return 'tinydet', 'tinydepth'
    if backend == 'int8':
        suffix = int8_suffix()
        return f'tinydet_int8_{suffix}', f'tinydepth_int8_{suffix}'
    raise ValueError(f'unknown backend {backend!r}; choose auto or one of {", ".join(BACKENDS)}')


@dataclass
class Choice:
    """The backend the demo runs, and why."""

    backend: str
    detector: str
    depth: str
    reason: str
    measured_ms: dict


def synthetic_image(width: int = 640, height: int = 480, seed: int = 0) -> np.ndarray:
    """Return a deterministic RGB test image (gradient + a few blocks + noise)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([x * 255 // width, y * 255 // height,
                      (x + y) * 255 // (width + height)], axis=2).astype(np.uint8)
    for _ in range(6):
        x0, y0 = int(rng.integers(0, width - 80)), int(rng.integers(0, height - 80))
        image[y0:y0 + 60, x0:x0 + 40] = rng.integers(0, 255, 3)
    noise = rng.integers(0, 12, image.shape, dtype=np.uint8)
    return image + noise


def time_detector(name: str, image: np.ndarray, runs: int = 20, budget_s: float = 2.0
                  ) -> tuple[float, int]:
    """
    Return the median end-to-end milliseconds of a bundled detector variant, and the run count.

    Stops after ``runs`` frames or ``budget_s`` seconds (at least 3 frames), so that a slow
    candidate costs seconds, not minutes, at start-up.
    """
    from ros2_infer.core.detector import Detector
    from ros2_infer.core.model import load_model
    from ros2_infer.models import bundled_spec

    model = load_model(bundled_spec(name))
    try:
        detector = Detector(model)
        for _ in range(3):
            detector(image)
        samples = []
        deadline = time.perf_counter() + budget_s
        while len(samples) < runs and (len(samples) < 3 or time.perf_counter() < deadline):
            start = time.perf_counter()
            detector(image)
            samples.append((time.perf_counter() - start) * 1e3)
    finally:
        model.close()
    return float(np.median(samples)), len(samples)


def choose_backend(requested: str, runs: int = 20) -> Choice:
    """Resolve ``requested`` (``auto`` or a backend) to a :class:`Choice`."""
    if requested != 'auto':
        detector, depth = model_names(requested)
        return Choice(requested, detector, depth, f'requested with --backend {requested}', {})
    image = synthetic_image()
    measured, counts, failed = {}, {}, {}
    for backend in BACKENDS:
        try:
            measured[backend], counts[backend] = time_detector(model_names(backend)[0], image,
                                                               runs)
        except Exception as error:  # a missing runtime only removes that candidate
            failed[backend] = f'{type(error).__name__}: {error}'.splitlines()[0][:160]
    if not measured:
        raise RuntimeError('no backend could run the bundled detector: '
                           + '; '.join(f'{k}: {v}' for k, v in failed.items()))
    best = min(measured, key=measured.get)
    ranked = sorted(measured.items(), key=lambda kv: kv[1])
    others = ', '.join(f'{k} {v:.2f} ms' for k, v in ranked if k != best)
    reason = (f'fastest measured on this machine: {best} {measured[best]:.2f} ms per frame '
              f'(median of {counts[best]} frames, preprocessing + model + decoding of a '
              f'640x480 image)' + (f' vs {others}' if others else ''))
    if failed:
        reason += '; unavailable: ' + '; '.join(f'{k} ({v})' for k, v in failed.items())
    detector, depth = model_names(best)
    return Choice(best, detector, depth, reason, measured)
