#!/usr/bin/env python3
"""
Produce the numbers of docs/localization.md: 5 seeds x 3 min in the simulated turtlebot3_world.

Runs (cached by ``ros2_infer.training.simdata``): per seed a localisation run (AMCL style,
camera 10 Hz JPEG) and a *different* mapping run of the same layout and drive (slam_toolbox
style, camera 5 Hz, its own sensor-noise seed ``MAP_NOISE_SEED + seed``: independent SLAM,
odometry and sensor errors, other image stamps); a kidnap run; a 20-minute run for the cost
benchmark. A second mapping run (noise seed ``MAP2_NOISE_SEED + seed``) gives a second saved
map and, merged with the first (``ros2-infer merge-maps``), a map of two runs; one mapping run of
6 minutes (noise seed ``LONG_MAP_NOISE_SEED + seed``) a third. Saved maps carry the uncertainty
``FusionPipeline.export_map`` gives them and are loaded with it. ``--draws N`` also runs the
"true map + 5 cm" configuration with N perturbation draws per seed (the table's own first),
each with the offset that its map draw and its SLAM stream allow (``perturbed_map_reference``);
``--slam-styles slam_toolbox cartographer`` runs the localisation drive with those SLAM inputs
(``/pose``; TF map->odom only) besides AMCL's ``/amcl_pose``. Every configuration replays the
bag in arrival order through the same pipeline; metrics are computed from the poses as
published online.

    PYTHONPATH=. python tools/eval_localization.py --out eval_loc [--seeds 1 2 3 4 5]
"""

import argparse
import copy
import functools
import json
import logging
import math
from pathlib import Path
import sys
import time

import numpy as np

from ros2_infer.core.landmark_map import (Landmark, load_landmark_map, merge_map_files,
                                          read_landmark_map, save_landmark_map)
from ros2_infer.core.pipeline import FusionPipeline, PipelineConfig
from ros2_infer.replay import metrics as M
from ros2_infer.replay.runner import replay
from ros2_infer.rosbag.reader import iter_messages
from ros2_infer.sim.slam import get_profile, SlamErrorProcess
from ros2_infer.training.simdata import simulate_runs

SEC = 1_000_000_000
LOC_EXTRA = ['--compressed']
MAP_PROFILE = 'slam_toolbox'
MAP_EXTRA = ['--compressed', '--slam-style', MAP_PROFILE]
# A mapping run is another run: with the localisation run's noise draws its SLAM bias would be
# the same one the localisation SLAM has, and a map inheriting it would agree with that bias.
MAP_NOISE_SEED = 1000
MAP2_NOISE_SEED = 2000
# One longer mapping run (two laps, 6 min): the map's shared offset is the run's mean SLAM
# error, whose spread shrinks as 1/sqrt(duration), and the saved map says how large it is.
LONG_MAP_NOISE_SEED = 3000
LONG_MAP_DURATION = 360


def model_spec() -> str | None:
    path = Path(__file__).resolve().parents[1] / 'ros2_infer' / 'models' / 'tinydet.yaml'
    return str(path) if path.is_file() else None


def run(bag, *, known=None, sigma=0.03, landmarks=True, detections='ground-truth',
        message_filter=None, window=None, stop_ns=None, slam_style='auto', initial_pose=None):
    """Replay ``bag``; ``known`` is a landmark list or a saved map file (with its offset)."""
    config = PipelineConfig(deskew=False, use_landmarks=landmarks, slam_style=slam_style,
                            initial_pose=initial_pose)
    if window:
        config.localizer.window = window
    offset = None
    if hasattr(known, 'offset_covariance'):
        known, offset = known.landmarks, known.offset_covariance
    pipe = FusionPipeline(config, known_map=known, known_map_sigma=sigma,
                          known_map_offset_covariance=offset)
    streams = replay(bag, pipe, detections=detections, model_spec=model_spec(),
                     message_filter=message_filter, stop_ns=stop_ns)
    return pipe, streams


def perturbed(landmarks, sigma, seed):
    rng = np.random.default_rng(seed)
    out = []
    for lm in landmarks:
        dx, dy = rng.normal(0.0, sigma, 2)
        out.append(Landmark(lm.id, lm.class_name, (lm.position[0] + dx, lm.position[1] + dy,
                                                   lm.position[2]), lm.size, lm.yaw))
    return out


@functools.lru_cache(maxsize=None)
def _bias_paths(profile: str, duration: float, draws: int = 2000) -> np.ndarray:
    """Return ``draws`` paths (draws, steps, 2) of the simulator's SLAM bias in x and y."""
    rng = np.random.default_rng(0)
    return np.stack([SlamErrorProcess(get_profile(profile), duration, rng).bias[:, :2]
                     for _ in range(draws)])


