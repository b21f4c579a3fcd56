"""
Image -> model input tensor, with the resize undone exactly afterwards.

No per-pixel Python: OpenCV resizes into a reused buffer, splits channels into reused planes,
and normalisation is one vectorised op per channel straight into the image's region of a
reused tensor whose letterbox padding is written only when the source size changes.
"""

from dataclasses import dataclass
from typing import List, Optional, Tuple

import cv2
import numpy as np

from ros2_infer.core.errors import InputError
from ros2_infer.core.spec import InputSpec

_NUMPY_DTYPES = {'float32': np.float32, 'float16': np.float16, 'uint8': np.uint8}


@dataclass(frozen=True)
class ResizeTransform:
    """
    Maps model-input pixel coordinates back to the source image.

    Coordinates are continuous (pixel edges at integers), the convention OpenCV's resize uses,
    so ``source = (model - pad) / scale`` is exact.
    """

    source_width: int
    source_height: int
    scale_x: float
    scale_y: float
    pad_x: int
    pad_y: int

    def boxes_to_source(self, boxes: np.ndarray) -> np.ndarray:
        """Map (N, 4) xyxy boxes from model input to source pixels, clipped to the image."""
        out = np.empty_like(boxes, dtype=np.float32)
        out[:, 0::2] = (boxes[:, 0::2] - self.pad_x) / self.scale_x
        out[:, 1::2] = (boxes[:, 1::2] - self.pad_y) / self.scale_y
        np.clip(out[:, 0::2], 0.0, self.source_width, out=out[:, 0::2])
        np.clip(out[:, 1::2], 0.0, self.source_height, out=out[:, 1::2])
        return out

    def content_region(self) -> Tuple[slice, slice]:
        """Rows and columns of the model input that hold the image (not the padding)."""
        height = int(round(self.source_height * self.scale_y))
        width = int(round(self.source_width * self.scale_x))
        return (slice(self.pad_y, self.pad_y + height), slice(self.pad_x, self.pad_x + width))

    def map_to_source(self, values: np.ndarray,
                      interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
        """Resize a dense map at model-input resolution (or a multiple) to the source image."""
        rows, cols = self.content_region()
        height, width = values.shape[:2]
        model_height = rows.stop + self.pad_y
        model_width = cols.stop + self.pad_x
        if (height, width) != (model_height, model_width):
            # The model output is at a reduced resolution: scale the crop window with it.
            fy, fx = height / model_height, width / model_width
            rows = slice(int(round(rows.start * fy)), int(round(rows.stop * fy)))
            cols = slice(int(round(cols.start * fx)), int(round(cols.stop * fx)))
        crop = values[rows, cols]
        return cv2.resize(np.ascontiguousarray(crop), (self.source_width, self.source_height),
                          interpolation=interpolation)


def compute_transform(source_width: int, source_height: int, spec: InputSpec) -> ResizeTransform:
    """Work out the resize (and letterbox padding) that fits a source image to the input."""
    if spec.resize == 'stretch':
        return ResizeTransform(source_width, source_height, spec.width / source_width,
                               spec.height / source_height, 0, 0)
    ratio = min(spec.width / source_width, spec.height / source_height)
    new_width = max(1, int(round(source_width * ratio)))
    new_height = max(1, int(round(source_height * ratio)))
    return ResizeTransform(source_width, source_height, new_width / source_width,
                           new_height / source_height, (spec.width - new_width) // 2,
                           (spec.height - new_height) // 2)


class Preprocessor:
    """
    Turns HxWx3 (or HxW) uint8 images into the model's input tensor.

    The returned tensor is a buffer owned by the preprocessor and overwritten by the next call:
    run the model before preprocessing the next frame (the detector does). Only the image's
    region of the tensor is rewritten per frame; the letterbox padding is normalised once,
    when the source size changes. Channels are split by OpenCV into contiguous planes first,
    because scaling a contiguous plane is several times faster than a strided one.
    """

    def __init__(self, spec: InputSpec):
        self.spec = spec
        self._tensor = np.empty(spec.shape(), dtype=_NUMPY_DTYPES[spec.dtype])
        self._transform: Optional[ResizeTransform] = None
        self._scale = 1.0 / np.asarray(spec.std, dtype=np.float32)
        self._offset = np.asarray(spec.mean, dtype=np.float32) * self._scale
        self._identity = (spec.dtype == 'uint8'
                          or (all(m == 0 for m in spec.mean) and all(s == 1 for s in spec.std)))
        self._resized = np.empty(0, np.uint8)  # content-size buffer when the image is resized
        self._planes: List[np.ndarray] = []

    def _fit(self, image: np.ndarray) -> ResizeTransform:
        height, width = image.shape[:2]
        transform = self._transform
        size = (width, height)
        if transform is None or (transform.source_width, transform.source_height) != size:
            transform = compute_transform(width, height, self.spec)
            self._transform = transform
            self._reset_buffers(transform)
        return transform

    def _reset_buffers(self, transform: ResizeTransform) -> None:
        rows, cols = transform.content_region()
        height, width = rows.stop - rows.start, cols.stop - cols.start
        channels = self.spec.channels
        self._resized = np.empty((height, width, channels) if channels > 1 else (height, width),
                                 np.uint8)
        self._planes = [np.empty((height, width), np.uint8) for _ in range(channels)]
        pad = np.full(channels, self.spec.pad_value, np.float32)
        if not self._identity:
            pad = pad * self._scale[:channels] - self._offset[:channels]
        tensor = self._tensor[0]
        if self.spec.layout == 'NCHW':
            for channel in range(channels):
                tensor[channel].fill(pad[channel])
        else:
            tensor[...] = pad.astype(tensor.dtype) if self._identity else pad

    def _to_model_colors(self, image: np.ndarray, color: str) -> np.ndarray:
        wanted = self.spec.color
        if color == wanted:
            return image
        codes = {
            ('bgr', 'rgb'): cv2.COLOR_BGR2RGB, ('rgb', 'bgr'): cv2.COLOR_RGB2BGR,
            ('gray', 'rgb'): cv2.COLOR_GRAY2RGB, ('gray', 'bgr'): cv2.COLOR_GRAY2BGR,
            ('rgb', 'gray'): cv2.COLOR_RGB2GRAY, ('bgr', 'gray'): cv2.COLOR_BGR2GRAY,
        }
        return cv2.cvtColor(image, codes[(color, wanted)])

    def __call__(self, image: np.ndarray, color: str = 'rgb') -> Tuple[np.ndarray,
                                                                       ResizeTransform]:
        """Return (input tensor, transform back to the source image)."""
        if color not in ('rgb', 'bgr', 'gray'):
            raise InputError(f'unknown colour order {color!r} (rgb, bgr or gray)')
        expected_channels = 1 if color == 'gray' else 3
        channels = 1 if image.ndim == 2 else (image.shape[2] if image.ndim == 3 else -1)
        if image.dtype != np.uint8 or channels != expected_channels or image.size == 0:
            raise InputError(f'expected a non-empty uint8 {color} image with '
                             f'{expected_channels} channel(s), got {image.dtype} '
                             f'{image.shape}')
        if color == 'gray' and image.ndim == 3:
            image = image[:, :, 0]
        transform = self._fit(image)
        image = self._to_model_colors(image, color)
        content = self._resized
        if image.shape[:2] == content.shape[:2]:
            content = image.reshape(content.shape)
        else:
            interpolation = (cv2.INTER_AREA if transform.scale_x < 1.0 else cv2.INTER_LINEAR)
            cv2.resize(image, (content.shape[1], content.shape[0]), dst=content,
                       interpolation=interpolation)
        self._normalise(content, transform.content_region())
        return self._tensor, transform

    def _normalise(self, content: np.ndarray, region: Tuple[slice, slice]) -> None:
        rows, cols = region
        tensor = self._tensor[0]
        if self.spec.layout == 'NHWC':
            target = tensor[rows, cols]
            content = content.reshape(target.shape)
            if self._identity:
                np.copyto(target, content, casting='unsafe')
                return
            np.multiply(content, self._scale, out=target, casting='unsafe')
            target -= self._offset
            return
        if content.ndim == 2:
            planes = [content]
        else:
            # OpenCV needs contiguous pixels within a row; a padded row step is fine.
            if content.strides[1:] != (content.shape[2], 1):
                content = np.ascontiguousarray(content)
            planes = cv2.split(content, self._planes)
        for channel, plane in enumerate(planes):
            target = tensor[channel, rows, cols]
            if self._identity:
                np.copyto(target, plane, casting='unsafe')
                continue
            np.multiply(plane, self._scale[channel], out=target, casting='unsafe')
            if self._offset[channel] != 0.0:
                target -= self._offset[channel]
