"""
Bring up the ros2_infer perception nodes for a TurtleBot3 (Gazebo or the real robot).

``ros2 launch ros2_infer perception.launch.py`` starts the ``detector``, ``depth`` and
``localizer`` lifecycle nodes, remapped to the TurtleBot3 topic names (relative, so
``namespace`` works), and drives each through configure -> activate itself: Humble's launch_ros
has no lifecycle autostart (Jazzy's came late, in launch_ros 0.26.7), and one way for both keeps
the start-up alike. A node whose configure fails (e.g. ``model.spec``
unset) stays unconfigured and says why. Burger has no camera, so with ``robot_model:=burger``
the camera nodes stay off; the localizer then runs on odometry, the SLAM input and the scan.
``profile:=pi`` is the Raspberry Pi 4/5 set-up: ``config/pi.yaml`` (int8 ARM models, 4 threads)
as params file unless ``params_file`` is given, and the depth node off unless ``use_depth``
says otherwise.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchContext, LaunchDescription
from launch.actions import (
    DeclareLaunchArgument, EmitEvent, LogInfo, OpaqueFunction, RegisterEventHandler,
    SetEnvironmentVariable)
from launch.event_handlers import OnProcessStart
from launch.events import matches_action
from launch.substitutions import EnvironmentVariable, LaunchConfiguration
from launch_ros.actions import LifecycleNode, SetParameter
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from launch_ros.parameter_descriptions import ParameterFile
from lifecycle_msgs.msg import Transition

CAMERALESS_MODELS = ('burger',)
# Default topic names of turtlebot3_gazebo / turtlebot3_bringup, written relative.
TF_REMAPS = [('/tf', 'tf'), ('/tf_static', 'tf_static')]
NODES = (
    # (node name, executable, switch argument, model override argument, needs a camera,
    #  remappings)
    ('detector', 'detector_node', 'use_detector', 'detector_model', True,
     [('image', 'camera/image_raw'), ('image/compressed', 'camera/image_raw/compressed')]),
    ('depth', 'depth_node', 'use_depth', 'depth_model', True,
     [('image', 'camera/image_raw'), ('camera_info', 'camera/camera_info'), ('scan', 'scan')]
     + TF_REMAPS),
    # The localizer's slam_pose input is slam_toolbox's 'pose' (used with slam_input:=pose).
    ('localizer', 'localizer_node', 'use_localizer', '', False,
     [('detections', 'detections'), ('camera_info', 'camera/camera_info'), ('scan', 'scan'),
      ('odom', 'odom'), ('amcl_pose', 'amcl_pose'), ('slam_pose', 'pose')] + TF_REMAPS),
)
SLAM_INPUTS = ('amcl_pose', 'pose', 'tf', 'none')
# profile -> (params file in share/ros2_infer/config, use_depth when use_depth is empty)
PROFILES = {'default': ('perception.yaml', True), 'pi': ('pi.yaml', False)}


def _true(text: str) -> bool:
    return text.strip().lower() in ('true', '1', 'yes', 'on')


def _lifecycle_startup(node: LifecycleNode) -> list:
    """Emit configure once the process runs, and activate once it is inactive."""
    def change(transition_id: int) -> EmitEvent:
        return EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                           transition_id=transition_id))

    return [
        RegisterEventHandler(OnProcessStart(
            target_action=node, on_start=[change(Transition.TRANSITION_CONFIGURE)])),
        RegisterEventHandler(OnStateTransition(
            target_lifecycle_node=node, start_state='configuring', goal_state='inactive',
            entities=[change(Transition.TRANSITION_ACTIVATE)])),
    ]


def localizer_remappings(remappings: list, slam_input: str) -> list:
    """Return the localizer's remappings for ``slam_input``."""
    if slam_input == 'pose':
        # slam_toolbox already publishes 'pose': move the fused pose out of its way.
        return remappings + [('pose', 'localizer/pose')]
    return list(remappings)


def landmark_map_overrides(landmark_map: str, save_landmark_map: str) -> dict:
    """Return the localizer's map.* overrides of the landmark_map/save_landmark_map arguments."""
    overrides = {}
    if landmark_map:
        # As nav2_bringup's map:= selects a map: localise against this saved landmark map.
        overrides.update({'map.mode': 'known', 'map.known_file': landmark_map})
    if save_landmark_map:
        overrides['map.save_file'] = save_landmark_map
    return overrides


def profile_settings(profile: str, params_file: str, default_params_file: str,
                     use_depth: str) -> tuple:
    """
    Return (params file, use_depth) for ``profile``.

    The profile's file replaces the default params file only (a ``params_file`` given on the
    command line wins); an empty ``use_depth`` means the profile's choice.
    """
    if profile not in PROFILES:
        raise ValueError(f'profile must be one of {tuple(PROFILES)}, got {profile!r}')
    file_name, depth = PROFILES[profile]
    if default_params_file and params_file == default_params_file:
        params_file = os.path.join(os.path.dirname(default_params_file), file_name)
    return params_file, depth if not use_depth.strip() else _true(use_depth)


