"""
Soak run: many frames through the replay pipeline, resident memory and queue sampled.

The demo's bag is replayed in a loop into one :class:`FusionPipeline` (each loop's stamps jump
back to 0, a bag loop: the pipeline detects the jump and resets) until ``--frames`` camera
frames went through the detector and the fusion. Prints the resident memory after warm-up and
at the end, the largest pipeline queue, and writes a figure.

    python -m ros2_infer.demo.soak --frames 20000 --out soak/
"""

import argparse
import json
from pathlib import Path
import sys
import time


class _Done(Exception):
    """Raised from the message filter once enough frames went through."""


def soak(frames: int, *, seed: int = 1, duration: float = 180.0, backend: str = 'int8',
         every: int = 500, log=print) -> dict:
    """Replay the demo bag until ``frames`` images went through; return the samples."""
    import logging

    from ros2_infer.core.pipeline import FusionPipeline, PipelineConfig
    from ros2_infer.demo.backends import choose_backend
    from ros2_infer.demo.recorder import IMAGE_TOPICS, resident_mb
    from ros2_infer.demo.run import simulate
    from ros2_infer.models import bundled_spec
    from ros2_infer.replay.runner import replay

    logging.getLogger('ros2_infer').setLevel(logging.ERROR)
    bag = simulate(duration, seed, log=log)
    choice = choose_backend(backend)
    pipeline = FusionPipeline(PipelineConfig(deskew=False))
    state = {'images': 0, 'loops': 0}
    samples = []          # (images, RSS MB, pending measurements, odometry history length)
    start = time.perf_counter()

    def count(topic, log_ns, msg):
        if topic in IMAGE_TOPICS:
            if state['images'] % every == 0:
                samples.append((state['images'], resident_mb(), len(pipeline.pending),
                                len(pipeline.scans), time.perf_counter() - start))
            if state['images'] >= frames:
                raise _Done()
            state['images'] += 1
        return msg

    try:
        while True:
            replay(bag, pipeline, detections='model',
                   model_spec=str(bundled_spec(choice.detector)), message_filter=count)
            state['loops'] += 1
            log(f'soak: loop {state["loops"]}, {state["images"]} frames, '
                f'RSS {samples[-1][1]:.0f} MB')
    except _Done:
        pass
    rss = [s[1] for s in samples if s[1] is not None]
    warm = rss[max(1, len(rss) // 10)] if len(rss) > 2 else None
    return {'frames': state['images'], 'loops': state['loops'] + 1, 'backend': choice.detector,
            'wall_s': time.perf_counter() - start, 'every': every,
            'rss_after_warmup_mb': warm, 'rss_end_mb': rss[-1] if rss else None,
            'rss_growth_after_warmup_pct': (100.0 * (rss[-1] - warm) / warm) if warm else None,
            'max_pending': max(s[2] for s in samples), 'max_scans': max(s[3] for s in samples),
            'faults': pipeline.stats().get('faults', {}),
            'samples': [list(s) for s in samples]}


def plot(result: dict, path: Path) -> Path:
    """Resident memory and pipeline queue over the frames."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    s = result['samples']
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot([r[0] for r in s], [r[1] for r in s], 'b-', label='resident memory (MB)')
    ax.set_xlabel('camera frames through detector + fusion')
    ax.set_ylabel('RSS (MB)')
    ax2 = ax.twinx()
    ax2.plot([r[0] for r in s], [r[2] for r in s], 'r.', ms=3, label='pending measurements')
    ax2.set_ylabel('pipeline queue')
    growth = result['rss_growth_after_warmup_pct']
    ax.set_title(f"soak: {result['frames']} frames"
                 + (f', RSS {growth:+.1f} % after warm-up' if growth is not None else ''))
    fig.legend(loc='lower right', fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    """Run the soak and write ``OUT/soak.json`` and ``OUT/soak.png``."""
    parser = argparse.ArgumentParser(prog='python -m ros2_infer.demo.soak', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--frames', type=int, default=20000)
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--backend', default='int8',
                        choices=('auto', 'torchscript', 'onnxruntime', 'int8'))
    parser.add_argument('--every', type=int, default=500, help='frames between samples')
    parser.add_argument('--out', default='soak')
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = soak(args.frames, seed=args.seed, backend=args.backend, every=args.every,
                  log=lambda text: print(text, file=sys.stderr))
    (out / 'soak.json').write_text(json.dumps(result, indent=2))
    plot(result, out / 'soak.png')
    growth = result['rss_growth_after_warmup_pct']
    memory = (f"RSS {result['rss_after_warmup_mb']:.0f} MB after warm-up -> "
              f"{result['rss_end_mb']:.0f} MB ({growth:+.1f} %)" if growth is not None
              else 'too few samples for the memory growth')
    print(f"soak: {result['frames']} frames in {result['wall_s']:.0f} s ({result['loops']} "
          f"loops of the bag), {memory}, pipeline queue at most {result['max_pending']}, "
          f"scan buffer at most {result['max_scans']} -> {out / 'soak.png'}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
