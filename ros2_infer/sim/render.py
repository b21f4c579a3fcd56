"""
Off-screen rendering on CPU or GPU: OpenGL backend choice, camera, segmentation, depth.

MuJoCo picks its OpenGL backend from ``MUJOCO_GL`` when it is first imported.
:func:`select_gl_backend` chooses one before that: ``MUJOCO_GL`` if the user set it, otherwise
the first of EGL and OSMesa that can create a context (probed in a subprocess, since a failed
backend cannot be swapped inside a process).
"""

import math
import os
import subprocess
import sys

import numpy as np

from ros2_infer.core.errors import Ros2InferError

GL_BACKENDS = ('egl', 'osmesa')
_PROBE = ('import mujoco; m = mujoco.MjModel.from_xml_string("<mujoco/>"); '
          'r = mujoco.Renderer(m, 16, 16); r.render(); r.close()')


class RenderBackendError(Ros2InferError):
    """No OpenGL backend can render off-screen."""


def select_gl_backend() -> str:
    """Set ``MUJOCO_GL`` (unless set or MuJoCo is already imported) and return its value."""
    if os.environ.get('MUJOCO_GL'):
        return os.environ['MUJOCO_GL']
    if 'mujoco' in sys.modules:
        raise RenderBackendError(
            'mujoco was imported before an OpenGL backend was chosen; set MUJOCO_GL=egl or '
            'MUJOCO_GL=osmesa, or call ros2_infer.sim.render.select_gl_backend() first')
    errors = []
    for backend in GL_BACKENDS:
        env = dict(os.environ, MUJOCO_GL=backend, PYOPENGL_PLATFORM=backend)
        proc = subprocess.run([sys.executable, '-c', _PROBE], env=env, capture_output=True,
                              text=True, timeout=120, check=False)
        if proc.returncode == 0:
            os.environ['MUJOCO_GL'] = backend
            os.environ.setdefault('PYOPENGL_PLATFORM', backend)
            return backend
        last = (proc.stderr.strip().splitlines() or ['failed'])[-1]
        errors.append(f'{backend}: {last}')
    raise RenderBackendError(
        'no off-screen OpenGL backend works (' + '; '.join(errors) + '); install libegl1 and '
        'libegl-mesa0 (EGL) or libosmesa6 (OSMesa), or set MUJOCO_GL')


