"""Exceptions raised by the core, each meant to be shown to a user as one clear line."""


class Ros2InferError(Exception):
    """Base class of every error ros2_infer raises on purpose."""


class SpecError(Ros2InferError):
    """A model spec (YAML sidecar) is missing, malformed or contradicts its model file."""


class ModelLoadError(Ros2InferError):
    """A model file cannot be loaded (missing, corrupt, or unreadable by its backend)."""


class BackendError(Ros2InferError):
    """A backend is unknown, not installed, or cannot run on the requested device."""


class InputError(Ros2InferError):
    """An input (image, scan, message) is malformed; the caller rejects it and keeps running."""
