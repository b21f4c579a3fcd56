#!/usr/bin/env python3
"""
Per-frame cost of the detector node's path vs the model, and vs a seed-style path.

Everything runs in one process on the same ONNX model (a generated random-weight network of
YOLOv8n's size and output layout by default, the bundled TinyDet architecture with ``--size
tinydet``, or ``--spec``),
on 640x480 rgb8 sensor_msgs/Image messages built from rosbags classes (no ROS needed):

node path:  Image msg -> zero-copy view (conversions.image_for_model) -> core preprocessing
            (OpenCV letterbox into a reused canvas) -> model -> core decode + NMS ->
            Detection2DArray (conversions.detections_to_msg)
seed path:  Image msg -> bytes -> PIL.Image -> torchvision Resize + ToTensor -> model ->
            the same decode + NMS -> Detection2DArray filled element by element from tensors

plus ndarray -> Image for a 640x480 rgb8 frame: rosbags classes (zero copy), the rclpy form
(one memcpy into array('B'), what conversions.array_to_image does for rclpy classes), and the
list path rclpy's setter walks element by element. Writes a markdown table (--out).
"""

import argparse
import array
from pathlib import Path
import platform
import tempfile
import time
from typing import Callable, Dict, List

import numpy as np

STAGES = ('message -> array', 'preprocessing', 'model', 'postprocessing (decode + NMS)',
          'message fill')


def percentiles(samples: List[float]) -> Dict[str, float]:
    values = np.asarray(samples) * 1e3
    return {'p50': float(np.percentile(values, 50)), 'p95': float(np.percentile(values, 95))}


