"""Image corruptions: exact pixels, invariants, severity ordering on real photographs, the reference, bad inputs."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mllmshift.errors import DataError
from mllmshift.shifts import ImageTooLargeError, image_corruptions, load_image
from mllmshift.shifts.image import CORRUPTIONS, EXTRA, IMAGENET_C
from mllmshift.shifts.image.weather import frost_available

skdata = pytest.importorskip("skimage.data")
ssim = pytest.importorskip("skimage.metrics").structural_similarity



NAMES = list(CORRUPTIONS)

#: each corruption's pixels at severity 3, seed 7, on a 48×64 astronaut crop (uint8 arrays, one per name)
REFERENCE_PIXELS = Path(__file__).parent / "data" / "corruptions_sev3_seed7.npz"
#: tolerance against them: at most 1 % of the values may differ, by 0.05 levels on average. Float
#: round-off legitimately differs across CPUs and libraries (AVX-512 vs AVX2 numpy kernels flip one
#: value of motion_blur by 1 level); any change of behaviour differs in most values.
MAX_DIFFERING_FRACTION = 0.01
MAX_MEAN_ABS_DIFF = 0.05


#: pairs of severities whose ImageNet-C parameters do not degrade SSIM (the reference shows the same)
NON_MONOTONE = {"snow": (2, 3), "glass_blur": (3, 4)}


@pytest.fixture(scope="module")
def small() -> Image.Image:
    return Image.fromarray(skdata.astronaut()[60:108, 180:244])


def _crop(a: np.ndarray, n: int = 128) -> np.ndarray:
    h, w = a.shape[:2]
    return np.ascontiguousarray(a[(h - n) // 2:(h - n) // 2 + n, (w - n) // 2:(w - n) // 2 + n])


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    """128-px crops of photographs shipped by scikit-image and scikit-learn."""
    from sklearn.datasets import load_sample_image

    return [_crop(skdata.astronaut()[::3, ::3]), _crop(skdata.chelsea()[::2, ::2]),
            _crop(load_sample_image("china.jpg")[::3, ::3])]


def _within_tolerance(got: Image.Image | np.ndarray, want: np.ndarray) -> bool:
    d = np.abs(np.asarray(got).astype(np.int64) - want.astype(np.int64))
    return bool(np.mean(d > 0) <= MAX_DIFFERING_FRACTION and d.mean() <= MAX_MEAN_ABS_DIFF)


@pytest.fixture(scope="module")
def reference_pixels() -> dict[str, np.ndarray]:
    with np.load(REFERENCE_PIXELS) as z:
        return {k: z[k] for k in z.files}


def test_all_nineteen_registered(reference_pixels: dict[str, np.ndarray]) -> None:
    assert len(IMAGENET_C) == 15 and set(EXTRA) == {"speckle_noise", "gaussian_blur", "spatter", "saturate"}
    assert set(image_corruptions.names()) == set(reference_pixels)


@pytest.mark.parametrize("name", NAMES)
def test_pixels_match_the_stored_reference(name: str, small: Image.Image,
                                           reference_pixels: dict[str, np.ndarray]) -> None:
    want = reference_pixels[name]
    out = image_corruptions.create(name, severity=3).apply(small, seed=7)
    assert np.asarray(out).shape == want.shape and _within_tolerance(out, want)
    # the tolerance is tight enough to see a change: another seed (random corruptions) or severity does not pass
    c = image_corruptions.create(name, severity=3)
    other = c.apply(small, seed=8) if not c.deterministic else image_corruptions.create(name, severity=2).apply(small)
    assert not _within_tolerance(other, want)


@pytest.mark.parametrize("name", NAMES)
def test_seeded_and_size_preserving(name: str, small: Image.Image) -> None:
    c = image_corruptions.create(name, severity=4)
    a, b = c.apply(small, seed=3), c.apply(small, seed=3)
    assert a.mode == "RGB" and a.size == small.size
    assert np.array_equal(np.asarray(a), np.asarray(b))
    other = np.asarray(c.apply(small, seed=4))
    assert np.array_equal(np.asarray(a), other) == c.deterministic
    assert not np.array_equal(np.asarray(a), np.asarray(small))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode,size", [("L", (37, 23)), ("RGBA", (20, 31)), ("P", (16, 16)), ("1", (9, 5)),
                                       ("RGB", (1, 1)), ("RGB", (1, 7)), ("I;16", (6, 2))])
def test_any_mode_and_size(name: str, mode: str, size: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).convert(mode)
    out = image_corruptions.create(name, severity=5).apply(img, seed=0)
    assert out.mode == "RGB" and out.size == size


def test_params_frozen_and_overridable() -> None:
    c = image_corruptions.create("defocus_blur", severity=3)
    assert (c.params.radius, c.params.alias_blur) == (6, 0.5)
    with pytest.raises(AttributeError):
        c.params.radius = 2  # type: ignore[misc]
    assert image_corruptions.create("defocus_blur", severity=3, radius=2).params.radius == 2
    with pytest.raises(TypeError, match="unknown parameter"):
        image_corruptions.create("defocus_blur", severity=3, radus=2)
    for bad in (0, 6, 2.5, True):
        with pytest.raises(ValueError, match="severity"):
            image_corruptions.create("fog", severity=bad)
    with pytest.raises(ValueError, match="seed"):
        c.apply(Image.new("RGB", (4, 4)), seed=-1)


@pytest.fixture(scope="module")
def ssim_curves(photos: list[np.ndarray]) -> dict[str, np.ndarray]:
    out = {}
    for name in CORRUPTIONS:
        rows = []
        for p in photos:
            img = Image.fromarray(p)
            rows.append([ssim(p, np.asarray(image_corruptions.create(name, severity=s).apply(img, seed=0)),
                              channel_axis=2, data_range=255) for s in range(1, 6)])
        out[name] = np.mean(rows, axis=0)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_ssim_decreases_with_severity(name: str, ssim_curves: dict[str, np.ndarray]) -> None:
    curve = ssim_curves[name]
    assert curve[0] < 0.99 and curve[4] < curve[0]
    steps = np.diff(curve)
    for s in range(4):
        if NON_MONOTONE.get(name) == (s + 1, s + 2):
            continue
        assert steps[s] < 0, f"{name}: SSIM {curve[s]:.4f} at severity {s + 1} <= {curve[s + 1]:.4f} at {s + 2}"


# ----------------------------------------------------------------------------------------------- the reference


@pytest.fixture(scope="module")
def ref():  # type: ignore[no-untyped-def]
    from mllmshift.errors import MissingDependencyError
    from mllmshift.shifts.image.reference import load_reference

    try:
        return load_reference()
    except MissingDependencyError as err:
        pytest.skip(str(err))


def _ref_uint8(ref, name: str, x: np.ndarray, severity: int, seed: int = 0) -> np.ndarray:  # type: ignore[no-untyped-def]
    np.random.seed(seed)
    out = getattr(ref, name)(Image.fromarray(x), severity)
    return np.asarray(out) if isinstance(out, Image.Image) else np.uint8(out)


@pytest.mark.parametrize("name", ["defocus_blur", "zoom_blur", "gaussian_blur", "brightness", "contrast", "saturate",
                                  "pixelate", "jpeg_compression"])
@pytest.mark.parametrize("severity", [1, 3, 5])
def test_deterministic_corruptions_match_reference(ref, name: str, severity: int, photos) -> None:  # type: ignore[no-untyped-def]
    x = photos[0][:64, :80]
    ours = np.asarray(image_corruptions.create(name, severity=severity).apply(Image.fromarray(x))).astype(int)
    diff = np.abs(ours - _ref_uint8(ref, name, x, severity).astype(int))
    assert diff.max() <= 1 and (diff == 0).mean() > 0.97


@pytest.mark.parametrize("severity", [1, 3, 5])
@pytest.mark.parametrize("shape", [(64, 80), (700, 40)])
def test_frost_matches_reference_given_its_draws(ref, severity: int, shape: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """Same texture and crop as the reference's np.random draws → the same pixels (±1 from the bicubic resize)."""
    x = np.asarray(Image.fromarray(skdata.astronaut()).resize((shape[1], shape[0])))
    want = _ref_uint8(ref, "frost", x, severity, seed=5).astype(int)
    np.random.seed(5)
    idx = np.random.randint(5)
    frost = image_corruptions.create("frost", severity=severity)
    from mllmshift.shifts.image.weather import frost_scaled, frost_texture

    fr = frost_scaled(frost_texture(idx), shape)
    top, left = np.random.randint(0, fr.shape[0] - shape[0]), np.random.randint(0, fr.shape[1] - shape[1])
    ours = np.uint8(frost.blend(x.astype(np.float64), idx, top, left)).astype(int)
    diff = np.abs(ours - want)
    assert diff.max() <= 2 and diff.mean() < 0.3


