"""Print the parity report of test/test_arm64_parity.py (ROS2_INFER_PARITY_REPORT) as a table."""

import json
import sys


def main(path: str) -> int:
    """Print the report at ``path``."""
    with open(path, encoding='utf-8') as handle:
        report = json.load(handle)
    print(f'ARM parity vs the stored x86 reference (measured on {report["machine"]}):')
    print(f'{"model":26} {"backend":30} {"raw max|diff|":>22} {"agree":>7} '
          f'{"mAP50 here/x86":>16} {"mAP50-95 here/x86":>18}')
    for name, row in sorted(report.get('detector', {}).items()):
        raw = f'{row["raw_box_max_abs_diff_px"]:.2g} px, {row["raw_score_max_abs_diff"]:.2g}'
        print(f'{name:26} {row["label"]:30} {raw:>22} {row["agreement"]:7.1%} '
              f'{row["map50"]:7.4f}/{row["map50_x86"]:.4f} '
              f'{row["map50_95"]:8.4f}/{row["map50_95_x86"]:.4f}')
    for name, row in sorted(report.get('depth', {}).items()):
        print(f'{name:26} {row["label"]:30} {row["max_abs_diff_m"]:>19.2g} m '
              f'(mean {row["mean_abs_diff_m"]:.2g} m)')
    fusion = report.get('fusion')
    if fusion:
        print(f'fusion core: {fusion["poses"]} fused poses, max position diff '
              f'{fusion["max_position_diff_m"] * 1e3:.3g} mm (final '
              f'{fusion["final_position_diff_m"] * 1e3:.3g} mm), max yaw diff '
              f'{fusion["max_yaw_diff_rad"]:.2g} rad')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1]))
