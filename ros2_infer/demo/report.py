"""The demo's ``report.html`` (self-contained folder, no external URLs or scripts) and summary."""

import html
from pathlib import Path

FIGURES = (
    ('trajectory.png', 'Trajectory over the landmark map',
     'Ground truth (black), odometry placed at the true start, the SLAM stream (/amcl_pose), '
     'the fused pose of this package, and the landmarks it mapped online (circles; + marks the '
     'true object positions).'),
    ('error.png', 'Position error over time',
     'Unaligned error of each stream against the ground truth at its own stamps.'),
    ('frames.png', 'Annotated camera frames',
     'Detections of the model as produced online; green boxes also carry the distance from the '
     'robot of the 3D object the lidar/camera fusion produced and its source.'),
    ('depth.png', 'Depth samples',
     'Metric depth of the depth model on a subset of frames, colourised; dots are the lidar '
     'returns of the latest scan projected into the image with the same colour scale.'),
    ('latency.png', 'Latency per stage',
     'Histograms of each stage (log scale); black: median, red dashed: p95.'),
)


def _m(value, unit: str = '', scale: float = 1.0, digits: int = 1) -> str:
    if value is None:
        return 'n/a'
    return f'{value * scale:.{digits}f}{unit}'


def _table(header, rows) -> str:
    head = ''.join(f'<th>{html.escape(str(h))}</th>' for h in header)
    body = ''.join('<tr>' + ''.join(f'<td>{html.escape(str(c))}</td>' for c in row) + '</tr>'
                   for row in rows)
    return f'<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


STREAMS = (('fusion', 'fused (this package)'), ('slam', 'SLAM stream'),
           ('slam_plus_odometry', 'SLAM + odometry'), ('odometry', 'odometry'))


def summary_lines(metrics: dict, report_path: Path) -> list[str]:
    """Return the one-screen summary printed at the end of the demo."""
    loc = metrics['localization']
    det = metrics['detection']
    demo = metrics['demo']
    fused, slam = loc.get('fusion', {}), loc.get('slam', {})
    lines = [
        f"ros2-infer demo: seed {demo['seed']}, {demo['duration_s']:g} s simulated, "
        f"backend {demo['backend']} ({demo['detector_model']}), wall {demo['wall_s']:.0f} s",
        f"  ATE fused {_m(fused.get('ate_rmse_m'), ' cm', 100)} vs SLAM "
        f"{_m(slam.get('ate_rmse_m'), ' cm', 100)} (odometry "
        f"{_m(loc.get('odometry', {}).get('ate_rmse_m'), ' cm', 100)}); yaw "
        f"{_m(fused.get('yaw_rmse_deg'), ' deg', 1, 2)} vs "
        f"{_m(slam.get('yaw_rmse_deg'), ' deg', 1, 2)}",
        f"  mAP@0.5 {_m(det.get('map50'), '', 1, 3)}, mAP@0.5:0.95 "
        f"{_m(det.get('map50_95'), '', 1, 3)} on {det.get('images')} frames "
        f"(detections as produced online, conf >= {det.get('conf_threshold')})",
        '  latency p50 / p95 (ms):',
    ]
    for stage, s in metrics['latency_ms'].items():
        lines.append(f"    {stage:<28} {s['p50_ms']:8.3f} / {s['p95_ms']:8.3f}  (n={s['n']})")
    memory = memory_text(metrics.get('memory', {})).strip()
    if memory:
        lines.append(f'  {memory}')
    lines.append(f'  report: {report_path}')
    return lines


def memory_text(memory: dict) -> str:
    """One sentence on resident memory and the pipeline queue (empty when not measured)."""
    growth = memory.get('rss_growth_after_warmup_pct')
    if growth is None:
        return ''
    return (f" Resident memory {memory['rss_after_warmup_mb']:.0f} MB after warm-up, "
            f"{memory['rss_end_mb']:.0f} MB at the end ({growth:+.1f} %); pipeline queue at "
            f"most {memory['max_queue']} measurements.")


