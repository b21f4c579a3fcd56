"""
Write the x86 reference that test/test_arm64_parity.py compares aarch64 against.

Run on x86 after a bundled model, the decoders or the fusion core change on purpose:

    .venv/bin/python tools/arm64/make_reference.py

It needs the simulator (the fixed evaluation bag of ``ros2-infer train``: seed 1, 20 s,
randomised); the files it writes do not, so the ARM side needs neither MuJoCo nor rosbags.
"""

import argparse
import gzip
import importlib.util
import json
from pathlib import Path
import platform

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[2]


def _parity_module():
    spec = importlib.util.spec_from_file_location('arm64_parity',
                                                  REPO / 'test' / 'test_arm64_parity.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _frames(bag, every, quality):
    from ros2_infer.sim.world import CLASS_NAMES
    from ros2_infer.training.bag_dataset import load_detection_frames

    frames = load_detection_frames([bag], CLASS_NAMES, every=every)
    blobs = [cv2.imencode('.jpg', np.ascontiguousarray(f.image[..., ::-1]),
                          [cv2.IMWRITE_JPEG_QUALITY, quality])[1] for f in frames]
    counts = [len(f.boxes) for f in frames]
    return {
        'frames_jpeg': np.concatenate(blobs).astype(np.uint8),
        'frames_offsets': np.concatenate([[0], np.cumsum([len(b) for b in blobs])]),
        'gt_boxes': np.concatenate([f.boxes.reshape(-1, 4) for f in frames]).astype(np.float32),
        'gt_classes': np.concatenate([f.class_ids for f in frames]).astype(np.int64),
        'gt_ignore': np.concatenate([f.ignore for f in frames]).astype(bool),
        'gt_offsets': np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        'class_names': np.array(CLASS_NAMES),
    }


def _record_fusion(bag, parity):
    """Replay the bag (ground-truth boxes as detections) and record every pipeline call."""
    from ros2_infer.core.pipeline import FusionPipeline
    from ros2_infer.replay.runner import replay

    calls = []

    class Recording(FusionPipeline):
        """The pipeline, recording each input call before it runs."""

        def _record(self, method, args, kwargs):
            calls.append([method, parity.encode(list(args)), parity.encode(kwargs)])
            return getattr(super(), method)(*args, **kwargs)

    def recorder(method):
        return lambda self, *args, **kwargs: self._record(method, args, kwargs)

    for method in ('on_odom', 'on_tf', 'on_scan', 'on_camera_info', 'on_slam_pose',
                   'on_detections'):
        setattr(Recording, method, recorder(method))

    replay(bag, Recording(), detections='ground-truth')
    decoded = [[m, parity.decode(a), parity.decode(k)] for m, a, k in calls]
    poses = parity.replay_fusion(decoded)
    return {'bag': 'fixed evaluation bag (seed 1, 20 s, randomised), ground-truth boxes',
            'calls': calls, 'poses': poses.tolist()}


def main() -> int:
    """Write both reference files."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--every', type=int, default=2, help='keep every N-th eval frame')
    parser.add_argument('--quality', type=int, default=90, help='JPEG quality of the frames')
    parser.add_argument('--out', type=Path, default=REPO / 'test' / 'data')
    args = parser.parse_args()
    if platform.machine() not in ('x86_64', 'AMD64'):
        parser.error('the reference is x86 by definition: run this on x86_64')

    import onnxruntime
    import torch
    from ros2_infer.training.pipeline import fixed_eval_bags

    parity = _parity_module()
    bag = fixed_eval_bags()[0]
    data = _frames(bag, args.every, args.quality)
    frames = parity.decode_frames(data['frames_jpeg'], data['frames_offsets'])
    data['frames_sha1'] = np.array([parity.frame_digest(f) for f in frames])
    for name in parity.DETECTOR_VARIANTS:
        result = parity.run_detector(name, frames)
        result.update(parity.mean_ap(result, data))
        data.update({f'{name}/{key}': np.asarray(value) for key, value in result.items()})
        print(f'{name}: mAP@0.5 {result["map50"]:.4f}, mAP@0.5:0.95 {result["map50_95"]:.4f}, '
              f'{result["offsets"][-1]} detections')
    for name in parity.DEPTH_VARIANTS:
        data[f'{name}/raw'] = parity.run_depth(name, frames)['raw']
    data['meta'] = np.array(json.dumps({
        'machine': platform.machine(), 'processor': platform.processor(),
        'torch': torch.__version__, 'onnxruntime': onnxruntime.__version__,
        'numpy': np.__version__, 'frames': len(frames), 'every': args.every,
        'jpeg_quality': args.quality}))
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out / 'arm64_reference.npz', **data)
    fusion = _record_fusion(bag, parity)
    with gzip.open(args.out / 'arm64_fusion.json.gz', 'wt') as handle:
        json.dump(fusion, handle, separators=(',', ':'))
    print(f'{len(frames)} frames, {len(fusion["calls"])} fusion calls, '
          f'{len(fusion["poses"])} fused poses -> {args.out}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
