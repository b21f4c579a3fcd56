"""
Which topic of a recorded bag is which input of the replay: remaps and a robot namespace.

The replay reads the topics a TurtleBot3 publishes (``/odom``, ``/scan``, ``/camera/...``,
``/amcl_pose`` or ``/pose``, ``/tf``, ``/tf_static``). A bag of a namespaced robot (multi-robot
bring-up: ``/tb3_0/odom``, ``/tb3_0/tf``) or of a driver with other names is read through the
same rules as ``ros2 bag play --remap OLD:=NEW``: each rule renames one recorded topic, and a
namespace renames every topic under it. A recorded topic that a renamed one takes the place of
(another robot's ``/odom``) is left out, as a node in that namespace would never see it.
"""

from collections.abc import Iterable, Mapping

from ros2_infer.core.errors import InputError

GROUND_TRUTH = '/ground_truth/'

# What the replay needs (one of each group) and what it can do without.
REQUIRED = {'odometry': ('/odom',)}
WANTED = {
    'a SLAM input': ('/amcl_pose', '/pose', '/tf'),
    'camera_info': ('/camera/camera_info',),
    'images': ('/camera/image_raw', '/camera/image_raw/compressed', '/ground_truth/detections'),
    'the laser scan': ('/scan',),
    'the sensor mounts': ('/tf_static',),
}


def _absolute(name: str, what: str) -> str:
    name = name.strip()
    if not name or name in ('/', '~') or any(c.isspace() for c in name) or '//' in name:
        raise InputError(f'{what}: {name!r} is not a topic name')
    return name if name.startswith('/') else '/' + name


def parse_remaps(rules: Iterable[str]) -> dict[str, str]:
    """
    Parse ``OLD:=NEW`` rules (``ros2 bag play --remap`` syntax) into ``{OLD: NEW}``.

    Names without a leading slash are taken from the root. Raises :class:`InputError` on a
    rule that is not ``OLD:=NEW`` or renames one topic twice.
    """
    out: dict[str, str] = {}
    for rule in rules:
        old, sep, new = rule.partition(':=')
        if not sep:
            raise InputError(f'remap {rule!r}: expected OLD:=NEW (e.g. /tb3_0/odom:=/odom)')
        old, new = _absolute(old, f'remap {rule!r}'), _absolute(new, f'remap {rule!r}')
        if any(name.startswith(GROUND_TRUTH) for name in (old, new)):
            raise InputError(f'remap {rule!r}: {GROUND_TRUTH}* is for the evaluator only, never '
                             'an input of the pipeline')
        if old in out and out[old] != new:
            raise InputError(f'remap {rule!r}: {old} is already remapped to {out[old]}')
        out[old] = new
    return out


def topic_renames(recorded: Iterable[str], remaps: Mapping[str, str] | None = None,
                  namespace: str | None = None) -> dict[str, str | None]:
    """
    Return ``{recorded topic: topic the replay reads it as, or None to leave it out}``.

    Explicit remaps come first, then the namespace (``/tb3_0/odom`` -> ``/odom``). Only the
    topics that change are in the result; the rest are read as recorded.
    """
    recorded = list(recorded)
    remaps = dict(remaps or {})
    prefix = None
    if namespace:
        prefix = _absolute(namespace, 'namespace').rstrip('/') + '/'
    renames: dict[str, str | None] = {}
    for topic in recorded:
        if topic in remaps:
            renames[topic] = remaps[topic]
        elif prefix and topic.startswith(prefix):
            renames[topic] = '/' + topic[len(prefix):]
    taken = set(renames.values())
    for topic in recorded:
        if topic not in renames and topic in taken:
            renames[topic] = None
    return renames


def unused_rules(recorded: Iterable[str], remaps: Mapping[str, str] | None = None,
                 namespace: str | None = None) -> list[str]:
    """Return one line for each remap or namespace that names no topic of the bag (a typo)."""
    recorded = set(recorded)
    lines = [f'remap {old}:={new}: the bag has no {old}'
             for old, new in (remaps or {}).items() if old not in recorded]
    if namespace:
        prefix = _absolute(namespace, 'namespace').rstrip('/') + '/'
        if not any(t.startswith(prefix) for t in recorded):
            lines.append(f'namespace {namespace}: no topic of the bag is under {prefix}')
    return lines


def missing_inputs(recorded: Iterable[str], renames: Mapping[str, str | None],
                   slam: bool = True) -> tuple:
    """
    Return ``(errors, warnings)``: the inputs the renamed bag lacks, as one line each.

    A missing odometry is an error (nothing can be fused without it); a missing SLAM input
    (unless ``slam`` is False), camera, scan or mounts is a warning (the replay runs on what
    there is).
    """
    read = {renames.get(t, t) for t in recorded} - {None}
    shown = ', '.join(sorted(recorded)) or 'none'

    def lines(groups):
        return [f'no {what} ({" or ".join(topics)}) in the bag'
                for what, topics in groups.items() if not read.intersection(topics)]

    errors = lines(REQUIRED)
    if errors:
        errors = [f'{e}; its topics: {shown}. Use --namespace or --remap OLD:=NEW'
                  for e in errors]
    wanted = {k: v for k, v in WANTED.items() if slam or k != 'a SLAM input'}
    return errors, lines(wanted)
