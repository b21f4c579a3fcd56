#!/usr/bin/env python3
"""
Benchmark the TurtleBot3 simulator and report trajectory accuracy.

Prints the ratio of simulated time to wall time for a run, and with ``--ate`` the unaligned ATE
(RMSE of the translation error against ground truth, in the map frame) of /odom and of the SLAM
stream for each seed.

Examples::

    python tools/bench_sim.py --duration 30                      # 640x480 raw images at 30 Hz
    python tools/bench_sim.py --duration 30 --compressed
    python tools/bench_sim.py --ate --seeds 1 2 3 4 5 --duration 180 --width 64 --height 48
"""

import argparse
import math
from pathlib import Path
import shutil
import sys
import tempfile

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ros2_infer.rosbag import iter_messages  # noqa: E402
from ros2_infer.sim.render import select_gl_backend  # noqa: E402
from ros2_infer.sim.simulator import SimConfig, simulate  # noqa: E402


def _ns(stamp):
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def trajectory_ate(bag, spawn, slam_style):
    """Return (odom ATE, SLAM ATE) in metres, unaligned, for one bag."""
    gt, odom, slam = [], [], []
    slam_topic = {'amcl': '/amcl_pose', 'slam_toolbox': '/pose'}.get(slam_style)
    topics = ['/ground_truth/pose', '/odom', '/tf'] + ([slam_topic] if slam_topic else [])
    for m in iter_messages(bag, topics=topics):
        if m.topic == '/ground_truth/pose':
            p = m.msg.pose.pose.position
            gt.append((_ns(m.msg.header.stamp) * 1e-9, p.x, p.y))
        elif m.topic == '/odom':
            p = m.msg.pose.pose.position
            odom.append((_ns(m.msg.header.stamp) * 1e-9, p.x, p.y))
        elif m.topic == slam_topic:
            p = m.msg.pose.pose.position
            slam.append((_ns(m.msg.header.stamp) * 1e-9, p.x, p.y))
        elif m.topic == '/tf' and slam_topic is None:
            for t in m.msg.transforms:
                if t.header.frame_id == 'map':  # cartographer: map->odom composed with odom
                    slam.append(('tf', _ns(t.header.stamp) * 1e-9, t.transform))
    gt = np.array(gt)
    odom = np.array(odom)
    c, s = math.cos(spawn[2]), math.sin(spawn[2])
    ox = spawn[0] + c * odom[:, 1] - s * odom[:, 2]
    oy = spawn[1] + s * odom[:, 1] + c * odom[:, 2]

    def ate(t, x, y):
        gx, gy = np.interp(t, gt[:, 0], gt[:, 1]), np.interp(t, gt[:, 0], gt[:, 2])
        return float(np.sqrt(np.mean((x - gx) ** 2 + (y - gy) ** 2)))

    odom_ate = ate(odom[:, 0], ox, oy)
    if slam_topic is None:
        pts = []
        for _, t, tr in slam:
            yaw = 2 * math.atan2(tr.rotation.z, tr.rotation.w)
            k = min(np.searchsorted(odom[:, 0], t), len(odom) - 1)
            cx, cy = math.cos(yaw), math.sin(yaw)
            pts.append((t, tr.translation.x + cx * odom[k, 1] - cy * odom[k, 2],
                        tr.translation.y + cy * odom[k, 1] + cx * odom[k, 2]))
        slam = pts
    slam = np.array(slam, dtype=float)
    return odom_ate, ate(slam[:, 0], slam[:, 1], slam[:, 2])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--duration', type=float, default=30.0)
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--height', type=int, default=480)
    parser.add_argument('--camera-rate', type=float, default=30.0)
    parser.add_argument('--compressed', action='store_true')
    parser.add_argument('--slam-style', default='amcl')
    parser.add_argument('--ate', action='store_true', help='report ATE of /odom and SLAM')
    parser.add_argument('--seeds', type=int, nargs='+', default=[1])
    args = parser.parse_args()
    print(f'GL backend: {select_gl_backend()}')
    for seed in args.seeds:
        tmp = Path(tempfile.mkdtemp(prefix='bench_sim_'))
        try:
            config = SimConfig(duration=args.duration, seed=seed, width=args.width,
                               height=args.height, camera_rate=args.camera_rate,
                               compressed=args.compressed, slam_style=args.slam_style,
                               progress=False)
            summary = simulate(config, tmp)
            size = sum(f.stat().st_size for f in (tmp / 'bag').iterdir()) / 1e6
            line = (f'seed {seed}: {args.duration:.0f} s simulated in {summary["wall_s"]:.1f} s '
                    f'wall = {summary["realtime_ratio"]:.2f}x real time '
                    f'({args.width}x{args.height} @ {args.camera_rate:g} Hz, '
                    f'{"jpeg" if args.compressed else "raw"}, bag {size:.0f} MB)')
            if args.ate:
                odom_ate, slam_ate = trajectory_ate(summary['bag'], summary['spawn'],
                                                    args.slam_style)
                line += f'; ATE odom {odom_ate:.3f} m, SLAM ({args.slam_style}) {slam_ate:.3f} m'
            print(line, flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
