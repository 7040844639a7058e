"""Shift parameters are checked at construction: type, finiteness, range, rules between fields, severity, level."""

from __future__ import annotations

import pytest

from mllmshift.errors import DataError
from mllmshift.shifts import image_corruptions, text_perturbations
from mllmshift.shifts.params import ShiftParamError


@pytest.mark.parametrize("severity", [0, 6, -1, 2.5, "3", True, None])
def test_severity_outside_1_to_5_is_refused(severity: object) -> None:
    with pytest.raises(ShiftParamError, match=r"defocus_blur: severity must be an integer 1\.\.5") as err:
        image_corruptions.create("defocus_blur", severity=severity)
    assert err.value.param == "severity"
    assert isinstance(err.value, DataError) and isinstance(err.value, TypeError)


@pytest.mark.parametrize("name,overrides,match", [
    ("defocus_blur", {"radius": -5}, r"parameter 'radius' must be in \(0, 100\], got -5"),
    ("defocus_blur", {"radius": 0}, r"'radius' must be in \(0, 100\]"),
    ("defocus_blur", {"radius": "abc"}, r"'radius' must be a number, got 'abc' \(str\)"),
    ("defocus_blur", {"radius": float("nan")}, r"'radius' must be a finite number"),
    ("defocus_blur", {"alias_blur": 0}, r"'alias_blur' must be in \(0, 10\]"),
    ("defocus_blur", {"radus": 3}, r"unknown parameter\(s\) \['radus'\]; known: \['alias_blur', 'radius'\]"),
    ("gaussian_noise", {"scale": -0.1}, r"'scale' must be > 0"),
    ("impulse_noise", {"scale": 1.5}, r"'scale' must be in \(0, 1\]"),
    ("motion_blur", {"radius": 2.5}, r"'radius' must be an integer, got 2\.5"),
    ("motion_blur", {"max_angle": 270}, r"'max_angle' must be in \[0, 180\]"),
    ("glass_blur", {"iterations": 0}, r"'iterations' must be in \[1, 20\]"),
    ("zoom_blur", {"zooms": [1.0, 0.5]}, r"'zooms': every value must be in \[1, 10\], got 0\.5"),
    ("zoom_blur", {"zooms": []}, r"'zooms' must be a non-empty list"),
    ("frost", {"n_textures": 7}, r"'n_textures' must be in \[1, 6\]"),
    ("spatter", {"mud": "yes"}, r"'mud' must be true or false"),
    ("brightness", {"amount": 0}, r"'amount' must be in \(0, 1\]"),
    ("contrast", {"factor": 1.0}, r"'factor' must be in \[0, 1\)"),
    ("pixelate", {"factor": 1}, r"'factor' must be in \(0, 1\)"),
    ("jpeg_compression", {"quality": 0}, r"'quality' must be in \[1, 100\]"),
    ("jpeg_compression", {"quality": True}, r"'quality' must be an integer, got True"),
    ("saturate", {"offset": 2}, r"'offset' must be in \[-1, 1\]"),
])
def test_bad_image_parameters(name: str, overrides: dict, match: str) -> None:
    with pytest.raises(ShiftParamError, match=f"^{name}: .*" + match):
        image_corruptions.create(name, severity=3, **overrides)


def test_good_overrides_are_normalised() -> None:
    blur = image_corruptions.create("motion_blur", severity=1, radius=5.0)
    assert blur.params.radius == 5 and isinstance(blur.params.radius, int)
    zoom = image_corruptions.create("zoom_blur", severity=1, zooms=[1, 1.5])
    assert zoom.params.zooms == (1, 1.5)
    assert image_corruptions.create("defocus_blur", severity=3, radius=5).params.radius == 5


def test_every_default_table_passes_its_own_checks() -> None:
    for name in image_corruptions.names():
        cls = image_corruptions.get(name)
        for sev in range(1, 6):
            assert cls(sev).params == cls.TABLE[sev - 1]
    for name in text_perturbations.names():
        if name not in ("translate", "synonym"):
            for level in (0, 1, 20):
                text_perturbations.create(name, level=level)


@pytest.mark.parametrize("name", ["keyboard", "char_swap", "char_insert", "char_delete", "word_dropout",
                                  "case_noise"])
@pytest.mark.parametrize("level", [21, 100, -1, 1.5, True])
def test_levels_beyond_probability_one_are_refused(name: str, level: object) -> None:
    with pytest.raises(ShiftParamError, match=rf"{name}: level must be an integer 0\.\.20 \(its probability is "
                                              r"0\.05·level, at most 1\)"):
        text_perturbations.create(name, level=level)


@pytest.mark.parametrize("name,overrides,match", [
    ("keyboard", {"word_p": 5.0}, r"'word_p' must be in \[0, 1\], got 5\.0"),
    ("keyboard", {"word_min": 5, "word_max": 2}, r"'word_min' \(5\) must not exceed 'word_max' \(2\)"),
    ("keyboard", {"upper_case": 1}, r"'upper_case' must be true or false"),
    ("char_swap", {"p": -0.1}, r"'p' must be in \[0, 1\]"),
    ("word_dropout", {"min_chars": 0}, r"'min_chars' must be >= 1"),
    ("translate", {"language": "  "}, r"'language' must name a language"),
    ("translate", {"language": 3}, r"'language' must be a string"),
])
def test_bad_text_parameters(name: str, overrides: dict, match: str) -> None:
    with pytest.raises(ShiftParamError, match=f"^{name}: .*" + match):
        text_perturbations.create(name, level=1, **overrides)


def test_synonym_style_is_one_of_two() -> None:
    with pytest.raises(ShiftParamError, match=r"'style' must be one of 'preserve', 'eda', got 'fancy'"):
        text_perturbations.create("synonym", level=1, style="fancy")


def test_seed_must_be_a_non_negative_integer() -> None:
    from PIL import Image

    with pytest.raises(ShiftParamError, match="seed must be a non-negative integer, got -1"):
        image_corruptions.create("contrast", severity=1).apply(Image.new("RGB", (2, 2)), seed=-1)
    with pytest.raises(ShiftParamError, match="seed"):
        text_perturbations.create("keyboard", level=1).apply("hello there", seed=-3)


def test_max_pixels_must_be_positive() -> None:
    with pytest.raises(ShiftParamError, match=r"max_pixels must be an integer >= 1, got 0"):
        image_corruptions.create("contrast", severity=1, max_pixels=0)
