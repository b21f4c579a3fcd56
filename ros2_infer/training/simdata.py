"""Simulator runs for training and evaluation data, cached by their settings."""

import hashlib
import json
import os
from pathlib import Path
import subprocess
import sys
from typing import Dict, List, Optional, Sequence

# Part of the cache key: bump when the simulator's output changes, so stale runs are redone.
# 2: ground-truth box scores are the visible fraction of the object (were 1.0).
# 3: the visible fraction counts the part of the object outside the image as not visible.
# 4: cartographer style publishes map->odom at 200 Hz, a new estimate at each scan (was 20 Hz,
#    each with its own noise). Other styles' output is unchanged.
SIMULATOR_OUTPUT_VERSION = 4


def cache_root() -> Path:
    return Path(os.environ.get('ROS2_INFER_CACHE', Path.home() / '.cache' / 'ros2_infer'))


def simulate_runs(seeds: Sequence[int], *, duration: float, camera_rate: float,
                  randomize: bool, appearance_set: str = 'train', depth: bool = False,
                  extra: Sequence[str] = (), root: Path = None,
                  jobs: Optional[int] = None) -> List[Path]:
    """
    Bags of the simulator for each seed (reused when a run with the same settings exists).

    Each run is its own ``ros2-infer sim`` process: MuJoCo's GL context and memory go with it.
    Missing runs are simulated ``jobs`` at a time (default: the physical cores; two processes
    on this 2-core machine take half the wall time of one after the other).
    """
    root = Path(root or cache_root() / 'sim')
    bags, missing = [], []
    for seed in seeds:
        settings: Dict[str, object] = {
            'seed': int(seed), 'duration': duration, 'camera_rate': camera_rate,
            'randomize': randomize, 'appearance_set': appearance_set, 'depth': depth,
            'extra': list(extra), 'output_version': SIMULATOR_OUTPUT_VERSION}
        key = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
        out = root / f'seed{seed}_{key}'
        if not (out / 'bag' / 'metadata.yaml').is_file():
            command = [sys.executable, '-m', 'ros2_infer.cli.main', 'sim', '--seed', str(seed),
                       '--duration', str(duration), '--camera-rate', str(camera_rate),
                       '--appearance-set', appearance_set, '--out', str(out), '--no-progress']
            if randomize:
                command.append('--randomize')
            if depth:
                command.append('--depth')
            missing.append((out, command + list(extra)))
        bags.append(out / 'bag')
    if missing:
        from concurrent.futures import ThreadPoolExecutor

        from ros2_infer.core.hardware import physical_core_count

        workers = max(1, min(len(missing), jobs or physical_core_count()))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for future in [pool.submit(_simulate, out, command) for out, command in missing]:
                future.result()  # re-raises a failed run's CalledProcessError
    return bags


def _simulate(out: Path, command: List[str]) -> None:
    if out.exists():
        import shutil
        shutil.rmtree(out)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
