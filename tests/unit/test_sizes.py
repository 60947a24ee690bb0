"""Sizes on the command line and in configuration files."""

from __future__ import annotations

import argparse

import pytest

from devemu.sizes import parse_size, size_argument


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("4096", 4096),
        ("512K", 512 << 10),
        ("10G", 10 << 30),
        ("1TiB", 1 << 40),
        ("2m", 2 << 20),
        ("12TB", 12 * 10**12),
        ("64kB", 64_000),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size
    assert size_argument(text) == size


@pytest.mark.parametrize("text", ["", "10X", "1.5G", "-1G", "G", "10GiBB"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="is not a size"):
        parse_size(text)
    with pytest.raises(argparse.ArgumentTypeError):
        size_argument(text)
