"""
The demo job: simulate -> replay through the core pipeline -> evaluate -> report.

Camera: 640x480 JPEG (``/camera/image_raw/compressed``) at 10 Hz, the real Waffle Pi's rate,
which keeps a 3-minute bag small (~200 MB instead of ~5 GB raw).
"""

from dataclasses import dataclass
import logging
from pathlib import Path
import shutil
import time

from ros2_infer.core.errors import InputError
import yaml

CAMERA_RATE = 10     # int: the simulation cache key matches tools/eval_localization.py
SIM_EXTRA = ('--compressed',)
CONF_THRESHOLD = 0.25   # the Detector's default: what the replay's detector publishes
FUSION_KINDS = {'detections': 'fusion: detections', '/odom': 'fusion: odometry',
                '/amcl_pose': 'fusion: SLAM pose', '/pose': 'fusion: SLAM pose',
                '/scan': 'fusion: scan', '/tf': 'fusion: tf'}


@dataclass
class DemoResult:
    """What :func:`run_demo` produced."""

    metrics: dict
    report: Path
    summary: list


def _bar(progress: bool, **kwargs):
    from tqdm import tqdm
    return tqdm(disable=not progress, dynamic_ncols=True, **kwargs)


def _message_count(bag: Path) -> int | None:
    """Messages the pipeline side of the replay will see (``/ground_truth/*`` excluded)."""
    try:
        info = yaml.safe_load((bag / 'metadata.yaml').read_text())
        topics = info['rosbag2_bagfile_information']['topics_with_message_count']
        return sum(int(t['message_count']) for t in topics
                   if not t['topic_metadata']['name'].startswith('/ground_truth/'))
    except (OSError, KeyError, TypeError, ValueError):
        return None


def prepare_out(out: Path) -> None:
    """Create ``out``; replace a previous demo's outputs there, refuse anything else."""
    out.mkdir(parents=True, exist_ok=True)
    if (out / 'bag').exists():
        if not (out / 'metrics.json').is_file():
            raise InputError(f'{out}/bag exists and is not from a previous demo: choose another '
                             '--out')
        shutil.rmtree(out / 'bag')


def simulate(duration: float, seed: int, root: Path | None = None, log=print) -> Path:
    """Return the simulator's bag for this seed and duration (cached by its settings)."""
    from ros2_infer.training.simdata import simulate_runs

    d = int(duration) if float(duration).is_integer() else float(duration)
    start = time.perf_counter()
    log(f'simulate: {d} s of turtlebot3_world, seed {seed}, camera 640x480 JPEG at '
        f'{CAMERA_RATE:g} Hz (a cached run with the same settings is reused)...')
    bag = simulate_runs([seed], duration=d, camera_rate=CAMERA_RATE, randomize=False,
                        extra=list(SIM_EXTRA), root=root)[0]
    log(f'simulate: {bag} ({time.perf_counter() - start:.0f} s)')
    return bag