def slam_mean_sigma(slam_stream, profile: str = 'amcl') -> float:
    """
    Return the spread (m, per axis) of the mean SLAM error over this stream's own samples.

    The simulator's truth, evaluator only. Event-triggered streams (AMCL: every 0.25 m or
    0.2 rad) weigh the error's path unevenly, so the spread is taken at the stream's own
    stamps (AMCL's 3-minute runs: 2.03-2.09 cm per axis, the time average 2.03 cm).
    """
    stamps = np.array([row[0] for row in slam_stream], float)
    t = (stamps - stamps[0]) * 1e-9
    paths = _bias_paths(profile, float(math.ceil(t[-1])) + 1.0)
    f = np.clip(t / SlamErrorProcess.GRID, 0.0, paths.shape[1] - 1.000001)
    k = f.astype(int)
    u = (f - k)[None, :, None]
    at_samples = paths[:, k] * (1.0 - u) + paths[:, k + 1] * u
    return float(np.std(at_samples.mean(axis=1)))


def offset_reference(map_offset, var_map, observed_count, slam_errors, var_slam,
                     fused_errors) -> dict:
    """
    Return the best linear combination of a known map's offset and the SLAM run mean.

    With a known map, two things alone say where the map frame is: the map (``map_offset``,
    the error its observed landmarks share, variance ``var_map`` per axis: an offset no
    observation can see) and the SLAM stream (its run mean, variance ``var_slam``).
    An estimator that learnt all the relative geometry exactly would still be off by their
    best combination at the end of the run. Evaluator only: it reads the truth.
    """
    seen = observed_count > 0 and map_offset is not None
    map_mean = np.asarray(map_offset, float) if seen else np.zeros(2)
    slam_mean = slam_errors[:, 1:3].mean(axis=0)
    w_map = var_slam / (var_map + var_slam) if seen else 0.0
    reference = w_map * map_mean + (1.0 - w_map) * slam_mean
    return {'landmarks_observed': int(observed_count), 'map_mean_m': [float(v) for v in map_mean],
            'slam_mean_m': [float(v) for v in slam_mean], 'map_weight': float(w_map),
            'reference_m': [float(v) for v in reference],
            'reference_offset_m': float(np.hypot(*reference)),
            'fused_mean_m': [float(v) for v in fused_errors[:, 1:3].mean(axis=0)]}


MATCH_M = 0.3


def observed(pipe) -> list:
    """Ids of the landmarks the run observed at least once."""
    return [lm_id for lm_id, n in pipe.localizer.landmark_observations.items() if n > 0]


def perturbed_map_reference(pipe, truth, known, slam_errors, var_slam, fused_errors,
                            sigma=0.05) -> dict:
    """Return ``offset_reference`` of true map + ``sigma``: the perturbations' mean."""
    moved = {t.id: np.subtract(k.position[:2], t.position[:2]) for t, k in zip(truth, known)}
    seen = observed(pipe)
    offset = np.mean([moved[i] for i in seen], axis=0) if seen else None
    return offset_reference(offset, sigma ** 2 / max(len(seen), 1), len(seen), slam_errors,
                            var_slam, fused_errors)


def saved_map_reference(pipe, saved, gt_objects, slam_errors, var_slam, fused_errors,
                        var_map) -> dict:
    """
    Return ``offset_reference`` of a saved map: its observed landmarks' median error.

    Each landmark is matched to the nearest true object of its class; one farther than
    ``MATCH_M`` is not that object (a ghost, a wrong class) and says nothing of the offset.
    The median per axis keeps one badly placed landmark from moving the map's offset.
    ``var_map``: how far such a map's offset strays, from the simulator's truth (the mapping
    run's SLAM profile and samples), not the map's own claim.
    """
    by_id = {lm.id: lm for lm in saved}
    errors = []
    for lm in (by_id[i] for i in observed(pipe) if i in by_id):   # not those made online
        truths = [np.asarray(pos[:2], float) for cls, pos in gt_objects.values()
                  if cls == lm.class_name]
        nearest = min((np.asarray(lm.position[:2], float) - t for t in truths),
                      key=np.linalg.norm, default=None)
        if nearest is not None and np.linalg.norm(nearest) <= MATCH_M:
            errors.append(nearest)
    offset = np.median(errors, axis=0) if errors else None
    return offset_reference(offset, var_map, len(errors), slam_errors, var_slam, fused_errors)


def perturbed_run(loc_bag, gt, truth, draw, detections) -> dict:
    """Run true map + 5 cm (perturbation ``draw``): ATE and the reference of what it allows."""
    known = perturbed(truth, 0.05, draw)
    pipe, s = run(loc_bag, known=known, sigma=0.05, detections=detections)
    out = ate(s.fused, gt)
    out['reference'] = perturbed_map_reference(pipe, truth, known, M.errors(s.slam, gt),
                                               slam_mean_sigma(s.slam) ** 2,
                                               M.errors(s.fused, gt))
    return out


