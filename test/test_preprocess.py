"""Preprocessing: exact letterbox undo, colour order, normalisation, buffer reuse."""

import numpy as np
import pytest

from ros2_infer.core.errors import InputError
from ros2_infer.core.preprocess import compute_transform, Preprocessor
from ros2_infer.core.spec import InputSpec


def test_letterbox_geometry_and_exact_undo():
    spec = InputSpec(width=320, height=320)
    transform = compute_transform(640, 480, spec)
    assert (transform.scale_x, transform.scale_y) == (0.5, 0.5)
    assert (transform.pad_x, transform.pad_y) == (0, 40)
    model_boxes = np.array([[10.0, 50.0, 110.0, 150.0]], np.float32)
    source = transform.boxes_to_source(model_boxes)
    np.testing.assert_allclose(source, [[20.0, 20.0, 220.0, 220.0]])


def test_box_drawn_in_source_is_found_back_exactly():
    spec = InputSpec(width=320, height=320, mean=(0, 0, 0), std=(1, 1, 1))
    image = np.zeros((480, 640, 3), np.uint8)
    image[100:300, 200:400] = 255  # box x 200..400, y 100..300 in continuous coords
    tensor, transform = Preprocessor(spec)(image, 'rgb')
    plane = tensor[0, 0]
    rows = np.flatnonzero(plane.max(axis=1) > 127)
    cols = np.flatnonzero(plane.max(axis=0) > 127)
    found = np.array([[cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]], np.float32)
    np.testing.assert_allclose(transform.boxes_to_source(found), [[200, 100, 400, 300]])
    # Padding rows hold the pad value, not image content.
    assert plane[0, 0] == 114 and plane[-1, -1] == 114


def test_stretch_mode_has_no_padding():
    transform = compute_transform(640, 480, InputSpec(width=320, height=320, resize='stretch'))
    assert (transform.pad_x, transform.pad_y) == (0, 0)
    assert transform.scale_y == pytest.approx(320 / 480)


def test_colour_order_and_normalisation():
    spec = InputSpec(width=4, height=4, color='rgb', mean=(10, 20, 30), std=(2, 4, 5))
    image = np.zeros((4, 4, 3), np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 30, 60, 90  # B, G, R in a BGR image
    tensor, _ = Preprocessor(spec)(image, 'bgr')
    np.testing.assert_allclose(tensor[0, :, 0, 0], [(90 - 10) / 2, (60 - 20) / 4, (30 - 30) / 5])


def test_nhwc_uint8_and_gray_inputs():
    spec = InputSpec(width=8, height=8, layout='NHWC', dtype='uint8')
    tensor, _ = Preprocessor(spec)(np.full((8, 8), 7, np.uint8), 'gray')
    assert tensor.shape == (1, 8, 8, 3) and tensor.dtype == np.uint8
    assert np.all(tensor == 7)


def test_buffers_are_reused_between_frames():
    preprocess = Preprocessor(InputSpec(width=64, height=48))
    first, _ = preprocess(np.zeros((96, 128, 3), np.uint8))
    second, _ = preprocess(np.full((96, 128, 3), 255, np.uint8))
    assert first is second
    assert second.max() == pytest.approx(1.0)


@pytest.mark.parametrize('image, color', [
    (np.zeros((4, 4, 3), np.float32), 'rgb'),
    (np.zeros((4, 4, 4), np.uint8), 'rgb'),
    (np.zeros((0, 4, 3), np.uint8), 'rgb'),
    (np.zeros((4, 4, 3), np.uint8), 'yuv'),
])
def test_bad_images_raise_input_error(image, color):
    with pytest.raises(InputError):
        Preprocessor(InputSpec(width=8, height=8))(image, color)


def _reference(image, spec, transform):
    """Straightforward letterbox + normalise, to check the optimised path against."""
    rows, cols = transform.content_region()
    canvas = np.full((spec.height, spec.width, 3), spec.pad_value, np.float32)
    height, width = rows.stop - rows.start, cols.stop - cols.start
    if image.shape[:2] != (height, width):
        import cv2
        interpolation = cv2.INTER_AREA if transform.scale_x < 1.0 else cv2.INTER_LINEAR
        image = cv2.resize(image, (width, height), interpolation=interpolation)
    canvas[rows, cols] = image
    canvas = (canvas - np.float32(spec.mean)) / np.float32(spec.std)
    return canvas.transpose(2, 0, 1)[None] if spec.layout == 'NCHW' else canvas[None]


@pytest.mark.parametrize('layout', ['NCHW', 'NHWC'])
@pytest.mark.parametrize('mean, std', [((0, 0, 0), (255, 255, 255)), ((10, 20, 30), (2, 4, 5))])
def test_matches_reference_across_size_changes(layout, mean, std):
    spec = InputSpec(width=64, height=64, layout=layout, mean=mean, std=std)
    preprocess = Preprocessor(spec)
    rng = np.random.default_rng(3)
    # Same size (no resize), smaller, larger, a padded-row view, then the first size again:
    # the padding written for one size must not leak into the next.
    padded = rng.integers(0, 255, (48, 80, 3), np.uint8)[:, :64]
    for image in [rng.integers(0, 255, (48, 64, 3), np.uint8),
                  rng.integers(0, 255, (30, 20, 3), np.uint8),
                  rng.integers(0, 255, (200, 90, 3), np.uint8), padded,
                  rng.integers(0, 255, (48, 64, 3), np.uint8)]:
        tensor, transform = preprocess(image, 'rgb')
        np.testing.assert_allclose(tensor, _reference(image, spec, transform), rtol=1e-6,
                                   atol=1e-4)
