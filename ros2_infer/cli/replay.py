"""
``ros2-infer replay BAG --out DIR``: the fusion pipeline over a bag, in arrival order.

Writes DIR/bag (fused pose, map->odom, objects, landmarks), DIR/metrics.json (needs the
simulator's ground truth; computed from the poses as published online) and DIR/*.png.
"""

import argparse
import math
from pathlib import Path
import sys

# --profile: the detector each profile runs when --model is not given (None: bundled tinydet).
PROFILE_DETECTORS = {'default': None, 'pi': 'bundled:tinydet_int8_arm'}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``replay``."""
    parser.add_argument('bag', help='rosbag2 directory to replay')
    parser.add_argument('--out', required=True, help='output directory (created)')
    parser.add_argument('--detections', default='model', choices=('model', 'ground-truth'),
                        help="2D detections: run the detector ('model', default) or use the "
                             "bag's /ground_truth/detections boxes (oracle mode, labelled)")
    parser.add_argument('--model', default=None,
                        help="detector spec (default: the bundled tinydet, or the profile's)")
    parser.add_argument('--profile', default='default', choices=tuple(PROFILE_DETECTORS),
                        help='pi: the Raspberry Pi 4/5 set-up of config/pi.yaml, i.e. the int8 '
                             'detector made for ARM (bundled:tinydet_int8_arm, 320x240)')
    parser.add_argument('--depth-model', default=None, metavar='SPEC',
                        help='also run this depth model on every image (bundled:tinydepth or '
                             'a spec path): objects below the scan plane are placed by it; a '
                             'relative model is fitted to the scan')
    parser.add_argument('--save-map', default=None, metavar='FILE',
                        help='write the landmark map built online to FILE (YAML), with its '
                             'uncertainty')
    parser.add_argument('--known-map', default=None, metavar='FILE',
                        help='localise against this saved landmark map (no online mapping)')
    parser.add_argument('--known-map-sigma', type=float, default=0.03,
                        help='1-sigma position uncertainty (m) of known landmarks that carry '
                             'no covariance (a hand-written map)')
    parser.add_argument('--slam-style', default='auto',
                        choices=('auto', 'amcl', 'slam_toolbox', 'cartographer', 'none'),
                        help='SLAM input: /amcl_pose, /pose or TF map->odom (auto: the first '
                             'pose topic seen, else map->odom); none: no SLAM, the estimate '
                             'starts at --initial-pose or a recorded /initialpose and a '
                             '--known-map holds it')
    parser.add_argument('--initial-pose', nargs=3, type=float, default=None,
                        metavar=('X', 'Y', 'YAW'),
                        help="start at this map pose (m, m, rad), as RViz's 2D Pose Estimate "
                             '(0.5 m, 15 degrees) at the first odometry message')
    parser.add_argument('--namespace', default=None, metavar='NS',
                        help="the robot's namespace in the bag (e.g. /tb3_0: /tb3_0/odom is read "
                             'as /odom, /tb3_0/tf as /tf)')
    parser.add_argument('--remap', nargs='+', action='extend', default=[],
                        metavar='OLD:=NEW',
                        help='read the recorded topic OLD as NEW, as ros2 bag play --remap does '
                             '(e.g. /camera/color/image_raw:=/camera/image_raw)')
    parser.add_argument('--map-frame', default='map', help='map frame (default: map)')
    parser.add_argument('--odom-frame', default='odom', help='odometry frame (default: odom)')
    parser.add_argument('--base-frame', default='base_footprint',
                        help='robot base frame (default: base_footprint)')
    parser.add_argument('--no-landmarks', action='store_true',
                        help='fuse odometry and SLAM only')
    parser.add_argument('--no-deskew', action='store_true',
                        help='treat scans as instantaneous (the simulator and Gazebo are)')
    parser.add_argument('--no-bag', action='store_true', help='skip the output bag')
    parser.add_argument('--no-plots', action='store_true', help='skip the PNG plots')


def detector_spec(args: argparse.Namespace):
    """Return the detector spec path to run: --model, else the profile's, else None."""
    if args.model or PROFILE_DETECTORS[args.profile] is None:
        return args.model
    from ros2_infer.models import resolve_model_spec

    return str(resolve_model_spec(PROFILE_DETECTORS[args.profile]))


def describe_offset(offset) -> str:
    """One line on a saved map's shared offset: what bounds a localisation run's accuracy."""
    if offset is None:
        return 'no covariance (too few landmarks for one)'
    sx, sy = (100.0 * math.sqrt(max(v, 0.0)) for v in (offset[0], offset[2]))
    return (f'the whole map may be off by sigma {sx:.1f} x {sy:.1f} cm (the mean SLAM error of '
            'the run): drive longer or merge runs (merge-maps) to shrink it')


