"""Shared fixtures: models the package generates itself (no downloads)."""

import logging
from pathlib import Path

import pytest


@pytest.fixture(scope='session')
def generated_detector_dir(tmp_path_factory) -> Path:
    """Export a seeded random-weight TinyDet exported in every variant, shared by the session."""
    from ros2_infer.training.generated import generate_detector

    logging.getLogger('ros2_infer').setLevel(logging.WARNING)
    folder = tmp_path_factory.mktemp('tinydet')
    generate_detector(folder, calibration_images=8)
    return folder


@pytest.fixture(scope='session')
def test_images():
    from ros2_infer.training.generated import synthetic_images

    return synthetic_images(4, seed=11)