class NoiseBank:
    """Pre-sampled Gaussian pixel noise, added with saturation at a random offset per frame."""

    def __init__(self, shape: tuple[int, ...], sigma: float, rng: np.random.Generator) -> None:
        """Sample noise for ``shape`` images; ``sigma`` is a fraction of full scale."""
        self.size = int(np.prod(shape))
        self.shape = shape
        noise = np.round(rng.normal(0.0, sigma * 255.0, self.size + 65536)).astype(np.int16)
        self.pos = np.clip(noise, 0, 255).astype(np.uint8)
        self.neg = np.clip(-noise, 0, 255).astype(np.uint8)
        self.rng = rng

    def apply(self, image: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Write ``image`` + noise into ``out`` (uint8, saturating)."""
        import cv2

        o = int(self.rng.integers(0, 65536))
        flat_in = image.reshape(-1, 1)
        flat_out = out.reshape(-1, 1)
        cv2.add(flat_in, self.pos[o:o + self.size].reshape(-1, 1), dst=flat_out)
        cv2.subtract(flat_out, self.neg[o:o + self.size].reshape(-1, 1), dst=flat_out)
        return out


class CameraRenderer:
    """
    Renders the robot camera: RGB at full size, segmentation at a reduced size, optional depth.

    Renderer contexts are created once and reused; pixels are read into preallocated buffers.
    """

    def __init__(self, model, width: int, height: int, *, seg_scale: int = 2,
                 depth: bool = False, camera: str = 'rgb') -> None:
        """Create the renderers for ``model`` (a MuJoCo model with a camera ``camera``)."""
        import mujoco

        self._mujoco = mujoco
        self._model = model
        # Draws geom group 0 only: unoccluded_pixel_counts moves one object's geoms there.
        self._alone = mujoco.MjvOption()
        self._alone.geomgroup[:] = 0
        self._alone.geomgroup[0] = 1
        self.width, self.height, self.seg_scale = width, height, max(1, int(seg_scale))
        self.camera = camera
        self.rgb = mujoco.Renderer(model, height, width)
        seg_height, seg_width = height // self.seg_scale, width // self.seg_scale
        self.seg = mujoco.Renderer(model, seg_height, seg_width)
        self.seg.enable_segmentation_rendering()
        # The whole of an object the image border cuts: the same camera with twice the field's
        # tangent and twice the pixels has the same pixel scale, so its counts compare directly.
        self.seg_wide = mujoco.Renderer(model, 2 * seg_height, 2 * seg_width)
        self.seg_wide.enable_segmentation_rendering()
        self._camera_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera)
        fovy = math.radians(float(model.cam_fovy[self._camera_id]))
        self._wide_fovy = math.degrees(2.0 * math.atan(2.0 * math.tan(fovy / 2.0)))
        self.depth = None
        if depth:
            self.depth = mujoco.Renderer(model, height, width)
            self.depth.enable_depth_rendering()
        flags = mujoco.mjtRndFlag
        for renderer in (self.rgb, self.seg, self.seg_wide, self.depth):
            if renderer is None:
                continue
            for flag in (flags.mjRND_SHADOW, flags.mjRND_REFLECTION, flags.mjRND_SKYBOX,
                         flags.mjRND_FOG, flags.mjRND_HAZE):
                renderer.scene.flags[flag] = 0
        self._rgb_buf = np.empty((height, width, 3), np.uint8)
        self._seg_buf = np.empty((seg_height, seg_width, 2), np.int32)
        self._seg_wide_buf = np.empty((2 * seg_height, 2 * seg_width, 2), np.int32)
        self._depth_buf = np.empty((height, width), np.float32) if depth else None

    def render_rgb(self, data) -> np.ndarray:
        """Render the RGB image (a reused buffer: copy or consume before the next call)."""
        self.rgb.update_scene(data, camera=self.camera)
        return self.rgb.render(out=self._rgb_buf)

    def render_segmentation(self, data) -> np.ndarray:
        """Render geom ids at the reduced size (-1 = background)."""
        self.seg.update_scene(data, camera=self.camera)
        seg = self.seg.render(out=self._seg_buf)
        geom_type = int(self._mujoco.mjtObj.mjOBJ_GEOM)
        return np.where(seg[..., 1] == geom_type, seg[..., 0], -1)

    def unoccluded_pixel_counts(self, data, geom_sets: list[np.ndarray]) -> list[int]:
        """
        Count the pixels (reduced size) each set of geoms covers with every other geom hidden.

        Divided into the set's visible pixels this is its visible fraction: what other objects
        hide and what lies outside the image both count as not visible (as CityPersons'
        visibility ratio against the full-object box). A set the image border cuts is counted
        again in a view with twice the field's tangent at the same pixel scale. Hiding moves the
        other geoms to a geom group the scene option does not draw, and restores the groups.
        """
        groups = self._model.geom_group
        original = groups.copy()
        fovy = self._model.cam_fovy
        original_fovy = float(fovy[self._camera_id])
        geom_type = int(self._mujoco.mjtObj.mjOBJ_GEOM)
        counts = []
        try:
            for geoms in geom_sets:
                groups[:] = 5
                groups[geoms] = 0
                self.seg.update_scene(data, camera=self.camera, scene_option=self._alone)
                covered = self.seg.render(out=self._seg_buf)[..., 1] == geom_type
                count = int(np.count_nonzero(covered))
                if (covered[0].any() or covered[-1].any() or covered[:, 0].any()
                        or covered[:, -1].any()):
                    fovy[self._camera_id] = self._wide_fovy
                    self.seg_wide.update_scene(data, camera=self.camera,
                                               scene_option=self._alone)
                    wide = self.seg_wide.render(out=self._seg_wide_buf)[..., 1] == geom_type
                    fovy[self._camera_id] = original_fovy
                    count = max(count, int(np.count_nonzero(wide)))
                counts.append(count)
        finally:
            groups[:] = original
            fovy[self._camera_id] = original_fovy
        return counts

    def render_depth(self, data) -> np.ndarray | None:
        """Render z-depth in metres (float32), or None when depth is off."""
        if self.depth is None:
            return None
        self.depth.update_scene(data, camera=self.camera)
        return self.depth.render(out=self._depth_buf)

    def close(self) -> None:
        """Free the GL contexts."""
        for renderer in (self.rgb, self.seg, self.seg_wide, self.depth):
            if renderer is not None:
                renderer.close()


def boxes_from_labels(labels: np.ndarray, num_labels: int, scale: int,
                      min_pixels: int) -> list[tuple[int, float, float, float, float, int]]:
    """
    Return ``(label, x0, y0, x1, y1, pixels)`` pixel-edge boxes (full-resolution pixels).

    ``labels`` holds label indices (0..num_labels-1) or -1; a label's box spans its visible
    pixels, so it is occlusion-aware; ``pixels`` counts them at the reduced resolution. Labels
    with fewer than ``min_pixels`` pixels there are dropped. No per-pixel Python loop: one sort
    and three reductions.
    """
    flat = labels.ravel()
    idx = np.nonzero(flat >= 0)[0]
    if idx.size == 0:
        return []
    lab = flat[idx]
    order = np.argsort(lab, kind='stable')
    lab, idx = lab[order], idx[order]
    starts = np.concatenate([[0], np.nonzero(np.diff(lab))[0] + 1])
    counts = np.diff(np.concatenate([starts, [lab.size]]))
    width = labels.shape[1]
    rows, cols = idx // width, idx % width
    x0 = np.minimum.reduceat(cols, starts)
    x1 = np.maximum.reduceat(cols, starts) + 1
    y0 = np.minimum.reduceat(rows, starts)
    y1 = np.maximum.reduceat(rows, starts) + 1
    out = []
    for k, start in enumerate(starts):
        if counts[k] < min_pixels or lab[start] >= num_labels:
            continue
        out.append((int(lab[start]), float(x0[k] * scale), float(y0[k] * scale),
                    float(x1[k] * scale), float(y1[k] * scale), int(counts[k])))
    return out
