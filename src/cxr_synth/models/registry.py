"""The GAN zoo by name: ``build_gan("proposed", resolution=128, **params)`` -> `GAN`.

Options come from YAML parameters, so they are checked here against the builder's keyword
arguments (unknown ones raise ValueError listing the valid ones) and coerced to the default's type
(PyYAML reads ``2e-4`` as a string and lists for tuples).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch

from .base import GAN
from .dcgan import build_dcgan, build_lsgan, build_wgan_gp
from .proposed import build_proposed
from .stylegan import build_stylegan

_BUILDERS: dict[str, Callable[..., GAN]] = {
    "dcgan": build_dcgan,
    "lsgan": build_lsgan,
    "wgan_gp": build_wgan_gp,
    "stylegan": build_stylegan,
    "proposed": build_proposed,
}
ARCHITECTURES: tuple[str, ...] = tuple(_BUILDERS)  # every pipeline iterates these, in this order
_COMMON = ("resolution", "channels", "latent_dim")


def _builder(name: str) -> Callable[..., GAN]:
    if name not in _BUILDERS:
        raise ValueError(f"unknown GAN architecture {name!r}; valid: {list(ARCHITECTURES)}")
    return _BUILDERS[name]


def _options(name: str) -> dict[str, inspect.Parameter]:
    params = inspect.signature(_builder(name)).parameters.values()
    return {p.name: p for p in params if p.name not in _COMMON}


def architecture_options(name: str) -> dict[str, object]:
    """The options one architecture accepts, with their defaults (see its builder's docstring)."""
    return {key: p.default for key, p in _options(name).items()}


def _coerce(name: str, param: inspect.Parameter, value: object) -> object:
    """Bring a YAML value to the type of the option's default, or raise ValueError naming it."""
    key, default = param.name, param.default
    if value is None and "None" in str(param.annotation):  # e.g. ema_decay: null
        return None
    try:
        if isinstance(default, bool) or isinstance(value, bool):
            if not (isinstance(default, bool) and isinstance(value, bool)):
                if isinstance(default, str) and value is False:  # diffaugment: false
                    return ""
                raise TypeError
            return value
        if isinstance(default, int):
            if not float(value).is_integer():
                raise TypeError
            return int(value)
        if isinstance(default, float) or (default is None and isinstance(value, (str, int))):
            return float(value)  # also "2e-4", which PyYAML leaves a string
        if isinstance(default, tuple):
            if isinstance(value, str):
                raise TypeError
            return tuple(float(v) for v in value)
        if isinstance(default, str):
            if value is None:
                return ""
            if isinstance(value, (list, tuple)):
                return ",".join(str(v) for v in value)
            if not isinstance(value, str):
                raise TypeError
        return value
    except (TypeError, ValueError):
        raise ValueError(
            f"{name}: option {key}={value!r} should be like its default {default!r}"
        ) from None


def _positive_int(key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{key} must be a positive int, got {value!r}")
    return value


def build_gan(
    name: str,
    *,
    resolution: int = 128,
    channels: int = 1,
    latent_dim: int = 100,
    seed: int | None = None,
    **options: object,
) -> GAN:
    """Build GAN ``name`` (one of `ARCHITECTURES`) for ``channels`` x R x R images, R = resolution.

    ``options`` are the architecture's own (see `architecture_options(name)` and the builder's
    docstring); ``seed`` makes the weights reproducible without touching the global RNG.
    """
    builder = _builder(name)
    valid = _options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for {name!r}; valid options: {sorted(valid)}"
        )
    options = {k: _coerce(name, valid[k], v) for k, v in options.items()}
    kwargs = {
        "resolution": _positive_int("resolution", resolution),
        "channels": _positive_int("channels", channels),
        "latent_dim": _positive_int("latent_dim", latent_dim),
        **options,
    }
    if seed is None:
        gan = builder(**kwargs)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            gan = builder(**kwargs)
    gan.options = {**architecture_options(name), **kwargs}  # the full description, defaults too
    return gan
