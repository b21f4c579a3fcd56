"""
Shared plumbing: the one error type, message classes by name, stamps, headers, array fields.

Everything here is duck-typed on field names, so the same code serves rclpy's generated
messages and the ``rosbags`` dataclasses. The two differ in how array fields are stored: rclpy
keeps unbounded sequences as ``array.array`` (its setter stores an ``array.array`` of the right
type code as is, but walks any other sequence element by element in Python) and fixed-size
arrays as numpy; rosbags keeps both as numpy. :func:`u8_field` and friends return what the
target class stores natively, so filling a message is one memcpy at most.
"""

import array
import dataclasses
import functools
import importlib
import math
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np

from ros2_infer.core.errors import InputError

NS_PER_S = 1_000_000_000
MessageTypes = Union[Mapping[str, type], Callable[[str], type], None]


class MessageError(InputError):
    """A ROS message is malformed or unsupported; the receiving node rejects it and goes on."""


def resolve(types: MessageTypes, name: str) -> type:
    """
    Return the message class called ``name`` (``'sensor_msgs/msg/Image'``).

    :param types: a mapping such as ``get_typestore().types`` (rosbags), a callable, or None
        for rclpy's generated classes (imported from ``sensor_msgs.msg`` etc.).
    :raises LookupError: the type does not exist in this ROS distribution.
    """
    if types is None:
        package, _, class_name = name.split('/')
        try:
            return getattr(importlib.import_module(f'{package}.msg'), class_name)
        except (ImportError, AttributeError) as exc:
            raise LookupError(f'message type {name} is not available: {exc}') from None
    if isinstance(types, Mapping):
        try:
            return types[name]
        except KeyError:
            raise LookupError(f'message type {name} is not available') from None
    return types(name)


def has_type(types: MessageTypes, name: str) -> bool:
    """Return whether the message type exists (vision_msgs/LabelInfo is 4.1+ only)."""
    try:
        resolve(types, name)
    except LookupError:
        return False
    return True


def is_rosbags(cls: type) -> bool:
    """Return whether ``cls`` is a rosbags message dataclass (else an rclpy message class)."""
    return hasattr(cls, '__msgtype__')


def field_names(cls: type) -> List[str]:
    """Return the field names of a message class of either kind."""
    if is_rosbags(cls):
        return [f.name for f in dataclasses.fields(cls)]
    return list(cls.get_fields_and_field_types())


def new(cls: type, **fields: Any) -> Any:
    """
    Build a message of ``cls`` from keyword fields.

    rclpy: the fields are assigned through the setters after construction, so an array field
    given in its native form (see :func:`u8_field`) is stored without a copy. rosbags: every
    field must be given (they are plain dataclasses), unknown ones are dropped so that messages
    that gained fields in later distributions still build.
    """
    if is_rosbags(cls):
        known, required = _rosbags_fields(cls)
        if required.keys() <= fields.keys() and fields.keys() <= known:
            return cls(**fields)  # the common case: every field given
        values = {k: v for k, v in fields.items() if k in known}
        for name, type_name in required.items():
            if name not in values:
                values[name] = _rosbags_default(type_name)
        return cls(**values)
    msg = cls()
    for key, value in fields.items():
        setattr(msg, key, value)
    return msg


def constructor(cls: type, keys: Tuple[str, ...]) -> Callable[..., Any]:
    """
    Return a callable building ``cls`` from exactly the keyword fields ``keys``, fast.

    When the class takes those keys as they are (rclpy classes always do; rosbags classes
    when ``keys`` are all their fields), that is the class itself, which saves :func:`new`'s
    checks on paths that build many messages per frame; otherwise it is :func:`new`.
    """
    if not is_rosbags(cls):
        return cls
    known, required = _rosbags_fields(cls)
    if set(keys) == set(known) and set(required) <= set(keys):
        return cls
    return functools.partial(new, cls)


@functools.lru_cache(maxsize=None)
def _rosbags_fields(cls: type) -> Tuple[frozenset, Dict[str, str]]:
    """Return (all field names, {required field: type name}) of a rosbags class."""
    specs = dataclasses.fields(cls)
    required = {f.name: f.type for f in specs if f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING}
    return frozenset(f.name for f in specs), required


def _rosbags_default(type_name: str) -> Any:
    """Return the ROS default of a rosbags field type (``'int'``, ``'list[...]'``, a message)."""
    basic = {'str': '', 'int': 0, 'float': 0.0, 'bool': False}
    if type_name in basic:
        return basic[type_name]
    if type_name.startswith('list['):
        return []
    if 'ndarray' in type_name:
        dtype = re.search(r'dtype\[(?:np|numpy)\.(\w+)\]', type_name)
        return np.zeros(0, dtype=getattr(np, dtype.group(1) if dtype else 'float64'))
    from ros2_infer.rosbag.typestore import get_typestore

    return new(get_typestore().types[type_name.replace('__', '/')])


def u8_field(cls: type, values: np.ndarray) -> Any:
    """Return a ``uint8[]`` field value for a message of ``cls`` holding ``values``' bytes."""
    flat = np.ascontiguousarray(values).reshape(-1).view(np.uint8)
    if is_rosbags(cls):
        return flat
    out = array.array('B')
    out.frombytes(memoryview(flat))
    return out


