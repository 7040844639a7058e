"""The one image loader: every mode converts to the right 8-bit RGB values; bombs are located errors everywhere."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mllmshift.cli.main import main
from mllmshift.encoders.images import load_rgb
from mllmshift.errors import DataError
from mllmshift.io.images import ImageTooLargeError, load_image, to_rgb
from mllmshift.shifts import image_corruptions

# 16-bit value → round(v / 257), half up; written out by hand, not computed with the loader's formula
SIXTEEN = [(0, 0), (128, 0), (129, 1), (257, 1), (385, 1), (386, 2), (1000, 4), (32896, 128), (65278, 254),
           (65406, 254), (65407, 255), (65535, 255)]


def _rgb(img: Image.Image) -> np.ndarray:
    assert img.mode == "RGB"
    return np.asarray(img)


def _saved(img: Image.Image, path: Path, **kw: object) -> Path:
    img.save(path, **kw)
    return path


def _expect_grey(out: np.ndarray, values: list[int]) -> None:
    assert out.shape == (1, len(values), 3)
    for c in range(3):
        assert out[0, :, c].tolist() == values


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path: Path) -> None:
    raw = np.array([[v for v, _ in SIXTEEN]], dtype=np.uint16)
    want = [w for _, w in SIXTEEN]
    img = Image.fromarray(raw)
    assert img.mode == "I;16"
    _expect_grey(_rgb(to_rgb(img)), want)
    png = _saved(img, tmp_path / "grey16.png")
    assert Image.open(png).mode == "I;16"
    _expect_grey(_rgb(load_image(png)), want)
    _expect_grey(_rgb(load_rgb(png)), want)  # the encoders' path
    _expect_grey(_rgb(load_rgb(img)), want)
    big_endian = Image.frombytes("I;16B", (raw.shape[1], 1), raw.astype(">u2").tobytes())
    _expect_grey(_rgb(to_rgb(big_endian)), want)
    tif = _saved(img, tmp_path / "grey16.tif")
    _expect_grey(_rgb(load_image(tif)), want)


def test_mode_i_is_read_as_sixteen_bit_and_clipped_to_its_range() -> None:
    img = Image.fromarray(np.array([[-5, 0, 257, 65535, 70000]], dtype=np.int32))
    assert img.mode == "I"
    _expect_grey(_rgb(to_rgb(img)), [0, 0, 1, 255, 255])


def test_a_sixteen_bit_photo_is_shifted_like_its_eight_bit_version(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    eight = rng.integers(0, 256, size=(16, 16), dtype=np.uint16)
    sixteen = Image.fromarray((eight * 257).astype(np.uint16))  # exact 8 → 16-bit scaling
    grey8 = Image.fromarray(eight.astype(np.uint8)).convert("RGB")
    corr = image_corruptions.create("brightness", severity=2)
    np.testing.assert_array_equal(np.asarray(corr.apply(sixteen, 0)), np.asarray(corr.apply(grey8, 0)))
    png = _saved(sixteen, tmp_path / "photo16.png")
    np.testing.assert_array_equal(np.asarray(load_image(png)), np.asarray(grey8))
    assert np.asarray(load_image(png)).mean() < 200  # not the almost white image of a clipping convert


def test_alpha_is_composited_over_white() -> None:
    # round((c·a + 255·(255 − a)) / 255): worked out by hand for each pixel
    rgba = Image.fromarray(np.array([[[10, 20, 30, 0], [10, 20, 30, 255], [200, 100, 0, 128], [0, 0, 0, 1]]],
                                    dtype=np.uint8), "RGBA")
    assert _rgb(to_rgb(rgba)).tolist() == [[[255, 255, 255], [10, 20, 30], [227, 177, 127], [254, 254, 254]]]
    la = Image.fromarray(np.array([[[100, 128], [100, 0], [7, 255]]], dtype=np.uint8), "LA")
    assert _rgb(to_rgb(la)).tolist() == [[[177, 177, 177], [255, 255, 255], [7, 7, 7]]]
    arr = np.zeros((2, 2, 4), np.uint8)  # an RGBA array given to an encoder: transparent black is white
    assert (_rgb(load_rgb(arr)) == 255).all()


def test_palette_with_transparency(tmp_path: Path) -> None:
    pal = Image.new("P", (3, 1))
    pal.putpalette([255, 0, 0, 0, 0, 255, 0, 255, 0] + [0] * (256 * 3 - 9))
    pal.putdata([0, 1, 2])
    pal.info["transparency"] = 1  # index 1 fully transparent
    assert _rgb(to_rgb(pal)).tolist() == [[[255, 0, 0], [255, 255, 255], [0, 255, 0]]]
    png = _saved(pal, tmp_path / "pal.png", transparency=1)
    assert Image.open(png).mode == "P"
    assert _rgb(load_image(png)).tolist() == [[[255, 0, 0], [255, 255, 255], [0, 255, 0]]]
    # per-index alpha: index 1 at alpha 128 → (0, 0, 255) over white = (127, 127, 255)
    png2 = _saved(pal, tmp_path / "pal_alpha.png", transparency=bytes([255, 128, 255]))
    assert _rgb(load_image(png2)).tolist() == [[[255, 0, 0], [127, 127, 255], [0, 255, 0]]]
    opaque = Image.new("P", (1, 1))
    opaque.putpalette([9, 8, 7] + [0] * 765)
    assert _rgb(to_rgb(opaque)).tolist() == [[[9, 8, 7]]]


def test_cmyk_one_bit_and_grey(tmp_path: Path) -> None:
    # R = (255 − C)(255 − K)/255: (155·127/255, 205·127/255, 255·127/255) = (77.2, 102.1, 127)
    cmyk = Image.new("CMYK", (1, 1), (100, 50, 0, 128))
    assert _rgb(to_rgb(cmyk)).tolist() == [[[77, 102, 127]]]
    jpg = _saved(Image.new("CMYK", (8, 8), (0, 0, 0, 0)), tmp_path / "white.jpg", quality=100)
    assert np.abs(_rgb(load_image(jpg)).astype(int) - 255).max() <= 1
    bits = Image.new("1", (2, 1))
    bits.putpixel((1, 0), 1)
    assert _rgb(to_rgb(bits)).tolist() == [[[0, 0, 0], [255, 255, 255]]]
    assert _rgb(to_rgb(Image.new("L", (1, 1), 42))).tolist() == [[[42, 42, 42]]]
    rgb = Image.new("RGB", (1, 1), (1, 2, 3))
    assert to_rgb(rgb) is rgb


def test_float_images_are_refused() -> None:
    with pytest.raises(DataError, match="floating-point"):
        to_rgb(Image.new("F", (2, 2), 0.5))


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width × height 1-bit pixels, with one empty IDAT: cheap to make."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b""))
                     + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("size", [(14_000, 14_000), (8_000, 8_000)])
def test_decompression_bombs_are_located_errors_everywhere(tmp_path: Path, size: tuple[int, int],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    bomb = _png_header_only(tmp_path / "bomb.png", *size)
    with pytest.raises(ImageTooLargeError, match=r"bomb\.png"):
        load_image(bomb)
    with pytest.raises(ImageTooLargeError, match=r"bomb\.png"):  # encoders
        load_rgb(bomb)
    with pytest.raises(ImageTooLargeError, match=r"bomb\.png.*field 'image'"):
        load_image(bomb, field="image")
    out = tmp_path / "out.png"
    assert main(["shift", "image", str(bomb), str(out), "-c", "contrast", "-s", "1"]) == 1
    err = capsys.readouterr().err
    assert "bomb.png" in err and "Traceback" not in err and not out.exists()


def test_encoders_refuse_a_bomb_given_in_memory() -> None:
    img = Image.new("1", (7_000, 6_000))  # 42 M pixels, over the 40 M default
    with pytest.raises(ImageTooLargeError, match="over the limit"):
        load_rgb(img)
    assert load_rgb(img, max_pixels=50_000_000).size == (7_000, 6_000)
