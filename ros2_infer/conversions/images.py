"""
sensor_msgs/Image and CompressedImage <-> numpy.

``image_to_array`` is a zero-copy view that honours ``step`` (row padding) and ``is_bigendian``
(multi-byte pixels get an explicitly big-endian dtype, so values read right without a copy).
``image_for_model`` gives what the core's preprocessing takes: uint8 ``rgb``/``bgr``/``gray``,
converting only where the encoding needs it (alpha dropped, YUV 4:2:2 decoded, 16-bit scaled).
"""

import sys
from typing import Any, Dict, NamedTuple, Tuple

import cv2
import numpy as np

from ros2_infer.conversions._common import (
    as_int, as_str, bytes_view, get, MessageError, MessageTypes, new, resolve, u8_field)


class Encoding(NamedTuple):
    """Pixel layout of one sensor_msgs/Image encoding."""

    dtype: str      # numpy kind + size without byte order: 'u1', 'u2', 'f4'
    channels: int
    color: str      # what the channels mean: rgb, bgr, rgba, bgra, gray, depth, uyvy, yuyv


# sensor_msgs/image_encodings.hpp: 'yuv422' is UYVY, 'yuv422_yuy2' is YUYV; 'uyvy'/'yuyv' are
# the newer aliases.
ENCODINGS: Dict[str, Encoding] = {
    'rgb8': Encoding('u1', 3, 'rgb'),
    'bgr8': Encoding('u1', 3, 'bgr'),
    'rgba8': Encoding('u1', 4, 'rgba'),
    'bgra8': Encoding('u1', 4, 'bgra'),
    'mono8': Encoding('u1', 1, 'gray'),
    '8UC1': Encoding('u1', 1, 'gray'),
    '8UC3': Encoding('u1', 3, 'bgr'),
    'mono16': Encoding('u2', 1, 'gray'),
    '16UC1': Encoding('u2', 1, 'depth'),
    '32FC1': Encoding('f4', 1, 'depth'),
    'yuv422': Encoding('u1', 2, 'uyvy'),
    'uyvy': Encoding('u1', 2, 'uyvy'),
    'yuv422_yuy2': Encoding('u1', 2, 'yuyv'),
    'yuyv': Encoding('u1', 2, 'yuyv'),
}
_YUV_TO_RGB = {'uyvy': cv2.COLOR_YUV2RGB_UYVY, 'yuyv': cv2.COLOR_YUV2RGB_YUYV}
_NATIVE_BIG_ENDIAN = sys.byteorder == 'big'


def encoding_of(msg: Any) -> Tuple[str, Encoding]:
    """Return the (name, layout) of a message's encoding; unknown ones raise MessageError."""
    name = as_str(get(msg, 'encoding'), 'encoding')
    try:
        return name, ENCODINGS[name]
    except KeyError:
        raise MessageError(f'unsupported image encoding {name!r} (supported: '
                           f'{", ".join(sorted(ENCODINGS))})') from None


def image_to_array(msg: Any) -> np.ndarray:
    """
    Return the pixels of a sensor_msgs/Image as a zero-copy (H, W[, C]) view.

    Multi-byte pixels of a big-endian message get a big-endian dtype (``>u2``, ``>f4``); use
    :func:`native` for native byte order. YUV 4:2:2 comes back raw as (H, W, 2).

    :raises MessageError: unknown encoding, empty image, negative or inconsistent sizes.
    """
    name, enc = encoding_of(msg)
    height = as_int(get(msg, 'height'), 'height', 0)
    width = as_int(get(msg, 'width'), 'width', 0)
    step = as_int(get(msg, 'step'), 'step', 0)
    big_endian = get(msg, 'is_bigendian')
    if big_endian not in (0, 1, True, False):
        raise MessageError(f'is_bigendian must be 0 or 1, got {big_endian!r}')
    data = bytes_view(get(msg, 'data'))
    if height == 0 or width == 0 or data.size == 0:
        raise MessageError(f'empty {name} image ({width}x{height}, {data.size} bytes)')
    if enc.channels == 2 and width % 2:
        raise MessageError(f'{name} needs an even width, got {width}')
    itemsize = int(enc.dtype[1])
    row_bytes = width * enc.channels * itemsize
    if step < row_bytes:
        raise MessageError(f'{name} {width}x{height}: step {step} < {row_bytes} bytes per row')
    if data.size != step * height:
        raise MessageError(f'{name} {width}x{height}: {data.size} bytes of data, expected '
                           f'step {step} x height {height} = {step * height}')
    order = '|' if itemsize == 1 else ('>' if big_endian else '<')
    shape = (height, width, enc.channels) if enc.channels > 1 else (height, width)
    strides = ((step, enc.channels * itemsize, itemsize) if enc.channels > 1
               else (step, itemsize))
    return np.ndarray(shape, dtype=np.dtype(order + enc.dtype), buffer=data, strides=strides)


def native(values: np.ndarray) -> np.ndarray:
    """Return ``values`` in native byte order (a copy only when it is not already)."""
    if values.dtype.isnative:
        return values
    return values.astype(values.dtype.newbyteorder('='))


