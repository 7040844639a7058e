"""Load the ``imagecorruptions`` reference implementation on current libraries, for comparisons.

``imagecorruptions`` 1.1.2 (2020) imports ``pkg_resources`` (gone from recent
setuptools), calls scikit-image's removed ``multichannel=`` argument and
NumPy's removed ``np.float_``. :func:`load_reference` imports it with a
temporary ``pkg_resources`` stand-in and patches those two names inside the
loaded module only (nothing global is changed). It needs OpenCV
(``opencv-python-headless``) and is used by tests and benchmarks, never by
the corruptions themselves.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types
from typing import Any

from mllmshift.errors import MissingDependencyError


class _NumpyCompat(types.ModuleType):
    """NumPy with ``float_`` restored, visible only to the reference module."""

    def __init__(self) -> None:
        import numpy

        super().__init__("numpy")
        self._np = numpy
        self.float_ = numpy.float64

    def __getattr__(self, name: str) -> Any:
        return getattr(self._np, name)


def load_reference() -> Any:
    """The patched ``imagecorruptions.corruptions`` module, or :class:`MissingDependencyError`."""
    spec = importlib.util.find_spec("imagecorruptions")
    if spec is None:
        raise MissingDependencyError("the imagecorruptions reference", "imagecorruptions==1.1.2 --no-deps")
    if importlib.util.find_spec("cv2") is None:
        raise MissingDependencyError("the imagecorruptions reference", "opencv-python-headless")
    name = "imagecorruptions.corruptions"
    if name in sys.modules and getattr(sys.modules[name], "_mllmshift_patched", False):
        return sys.modules[name]
    added = False
    if "pkg_resources" not in sys.modules and importlib.util.find_spec("pkg_resources") is None:
        fake = types.ModuleType("pkg_resources")

        def resource_filename(package: str, resource: str) -> str:
            mod_spec = importlib.util.find_spec(package)
            assert mod_spec is not None and mod_spec.origin is not None
            return os.path.join(os.path.dirname(mod_spec.origin), resource)

        fake.resource_filename = resource_filename  # type: ignore[attr-defined]
        sys.modules["pkg_resources"] = fake
        added = True
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mod = importlib.import_module(name)
    finally:
        if added:
            del sys.modules["pkg_resources"]
    from skimage.filters import gaussian as _gaussian

    def gaussian(image: Any, sigma: Any = 1, multichannel: bool | None = None, **kw: Any) -> Any:
        if multichannel:
            kw["channel_axis"] = -1
        return _gaussian(image, sigma=sigma, **kw)

    mod.gaussian = gaussian
    mod.np = _NumpyCompat()
    mod._mllmshift_patched = True
    return mod
