"""
``ros2-infer merge-maps RUN1.yaml RUN2.yaml ... --out MAP.yaml``: one map from several runs.

Each map is what ``replay --save-map`` (or the localizer node's ``map.save_file``) wrote after a
mapping run of the same place. Every run's map is offset by that run's mean SLAM error and the
runs' errors are independent, so the merged map is closer to the truth than any one of them
(docs/localization.md).
"""

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``merge-maps``."""
    parser.add_argument('maps', nargs='+', metavar='MAP', help='landmark-map YAML files')
    parser.add_argument('--out', required=True, metavar='FILE', help='merged map (YAML)')
    parser.add_argument('--gate', type=float, default=0.3,
                        help='largest distance (m) at which two runs see the same object')
    parser.add_argument('--min-maps', type=int, default=1,
                        help='keep only landmarks found in at least this many maps')


def run(args: argparse.Namespace) -> int:
    """Merge the maps and write the result."""
    from ros2_infer.core.errors import InputError
    from ros2_infer.core.landmark_map import (load_landmark_map, merge_landmark_maps,
                                              save_landmark_map)

    loaded = [load_landmark_map(path) for path in args.maps]
    frames = sorted({frame for frame, _ in loaded})
    if len(frames) > 1:
        raise InputError(f'the maps are in different frames ({", ".join(frames)}): '
                         'merge maps of one frame only')
    merged = merge_landmark_maps([landmarks for _, landmarks in loaded], gate_m=args.gate,
                                 min_maps=args.min_maps)
    save_landmark_map(args.out, merged, frame_id=frames[0])
    counts = ', '.join(str(len(landmarks)) for _, landmarks in loaded)
    print(f'merged {len(loaded)} maps ({counts} landmarks) into {len(merged)} landmarks: '
          f'{args.out}')
    return 0