def test_motion_and_glass_match_reference_given_draws(ref) -> None:  # type: ignore[no-untyped-def]
    from mllmshift.shifts.image._ops import motion_blur_array

    x = _crop(skdata.chelsea(), 48).astype(np.float64)
    assert np.allclose(motion_blur_array(x, 15, 5, 30.0), ref._motion_blur(x, radius=15, sigma=5, angle=30.0),
                       atol=1e-3)
    g = image_corruptions.create("glass_blur", severity=2)
    d, n = g.params.max_delta, 48 - 2 * g.params.max_delta
    np.random.seed(1)
    offsets = np.random.randint(-d, d, size=(g.params.iterations, n, n, 2))
    want = _ref_uint8(ref, "glass_blur", x.astype(np.uint8), 2, seed=1)
    assert np.array_equal(np.uint8(g.blur_with_offsets(x, offsets)), want)


@pytest.mark.parametrize("name", sorted(NON_MONOTONE))
def test_non_monotone_pairs_are_the_references(ref, name: str, photos) -> None:  # type: ignore[no-untyped-def]
    """The reference's SSIM curve has the same bump, and ours follows it (mean over 3 seeds, within 0.05)."""
    p = photos[0]
    curve = np.array([[ssim(p, _ref_uint8(ref, name, p, s, seed), channel_axis=2, data_range=255)
                       for s in range(1, 6)] for seed in range(3)]).mean(axis=0)
    ours = np.array([[ssim(p, np.asarray(image_corruptions.create(name, severity=s).apply(Image.fromarray(p), seed)),
                           channel_axis=2, data_range=255) for s in range(1, 6)] for seed in range(3)]).mean(axis=0)
    a, b = NON_MONOTONE[name]
    assert curve[b - 1] >= curve[a - 1] - 0.01
    assert np.abs(curve - ours).max() < 0.05