def ate(stream, gt):
    a = M.ate(stream, gt)
    return {'ate': a['ate_rmse_m'], 'yaw': a['yaw_rmse_deg'], 'max': a['max_m']}


def localisation_run(seed):
    """Return the seed's localisation bag, its ground truth, objects and true landmarks."""
    loc_bag = simulate_runs([seed], duration=180, camera_rate=10, randomize=False,
                            extra=LOC_EXTRA)[0]
    gt, objs = M.ground_truth(loc_bag)
    truth = load_landmark_map(Path(loc_bag).parent / 'landmarks.yaml')[1]
    return loc_bag, gt, objs, truth


def seed_table(seed, out_dir, detections):
    loc_bag, gt, objs, truth = localisation_run(seed)
    map_bags = [simulate_runs([seed], duration=duration, camera_rate=5, randomize=False,
                              extra=MAP_EXTRA + ['--noise-seed', str(noise + seed)])[0]
                for noise, duration in ((MAP_NOISE_SEED, 180), (MAP2_NOISE_SEED, 180),
                                        (LONG_MAP_NOISE_SEED, LONG_MAP_DURATION))]
    row = without_saved_map(loc_bag, gt, objs, detections)
    # The real workflow: a mapping run of the same layout, --save-map, then localisation.
    saved, var_maps = [], []
    for key, suffix, map_bag in (('saved_map', '', map_bags[0]),
                                 ('saved_map_2', '_run2', map_bags[1]),
                                 ('long_map', '_long', map_bags[2])):
        mpipe, mapping = run(map_bag, detections=detections)
        # The map inherits the mapping run's mean SLAM error: how far that strays.
        var_maps.append(slam_mean_sigma(mapping.slam, MAP_PROFILE) ** 2)
        map_file = out_dir / f'map_seed{seed}_{detections}{suffix}.yaml'
        landmarks, offset = mpipe.export_map()
        save_landmark_map(map_file, landmarks, offset_covariance=offset)
        saved.append(read_landmark_map(map_file))
        row[f'{key}_median_m'] = median_error(saved[-1].landmarks, M.ground_truth(map_bag)[1])
        row[f'{key}_offset_sigma_m'] = None if offset is None else \
            [math.sqrt(offset[0]), math.sqrt(offset[2])]
        pipe, s = run(loc_bag, known=saved[-1], sigma=0.03, detections=detections)
        row[f'fusion_{key}'] = ate(s.fused, gt)
        row[f'fusion_{key}']['reference'] = saved_map_reference(
            pipe, saved[-1].landmarks, objs, M.errors(s.slam, gt), slam_mean_sigma(s.slam) ** 2,
            M.errors(s.fused, gt), var_maps[-1])
        row[f'object_map_median_{key}_m'] = median_error(pipe.landmarks(), objs)
    # Two mapping runs merged: their SLAM means are independent and partly cancel.
    merged = merge_map_files(saved[:2])
    save_landmark_map(out_dir / f'map_seed{seed}_{detections}_merged.yaml', merged.landmarks,
                      offset_covariance=merged.offset_covariance)
    row['merged_map_median_m'] = median_error(merged.landmarks, objs)
    pipe, s = run(loc_bag, known=merged, sigma=0.03, detections=detections)
    row['fusion_merged_map'] = ate(s.fused, gt)
    # Two independent offsets averaged: a quarter of the sum of their variances.
    row['fusion_merged_map']['reference'] = saved_map_reference(
        pipe, merged.landmarks, objs, M.errors(s.slam, gt), slam_mean_sigma(s.slam) ** 2,
        M.errors(s.fused, gt), (var_maps[0] + var_maps[1]) / 4)
    row['object_map_median_merged_map_m'] = median_error(pipe.landmarks(), objs)
    row['fusion_perturbed_map'] = perturbed_run(loc_bag, gt, truth, seed, detections)
    return row


def perturbation_draws(seed, detections, draws):
    """Run true map + 5 cm with ``draws`` perturbations, the evaluation's own (``seed``) first."""
    loc_bag, gt, _, truth = localisation_run(seed)
    out = {}
    for k in range(draws):
        draw = seed if k == 0 else 10000 + 100 * seed + k
        out[draw] = perturbed_run(loc_bag, gt, truth, draw, detections)
    return out


NO_SLAM_START_ERROR = (0.3, 0.0, math.radians(5.0))   # the user's click: 30 cm, 5 degrees off
MAP_SUFFIXES = {'saved_map': '', 'long_map': '_long', 'merged_map': '_merged'}


