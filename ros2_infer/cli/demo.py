"""
``ros2-infer demo``: the whole mission end to end with a report.

Simulates a TurtleBot3 run in turtlebot3_world, replays it through the core pipeline as the
nodes would (detector, depth samples, lidar/camera fusion, landmark map, localizer), evaluates
it against the simulator's ground truth and writes DIR/report.html with its figures,
metrics.json and the output bag.
"""

import argparse
from pathlib import Path
import sys

# --profile: what --backend auto means in each profile (pi: the int8 variants made for this
# CPU, ARM on a Pi). The demo keeps its depth samples: its report shows them.
PROFILE_BACKENDS = {'default': 'auto', 'pi': 'int8'}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``demo``."""
    parser.add_argument('--duration', type=float, default=180.0,
                        help='simulated seconds (default 180)')
    parser.add_argument('--seed', type=int, default=1, help='simulator seed (default 1)')
    parser.add_argument('--backend', default='auto',
                        choices=('auto', 'torchscript', 'onnxruntime', 'int8'),
                        help='model runtime; auto times each on this machine and takes the '
                             'fastest (default), or is int8 with --profile pi')
    parser.add_argument('--profile', default='default', choices=tuple(PROFILE_BACKENDS),
                        help='pi: the Raspberry Pi 4/5 set-up (int8 models made for this CPU)')
    parser.add_argument('--out', default='demo_report',
                        help='report folder (default demo_report)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bars')


def chosen_backend(args: argparse.Namespace) -> str:
    """Return the backend to run: an explicit --backend, else the profile's."""
    return PROFILE_BACKENDS[args.profile] if args.backend == 'auto' else args.backend


def run(args: argparse.Namespace) -> int:
    """Run the demo and print its summary."""
    from ros2_infer.core.errors import InputError
    from ros2_infer.demo.run import run_demo

    if args.duration <= 0:
        raise InputError(f'--duration must be positive, got {args.duration}')
    result = run_demo(duration=args.duration, seed=args.seed, backend=chosen_backend(args),
                      out=Path(args.out), progress=not args.no_progress,
                      log=lambda text: print(text, file=sys.stderr))
    print('\n'.join(result.summary))
    return 0


if __name__ == '__main__':
    _parser = argparse.ArgumentParser(prog='ros2-infer demo', description=__doc__)
    add_arguments(_parser)
    sys.exit(run(_parser.parse_args()))