def launch_setup(context: LaunchContext, default_params_file: str = '') -> list:
    """Create the enabled nodes (values are known here, so no PythonExpression/eval)."""
    namespace = LaunchConfiguration('namespace').perform(context)
    robot_model = LaunchConfiguration('robot_model').perform(context)
    # .get: launch_setup also runs on contexts made before the profile argument existed.
    params_file, use_depth = profile_settings(
        context.launch_configurations.get('profile', 'default'),
        LaunchConfiguration('params_file').perform(context), default_params_file,
        context.launch_configurations.get('use_depth', ''))
    log_level = LaunchConfiguration('log_level')
    device = LaunchConfiguration('device').perform(context)
    compressed = LaunchConfiguration('compressed').perform(context)
    slam_input = LaunchConfiguration('slam_input').perform(context)
    has_camera = robot_model not in CAMERALESS_MODELS
    actions = []
    if slam_input and slam_input not in SLAM_INPUTS:
        raise ValueError(f'slam_input must be one of {SLAM_INPUTS} or empty, got {slam_input!r}')
    for name, executable, switch, model_argument, needs_camera, remappings in NODES:
        enabled = (use_depth if switch == 'use_depth'
                   else _true(LaunchConfiguration(switch).perform(context)))
        if not enabled:
            continue
        if needs_camera and not has_camera:
            actions.append(LogInfo(msg=f'ros2_infer: robot_model {robot_model!r} has no camera: '
                                       f'{name} stays off'))
            continue
        overrides = {}
        model = LaunchConfiguration(model_argument).perform(context) if model_argument else ''
        if model:
            overrides['model.spec'] = model
        if device and name != 'localizer':
            overrides['model.device'] = device
        if name == 'detector' and compressed:
            overrides['input.compressed'] = _true(compressed)
        if name == 'localizer' and slam_input:
            overrides['slam.input'] = slam_input
            remappings = localizer_remappings(remappings, slam_input)
        if name == 'localizer':
            # .get: contexts made before these arguments existed
            overrides.update(landmark_map_overrides(
                context.launch_configurations.get('landmark_map', ''),
                context.launch_configurations.get('save_landmark_map', '')))
        node = LifecycleNode(
            package='ros2_infer', executable=executable, name=name, namespace=namespace,
            output='screen',
            # An empty dict would become an empty ros__parameters block: left out instead.
            parameters=[ParameterFile(params_file, allow_substs=True)] + (
                [overrides] if overrides else []),
            arguments=['--ros-args', '--log-level', log_level], remappings=remappings)
        actions.append(node)
        actions.extend(_lifecycle_startup(node))
    return actions


def generate_launch_description() -> LaunchDescription:
    """Return the perception bringup."""
    share = get_package_share_directory('ros2_infer')
    default_params_file = os.path.join(share, 'config', PROFILES['default'][0])
    return LaunchDescription([
        SetEnvironmentVariable('RCUTILS_LOGGING_BUFFERED_STREAM', '1'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='Top-level namespace (multi-robot).'),
        DeclareLaunchArgument('profile', default_value='default',
                              description='Settings profile: default, or pi (Raspberry Pi 4/5: '
                                          'config/pi.yaml with the int8 ARM models and 4 '
                                          'threads, depth node off).'),
        DeclareLaunchArgument('params_file', default_value=default_params_file,
                              description='Parameters of all perception nodes (default: the '
                                          "profile's file, config/perception.yaml or "
                                          'config/pi.yaml).'),
        DeclareLaunchArgument('use_sim_time', default_value='false',
                              description='Use the /clock of Gazebo or a bag (true/false).'),
        DeclareLaunchArgument('log_level', default_value='info',
                              description='Log level: debug, info, warn, error.'),
        DeclareLaunchArgument('robot_model',
                              default_value=EnvironmentVariable('TURTLEBOT3_MODEL',
                                                                default_value='waffle_pi'),
                              description='TurtleBot3 model (burger, waffle, waffle_pi); burger '
                                          'has no camera, so the camera nodes stay off. Default: '
                                          '$TURTLEBOT3_MODEL, else waffle_pi.'),
        DeclareLaunchArgument('use_detector', default_value='true',
                              description='Start the 2D detector node.'),
        DeclareLaunchArgument('use_depth', default_value='',
                              description='Start the monocular depth node (true/false); '
                                          "empty: the profile's choice (on; off for pi)."),
        DeclareLaunchArgument('use_localizer', default_value='true',
                              description='Start the localizer (objects and landmarks in the '
                                          'map, fused pose); without the detector it runs on '
                                          'odometry, the SLAM input and the scan.'),
        DeclareLaunchArgument('slam_input', default_value='',
                              description='Localizer SLAM input: amcl_pose (AMCL), pose '
                                          '(slam_toolbox localization; the fused pose then goes '
                                          'to localizer/pose), tf (map->odom: Cartographer, '
                                          "slam_toolbox mapping) or none (no SLAM: RViz's "
                                          'initialpose and a known landmark map); empty: the '
                                          "params file's slam.input."),
        DeclareLaunchArgument('landmark_map', default_value='',
                              description='Saved landmark map (YAML of ros2-infer replay '
                                          '--save-map, merge-maps or the save_map service) to '
                                          'localise against (map.mode known); empty: the '
                                          "params file's map.mode."),
        DeclareLaunchArgument('save_landmark_map', default_value='',
                              description='Where the localizer writes its landmark map (on '
                                          'cleanup, shutdown and ~/save_map); empty: the params '
                                          "file's map.save_file."),
        DeclareLaunchArgument('detector_model', default_value='',
                              description="Detector model spec YAML; empty: the params file's "
                                          'detector model.spec.'),
        DeclareLaunchArgument('depth_model', default_value='',
                              description="Depth model spec YAML; empty: the params file's "
                                          'depth model.spec.'),
        DeclareLaunchArgument('device', default_value='',
                              description='Inference device for all nodes (cpu, cuda, tensorrt, '
                                          "openvino, auto); empty: the params file's."),
        DeclareLaunchArgument('compressed', default_value='',
                              description='Detector input: true for image/compressed; empty: '
                                          "the params file's input.compressed."),
        SetParameter(name='use_sim_time', value=LaunchConfiguration('use_sim_time')),
        OpaqueFunction(function=launch_setup,
                       kwargs={'default_params_file': default_params_file}),
    ])