def without_slam_row(seed, detections, out_dir):
    """
    Localise with each saved map of ``seed_table`` and no SLAM at all, side by side with SLAM.

    The estimate starts at an initial pose 30 cm and 5 degrees off the truth at the first
    odometry message (what a click in RViz gives); the landmarks alone hold it.
    """
    loc_bag, gt, _, _ = localisation_run(seed)
    first = next(iter_messages(loc_bag, ['/odom'])).msg
    stamp = first.header.stamp.sec * SEC + first.header.stamp.nanosec
    truth = gt.at(stamp) if gt.at(stamp) is not None else gt.poses[0]
    start = tuple(float(t + e) for t, e in zip(truth, NO_SLAM_START_ERROR))
    row = {}
    for key, suffix in MAP_SUFFIXES.items():
        path = out_dir / f'map_seed{seed}_{detections}{suffix}.yaml'
        if not path.is_file():
            raise SystemExit(f'{path} is missing: run the seed tables into {out_dir} first')
        saved = read_landmark_map(path)
        pipe, s = run(loc_bag, known=saved, detections=detections, slam_style='none',
                      initial_pose=start)
        e = M.errors(s.fused, gt)
        settled = e[e[:, 0] - e[0, 0] >= 10.0]
        row[key] = dict(ate(s.fused, gt), slam_accepted=pipe.localizer.stats['slam_accepted'],
                        ate_after_10s=float(np.sqrt((settled[:, 1:3] ** 2).sum(1).mean())),
                        max_after_10s=float(np.hypot(settled[:, 1], settled[:, 2]).max()))
        _, s = run(loc_bag, known=saved, detections=detections)
        row[key]['with_slam'] = ate(s.fused, gt)['ate']
    return row


def slam_style_row(seed, detections, style):
    """
    Run the localisation drive with another SLAM input (``--slam-style``).

    SLAM, SLAM+odom and fusion without and with an online map: no saved map, since every SLAM
    input must be usable on its own.
    """
    loc_bag = simulate_runs([seed], duration=180, camera_rate=10, randomize=False,
                            extra=['--compressed', '--slam-style', style])[0]
    gt, objs = M.ground_truth(loc_bag)
    return without_saved_map(loc_bag, gt, objs, detections)


def without_saved_map(loc_bag, gt, objs, detections):
    """Odometry, SLAM, SLAM+odom and fusion without landmarks and with an online map."""
    row = {}
    _, s = run(loc_bag, landmarks=False, detections=detections)
    row['odometry'] = ate(M.odometry_in_map(s.odom, gt), gt)
    row['slam'] = ate(s.slam, gt)
    row['slam_plus_odometry'] = ate(s.slam_odom, gt)
    row['fusion_slam_odometry'] = ate(s.fused, gt)
    row['slam_running_mean'] = M.slam_running_mean(s.slam, s.fused, gt)
    pipe, s = run(loc_bag, detections=detections)
    row['fusion_online_map'] = ate(s.fused, gt)
    errs = M.object_errors(pipe.landmarks(), objs)
    row['object_map_median_m'] = float(np.median(errs)) if errs else None
    row['object_map_n'] = len(errs)
    row['cost_ms'] = timing(s)
    return row


def median_error(landmarks, gt_objects):
    errs = M.object_errors(landmarks, gt_objects)
    return float(np.median(errs)) if errs else None


def timing(streams):
    t = np.array([ms for _, ms in streams.timings_ms])
    return {'median': float(np.median(t)), 'p99': float(np.percentile(t, 99)),
            'max': float(t.max()), 'events': int(t.size)}


def header_ns(msg):
    h = getattr(msg, 'header', None)
    if h is None and hasattr(msg, 'transforms') and msg.transforms:
        h = msg.transforms[0].header
    return None if h is None else h.stamp.sec * SEC + h.stamp.nanosec


def steady(e, t0, t1):
    m = (e[:, 0] >= t0) & (e[:, 0] < t1)
    return np.hypot(e[m, 1], e[m, 2])


def recovery_time(e, t_back, threshold):
    """Seconds after ``t_back`` until the error stays below ``threshold`` for 2 s."""
    d = np.hypot(e[:, 1], e[:, 2])
    t = e[:, 0]
    for i in np.nonzero(t >= t_back)[0]:
        window = (t >= t[i]) & (t < t[i] + 2.0)
        if np.all(d[window] <= threshold):
            return float(t[i] - t_back)
    return None


