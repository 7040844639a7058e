"""Image corruptions: the 15 ImageNet-C corruptions plus speckle noise, Gaussian blur, spatter and saturate.

Each is an :class:`~mllmshift.shifts.base.ImageCorruption` registered in
:data:`mllmshift.shifts.image_corruptions` under its ImageNet-C name.
"""

#: registry name → "module:Class", in ImageNet-C's order (the 15, then the 4 extra)
CORRUPTIONS: dict[str, str] = {
    "gaussian_noise": "mllmshift.shifts.image.noise:GaussianNoise",
    "shot_noise": "mllmshift.shifts.image.noise:ShotNoise",
    "impulse_noise": "mllmshift.shifts.image.noise:ImpulseNoise",
    "defocus_blur": "mllmshift.shifts.image.blur:DefocusBlur",
    "glass_blur": "mllmshift.shifts.image.blur:GlassBlur",
    "motion_blur": "mllmshift.shifts.image.blur:MotionBlur",
    "zoom_blur": "mllmshift.shifts.image.blur:ZoomBlur",
    "snow": "mllmshift.shifts.image.weather:Snow",
    "frost": "mllmshift.shifts.image.weather:Frost",
    "fog": "mllmshift.shifts.image.weather:Fog",
    "brightness": "mllmshift.shifts.image.digital:Brightness",
    "contrast": "mllmshift.shifts.image.digital:Contrast",
    "elastic_transform": "mllmshift.shifts.image.digital:ElasticTransform",
    "pixelate": "mllmshift.shifts.image.digital:Pixelate",
    "jpeg_compression": "mllmshift.shifts.image.digital:JPEGCompression",
    "speckle_noise": "mllmshift.shifts.image.noise:SpeckleNoise",
    "gaussian_blur": "mllmshift.shifts.image.blur:GaussianBlur",
    "spatter": "mllmshift.shifts.image.weather:Spatter",
    "saturate": "mllmshift.shifts.image.digital:Saturate",
}

IMAGENET_C = tuple(list(CORRUPTIONS)[:15])
EXTRA = tuple(list(CORRUPTIONS)[15:])