def write_html(out_dir: Path, metrics: dict) -> Path:
    """Write ``report.html`` next to the figures (relative links only) and return its path."""
    demo, loc, det = metrics['demo'], metrics['localization'], metrics['detection']
    ate_rows = []
    for key, name in STREAMS:
        s = loc.get(key, {})
        ate_rows.append((name, _m(s.get('ate_rmse_m'), '', 100, 1),
                         _m(s.get('yaw_rmse_deg'), '', 1, 2), _m(s.get('max_m'), '', 100, 1),
                         s.get('n', 0)))
    per_class = sorted((det.get('per_class_ap50') or {}).items())
    lat_rows = [(k, f"{v['p50_ms']:.3f}", f"{v['p95_ms']:.3f}", f"{v['mean_ms']:.3f}", v['n'])
                for k, v in metrics['latency_ms'].items()]
    objmap = loc.get('object_map', {})
    reference = loc.get('slam_running_mean', {})
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<title>ros2_infer demo report</title>',
        '<style>body{font-family:sans-serif;max-width:1100px;margin:1em auto;color:#222}'
        'table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;'
        'padding:2px 8px;text-align:right}th{background:#eee}td:first-child{text-align:left}'
        'img{max-width:100%;border:1px solid #ddd}figure{margin:1em 0}'
        'code{background:#f4f4f4;padding:0 3px}</style></head><body>',
        '<h1>ros2_infer demo report</h1>',
        f"<p>TurtleBot3 Waffle Pi in turtlebot3_world (MuJoCo), seed {demo['seed']}, "
        f"{demo['duration_s']:g} s simulated; camera {html.escape(demo['camera'])}. "
        'The bag was replayed in arrival order through the core pipeline (detector, '
        'lidar/camera fusion, landmark map, gtsam localizer) as the nodes run it. '
        f"Wall time {demo['wall_s']:.0f} s.</p>",
        f"<p>Backend: <b>{html.escape(demo['backend'])}</b> "
        f"(detector <code>{html.escape(demo['detector_model'])}</code>, depth "
        f"<code>{html.escape(demo['depth_model'])}</code>): "
        f"{html.escape(demo['backend_reason'])}.</p>",
        '<h2>Localization (ATE, unaligned)</h2>',
        _table(('stream', 'ATE RMSE (cm)', 'yaw RMSE (deg)', 'max (cm)', 'samples'), ate_rows),
        '<p>What SLAM alone allows: an estimator that knew the relative motion exactly, with '
        "SLAM as its only absolute reference, is left with SLAM's running mean error, "
        f"{_m(reference.get('ate_rmse_m'), ' cm', 100)} RMSE at the fused stamps; the run's "
        'mean SLAM error, which an online map inherits, is '
        f"{_m(reference.get('run_mean_m'), ' cm', 100)}.</p>",
        f"<p>Object map: {objmap.get('n', 0)} landmarks matched to true objects, median error "
        f"{_m(objmap.get('median_error_m'), ' cm', 100)}.</p>",
        '<h2>Detection (COCO mAP vs /ground_truth/detections)</h2>',
        f"<p>mAP@0.5 <b>{_m(det.get('map50'), '', 1, 3)}</b>, mAP@0.5:0.95 "
        f"<b>{_m(det.get('map50_95'), '', 1, 3)}</b> over {det.get('images')} frames, "
        f"{det.get('objects')} objects, {det.get('detections')} detections (as produced "
        f"online, conf &ge; {det.get('conf_threshold')}).</p>",
        _table(('class', 'AP@0.5'), [(k, f'{v:.3f}') for k, v in per_class]),
        '<h2>Latency per stage</h2>',
        _table(('stage', 'p50 ms', 'p95 ms', 'mean ms', 'n'), lat_rows),
        '<p>Fusion latencies are per input event and include the work that event releases: '
        'a measurement waits until odometry covers its stamp, so most of the fusion of '
        'detections is done in the odometry event that follows them.'
        f"{memory_text(metrics.get('memory', {}))}</p>",
    ]
    for name, title, caption in FIGURES:
        if (out_dir / name).is_file():
            parts.append(f'<h2>{html.escape(title)}</h2><figure><img src="{name}" '
                         f'alt="{html.escape(title)}"><figcaption>{html.escape(caption)}'
                         '</figcaption></figure>')
    parts.append('<h2>Files</h2><ul>'
                 '<li><a href="metrics.json">metrics.json</a>: every number above</li>'
                 '<li><code>bag/</code>: output rosbag2 (MCAP) of the replay: '
                 '<code>/fusion/pose</code>, <code>/fusion/map_to_odom</code>, '
                 '<code>/fusion/objects</code>, <code>/fusion/landmarks</code> '
                 '(opens in Foxglove or <code>ros2 bag play</code>)</li>'
                 f"<li>input bag: <code>{html.escape(demo['input_bag'])}</code></li></ul>")
    parts.append('</body></html>')
    path = out_dir / 'report.html'
    path.write_text('\n'.join(parts), encoding='utf-8')
    return path