def run(args: argparse.Namespace) -> int:
    """Replay the bag and write the outputs."""
    import logging

    from ros2_infer.core.errors import InputError
    from ros2_infer.core.landmark_map import read_landmark_map, save_landmark_map
    from ros2_infer.core.pipeline import FusionPipeline, PipelineConfig
    from ros2_infer.replay.outputs import compute_metrics, OutputBag, plot, write_json
    from ros2_infer.replay.runner import INITIAL_POSE_TOPIC, replay
    from ros2_infer.replay.topics import (missing_inputs, parse_remaps, topic_renames,
                                          unused_rules)
    from ros2_infer.rosbag.reader import topic_types

    logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(name)s: %(message)s')
    recorded = topic_types(args.bag)
    remaps = parse_remaps(args.remap)
    renames = topic_renames(recorded, remaps, args.namespace)
    for old, new in sorted(renames.items(), key=lambda kv: kv[0]):
        print(f'reading {old} as {new}' if new else f'leaving out {old} (renamed topics replace '
              'it)')
    no_slam = args.slam_style == 'none'
    errors, warnings = missing_inputs(recorded, renames, slam=not no_slam)
    if no_slam and args.initial_pose is None and \
            INITIAL_POSE_TOPIC not in {renames.get(t, t) for t in recorded}:
        errors.append('--slam-style none needs a start: --initial-pose X Y YAW or a recorded '
                      f'{INITIAL_POSE_TOPIC}')
    warnings = unused_rules(recorded, remaps, args.namespace) + warnings
    for line in warnings:          # first: a mistyped namespace explains a missing input
        print(f'warning: {line}', file=sys.stderr)
    if errors:
        raise InputError(errors[0])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    known = known_offset = None
    if args.known_map:
        known_file = read_landmark_map(args.known_map)
        known, known_offset = known_file.landmarks, known_file.offset_covariance
    model = detector_spec(args)
    if args.detections == 'model' and model is None:
        from importlib import resources
        model = str(resources.files('ros2_infer') / 'models' / 'tinydet.yaml')
        if not Path(model).is_file():
            raise InputError(f'no bundled detector at {model}: pass --model or '
                             '--detections ground-truth')
    config = PipelineConfig(slam_style=args.slam_style, use_landmarks=not args.no_landmarks,
                            deskew=not args.no_deskew, map_frame=args.map_frame,
                            odom_frame=args.odom_frame, base_frame=args.base_frame,
                            initial_pose=None if args.initial_pose is None
                            else tuple(args.initial_pose))
    pipeline = FusionPipeline(config, known_map=known, known_map_sigma=args.known_map_sigma,
                              known_map_offset_covariance=known_offset)
    writer = None if args.no_bag else OutputBag(out / 'bag', args.map_frame, args.base_frame,
                                                args.odom_frame)
    last = [0, 0]

    def on_output(log_ns, output):
        last[0], last[1] = log_ns, output.stamp_ns
        if writer is not None:
            writer.write(log_ns, output)

    try:
        depth = None
        if args.depth_model:
            from ros2_infer.models import resolve_model_spec
            depth = str(resolve_model_spec(args.depth_model))
        streams = replay(args.bag, pipeline, detections=args.detections, model_spec=model,
                         on_output=on_output, depth_spec=depth, renames=renames,
                         on_detections=None if writer is None else writer.write_detections)
        landmarks = pipeline.landmarks()
        if writer is not None:
            writer.write_landmarks(last[0], last[1], landmarks)
    finally:
        if writer is not None:
            writer.close()
    if args.save_map:
        saved, offset = pipeline.export_map()
        save_landmark_map(args.save_map, saved, offset_covariance=offset)
        print(f'saved {len(saved)} landmarks to {args.save_map}; {describe_offset(offset)}')
    metrics = compute_metrics(args.bag, streams, landmarks)
    metrics['detections'] = ('ground-truth boxes (oracle)' if args.detections == 'ground-truth'
                             else f'model {model}')
    metrics['map'] = 'known: ' + args.known_map if args.known_map else 'online'
    write_json(out / 'metrics.json', metrics)
    if not args.no_plots:
        plot(args.bag, streams, landmarks, out)
    if 'fusion' not in metrics:
        print(f"{metrics['outputs']['fused_poses']} fused poses, "
              f"{metrics['outputs']['landmarks']} landmarks; no ground truth in the bag, so no "
              f'accuracy metrics -> {out}', file=sys.stdout)
        return 0
    fusion = metrics['fusion']
    reference = metrics.get('slam_running_mean', {}).get('ate_rmse_m')
    print(f"fusion ATE {fusion.get('ate_rmse_m')} m, yaw {fusion.get('yaw_rmse_deg')} deg; "
          f"SLAM {metrics.get('slam', {}).get('ate_rmse_m')} m (its running mean error, what "
          f'SLAM alone allows without a saved map: {reference} m) -> {out}', file=sys.stdout)
    return 0
