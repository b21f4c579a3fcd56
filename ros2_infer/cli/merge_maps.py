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
    from ros2_infer.core.landmark_map import merge_map_files, read_landmark_map, save_landmark_map

    loaded = [read_landmark_map(path) for path in args.maps]
    merged = merge_map_files(loaded, gate_m=args.gate, min_maps=args.min_maps)
    save_landmark_map(args.out, merged.landmarks, frame_id=merged.frame_id,
                      offset_covariance=merged.offset_covariance)
    counts = ', '.join(str(len(f.landmarks)) for f in loaded)
    note = '' if merged.offset_covariance is not None else \
        ' (without covariances: not every input map has them)'
    print(f'merged {len(loaded)} maps ({counts} landmarks) into {len(merged.landmarks)} '
          f'landmarks{note}: {args.out}')
    return 0