def f32_field(cls: type, values: np.ndarray) -> Any:
    """Return a ``float32[]`` sequence field value for ``cls``."""
    flat = np.ascontiguousarray(values, dtype=np.float32).reshape(-1)
    if is_rosbags(cls):
        return flat
    out = array.array('f')
    out.frombytes(memoryview(flat).cast('B'))
    return out


def f64_field(cls: type, values: np.ndarray, fixed: bool = True) -> Any:
    """Return a ``float64`` field value: numpy for fixed arrays, ``array('d')`` for rclpy seqs."""
    flat = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
    if fixed or is_rosbags(cls):
        return flat.copy()
    out = array.array('d')
    out.frombytes(memoryview(flat).cast('B'))
    return out


def get(msg: Any, name: str) -> Any:
    """Return ``msg.name`` or raise :class:`MessageError` naming the missing field."""
    try:
        return getattr(msg, name)
    except AttributeError:
        raise MessageError(f'{type(msg).__name__} has no field {name!r}') from None


def as_int(value: Any, what: str, minimum: Optional[int] = None) -> int:
    """Return ``value`` as int, rejecting non-integers, bools and values below ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise MessageError(f'{what} must be an integer, got {value!r}')
    value = int(value)
    if minimum is not None and value < minimum:
        raise MessageError(f'{what} must be >= {minimum}, got {value}')
    return value


def as_float(value: Any, what: str, finite: bool = True) -> float:
    """Return ``value`` as float, rejecting non-numbers and (by default) NaN/inf."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise MessageError(f'{what} must be a number, got {value!r}')
    value = float(value)
    if finite and not math.isfinite(value):
        raise MessageError(f'{what} must be finite, got {value}')
    return value


def as_str(value: Any, what: str) -> str:
    """Return ``value`` if it is a string."""
    if not isinstance(value, str):
        raise MessageError(f'{what} must be a string, got {type(value).__name__}')
    return value


def float_array(values: Any, what: str, size: Optional[int] = None,
                dtype: type = np.float64) -> np.ndarray:
    """Return a 1-D float array of a numeric sequence field (any of numpy, array, list)."""
    try:
        with np.errstate(over='ignore'):  # doubles beyond float32 become inf, as in ROS
            out = np.asarray(values, dtype=dtype).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise MessageError(f'{what} is not a numeric array: {exc}') from None
    if size is not None and out.size != size:
        raise MessageError(f'{what} must have {size} values, got {out.size}')
    return out


def bytes_view(data: Any, what: str = 'data') -> np.ndarray:
    """
    Return a ``uint8[]`` field as a 1-D uint8 array, without copying where possible.

    Accepts numpy uint8 arrays (rosbags), ``array.array('B')`` (rclpy), bytes-like objects and,
    with a copy, lists of ints.
    """
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8:
            raise MessageError(f'{what} must be uint8, got {data.dtype}')
        return data.reshape(-1)
    if isinstance(data, array.array):
        if data.typecode != 'B':
            raise MessageError(f'{what} must be uint8, got array type {data.typecode!r}')
        return np.frombuffer(data, dtype=np.uint8)
    if isinstance(data, (bytes, bytearray, memoryview)):
        return np.frombuffer(data, dtype=np.uint8)
    if isinstance(data, (list, tuple)):
        try:
            wide = np.asarray(data, dtype=np.int64).reshape(-1)
        except (TypeError, ValueError, OverflowError):
            raise MessageError(f'{what} must hold integers 0..255') from None
        if wide.size and (wide.min() < 0 or wide.max() > 255):
            raise MessageError(f'{what} must hold integers 0..255')
        return wide.astype(np.uint8)
    raise MessageError(f'{what} has unsupported type {type(data).__name__}')


def stamp_ns(header_or_stamp: Any) -> int:
    """Return a header's (or a Time's) stamp as integer nanoseconds."""
    stamp = getattr(header_or_stamp, 'stamp', header_or_stamp)
    sec = as_int(get(stamp, 'sec'), 'stamp.sec')
    nanosec = as_int(get(stamp, 'nanosec'), 'stamp.nanosec', 0)
    if nanosec >= NS_PER_S:
        raise MessageError(f'stamp.nanosec must be < 1e9, got {nanosec}')
    return sec * NS_PER_S + nanosec


def frame_id(header: Any) -> str:
    """Return a header's frame id."""
    return as_str(get(header, 'frame_id'), 'header.frame_id')


def make_time(types: MessageTypes, ns: int) -> Any:
    """Return a builtin_interfaces/Time for integer nanoseconds."""
    sec, nanosec = divmod(int(ns), NS_PER_S)
    return new(resolve(types, 'builtin_interfaces/msg/Time'), sec=sec, nanosec=nanosec)


def make_header(types: MessageTypes, ns: int, frame: str) -> Any:
    """Return a std_msgs/Header."""
    return new(resolve(types, 'std_msgs/msg/Header'), stamp=make_time(types, ns),
               frame_id=str(frame))


def copy_header(types: MessageTypes, header: Any, frame: Optional[str] = None) -> Any:
    """Return a new header with ``header``'s stamp and its (or ``frame``'s) frame id."""
    return make_header(types, stamp_ns(header), frame_id(header) if frame is None else frame)