def run_demo(*, duration: float = 180.0, seed: int = 1, backend: str = 'auto',
             out: Path = Path('demo_report'), progress: bool = True,
             sim_root: Path | None = None, frames: int = 12, depth_samples: int = 6,
             log=print) -> DemoResult:
    """Run the whole demo and write the report folder ``out``."""
    from ros2_infer.core.depth import DepthEstimator
    from ros2_infer.core.model import load_model
    from ros2_infer.core.pipeline import PipelineConfig
    from ros2_infer.core.spec import load_spec
    from ros2_infer.demo import evaluate, figures, report
    from ros2_infer.demo.backends import choose_backend
    from ros2_infer.demo.recorder import Recorder, RecordingPipeline
    from ros2_infer.models import bundled_spec
    from ros2_infer.replay.outputs import compute_metrics, OutputBag, plot, write_json
    from ros2_infer.replay.runner import replay

    start = time.perf_counter()
    out = Path(out)
    prepare_out(out)
    wall = {}

    t0 = time.perf_counter()
    choice = choose_backend(backend)
    wall['backend_choice_s'] = time.perf_counter() - t0
    log(f'backend: {choice.backend} ({choice.detector}, {choice.depth}): {choice.reason}')

    t0 = time.perf_counter()
    bag = simulate(duration, seed, sim_root, log)
    wall['simulate_s'] = time.perf_counter() - t0

    t0 = time.perf_counter()
    detector_spec = bundled_spec(choice.detector)
    depth_model = load_model(bundled_spec(choice.depth))
    expected_images = max(1, int(duration * CAMERA_RATE))
    bar = _bar(progress, total=_message_count(bag), desc='replay', unit='msg', unit_scale=True)
    recorder = Recorder(frame_every=expected_images // frames,
                        depth_every=expected_images // depth_samples,
                        depth_estimator=DepthEstimator(depth_model), progress=bar,
                        max_frames=frames, max_depth=depth_samples)
    # The simulator's scans are instantaneous, as Gazebo's: deskewing would add error.
    pipeline = RecordingPipeline(PipelineConfig(deskew=False), recorder)
    writer = OutputBag(out / 'bag')
    last = [0, 0]

    def on_output(log_ns, output):
        last[0], last[1] = log_ns, output.stamp_ns
        writer.write(log_ns, output)
        recorder.on_output(output)

    logging.getLogger('ros2_infer').setLevel(logging.ERROR)
    try:
        streams = replay(bag, pipeline, detections='model', model_spec=str(detector_spec),
                         message_filter=recorder.message_filter, on_output=on_output,
                         on_detections=writer.write_detections)
        landmarks = pipeline.landmarks()
        writer.write_landmarks(last[0], last[1], landmarks)
    finally:
        writer.close()
        if bar.total:
            bar.n = bar.total
        bar.close()
        depth_model.close()
    for kind, ms in streams.timings_ms:
        if kind in FUSION_KINDS:
            recorder.time(FUSION_KINDS[kind], ms)
    wall['replay_s'] = time.perf_counter() - t0

    t0 = time.perf_counter()
    steps = _bar(progress, total=6, desc='evaluate + report', unit='step')
    localization = compute_metrics(bag, streams, landmarks)
    steps.update(1)
    detection = evaluate.detection_map(bag, recorder.predictions,
                                       load_spec(detector_spec).class_names)
    detection['conf_threshold'] = CONF_THRESHOLD
    steps.update(1)
    plot(bag, streams, landmarks, out)
    steps.update(1)
    figures.frames_grid(recorder.frames.values(), out / 'frames.png')
    steps.update(1)
    figures.depth_samples(recorder.depth_samples, out / 'depth.png')
    steps.update(1)
    figures.latency_histograms(recorder.timings, out / 'latency.png')
    steps.update(1)
    steps.close()
    wall['evaluate_report_s'] = time.perf_counter() - t0

    metrics = {
        'demo': {
            'seed': int(seed), 'duration_s': float(duration), 'backend': choice.backend,
            'backend_requested': backend, 'backend_reason': choice.reason,
            'backend_measured_ms': choice.measured_ms, 'detector_model': choice.detector,
            'depth_model': choice.depth,
            'camera': f'640x480 JPEG at {CAMERA_RATE:g} Hz (the real robot rate)',
            'input_bag': str(bag), 'images': recorder.images,
            'depth_samples': len(recorder.depth_samples), 'wall_s': time.perf_counter() - start,
            'wall_stages_s': wall,
        },
        'localization': localization,
        'detection': detection,
        'latency_ms': evaluate.latency_summary(recorder.timings),
        'memory': evaluate.memory_summary(recorder.memory),
        'files': ['report.html', 'metrics.json', 'trajectory.png', 'error.png', 'frames.png',
                  'depth.png', 'latency.png', 'bag/'],
    }
    write_json(out / 'metrics.json', metrics)
    path = report.write_html(out, metrics)
    return DemoResult(metrics, path.resolve(), report.summary_lines(metrics, path.resolve()))
