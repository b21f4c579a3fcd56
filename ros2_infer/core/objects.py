"""
3D objects from 2D boxes, the lidar scan and per-class shape priors, each with a covariance.

The lidar hits an object's surface, not its centre: a per-class shape prior (cylinder radius
at the scan height, chair legs, thin pole) turns the hits into a centre. Objects below the scan
plane get no hits; their centre comes from the floor plane under the box's bottom edge, and
failing that from the class's size prior (distance = f·H / box height). A metric depth image
(scale and shift fitted to lidar upstream) can be passed instead of the floor plane.
"""

from dataclasses import dataclass, field
import math

import numpy as np

from ros2_infer.core.camera import PinholeCamera
from ros2_infer.core.detections import Detections
from ros2_infer.core.geometry import invert_matrix
from ros2_infer.core.lidar import nearest_cluster, points_in_box, project_points


@dataclass(frozen=True)
class ShapePrior:
    """How the lidar sees a class: ``kind`` cylinder/legs/none, radius at scan height, size."""

    kind: str
    radius: float
    size: tuple[float, float, float]
    sigma: float = 0.02   # extra centre uncertainty of the shape model (m)
    leg_spacing: float = 0.0   # 'legs': side of the square the leg centres stand on (m)
    leg_width: float = 0.0     # 'legs': width of one leg at the scan height (m)


# Shapes of the turtlebot3_world classes (docs/simulation.md); unknown classes use DEFAULT.
SHAPE_PRIORS: dict[str, ShapePrior] = {
    'pillar': ShapePrior('cylinder', 0.15, (0.30, 0.30, 0.50), 0.006),
    'barrel': ShapePrior('cylinder', 0.17, (0.35, 0.35, 0.50), 0.01),
    'traffic_cone': ShapePrior('cylinder', 0.07, (0.28, 0.28, 0.32), 0.015),
    'signpost': ShapePrior('cylinder', 0.025, (0.30, 0.40, 0.97), 0.02),
    'chair': ShapePrior('legs', 0.12, (0.40, 0.40, 0.85), 0.07, leg_spacing=0.34,
                        leg_width=0.03),
    'box': ShapePrior('none', 0.14, (0.36, 0.28, 0.10), 0.05),
    'ball': ShapePrior('none', 0.0625, (0.125, 0.125, 0.125), 0.03),
}
DEFAULT_PRIOR = ShapePrior('none', 0.15, (0.3, 0.3, 0.3), 0.1)
# Centre uncertainty of a leg-square fit (m): a leg's hits place it to about a centimetre.
LEGS_FIT_SIGMA = 0.02
# Hits on a cylinder lie within its radius of their mean; this much more is range noise (m).
CYLINDER_SPREAD_SLACK = 0.03


