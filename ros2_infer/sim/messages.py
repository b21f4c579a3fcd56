"""Build ROS 2 messages (rosbags typestore classes) from plain numbers and arrays."""

from collections.abc import Sequence
import math

import numpy as np

from ros2_infer.rosbag.typestore import get_typestore


def yaw_quat(yaw: float) -> tuple[float, float, float, float]:
    """Return the quaternion (x, y, z, w) of a rotation about z."""
    return (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2))


def rpy_quat(roll: float, pitch: float, yaw: float) -> tuple[float, float, float, float]:
    """Return the quaternion (x, y, z, w) of URDF roll-pitch-yaw angles."""
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
    return (sr * cp * cy - cr * sp * sy, cr * sp * cy + sr * cp * sy,
            cr * cp * sy - sr * sp * cy, cr * cp * cy + sr * sp * sy)


class MessageFactory:
    """Builds the message objects the simulator writes, from the shared typestore."""

    def __init__(self) -> None:
        """Look the message classes up once."""
        self.types = get_typestore().types
        t = self.types
        self.Time = t['builtin_interfaces/msg/Time']
        self.Header = t['std_msgs/msg/Header']
        self.Point = t['geometry_msgs/msg/Point']
        self.Quaternion = t['geometry_msgs/msg/Quaternion']
        self.Vector3 = t['geometry_msgs/msg/Vector3']
        self.Pose = t['geometry_msgs/msg/Pose']
        self.PoseWithCovariance = t['geometry_msgs/msg/PoseWithCovariance']
        self.Twist = t['geometry_msgs/msg/Twist']
        self.TwistWithCovariance = t['geometry_msgs/msg/TwistWithCovariance']
        self.Transform = t['geometry_msgs/msg/Transform']
        self.TransformStamped = t['geometry_msgs/msg/TransformStamped']
        self.zeros36 = np.zeros(36, dtype=np.float64)
        self.zeros9 = np.zeros(9, dtype=np.float64)

    def header(self, stamp_ns: int, frame_id: str):
        """Return a std_msgs/Header."""
        stamp_ns = int(stamp_ns)
        return self.Header(stamp=self.Time(sec=stamp_ns // 1_000_000_000,
                                           nanosec=stamp_ns % 1_000_000_000),
                           frame_id=frame_id)

    def pose(self, xyz: Sequence[float], quat: Sequence[float]):
        """Return a geometry_msgs/Pose."""
        return self.Pose(position=self.Point(x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2])),
                         orientation=self.Quaternion(x=float(quat[0]), y=float(quat[1]),
                                                     z=float(quat[2]), w=float(quat[3])))

    def transform(self, stamp_ns: int, parent: str, child: str, xyz: Sequence[float],
                  quat: Sequence[float]):
        """Return a geometry_msgs/TransformStamped."""
        return self.TransformStamped(
            header=self.header(stamp_ns, parent), child_frame_id=child,
            transform=self.Transform(
                translation=self.Vector3(x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2])),
                rotation=self.Quaternion(x=float(quat[0]), y=float(quat[1]), z=float(quat[2]),
                                         w=float(quat[3]))))

    def tf_message(self, transforms: list):
        """Return a tf2_msgs/TFMessage."""
        return self.types['tf2_msgs/msg/TFMessage'](transforms=transforms)

    def odometry(self, stamp_ns: int, frame: str, child: str, x: float, y: float, yaw: float,
                 v: float, w: float, pose_cov: np.ndarray = None, twist_cov: np.ndarray = None):
        """Return a nav_msgs/Odometry of a planar pose and body twist."""
        return self.types['nav_msgs/msg/Odometry'](
            header=self.header(stamp_ns, frame), child_frame_id=child,
            pose=self.PoseWithCovariance(
                pose=self.pose((x, y, 0.0), yaw_quat(yaw)),
                covariance=self.zeros36 if pose_cov is None else pose_cov),
            twist=self.TwistWithCovariance(
                twist=self.Twist(linear=self.Vector3(x=float(v), y=0.0, z=0.0),
                                 angular=self.Vector3(x=0.0, y=0.0, z=float(w))),
                covariance=self.zeros36 if twist_cov is None else twist_cov))

    def pose_with_covariance(self, stamp_ns: int, frame: str, x: float, y: float, yaw: float,
                             cov: Sequence[float]):
        """Return a geometry_msgs/PoseWithCovarianceStamped."""
        return self.types['geometry_msgs/msg/PoseWithCovarianceStamped'](
            header=self.header(stamp_ns, frame),
            pose=self.PoseWithCovariance(pose=self.pose((x, y, 0.0), yaw_quat(yaw)),
                                         covariance=np.asarray(cov, dtype=np.float64)))

    def image(self, stamp_ns: int, frame: str, pixels: np.ndarray, encoding: str):
        """Return a sensor_msgs/Image (rgb8 or 32FC1) sharing ``pixels``' memory."""
        h, w = pixels.shape[:2]
        step = pixels.strides[0]
        return self.types['sensor_msgs/msg/Image'](
            header=self.header(stamp_ns, frame), height=h, width=w, encoding=encoding,
            is_bigendian=0, step=step, data=pixels.reshape(-1).view(np.uint8))

    def compressed_image(self, stamp_ns: int, frame: str, data: np.ndarray, fmt: str):
        """Return a sensor_msgs/CompressedImage."""
        return self.types['sensor_msgs/msg/CompressedImage'](
            header=self.header(stamp_ns, frame), format=fmt, data=data)

    def camera_info(self, stamp_ns: int, frame: str, width: int, height: int,
                    fx: float, fy: float, cx: float, cy: float):
        """Return a sensor_msgs/CameraInfo of an undistorted pinhole camera."""
        ri = self.types['sensor_msgs/msg/RegionOfInterest'](
            x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
        return self.types['sensor_msgs/msg/CameraInfo'](
            header=self.header(stamp_ns, frame), height=height, width=width,
            distortion_model='plumb_bob', d=np.zeros(5, dtype=np.float64),
            k=np.array([fx, 0, cx, 0, fy, cy, 0, 0, 1], dtype=np.float64),
            r=np.array([1, 0, 0, 0, 1, 0, 0, 0, 1], dtype=np.float64),
            p=np.array([fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1, 0], dtype=np.float64),
            binning_x=0, binning_y=0, roi=ri)

    def laser_scan(self, stamp_ns: int, frame: str, ranges: np.ndarray, angle_increment: float,
                   range_min: float, range_max: float, scan_time: float):
        """Return a sensor_msgs/LaserScan starting at angle 0."""
        n = len(ranges)
        return self.types['sensor_msgs/msg/LaserScan'](
            header=self.header(stamp_ns, frame), angle_min=0.0,
            angle_max=float(angle_increment * (n - 1)), angle_increment=float(angle_increment),
            time_increment=float(scan_time / n), scan_time=float(scan_time),
            range_min=float(range_min), range_max=float(range_max),
            ranges=ranges.astype(np.float32), intensities=np.zeros(0, dtype=np.float32))

    def imu(self, stamp_ns: int, frame: str, yaw: float, gyro_z: float,
            accel: Sequence[float], gyro_var: float, accel_var: float):
        """Return a sensor_msgs/Imu with orientation, rate and acceleration."""
        ang_cov = np.diag([gyro_var] * 3).ravel().astype(np.float64)
        acc_cov = np.diag([accel_var] * 3).ravel().astype(np.float64)
        ori_cov = np.diag([1e-6, 1e-6, 1e-4]).ravel().astype(np.float64)
        q = yaw_quat(yaw)
        return self.types['sensor_msgs/msg/Imu'](
            header=self.header(stamp_ns, frame),
            orientation=self.Quaternion(x=q[0], y=q[1], z=q[2], w=q[3]),
            orientation_covariance=ori_cov,
            angular_velocity=self.Vector3(x=0.0, y=0.0, z=float(gyro_z)),
            angular_velocity_covariance=ang_cov,
            linear_acceleration=self.Vector3(x=float(accel[0]), y=float(accel[1]),
                                             z=float(accel[2])),
            linear_acceleration_covariance=acc_cov)

    def joint_state(self, stamp_ns: int, names: list[str], position: Sequence[float],
                    velocity: Sequence[float]):
        """Return a sensor_msgs/JointState."""
        return self.types['sensor_msgs/msg/JointState'](
            header=self.header(stamp_ns, ''), name=list(names),
            position=np.asarray(position, dtype=np.float64),
            velocity=np.asarray(velocity, dtype=np.float64),
            effort=np.zeros(0, dtype=np.float64))

    def clock(self, stamp_ns: int):
        """Return a rosgraph_msgs/Clock."""
        stamp_ns = int(stamp_ns)
        return self.types['rosgraph_msgs/msg/Clock'](
            clock=self.Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000))

    def detection2d_array(self, stamp_ns: int, frame: str,
                          boxes: list[tuple]):
        """
        Return a vision_msgs/Detection2DArray from (id, class, cx, cy, w, h[, score]) in pixels.

        Ground truth uses the score for the box's visible fraction (1.0 when not given).
        """
        t = self.types
        hyp, hyp_pose = t['vision_msgs/msg/ObjectHypothesis'], t[
            'vision_msgs/msg/ObjectHypothesisWithPose']
        bbox2d, pose2d, point2d = (t['vision_msgs/msg/BoundingBox2D'],
                                   t['vision_msgs/msg/Pose2D'], t['vision_msgs/msg/Point2D'])
        header = self.header(stamp_ns, frame)
        identity = self.PoseWithCovariance(pose=self.pose((0, 0, 0), (0, 0, 0, 1)),
                                           covariance=self.zeros36)
        dets = [t['vision_msgs/msg/Detection2D'](
            header=header,
            results=[hyp_pose(hypothesis=hyp(class_id=cls, score=float(rest[0]) if rest else 1.0),
                              pose=identity)],
            bbox=bbox2d(center=pose2d(position=point2d(x=float(cx), y=float(cy)), theta=0.0),
                        size_x=float(w), size_y=float(h)),
            id=str(ident)) for ident, cls, cx, cy, w, h, *rest in boxes]
        return t['vision_msgs/msg/Detection2DArray'](header=header, detections=dets)

    def detection3d_array(self, stamp_ns: int, frame: str, landmarks) -> object:
        """Return a vision_msgs/Detection3DArray of landmarks (centre, size, yaw)."""
        t = self.types
        header = self.header(stamp_ns, frame)
        dets = []
        for lm in landmarks:
            pose = self.pose(lm.position, yaw_quat(lm.yaw))
            dets.append(t['vision_msgs/msg/Detection3D'](
                header=header,
                results=[t['vision_msgs/msg/ObjectHypothesisWithPose'](
                    hypothesis=t['vision_msgs/msg/ObjectHypothesis'](
                        class_id=lm.class_name, score=1.0),
                    pose=self.PoseWithCovariance(pose=pose, covariance=self.zeros36))],
                bbox=t['vision_msgs/msg/BoundingBox3D'](
                    center=pose, size=self.Vector3(x=float(lm.size[0]), y=float(lm.size[1]),
                                                   z=float(lm.size[2]))),
                id=str(lm.id)))
        return t['vision_msgs/msg/Detection3DArray'](header=header, detections=dets)


TYPE_NAMES: dict[str, str] = {
    'image': 'sensor_msgs/msg/Image',
    'compressed': 'sensor_msgs/msg/CompressedImage',
    'camera_info': 'sensor_msgs/msg/CameraInfo',
    'scan': 'sensor_msgs/msg/LaserScan',
    'imu': 'sensor_msgs/msg/Imu',
    'odom': 'nav_msgs/msg/Odometry',
    'tf': 'tf2_msgs/msg/TFMessage',
    'pose_cov': 'geometry_msgs/msg/PoseWithCovarianceStamped',
    'clock': 'rosgraph_msgs/msg/Clock',
    'joint_states': 'sensor_msgs/msg/JointState',
    'det2d': 'vision_msgs/msg/Detection2DArray',
    'det3d': 'vision_msgs/msg/Detection3DArray',
}