def faults(seed, detections, out_dir):
    loc_bag, gt, _, truth = localisation_run(seed)
    map_file = out_dir / f'map_seed{seed}_{detections}.yaml'
    known = read_landmark_map(map_file) if map_file.is_file() else truth
    res = {}
    _, base = run(loc_bag, known=known, detections=detections)
    eb = M.errors(base.fused, gt)
    t0, t1 = 60.0, 70.0
    slam_topics = ('/amcl_pose', '/pose')
    camera_topics = ('/camera/image_raw', '/camera/image_raw/compressed',
                     '/camera/camera_info', '/ground_truth/detections')

    def dropout(topic, log_ns, msg):
        st = header_ns(msg)
        if st is None or not t0 * SEC <= st < t1 * SEC:
            return msg
        if topic in slam_topics or topic in camera_topics:
            return None
        if topic == '/tf':
            kept = [t for t in msg.transforms if t.header.frame_id != 'map']
            if len(kept) != len(msg.transforms):
                msg = copy.copy(msg)
                msg.transforms = kept
        return msg

    _, s = run(loc_bag, known=known, detections=detections, message_filter=dropout)
    e = M.errors(s.fused, gt)
    before = steady(eb, 30, 60)
    during = steady(e, t0, t1 + 0.5)
    thr = max(2.0 * float(np.median(before)), 0.03)
    res['dropout'] = {'window_s': [t0, t1], 'max_error_during_m': float(during.max()),
                      'steady_median_before_m': float(np.median(before)),
                      'recovery_threshold_m': thr,
                      'recovery_s': recovery_time(e, t1, thr),
                      'max_error_after_m': float(steady(e, t1, t1 + 10).max())}
    j0, j1 = 80.0, 110.0

    def jump(topic, log_ns, msg):
        st = header_ns(msg)
        if st is None or not j0 * SEC <= st < j1 * SEC:
            return msg
        # A re-localisation jump of the SLAM stream: +0.5 m, decaying with tau = 15 s.
        return shifted_slam(topic, msg, 0.5 * math.exp(-(st / SEC - j0) / 15.0))

    _, s = run(loc_bag, known=known, detections=detections, message_filter=jump)
    e = M.errors(s.fused, gt)
    eb_w = steady(eb, j0, j1 + 5)
    ej_w = steady(e, j0, j1 + 5)
    res['slam_jump'] = {'offset_m': 0.5, 'window_s': [j0, j1],
                        'max_error_m': float(ej_w.max()),
                        'max_error_without_jump_m': float(eb_w.max()),
                        'spike_m': float(ej_w.max() - eb_w.max())}
    res['initial_error'] = initial_error(loc_bag, gt, known, detections)
    kid_bag = simulate_runs([seed], duration=120, camera_rate=10, randomize=False,
                            extra=['--compressed', '--kidnap-time', '60'])[0]
    kgt, _ = M.ground_truth(kid_bag)
    _, s = run(kid_bag, known=known, detections=detections)
    e = M.errors(s.fused, kgt)
    res['kidnap'] = {'kidnap_s': 60.0, 'accepted_after_s': recovery_time(e, 60.0, 0.15),
                     'max_error_after_10s_m': float(steady(e, 70, 120).max()),
                     'relocalized': s.stats['faults'].get('relocalized', 0)}
    return res


def shifted_slam(topic, msg, dx, covariance=None):
    """Return the SLAM message moved ``dx`` m in x (pose topics: optionally new covariance)."""
    if topic in ('/amcl_pose', '/pose'):
        msg = copy.deepcopy(msg)
        msg.pose.pose.position.x += dx
        if covariance is not None:
            msg.pose.covariance = covariance.copy()
    elif topic == '/tf' and any(t.header.frame_id == 'map' for t in msg.transforms):
        msg = copy.deepcopy(msg)
        for t in msg.transforms:
            if t.header.frame_id == 'map':
                t.transform.translation.x += dx
    return msg


def initial_error(loc_bag, gt, known, detections, offset=1.1, converged_s=10.0):
    """
    Run AMCL from a rough initial pose, with the saved map and with an online map.

    The SLAM stream is ``offset`` m off in x (one pillar spacing: every pillar seen lands on
    its neighbour), with AMCL's initial covariance (σ 0.5 m, 15°), until ``converged_s``;
    then it is as recorded.
    """
    cov = np.zeros(36)
    cov[0] = cov[7] = 0.5 ** 2
    cov[35] = math.radians(15.0) ** 2

    def wrong_start(topic, log_ns, msg):
        st = header_ns(msg)
        if st is None or st >= converged_s * SEC:
            return msg
        return shifted_slam(topic, msg, offset, cov)

    out = {'offset_m': offset, 'converged_s': converged_s}
    for name, prior in (('saved_map', known), ('online_map', None)):
        pipe, s = run(loc_bag, known=prior, detections=detections, message_filter=wrong_start)
        e = M.errors(s.fused, gt)
        out[name] = {'max_error_before_m': float(steady(e, 2.0, converged_s).max()),
                     'recovery_s': recovery_time(e, converged_s, 0.15),
                     'max_error_after_10s_m': float(steady(e, converged_s + 10, 180).max()),
                     'ate_m': ate(s.fused, gt)['ate'],
                     'faults': {k: v for k, v in s.stats['faults'].items()
                                if k in ('slam_rejected', 'slam_converged', 'relocalized')}}
        if prior is None:
            out[name]['object_map_median_m'] = median_error(
                pipe.landmarks(), M.ground_truth(loc_bag)[1])
    return out