# ----------------------------------------------------------------------------------------------- bad inputs


def test_bad_image_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    Image.fromarray(skdata.astronaut()[:64, :64]).save(buf, "PNG")
    (tmp_path / "cut.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    (tmp_path / "text.jpg").write_text("not an image")
    with pytest.raises(DataError, match=r"cut\.png.*cannot decode"):
        load_image(tmp_path / "cut.png")
    with pytest.raises(DataError, match=r"text\.jpg.*not an image"):
        load_image(tmp_path / "text.jpg")
    with pytest.raises(DataError, match="not found"):
        load_image(tmp_path / "missing.png")


def test_huge_image_refused_before_decoding(tmp_path) -> None:  # type: ignore[no-untyped-def]
    big = Image.new("1", (10_000, 10_000))
    big.save(tmp_path / "big.png")
    with pytest.raises(ImageTooLargeError, match=r"big\.png.*10000×10000.*max_pixels"):
        load_image(tmp_path / "big.png")
    with pytest.raises(ImageTooLargeError, match="over the limit"):
        image_corruptions.create("contrast", severity=1).apply(big, seed=0)
    small_limit = image_corruptions.create("contrast", severity=1, max_pixels=100)
    with pytest.raises(ImageTooLargeError):
        small_limit.apply(Image.new("RGB", (11, 10)), seed=0)
    with pytest.raises(TypeError, match="PIL"):
        small_limit.apply(np.zeros((4, 4, 3)), seed=0)  # type: ignore[arg-type]


def test_frost_photographs_ship_with_the_package() -> None:
    import hashlib

    from mllmshift.shifts.image.weather import FROST_FILES, frost_dir

    folder = frost_dir()
    listed = dict(line.split()[::-1] for line in (folder / "LICENSE").read_text().splitlines()
                  if re.fullmatch(r"[0-9a-f]{64}  frost\d\.(png|jpg)", line))
    assert frost_available() and sorted(listed) == sorted(FROST_FILES)
    for name in FROST_FILES:
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == listed[name], name


def test_frost_available_follows_the_texture_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLLMSHIFT_FROST_DIR", str(tmp_path))
    assert not frost_available()  # an empty folder has none of the photographs
    from mllmshift.shifts.image.weather import FROST_FILES

    for name in FROST_FILES[:-1]:
        (tmp_path / name).write_bytes(b"")
    assert not frost_available()  # one missing is still unavailable
    (tmp_path / FROST_FILES[-1]).write_bytes(b"")
    assert frost_available()
