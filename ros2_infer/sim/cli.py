"""
``ros2-infer sim``: simulate TurtleBot3 in turtlebot3_world and record a rosbag2.

Example::

    ros2-infer sim --world turtlebot3_world --duration 180 --seed 1 --out run/
"""

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``sim`` options to ``parser`` (no heavy imports here)."""
    parser.add_argument('--world', default='turtlebot3_world', help='world to simulate')
    parser.add_argument('--duration', type=float, default=180.0, help='simulated seconds')
    parser.add_argument('--seed', type=int, default=1, help='seed of layout, drive and noise')
    parser.add_argument('--noise-seed', type=int, default=None,
                        help='seed of the sensor noise only (odometry, SLAM, timing, scan, '
                             'camera): another run of the same layout and drive (default: --seed)')
    parser.add_argument('--out', required=True,
                        help='output directory (gets bag/, landmarks.yaml, sim_info.yaml)')
    parser.add_argument('--robot', default='waffle_pi', choices=('waffle_pi', 'burger'),
                        help='TurtleBot3 model (burger has no camera)')
    parser.add_argument('--width', type=int, default=640, help='camera image width')
    parser.add_argument('--height', type=int, default=480, help='camera image height')
    parser.add_argument('--camera-rate', type=float, default=30.0, help='camera rate (Hz)')
    parser.add_argument('--scan-rate', type=float, default=5.0, help='lidar rate (Hz): 5 or 10')
    parser.add_argument('--slam-style', default='amcl',
                        choices=('amcl', 'slam_toolbox', 'cartographer'),
                        help='localisation stream: /amcl_pose, /pose, or TF map->odom only')
    parser.add_argument('--slam-profile', default=None,
                        help='SLAM error profile (amcl, slam_toolbox, cartographer, degraded, '
                             'perfect); default: the profile named like the style')
    parser.add_argument('--slam-latency', type=float, default=None,
                        help='SLAM delivery latency in s (default 0.150)')
    parser.add_argument('--compressed', action='store_true',
                        help='record /camera/image_raw/compressed (JPEG) instead of raw images')
    parser.add_argument('--jpeg-quality', type=int, default=90, help='JPEG quality 1..100')
    parser.add_argument('--depth', action='store_true',
                        help='also record /ground_truth/depth (32FC1, metres)')
    parser.add_argument('--randomize', action='store_true',
                        help='domain randomisation: lighting, object colours/textures, noise')
    parser.add_argument('--appearance-set', default='train', choices=('train', 'heldout'),
                        help='appearance set drawn from when randomising')
    parser.add_argument('--kidnap-time', type=float, default=None,
                        help='teleport the robot half a loop ahead at this time (s)')
    parser.add_argument('--num-objects', type=int, default=8,
                        help='detectable objects besides the 9 pillars')
    parser.add_argument('--storage', default='mcap', choices=('mcap', 'sqlite3'),
                        help='rosbag2 storage')
    parser.add_argument('--seg-scale', type=int, default=2,
                        help='segmentation (ground-truth boxes) rendered at 1/N resolution')
    parser.add_argument('--no-joint-states', action='store_true', help='omit /joint_states')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')


def run(args: argparse.Namespace) -> int:
    """Run the simulation described by ``args``; return the exit status."""
    from ros2_infer.sim.simulator import SimConfig, simulate

    config = SimConfig(
        world=args.world, duration=args.duration, seed=args.seed, noise_seed=args.noise_seed,
        robot=args.robot,
        width=args.width, height=args.height, camera_rate=args.camera_rate,
        scan_rate=args.scan_rate, slam_style=args.slam_style, slam_profile=args.slam_profile,
        slam_latency=args.slam_latency, compressed=args.compressed,
        jpeg_quality=args.jpeg_quality, depth=args.depth, randomize=args.randomize,
        appearance_set=args.appearance_set, kidnap_time=args.kidnap_time,
        num_objects=args.num_objects, storage=args.storage, seg_scale=args.seg_scale,
        joint_states=not args.no_joint_states, progress=not args.no_progress)
    summary = simulate(config, args.out)
    print(f'wrote {summary["bag"]} ({summary["storage"]}) and {summary["landmarks"]}: '
          f'{summary["duration_s"]:.1f} s simulated in {summary["wall_s"]:.1f} s '
          f'({summary["realtime_ratio"]:.2f}x real time, GL {summary["gl_backend"]})')
    return 0