def cost():
    bag = simulate_runs([11], duration=1200, camera_rate=5, randomize=False,
                        extra=['--width', '320', '--height', '240', '--compressed'])[0]
    gt, _ = M.ground_truth(bag)
    _, s = run(bag)
    t = np.array([ms for _, ms in s.timings_ms])
    kinds = {}
    for k, ms in s.timings_ms:
        kinds.setdefault(k, []).append(ms)
    per_kind = {k: {'median': float(np.median(v)), 'p99': float(np.percentile(v, 99)),
                    'n': len(v)} for k, v in kinds.items()}
    n = len(t)
    quarters = [{'median': float(np.median(q)), 'p99': float(np.percentile(q, 99))}
                for q in np.array_split(t, 4)]
    return {'duration_s': 1200, 'events': n, 'median_ms': float(np.median(t)),
            'p99_ms': float(np.percentile(t, 99)), 'max_ms': float(t.max()),
            'per_kind': per_kind, 'per_5_min': quarters, 'fusion': ate(s.fused, gt),
            'slam': ate(s.slam, gt)}


def markdown(results) -> str:
    """Render the per-seed tables of results.json as Markdown."""
    cols = [('odometry', 'odometry'), ('slam', 'SLAM'), ('slam_plus_odometry', 'SLAM+odom'),
            ('fusion_slam_odometry', 'fusion, no landmarks'),
            ('fusion_online_map', 'fusion, online map'),
            ('fusion_saved_map', 'fusion, map of another run'),
            ('fusion_saved_map_2', 'fusion, map of a third run'),
            ('fusion_merged_map', 'fusion, both maps merged'),
            ('fusion_long_map', 'fusion, map of a 6-min run'),
            ('fusion_perturbed_map', 'fusion, true map + 5 cm')]
    lines = []
    for det in ('ground-truth', 'model'):
        if det not in results:
            continue
        rows = results[det]
        lines += [f'ATE RMSE in cm (yaw RMSE in deg), detections: {det}', '',
                  '| seed | ' + ' | '.join(c[1] for c in cols) + ' | object map median |',
                  '|---' * (len(cols) + 2) + '|']
        for seed, row in rows.items():
            cells = [f"{100 * row[k]['ate']:.1f} ({row[k]['yaw']:.2f})" for k, _ in cols]
            lines.append(f'| {seed} | ' + ' | '.join(cells)
                         + f" | {100 * row['object_map_median_m']:.1f} |")
        worst = [f"**{100 * max(r[k]['ate'] for r in rows.values()):.1f}**" for k, _ in cols]
        worst_obj = max(r['object_map_median_m'] for r in rows.values())
        lines.append('| worst | ' + ' | '.join(worst) + f' | **{100 * worst_obj:.1f}** |')
        lines.append('')
        lines += object_table(rows, det)
        lines += reference_table([(label, {seed: r[key] for seed, r in rows.items()})
                                  for key, label in REFERENCE_MAPS], det)
    for det, rows in results.get('draws', {}).items():
        if det not in results:      # the seed tables were skipped: the draws' first is theirs
            first = {seed: next(iter(draws.values())) for seed, draws in rows.items()}
            lines += reference_table([('true + 5 cm', first)], det)
        lines += draws_table(rows, det)
    for det, styles in results.get('slam_styles', {}).items():
        lines += slam_styles_table(styles, det)
    for det, rows in results.get('without_slam', {}).items():
        lines += without_slam_table(rows, det)
    return '\n'.join(lines)


def _cm(v) -> str:
    return '(' + ', '.join(f'{100 * x:+.1f}' for x in v) + ')'


REFERENCE_MAPS = [('fusion_saved_map', 'another run'), ('fusion_saved_map_2', 'a third run'),
                  ('fusion_merged_map', 'both merged'), ('fusion_long_map', 'a 6-min run'),
                  ('fusion_perturbed_map', 'true + 5 cm')]