def timed(function: Callable, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def make_model(spec: str, width: int, height: int, threads: int, size: str = 'tinydet'):
    from ros2_infer.core.model import load_model
    from ros2_infer.training.generated import generate_detector, YOLOV8N_CLASS

    if not spec:
        folder = Path(tempfile.mkdtemp(prefix='bench_node_'))
        generate_detector(folder, width=width, height=height, variants=['onnx'],
                          calibration_images=1, **(YOLOV8N_CLASS if size == 'yolov8n' else {}))
        spec = str(folder / 'tinydet.yaml')
    else:
        from ros2_infer.models import resolve_model_spec
        spec = str(resolve_model_spec(spec))
    return load_model(spec, threads=threads or None, warmup_runs=3)


def decode(detector, outputs):
    """Run the spec's decoder + NMS on raw outputs (both paths share it)."""
    from ros2_infer.core.decoders import DETECTION_DECODERS

    spec = detector.spec
    return DETECTION_DECODERS[spec.output.format](
        next(iter(outputs.values())), num_classes=len(spec.class_names),
        conf_threshold=detector.conf_threshold, iou_threshold=detector.iou_threshold,
        max_detections=detector.max_detections,
        input_size=(spec.input.width, spec.input.height),
        normalized_boxes=spec.output.normalized_boxes)


def node_path(model, detector, vision, msg, conv) -> Dict[str, float]:
    """One frame through the node's code; returns seconds per stage."""
    spec = detector.spec
    t: Dict[str, float] = {}
    (image, color), t[STAGES[0]] = timed(conv.image_for_model, msg)
    (tensor, transform), t[STAGES[1]] = timed(detector.preprocess, image, color)
    outputs, t[STAGES[2]] = timed(model.run, tensor)

    def post():
        boxes, scores, ids = decode(detector, outputs)
        from ros2_infer.core.detections import Detections
        return Detections(transform.boxes_to_source(boxes), scores, ids, spec.class_names)

    detections, t[STAGES[3]] = timed(post)
    out, t[STAGES[4]] = timed(conv.detections_to_msg, detections, msg.header, vision)
    t['detections'] = len(out.detections)
    return t


def seed_path(model, detector, msg, types) -> Dict[str, float]:
    """One frame the way a first-draft node does it (PIL + torchvision, element-wise fill)."""
    from PIL import Image as PilImage
    import torch
    from torchvision import transforms

    spec = detector.spec
    t: Dict[str, float] = {}
    size = (spec.input.height, spec.input.width)
    pipeline = transforms.Compose([transforms.Resize(size), transforms.ToTensor()])
    pil, t[STAGES[0]] = timed(lambda: PilImage.frombytes(
        'RGB', (msg.width, msg.height), bytes(msg.data)))
    tensor, t[STAGES[1]] = timed(lambda: pipeline(pil).unsqueeze(0).numpy())
    outputs, t[STAGES[2]] = timed(model.run, tensor)

    def post():
        boxes, scores, ids = decode(detector, outputs)
        sx, sy = msg.width / spec.input.width, msg.height / spec.input.height
        return torch.from_numpy(boxes) * torch.tensor([sx, sy, sx, sy]), scores, ids

    (boxes, scores, ids), t[STAGES[3]] = timed(post)

    def fill():
        tt = types
        array_msg = tt['vision_msgs/msg/Detection2DArray'](header=msg.header, detections=[])
        for i in range(boxes.shape[0]):
            x0, y0 = float(boxes[i][0]), float(boxes[i][1])
            x1, y1 = float(boxes[i][2]), float(boxes[i][3])
            hypothesis = tt['vision_msgs/msg/ObjectHypothesis'](
                class_id=spec.class_names[int(ids[i])], score=float(scores[i]))
            pose = tt['geometry_msgs/msg/PoseWithCovariance'](
                pose=tt['geometry_msgs/msg/Pose'](
                    position=tt['geometry_msgs/msg/Point'](x=0.0, y=0.0, z=0.0),
                    orientation=tt['geometry_msgs/msg/Quaternion'](x=0.0, y=0.0, z=0.0,
                                                                   w=1.0)),
                covariance=np.array([0.0 for _ in range(36)]))
            center = tt['vision_msgs/msg/Pose2D'](
                position=tt['vision_msgs/msg/Point2D'](x=(x0 + x1) / 2, y=(y0 + y1) / 2),
                theta=0.0)
            array_msg.detections.append(tt['vision_msgs/msg/Detection2D'](
                header=msg.header,
                results=[tt['vision_msgs/msg/ObjectHypothesisWithPose'](hypothesis=hypothesis,
                                                                        pose=pose)],
                bbox=tt['vision_msgs/msg/BoundingBox2D'](center=center, size_x=x1 - x0,
                                                         size_y=y1 - y0), id=''))
        return array_msg

    _, t[STAGES[4]] = timed(fill)
    return t


def image_fill(frames: int, conv, types) -> Dict[str, Dict[str, float]]:
    """Time ndarray -> sensor_msgs/Image for a 640x480 rgb8 frame, three ways."""
    from ros2_infer.conversions._common import u8_field

    pixels = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    header = conv.make_header(types, 1, 'camera')

    class RclpyLike:  # no __msgtype__: the rclpy branch (array('B') + one memcpy)
        pass

    def rclpy_list_setter():
        # What rclpy's uint8[] setter does for a list: type/range checks per element, then
        # array('B', list) (rosidl_generator_py _msg.py.em).
        value = pixels.ravel().tolist()
        assert all(isinstance(v, int) for v in value)
        assert all(0 <= v < 256 for v in value)
        return array.array('B', value)

    runs = {'array_to_image (rosbags classes, zero copy)':
            lambda: conv.array_to_image(pixels, 'rgb8', header, types),
            "u8_field for rclpy classes (array('B'), one memcpy)":
            lambda: u8_field(RclpyLike, pixels),
            'rclpy setter given a list (element-wise, avoided)': rclpy_list_setter}
    out = {}
    for name, function in runs.items():
        count = frames if 'list' not in name else max(3, frames // 20)
        samples = [timed(function)[1] for _ in range(count)]
        out[name] = percentiles(samples)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--spec', default='', help='model spec YAML or bundled:NAME '
                        '(default: a generated random-weight TinyDet at --width x --height)')
    parser.add_argument('--size', choices=('yolov8n', 'tinydet'), default='yolov8n',
                        help="generated model's network: yolov8n (YOLOv8n's 8.7 GFLOP at "
                        '640x640 and its [1, 84, 8400] output) or tinydet (the bundled '
                        'architecture, 3.4 GFLOP at 640x640)')
    parser.add_argument('--width', type=int, default=640, help='generated model input width')
    parser.add_argument('--height', type=int, default=640, help='generated model input height')
    parser.add_argument('--frames', type=int, default=100)
    parser.add_argument('--threads', type=int, default=0, help='0: physical cores')
    parser.add_argument('--conf', type=float, default=0.5,
                        help='score threshold; the random-weight TinyDet has >1000 candidates '
                        'at 0.25, an unrealistic NMS load')
    parser.add_argument('--out', default='docs/node_benchmarks.md')
    args = parser.parse_args()

    from ros2_infer import conversions as conv
    from ros2_infer.core.detector import Detector
    from ros2_infer.rosbag.typestore import get_typestore

    types = get_typestore().types
    model = make_model(args.spec, args.width, args.height, args.threads, args.size)
    detector = Detector(model, conf_threshold=args.conf)
    vision = conv.VisionTypes(types)
    rng = np.random.default_rng(1)
    messages = [conv.array_to_image(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8),
                                    'rgb8', conv.make_header(types, i, 'camera'), types)
                for i in range(8)]
    for msg in messages[:3]:  # warm both paths
        node_path(model, detector, vision, msg, conv)
        seed_path(model, detector, msg, types)
    node_runs, seed_runs = [], []
    for i in range(args.frames):  # interleaved, so both paths see the same machine load
        msg = messages[i % len(messages)]
        node_runs.append(node_path(model, detector, vision, msg, conv))
        seed_runs.append(seed_path(model, detector, msg, types))
    fills = image_fill(args.frames, conv, types)
    model_desc = model.backend.describe()
    model.close()

    def stage_stats(runs):
        stats = {s: percentiles([r[s] for r in runs]) for s in STAGES}
        overhead = [sum(r[s] for s in STAGES if s != 'model') for r in runs]
        stats['overhead (all but the model)'] = percentiles(overhead)
        return stats

    node, seed = stage_stats(node_runs), stage_stats(seed_runs)
    detections = int(np.median([r['detections'] for r in node_runs]))
    spec = detector.spec
    model_label = (spec.name if args.spec else
                   {'yolov8n': 'generated YOLOv8n-size (8.7 GFLOP at 640x640)',
                    'tinydet': 'generated TinyDet (3.4 GFLOP at 640x640)'}[args.size])
    lines = [
        '# Detector node overhead (tools/bench_node_overhead.py)',
        '',
        f'One process, {args.frames} interleaved frames per path, 640x480 rgb8 '
        f'sensor_msgs/Image (rosbags classes), model {model_label}, input '
        f'{spec.input.width}x{spec.input.height}, {len(spec.class_names)} classes '
        f'({model_desc}), {detections} detections per '
        f'frame (median), conf {args.conf}. Machine: {platform.machine()}, '
        f'{platform.processor() or platform.platform()}. Milliseconds, p50 / p95.',
        '',
        '| stage | node path p50 | node p95 | seed-style p50 | seed p95 | seed / node |',
        '|---|---:|---:|---:|---:|---:|',
    ]
    for stage in STAGES + ('overhead (all but the model)',):
        a, b = node[stage], seed[stage]
        ratio = b['p50'] / a['p50'] if a['p50'] > 0 else float('nan')
        lines.append(f'| {stage} | {a["p50"]:.3f} | {a["p95"]:.3f} | {b["p50"]:.3f} | '
                     f'{b["p95"]:.3f} | {ratio:.1f}x |')
    share = node['overhead (all but the model)']['p50'] / node['model']['p50'] * 100
    speedup = (seed['overhead (all but the model)']['p50']
               / node['overhead (all but the model)']['p50'])
    lines += [
        '',
        f'Node overhead = {share:.1f} % of the model time (target <= 10 %); '
        f'{speedup:.1f}x lower than the seed-style path (target >= 3x).',
        '',
        '## ndarray -> sensor_msgs/Image, 640x480 rgb8 (target <= 1 ms)',
        '',
        '| method | p50 ms | p95 ms |',
        '|---|---:|---:|',
    ]
    lines += [f'| {name} | {v["p50"]:.3f} | {v["p95"]:.3f} |' for name, v in fills.items()]
    text = '\n'.join(lines) + '\n'
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding='utf-8')


if __name__ == '__main__':
    main()
