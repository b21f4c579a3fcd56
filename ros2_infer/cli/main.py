"""
Entry point of `ros2-infer`.

Each sub-command lives in its own module that defines ``add_arguments(parser)`` and
``run(args) -> int``. Modules keep their heavy imports (torch, mujoco, onnxruntime) inside
``run`` so that ``ros2-infer --help`` stays instant.
"""

import argparse
import importlib
import sys
from typing import List, Optional
import warnings

from ros2_infer import __version__
from ros2_infer.core.errors import Ros2InferError

# name -> (module, one-line help). Order is the order shown in --help.
COMMANDS = {
    'demo': ('ros2_infer.cli.demo', 'the whole mission end to end: simulate, replay through the '
             'core pipeline, evaluate, write an HTML report'),
    'sim': ('ros2_infer.sim.cli', 'simulate TurtleBot3 in turtlebot3_world and record a rosbag2'),
    'train': ('ros2_infer.cli.train', 'regenerate a bundled model (detector, depth) from the '
              'simulator'),
    'eval': ('ros2_infer.cli.eval', 'accuracy of a model on a simulator bag (mAP, AbsRel)'),
    'replay': ('ros2_infer.cli.replay', 'fuse detections, lidar, odometry and the SLAM stream '
               'offline from a bag in arrival order (outputs, metrics, plots)'),
    'merge-maps': ('ros2_infer.cli.merge_maps', 'merge the landmark maps of several mapping '
                   'runs into one, more accurate map'),
    'export': ('ros2_infer.cli.export', 'export a PyTorch model to TorchScript, ONNX and int8'),
    'bench': ('ros2_infer.cli.bench', 'benchmark a model on every backend, side by side'),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='ros2-infer', description='ros2_infer perception tools (no ROS 2 needed).')
    parser.add_argument('--version', action='version', version=f'%(prog)s {__version__}')
    subparsers = parser.add_subparsers(dest='command', metavar='COMMAND')
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            # A missing optional dependency must not take the other commands down with it.
            sub = subparsers.add_parser(name, help=f'{help_text} [unavailable: {error}]')
            sub.set_defaults(unavailable=str(error))
            continue
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    # torch deprecates torch.jit.save/load in favour of torch.export, which neither ONNX Runtime
    # users nor TorchScript deployments can switch to yet: keep that noise out of the output.
    warnings.filterwarnings('ignore', category=FutureWarning, module='torch')
    warnings.filterwarnings('ignore', category=DeprecationWarning, module='torch')
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if getattr(args, 'unavailable', None):
        print(f'ros2-infer {args.command}: unavailable: {args.unavailable}', file=sys.stderr)
        return 2
    try:
        return int(args.handler(args) or 0)
    except Ros2InferError as error:
        # Our own errors are written for users: one line, no traceback.
        print(f'ros2-infer {args.command}: error: {error}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == '__main__':
    sys.exit(main())