def reference_table(maps, det) -> list[str]:
    """
    Render known-map runs against the offset their map and SLAM allow (cm) as Markdown.

    ``maps``: (label, {seed: ATE dict with 'reference'}) pairs.
    """
    lines = [f'Known maps against what the map and SLAM allow, cm, detections: {det}', '',
             '| map | seed | landmarks observed | map offset | SLAM run mean '
             '| map weight | reference offset | fused mean error | fused ATE |',
             '|---' * 9 + '|']
    for label, rows in maps:
        for seed, r in rows.items():
            ref = r.get('reference')
            if not ref:
                continue
            lines.append(
                f"| {label} | {seed} | {ref['landmarks_observed']} | {_cm(ref['map_mean_m'])} | "
                f"{_cm(ref['slam_mean_m'])} | {ref['map_weight']:.2f} | "
                f"{_cm(ref['reference_m'])} = {100 * ref['reference_offset_m']:.2f} | "
                f"{_cm(ref['fused_mean_m'])} = "
                f"{100 * float(np.hypot(*ref['fused_mean_m'])):.2f} | {100 * r['ate']:.2f} |")
    return lines + [''] if len(lines) > 4 else []


def draws_table(rows, det) -> list[str]:
    """Render true map + 5 cm over several perturbation draws per seed as Markdown."""
    lines = [f'True map + 5 cm over perturbation draws, ATE RMSE in cm, detections: {det}', '',
             "| seed | evaluation's draw | median | worst | draws ≤ 3 cm "
             '| draws whose reference offset ≤ 3 cm |', '|---' * 6 + '|']
    every, refs = [], []
    for seed, draws in rows.items():
        v = np.array([100 * a['ate'] for a in draws.values()])
        r = np.array([100 * a['reference']['reference_offset_m'] if a.get('reference')
                      else np.nan for a in draws.values()])
        every += list(v)
        refs += list(r)
        lines.append(f'| {seed} | {v[0]:.2f} | {np.median(v):.2f} | {v.max():.2f} | '
                     f'{int((v <= 3.0).sum())} / {v.size} | '
                     f'{int((r <= 3.0).sum())} / {int(np.isfinite(r).sum())} |')
    every, refs = np.array(every), np.array(refs)
    lines += ['', f'{int((every <= 3.0).sum())} of {every.size} runs ≤ 3 cm, median '
              f'{np.median(every):.2f} cm, 90th percentile {np.percentile(every, 90):.2f} cm.']
    finite = np.isfinite(refs)
    if finite.sum() > 2:
        above = finite & (refs > 3.0)
        correlation = np.corrcoef(every[finite], refs[finite])[0, 1]
        lines.append(
            f'Reference offsets: median {np.median(refs[finite]):.2f} cm; '
            f'correlation with the fused ATE {correlation:.2f}; '
            f'fused ATE ≤ 3 cm on {int((every[above] <= 3.0).sum())} of the {int(above.sum())} '
            f'draws whose reference is above 3 cm and on '
            f'{int((every[finite & ~above] <= 3.0).sum())} of the '
            f'{int((finite & ~above).sum())} others.')
    return lines + ['']


def slam_styles_table(styles, det) -> list[str]:
    """Render the runs with other SLAM inputs as Markdown (cm, yaw in deg)."""
    cols = [('slam', 'SLAM'), ('slam_plus_odometry', 'SLAM+odom'),
            ('fusion_slam_odometry', 'fusion, no landmarks'),
            ('fusion_online_map', 'fusion, online map')]
    lines = [f'SLAM inputs, ATE RMSE in cm (yaw RMSE in deg), detections: {det}', '',
             '| SLAM input | seed | ' + ' | '.join(c[1] for c in cols)
             + ' | online map vs SLAM | SLAM running mean (vs SLAM) | object map median '
             '| SLAM run mean |', '|---' * (len(cols) + 6) + '|']
    for style, rows in styles.items():
        for seed, row in rows.items():
            cells = [f"{100 * row[k]['ate']:.1f} ({row[k]['yaw']:.2f})" for k, _ in cols]
            slam = row['slam']['ate']
            gain = 100 * (row['fusion_online_map']['ate'] / slam - 1)
            ref = row['slam_running_mean']
            lines.append(f'| {style} | {seed} | ' + ' | '.join(cells)
                         + f" | {gain:+.0f} % | {100 * ref['ate_rmse_m']:.1f} "
                         f"({100 * (ref['ate_rmse_m'] / slam - 1):+.0f} %) "
                         f"| {100 * row['object_map_median_m']:.1f} "
                         f"| {100 * ref['run_mean_m']:.1f} |")
    return lines + ['']


def without_slam_table(rows, det) -> list[str]:
    """Render the SLAM-free runs as Markdown: cm, yaw in deg, beside the same map with SLAM."""
    labels = {'saved_map': 'map of another run', 'long_map': 'map of a 6-min run',
              'merged_map': 'both maps merged'}
    lines = [f'Without SLAM (a saved map, a start 30 cm and 5 deg off), detections: {det}', '',
             '| map | seed | ATE (yaw) | ATE from 10 s | max from 10 s | with SLAM | SLAM poses '
             'fused |', '|---' * 7 + '|']
    for key, label in labels.items():
        for seed, row in rows.items():
            r = row[key]
            lines.append(f"| {label} | {seed} | {100 * r['ate']:.1f} ({r['yaw']:.2f}) "
                         f"| {100 * r['ate_after_10s']:.1f} | {100 * r['max_after_10s']:.1f} "
                         f"| {100 * r['with_slam']:.1f} | {r['slam_accepted']} |")
    return lines + ['']


