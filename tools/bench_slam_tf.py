#!/usr/bin/env python3
"""
Benchmark a Cartographer-style SLAM input: map->odom on /tf at 200 Hz, side by side.

Cartographer publishes map->odom every 5 ms (``pose_publish_period_sec = 5e-3``), but its
estimate changes only when a scan is matched (5 Hz on an LDS). The pipeline fuses one transform
per ``slam_tf_min_period_ns`` (0.2 s); this runs the same synthetic stream through the default
pipeline and through one that fuses every transform, and prints the cost per event, the
keyframes made and the fused ATE of each, with their ratios.

The stream: a robot on a 1 m circle at 0.2 m/s; odometry at 30 Hz with a 0.3 deg/s gyro bias;
the SLAM estimate of the base pose with a Gauss-Markov error (sigma 4 cm, tau 20 s) and 1 cm
white noise, new at each 5 Hz scan and held (as map->odom) until the next.

    PYTHONPATH=. python tools/bench_slam_tf.py --duration 120
"""

import argparse
import math
from pathlib import Path
import sys
import time

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ros2_infer.core.geometry import se2_between, se2_compose, yaw_to_quat  # noqa: E402
from ros2_infer.core.pipeline import FusionPipeline, PipelineConfig  # noqa: E402
from ros2_infer.core.sensors import PoseStamped, Transform  # noqa: E402

SEC = 1_000_000_000
TF_HZ, ODOM_HZ, SCAN_HZ = 200, 30, 5


def stream(duration: float, seed: int):
    """Yield ``('odom' | 'tf', stamp_ns, pose (x, y, yaw), truth)`` in time order."""
    rng = np.random.default_rng(seed)
    speed, radius = 0.2, 1.0
    gyro_bias = math.radians(0.3)
    sigma, tau = 0.04, 20.0
    bias = rng.normal(0.0, sigma, 2)
    m2o = None
    odom = np.zeros(3)
    last_t = 0.0
    for k in range(int(duration * TF_HZ) + 1):
        t = k / TF_HZ
        angle = speed * t / radius
        truth = np.array([radius * math.sin(angle), radius * (1 - math.cos(angle)), angle])
        dt = t - last_t
        last_t = t
        # odometry: the true increment with the gyro's bias on the heading
        odom[2] += speed / radius * dt + gyro_bias * dt
        odom[0] += speed * dt * math.cos(odom[2])
        odom[1] += speed * dt * math.sin(odom[2])
        if k % (TF_HZ // SCAN_HZ) == 0:
            a = math.exp(-1.0 / (SCAN_HZ * tau))
            bias = a * bias + rng.normal(0.0, sigma * math.sqrt(1 - a * a), 2)
            slam = truth + np.array([*(bias + rng.normal(0.0, 0.01, 2)), 0.0])
            m2o = se2_compose(slam, se2_between(odom, np.zeros(3)))
        stamp = int(round(t * SEC))
        if k % round(TF_HZ / ODOM_HZ) == 0:
            yield 'odom', stamp, odom.copy(), truth
        yield 'tf', stamp, m2o.copy(), truth


def run(config: PipelineConfig, duration: float, seed: int) -> dict:
    """Feed the stream to one pipeline; time every event."""
    pipe = FusionPipeline(config)
    times, errors = [], []
    for kind, stamp, pose, truth in stream(duration, seed):
        start = time.perf_counter()
        if kind == 'odom':
            out = pipe.on_odom(PoseStamped(stamp, 'odom', np.array([pose[0], pose[1], 0.0]),
                                           yaw_to_quat(pose[2]), child_frame_id='base_footprint'))
        else:
            out = pipe.on_tf([Transform(stamp, 'map', 'odom', np.array([pose[0], pose[1], 0.0]),
                                        yaw_to_quat(pose[2]))])
        times.append((time.perf_counter() - start) * 1e3)
        for o in out:
            if o.kind == 'pose':
                errors.append(np.hypot(*(o.data.pose[:2] - truth[:2])))
    t = np.array(times)
    return {'median_ms': float(np.median(t)), 'p99_ms': float(np.percentile(t, 99)),
            'total_s': float(t.sum() / 1e3), 'events': int(t.size),
            'slam_factors': pipe.localizer.stats['slam_accepted'],
            'keyframes': pipe.localizer.stats['keyframes'],
            'ate_cm': float(100 * np.sqrt(np.mean(np.square(errors))))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--duration', type=float, default=120.0)
    parser.add_argument('--seed', type=int, default=1)
    args = parser.parse_args()
    thinned = run(PipelineConfig(), args.duration, args.seed)
    every = run(PipelineConfig(slam_tf_min_period_ns=0), args.duration, args.seed)
    print(f'{args.duration:g} s, map->odom {TF_HZ} Hz, odometry {ODOM_HZ} Hz, '
          f'{thinned["events"]} events')
    print(f'{"":26s}{"median ms":>10s}{"p99 ms":>9s}{"total s":>9s}{"SLAM factors":>14s}'
          f'{"keyframes":>11s}{"ATE cm":>8s}')
    for name, r in (('one per 0.2 s (default)', thinned), ('every transform', every)):
        print(f'{name:26s}{r["median_ms"]:10.3f}{r["p99_ms"]:9.2f}{r["total_s"]:9.2f}'
              f'{r["slam_factors"]:14d}{r["keyframes"]:11d}{r["ate_cm"]:8.2f}')
    print(f'every / default: total time x{every["total_s"] / thinned["total_s"]:.1f}, '
          f'p99 x{every["p99_ms"] / thinned["p99_ms"]:.1f}, '
          f'keyframes x{every["keyframes"] / thinned["keyframes"]:.1f}, '
          f'ATE x{every["ate_cm"] / thinned["ate_cm"]:.2f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