@dataclass
class Object3D:
    """One detected object: class, score, centre and 3x3 covariance in the base frame."""

    class_name: str
    score: float
    position: np.ndarray               # (3,) base frame (base_footprint: z = 0 on the floor)
    covariance: np.ndarray             # (3, 3)
    source: str                        # 'lidar', 'floor', 'depth' or 'size'
    box: np.ndarray                    # (4,) xyxy, source-image pixels
    n_points: int = 0
    size: tuple[float, float, float] = (0.3, 0.3, 0.3)
    extra: dict = field(default_factory=dict)

    def planar(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the planar centre (2,) and its 2x2 covariance."""
        return self.position[:2].copy(), self.covariance[:2, :2].copy()


def _fit_circle(points: np.ndarray, origin: np.ndarray, radius: float) -> np.ndarray:
    """Centre of a circle of known radius through surface hits seen from ``origin``."""
    centroid = points.mean(axis=0)
    direction = centroid - origin
    direction /= max(np.linalg.norm(direction), 1e-9)
    near = points[np.argmin(np.linalg.norm(points - origin, axis=1))]
    start = origin + direction * (np.dot(near - origin, direction) + radius)
    c = start.copy()
    if points.shape[0] >= 3:
        for _ in range(6):               # Gauss–Newton on sum (|p - c| - r)^2
            d = c - points
            dist = np.maximum(np.linalg.norm(d, axis=1), 1e-9)
            j = d / dist[:, None]
            res = dist - radius
            step = np.linalg.lstsq(j, -res, rcond=None)[0]
            c = c + step
        if np.linalg.norm(c - start) > radius or np.dot(c - origin, direction) <= 0:
            c = start
    return c


def _whole_arc(cluster: np.ndarray, points: np.ndarray, origin: np.ndarray,
               radius: float) -> np.ndarray:
    """
    Every hit on the cylinder whose hits inside the box are ``cluster``.

    The box holds only the hits the camera sees, less a margin and none beyond the image's
    border: a pillar cut by the border may show two hits on its flank, which no circle fit can
    place. The lidar sees the whole arc, so scan points joined to the cluster by steps under
    about two beam spacings are added, as long as the arc stays as narrow as the cylinder
    (else a neighbouring object joined in, and the box's hits are kept).
    """
    seed = cluster.mean(axis=0)
    reach = 2.0 * radius + CYLINDER_SPREAD_SLACK
    near = points[np.linalg.norm(points - seed, axis=1) <= reach]
    if near.shape[0] <= cluster.shape[0]:
        return cluster
    step = max(0.04, 0.035 * float(np.linalg.norm(seed - origin)))   # 2 beams of 1 deg
    gaps = np.linalg.norm(near[:, None, :] - near[None, :, :], axis=2)
    member = np.min(np.linalg.norm(near[:, None, :] - cluster[None, :, :], axis=2),
                    axis=1) < 1e-6
    while True:
        grown = member | np.any(gaps[member] < step, axis=0)
        if grown.sum() == member.sum():
            break
        member = grown
    arc = near[member]
    spread = float(np.max(np.linalg.norm(arc - arc.mean(axis=0), axis=1)))
    return arc if spread <= radius + CYLINDER_SPREAD_SLACK else cluster


def _split_legs(points: np.ndarray, origin: np.ndarray, gap: float,
                max_extent: float) -> list[np.ndarray] | None:
    """Group hits into legs by bearing; None when a group is too wide to be one leg."""
    rel = points - origin
    order = np.argsort(np.arctan2(rel[:, 1], rel[:, 0]))
    ordered = points[order]
    steps = np.linalg.norm(np.diff(ordered, axis=0), axis=1)
    groups = np.split(ordered, np.nonzero(steps > gap)[0] + 1)
    for group in groups:
        if np.max(np.linalg.norm(group - group.mean(axis=0), axis=1)) > max_extent / 2:
            return None   # a wall or another object, not a thin leg
    return groups


def _beams_pass_through(legs: np.ndarray, origin: np.ndarray, scan: np.ndarray,
                        radius: float) -> bool:
    """Whether a scan return lies behind one of ``legs`` on a beam that crosses that leg."""
    beams = scan - origin
    ranges = np.linalg.norm(beams, axis=1)
    unit = beams / np.maximum(ranges, 1e-9)[:, None]
    for leg in legs:
        along = unit @ (leg - origin)
        across = np.abs(unit[:, 0] * (leg - origin)[1] - unit[:, 1] * (leg - origin)[0])
        if np.any((across < radius) & (along > 0.0) & (ranges > along + 2.0 * radius + 0.03)):
            return True
    return False


def _legs_centre(points: np.ndarray, origin: np.ndarray, spacing: float, width: float,
                 scan: np.ndarray | None = None) -> np.ndarray | None:
    """
    Centre of a four-legged object (legs on a square of side ``spacing``) from its leg hits.

    Two legs a diagonal apart, three legs (two of them a diagonal apart) or four legs give the
    centre as a midpoint. Two neighbouring legs leave two candidates, half a side on either
    side of them: the beams often pass between legs, so the nearer pair may be the one missed.
    A candidate is refuted when a beam of ``scan`` (all the scan's points) went through where
    its other two legs would stand; one candidate left is the centre. Anything else (one leg,
    hits that do not fit the square, both candidates possible) returns None.
    """
    legs = _split_legs(points, origin, spacing / 3.0, 2.0 * width + 0.02)
    if legs is None or not 2 <= len(legs) <= 4:
        return None
    centres = []
    for leg in legs:
        mean = leg.mean(axis=0)
        away = (mean - origin) / max(np.linalg.norm(mean - origin), 1e-9)
        centres.append(mean + away * width / 2.0)   # the hits lie on the leg's near face
    centres = np.array(centres)
    diagonal, tolerance = spacing * math.sqrt(2.0), 0.3 * spacing
    pairs = [(float(np.linalg.norm(centres[i] - centres[j])), i, j)
             for i in range(len(centres)) for j in range(i + 1, len(centres))]
    if not all(min(abs(d - spacing), abs(d - diagonal)) <= tolerance for d, _, _ in pairs):
        return None
    longest, i, j = max(pairs)
    if abs(longest - diagonal) <= tolerance:
        return 0.5 * (centres[i] + centres[j])
    if len(centres) != 2 or scan is None:
        return None
    # Two neighbouring legs: keep the side whose other two legs no beam went through.
    mid = 0.5 * (centres[0] + centres[1])
    side = centres[1] - centres[0]
    normal = np.array([-side[1], side[0]]) / max(np.linalg.norm(side), 1e-9)
    possible = [sign * normal for sign in (1.0, -1.0)
                if not _beams_pass_through(centres + sign * normal * spacing, origin, scan,
                                           0.4 * width)]
    return mid + possible[0] * spacing / 2.0 if len(possible) == 1 else None


def _planar_cov(direction: np.ndarray, sigma_along: float, sigma_across: float) -> np.ndarray:
    d = direction / max(np.linalg.norm(direction), 1e-9)
    rot = np.array([[d[0], -d[1]], [d[1], d[0]]])
    return rot @ np.diag([sigma_along ** 2, sigma_across ** 2]) @ rot.T


class ObjectEstimator:
    """Turn one image's detections plus deskewed scan points into :class:`Object3D` s."""

    def __init__(self, priors: dict[str, ShapePrior] | None = None,
                 lidar_sigma: float = 0.01, pixel_sigma: float = 3.0,
                 min_points: int = 2, box_shrink: float = 0.15,
                 legs_box_shrink: float = 0.03, max_size_distance: float = 4.0,
                 range_tolerance: tuple[float, float] = (0.15, 0.25)) -> None:
        """Set the shape priors and the sensor noise used for the covariances."""
        self.priors = dict(SHAPE_PRIORS if priors is None else priors)
        self.lidar_sigma = lidar_sigma
        self.pixel_sigma = pixel_sigma
        self.min_points = min_points
        self.box_shrink = box_shrink
        # A leg-standing object's legs are at the box's sides: shrinking would cut them off.
        self.legs_box_shrink = legs_box_shrink
        # A lidar range may differ from the box's own range by a + b * range (m).
        self.range_tolerance = range_tolerance
        self.max_size_distance = max_size_distance

    def prior(self, class_name: str) -> ShapePrior:
        """Return the shape prior of a class (a generic one for unknown classes)."""
        return self.priors.get(class_name, DEFAULT_PRIOR)

    def estimate(self, detections: Detections, camera: PinholeCamera,
                 cam_from_base: np.ndarray, points_base: np.ndarray | None,
                 scan_origin: np.ndarray, scan_z: float,
                 depth: np.ndarray | None = None) -> list[Object3D]:
        """
        Estimate the 3D centre of every detection.

        :param cam_from_base: 4x4 transform base -> camera optical frame at the image stamp.
        :param points_base: (M, 2) scan points in the base frame at the image stamp, or None.
        :param scan_origin: (2,) lidar position in the base frame; ``scan_z`` its height.
        :param depth: optional metric z-depth image (optical frame) for below-plane objects.
        """
        base_from_cam = invert_matrix(cam_from_base)
        cam_origin = base_from_cam[:3, 3]
        uv = depth_pts = None
        if points_base is not None and points_base.shape[0]:
            uv, depth_pts = project_points(points_base, scan_z, cam_from_base, camera)
        out = []
        names = detections.labels()
        for i in range(len(detections)):
            # Detections use continuous pixels (edges at integers); CameraInfo pixel centres.
            box = detections.boxes[i].astype(float) - 0.5
            name = names[i]
            prior = self.prior(name)
            obj = None
            if uv is not None and prior.kind != 'none':
                obj = self._from_lidar(box, name, prior, uv, depth_pts, points_base, scan_origin)
                if obj is not None and not self._range_agrees(obj[0], box, prior, camera,
                                                              base_from_cam, cam_origin):
                    obj = None
            if obj is None and depth is not None:
                obj = self._from_depth(box, prior, camera, base_from_cam, depth)
            if obj is None:
                obj = self._from_floor(box, prior, camera, base_from_cam, cam_origin)
            if obj is None:
                obj = self._from_size(box, prior, camera, base_from_cam, cam_origin)
            if obj is None:
                continue
            position, cov, source, n = obj
            out.append(Object3D(name, float(detections.scores[i]), position, cov, source,
                                detections.boxes[i].astype(float), n, prior.size))
        return out

    def _from_lidar(self, box, name, prior, uv, depth_pts, points_base, origin):
        shrink = self.legs_box_shrink if prior.kind == 'legs' else self.box_shrink
        sel = points_in_box(uv, box, shrink) & np.isfinite(depth_pts)
        # A thin pole may be hit by a single beam; anything wider needs a few.
        min_points = 1 if prior.radius < 0.05 else self.min_points
        if int(sel.sum()) < min_points:
            return None
        gap = 0.45 if prior.kind == 'legs' else 0.12
        cluster = nearest_cluster(points_base[sel], origin, gap=gap, min_points=min_points)
        n = cluster.shape[0]
        if n < min_points:
            return None
        shape_sigma = prior.sigma
        centre = None
        if prior.kind == 'cylinder':
            spread = float(np.max(np.linalg.norm(cluster - cluster.mean(axis=0), axis=1)))
            if spread > prior.radius + CYLINDER_SPREAD_SLACK:
                return None   # wider than the class: the hits are another object's
            cluster = _whole_arc(cluster, points_base, origin, prior.radius)
            n = cluster.shape[0]
            centre = _fit_circle(cluster, origin, prior.radius)
        elif prior.kind == 'legs' and prior.leg_spacing > 0.0:
            centre = _legs_centre(cluster, origin, prior.leg_spacing, prior.leg_width,
                                  points_base)
            if centre is None:
                return None   # not the legs: another object's hits, or a single leg
            shape_sigma = LEGS_FIT_SIGMA
        if centre is None:
            centroid = cluster.mean(axis=0)
            direction = (centroid - origin) / max(np.linalg.norm(centroid - origin), 1e-9)
            centre = centroid + direction * prior.radius
        direction = centre - origin
        rng = float(np.linalg.norm(direction))
        along = math.hypot(self.lidar_sigma / math.sqrt(n), shape_sigma)
        across = math.hypot(rng * 0.0087 / math.sqrt(n), shape_sigma)  # half a beam step
        cov = np.zeros((3, 3))
        cov[:2, :2] = _planar_cov(direction, along, across)
        cov[2, 2] = (prior.size[2] / 4) ** 2
        return np.array([centre[0], centre[1], prior.size[2] / 2]), cov, 'lidar', n

    def _ray_base(self, camera, base_from_cam, u, v):
        ray = camera.unproject(np.array([[u, v]]))[0]
        return base_from_cam[:3, :3] @ ray

    def _finish(self, contact, cam_origin, prior, sigma_along, sigma_across, source):
        direction = contact[:2] - cam_origin[:2]
        norm = np.linalg.norm(direction)
        if norm < 1e-6:
            return None
        direction /= norm
        centre = contact[:2] + direction * prior.radius
        cov = np.zeros((3, 3))
        cov[:2, :2] = _planar_cov(direction, math.hypot(sigma_along, prior.sigma),
                                  math.hypot(sigma_across, prior.sigma))
        cov[2, 2] = (prior.size[2] / 4) ** 2
        return np.array([centre[0], centre[1], prior.size[2] / 2]), cov, source, 0

    def _range_agrees(self, centre, box, prior, camera, base_from_cam, cam_origin) -> bool:
        """
        Whether a lidar centre is as far as the box itself says the object is.

        The scan points inside a box may all lie on the wall behind a thin object the beams
        missed (a signpost pole, a cone's tip, chair legs between beams). The box's height
        (the class's height at that range) or, when the box's top or bottom is cut, the floor
        under its bottom edge gives an independent range to the object's near side; a lidar
        centre far from that plus the class's radius is another object's.
        """
        x1, y1, x2, y2 = box
        if y1 > 1 and y2 < camera.height - 2 and y2 - y1 >= 4:
            near_side = camera.fy * prior.size[2] / (y2 - y1)
        else:
            contact = self._floor_contact(box, camera, base_from_cam, cam_origin)
            if contact is None:
                return True   # nothing to compare with
            near_side = float(np.linalg.norm(contact[:2] - cam_origin[:2]))
        expected = near_side + prior.radius
        measured = float(np.linalg.norm(np.asarray(centre[:2]) - cam_origin[:2]))
        slack, share = self.range_tolerance
        return abs(measured - expected) <= slack + share * expected

    def _floor_contact(self, box, camera, base_from_cam, cam_origin):
        """Floor point under the middle of the box's bottom edge (None: not on the floor)."""
        x1, y1, x2, y2 = box
        if y2 >= camera.height - 2:       # bottom cut by the image edge: contact unseen
            return None
        ray = self._ray_base(camera, base_from_cam, 0.5 * (x1 + x2), y2)
        if ray[2] >= -1e-3:
            return None
        t = -cam_origin[2] / ray[2]
        contact = cam_origin + t * ray
        dist = float(np.linalg.norm(contact[:2] - cam_origin[:2]))
        return contact if 0.05 < dist < 8.0 else None

    def _from_floor(self, box, prior, camera, base_from_cam, cam_origin):
        contact = self._floor_contact(box, camera, base_from_cam, cam_origin)
        if contact is None:
            return None
        dist = float(np.linalg.norm(contact[:2] - cam_origin[:2]))
        h = max(cam_origin[2], 0.02)
        sigma_along = dist * dist * self.pixel_sigma / (camera.fy * h) + 0.01
        sigma_across = dist * self.pixel_sigma / camera.fx
        return self._finish(contact, cam_origin, prior, sigma_along, sigma_across, 'floor')

    def _from_depth(self, box, prior, camera, base_from_cam, depth):
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        h, w = depth.shape[:2]
        patch = depth[max(y1, 0):min(y2 + 1, h), max(x1, 0):min(x2 + 1, w)]
        vals = patch[np.isfinite(patch) & (patch > 0)]
        if vals.size < 4:
            return None
        z = float(np.percentile(vals, 25))
        ray = camera.unproject(np.array([[0.5 * (box[0] + box[2]), 0.5 * (box[1] + box[3])]]))[0]
        point = base_from_cam @ np.append(ray * z, 1.0)
        cam_origin = base_from_cam[:3, 3]
        return self._finish(point[:3], cam_origin, prior, 0.05 * z, z * self.pixel_sigma
                            / camera.fx, 'depth')

    def _from_size(self, box, prior, camera, base_from_cam, cam_origin):
        x1, y1, x2, y2 = box
        height_px = y2 - y1
        if height_px < 4 or y1 <= 1 or y2 >= camera.height - 2:
            return None
        dist = camera.fy * prior.size[2] / height_px
        if dist > self.max_size_distance:
            return None
        ray = self._ray_base(camera, base_from_cam, 0.5 * (x1 + x2), 0.5 * (y1 + y2))
        ray = ray / np.linalg.norm(ray[:2])
        contact = cam_origin + ray * dist
        return self._finish(contact, cam_origin, prior, 0.2 * dist,
                            dist * self.pixel_sigma / camera.fx, 'size')