def object_table(rows, det) -> list[str]:
    """Median object-position error of every map, in cm (absent keys: older results)."""
    cols = [('object_map_median_m', 'online map'),
            ('saved_map_median_m', 'mapping run (saved)'),
            ('saved_map_2_median_m', 'third run (saved)'),
            ('merged_map_median_m', 'both merged'),
            ('long_map_median_m', '6-min run (saved)'),
            ('object_map_median_saved_map_m', 'localisation, map of another run'),
            ('object_map_median_merged_map_m', 'localisation, merged map'),
            ('object_map_median_long_map_m', 'localisation, 6-min map')]
    cols = [c for c in cols if all(r.get(c[0]) is not None for r in rows.values())]
    lines = [f'Median object-position error in cm, detections: {det}', '',
             '| seed | ' + ' | '.join(c[1] for c in cols) + ' |', '|---' * (len(cols) + 1) + '|']
    for seed, row in rows.items():
        lines.append(f'| {seed} | ' + ' | '.join(f'{100 * row[k]:.1f}' for k, _ in cols) + ' |')
    worst = [f'**{100 * max(r[k] for r in rows.values()):.1f}**' for k, _ in cols]
    return lines + ['| worst | ' + ' | '.join(worst) + ' |', '']


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--out', default='eval_loc')
    parser.add_argument('--seeds', type=int, nargs='+', default=[1, 2, 3, 4, 5])
    parser.add_argument('--detections', nargs='+', default=['ground-truth', 'model'])
    parser.add_argument('--skip', nargs='*', default=[], choices=['faults', 'cost', 'seeds'])
    parser.add_argument('--tables', default=None, help='only render tables.md of RESULTS.json')
    parser.add_argument('--slam-styles', nargs='*', default=[],
                        choices=['amcl', 'slam_toolbox', 'cartographer'],
                        help='also run the localisation runs with these SLAM inputs (no saved '
                             'maps): /pose (slam_toolbox), TF map->odom only (cartographer)')
    parser.add_argument('--without-slam', action='store_true',
                        help='also localise with the saved maps of the seed tables (in --out) '
                             'and no SLAM: an initial pose 30 cm off and the landmarks alone')
    parser.add_argument('--draws', type=int, default=0,
                        help='also run "true map + 5 cm" with this many perturbation draws '
                             "per seed (the first is the table's own)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.tables:
        print(markdown(json.loads(Path(args.tables).read_text())))
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    dets = [d for d in args.detections if d != 'model' or model_spec()]
    if 'model' in args.detections and 'model' not in dets:
        print('no bundled tinydet: model-detection rows skipped', file=sys.stderr)
    start = time.time()
    if 'seeds' not in args.skip:
        for d in dets:
            results[d] = {}
            for seed in args.seeds:
                results[d][seed] = seed_table(seed, out, d)
                print(d, seed, json.dumps(results[d][seed]), flush=True)
    if args.draws:
        results['draws'] = {d: {} for d in dets}
        for d in dets:
            for seed in args.seeds:
                results['draws'][d][seed] = perturbation_draws(seed, d, args.draws)
                print('draws', d, seed, json.dumps(results['draws'][d][seed]), flush=True)
    if args.without_slam:
        results['without_slam'] = {d: {} for d in dets}
        for d in dets:
            for seed in args.seeds:
                row = without_slam_row(seed, d, out)
                results['without_slam'][d][seed] = row
                print('without slam', d, seed, json.dumps(row), flush=True)
    if args.slam_styles:
        results['slam_styles'] = {d: {} for d in dets}
        for d in dets:
            for style in args.slam_styles:
                results['slam_styles'][d][style] = {}
                for seed in args.seeds:
                    row = slam_style_row(seed, d, style)
                    results['slam_styles'][d][style][seed] = row
                    print('slam style', style, d, seed, json.dumps(row), flush=True)
    if 'faults' not in args.skip:
        results['faults'] = faults(args.seeds[0], dets[0], out)
        print(json.dumps(results['faults']), flush=True)
    if 'cost' not in args.skip:
        results['cost'] = cost()
        print(json.dumps(results['cost']), flush=True)
    results['wall_s'] = time.time() - start
    (out / 'results.json').write_text(json.dumps(results, indent=2,
                                                 default=lambda o: None))
    (out / 'tables.md').write_text(markdown(results))
    print(f'wrote {out / "results.json"} and tables.md in {results["wall_s"]:.0f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
