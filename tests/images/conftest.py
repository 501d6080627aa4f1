"""Fixtures for the image tests."""

import shutil
from pathlib import Path

import pytest
from image_helpers import SAMPLE


@pytest.fixture
def sample(tmp_path) -> Path:
    """A copy of sample_data/images that a test may change."""
    target = tmp_path / "input"
    shutil.copytree(SAMPLE, target)
    return target
