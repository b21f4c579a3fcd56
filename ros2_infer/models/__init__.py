"""
Bundled models: files + spec YAMLs shipped as package data, trained by the package itself.

``ros2-infer train detector|depth`` regenerates them; see each model's card (``NAME.md``).
"""

from pathlib import Path

from ros2_infer.core.errors import SpecError

MODELS_DIR = Path(__file__).resolve().parent
DEFAULT_DETECTOR = 'tinydet'
DEFAULT_DEPTH = 'tinydepth'


BUNDLED_PREFIX = 'bundled:'


def resolve_model_spec(text: str) -> Path:
    """Turn a ``model.spec`` setting into a spec path: ``bundled:NAME`` or a file path."""
    if text.startswith(BUNDLED_PREFIX):
        return bundled_spec(text[len(BUNDLED_PREFIX):])
    return Path(text).expanduser()


def bundled_spec(name: str) -> Path:
    """Path of a bundled model's spec (``tinydet``, ``tinydet_int8_x86``, ``tinydepth``...)."""
    path = MODELS_DIR / f'{name}.yaml'
    if not path.is_file():
        available = sorted(p.stem for p in MODELS_DIR.glob('*.yaml'))
        raise SpecError(f'no bundled model {name!r}; bundled: {", ".join(available) or "none"}')
    return path