def image_for_model(msg: Any) -> Tuple[np.ndarray, str]:
    """
    Return ``(uint8 image, colour)`` for the core's preprocessing (``rgb``, ``bgr``, ``gray``).

    rgb8/bgr8/mono8 are zero-copy views; alpha is dropped, YUV decoded to rgb and 16-bit mono
    scaled to 8 bits. Float (depth) images are not camera images and raise MessageError.
    """
    _, enc = encoding_of(msg)
    pixels = image_to_array(msg)
    if enc.color in ('rgb', 'bgr', 'gray') and enc.dtype == 'u1':
        return pixels, enc.color
    if enc.color == 'rgba':
        return cv2.cvtColor(pixels, cv2.COLOR_RGBA2RGB), 'rgb'
    if enc.color == 'bgra':
        return cv2.cvtColor(pixels, cv2.COLOR_BGRA2BGR), 'bgr'
    if enc.color in _YUV_TO_RGB:
        return cv2.cvtColor(np.ascontiguousarray(pixels), _YUV_TO_RGB[enc.color]), 'rgb'
    if enc.dtype == 'u2' and enc.color == 'gray':
        return (native(pixels) >> 8).astype(np.uint8), 'gray'
    raise MessageError(f'{msg.encoding} is a depth/float image, not a camera image')


def depth_to_metres(msg: Any) -> np.ndarray:
    """
    Return a depth image (REP 118) as float32 metres, NaN where there is no depth.

    32FC1 is metres already (a native-order copy); 16UC1 is millimetres with 0 for no return.
    Non-positive and non-finite values become NaN.

    :raises MessageError: not a depth encoding, or a malformed image.
    """
    name, enc = encoding_of(msg)
    if enc.color != 'depth':
        raise MessageError(f'{name} is not a depth image (32FC1 metres or 16UC1 millimetres)')
    values = native(image_to_array(msg)).astype(np.float32)
    if enc.dtype == 'u2':
        values *= np.float32(0.001)
    values[~(np.isfinite(values) & (values > 0))] = np.nan
    return values


def array_to_image(values: np.ndarray, encoding: str, header: Any,
                   types: MessageTypes = None) -> Any:
    """
    Return a sensor_msgs/Image holding ``values`` (native byte order, rows unpadded).

    The pixel buffer crosses into the message in one memcpy (none for rosbags classes).

    :raises MessageError: ``values`` does not fit ``encoding``.
    """
    try:
        enc = ENCODINGS[encoding]
    except KeyError:
        raise MessageError(f'unsupported image encoding {encoding!r}') from None
    values = np.asarray(values)
    channels = 1 if values.ndim == 2 else (values.shape[2] if values.ndim == 3 else -1)
    if (values.dtype.kind + str(values.dtype.itemsize) != enc.dtype or channels != enc.channels
            or (enc.channels == 1 and values.ndim != 2 and channels != 1)):
        raise MessageError(f'a {values.dtype} array of shape {values.shape} is not {encoding} '
                           f'({enc.channels} x {enc.dtype})')
    if values.size == 0:
        raise MessageError(f'empty {encoding} image {values.shape}')
    values = native(values)
    height, width = values.shape[:2]
    cls = resolve(types, 'sensor_msgs/msg/Image')
    return new(cls, header=header, height=int(height), width=int(width), encoding=encoding,
               is_bigendian=int(_NATIVE_BIG_ENDIAN),
               step=int(width * enc.channels * values.dtype.itemsize),
               data=u8_field(cls, values))


def compressed_to_array(msg: Any) -> Tuple[np.ndarray, str]:
    """
    Decode a sensor_msgs/CompressedImage (jpeg or png) to ``(uint8 image, colour)``.

    ``format`` is ``jpeg``/``png`` or image_transport's ``"rgb8; jpeg compressed bgr8"``.
    """
    fmt = as_str(get(msg, 'format'), 'format').lower()
    if 'compresseddepth' in fmt or not any(k in fmt for k in ('jpeg', 'jpg', 'png')):
        raise MessageError(f'unsupported CompressedImage format {fmt!r} (jpeg or png)')
    data = bytes_view(get(msg, 'data'))
    if data.size == 0:
        raise MessageError('empty CompressedImage')
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise MessageError(f'CompressedImage ({fmt}, {data.size} bytes) does not decode')
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 2:
        return image, 'gray'
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR), 'bgr'
    return image, 'bgr'


def array_to_compressed(values: np.ndarray, color: str, header: Any, fmt: str = 'jpeg',
                        types: MessageTypes = None, quality: int = 90) -> Any:
    """Encode a uint8 ``rgb``/``bgr``/``gray`` image as a sensor_msgs/CompressedImage."""
    if fmt not in ('jpeg', 'png'):
        raise MessageError(f'unsupported CompressedImage format {fmt!r} (jpeg or png)')
    if color == 'rgb':
        values = cv2.cvtColor(values, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if fmt == 'jpeg' else []
    ok, encoded = cv2.imencode('.jpg' if fmt == 'jpeg' else '.png', values, params)
    if not ok:
        raise MessageError(f'cannot encode a {values.dtype} {values.shape} image as {fmt}')
    cls = resolve(types, 'sensor_msgs/msg/CompressedImage')
    return new(cls, header=header, format=fmt, data=u8_field(cls, encoded))
