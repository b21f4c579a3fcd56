"""Parameter validation shared by every node (ROS-free: runs without rclpy)."""

from ros2_infer.nodes.localizer_support import check_combination, LOCALIZER_PARAMS
from ros2_infer.nodes.params import (COMMON_PARAMS, DETECTOR_PARAMS, Param, validate_all,
                                     validate_changes)

DETECTOR = {p.name: p for p in COMMON_PARAMS + DETECTOR_PARAMS}
LOCALIZER = {p.name: p for p in LOCALIZER_PARAMS}


def defaults(params):
    return {name: p.default for name, p in params.items()}


def test_a_valid_change_is_accepted_and_foreign_names_are_ignored():
    accepted, reason = validate_changes(
        DETECTOR, [('detector.conf_threshold', 0.4), ('use_sim_time', True)],
        defaults(DETECTOR))
    assert reason is None
    assert accepted == {'detector.conf_threshold': 0.4}


def test_one_bad_value_rejects_the_whole_request_with_its_reason():
    accepted, reason = validate_changes(
        DETECTOR, [('detector.conf_threshold', 0.4), ('detector.iou_threshold', 1.5)],
        defaults(DETECTOR))
    assert accepted == {}
    assert 'detector.iou_threshold' in reason and '<= 1.0' in reason


def test_read_only_and_wrong_type_are_rejected():
    _, reason = validate_changes(DETECTOR, [('model.spec', 'bundled:tinydet')],
                                 defaults(DETECTOR))
    assert reason == 'model.spec is read-only'
    _, reason = validate_changes(DETECTOR, [('detector.max_detections', 10.0)],
                                 defaults(DETECTOR))
    assert 'must be a int' in reason


def test_combination_is_checked_against_the_current_values():
    params = {p.name: p for p in (Param('low', 1, 'lower bound', low=0, high=10),
                                  Param('high', 5, 'upper bound', low=0, high=10))}

    def ordered(values):
        return None if values['low'] < values['high'] else 'low must stay below high'

    current = {'low': 1, 'high': 5}
    accepted, reason = validate_changes(params, [('low', 7)], current, ordered)
    assert accepted == {} and reason == 'low must stay below high'
    accepted, reason = validate_changes(params, [('low', 7), ('high', 9)], current, ordered)
    assert reason is None and accepted == {'low': 7, 'high': 9}


def test_validate_all_checks_values_that_skipped_the_callback():
    values = defaults(LOCALIZER)
    assert validate_all(LOCALIZER, values, check_combination) is None
    values['slam.input'] = 'tf'
    values['publish_map_to_odom'] = True
    assert 'publish_map_to_odom' in validate_all(LOCALIZER, values, check_combination)
    values = defaults(DETECTOR)
    values['detector.conf_threshold'] = -0.1
    assert 'detector.conf_threshold' in validate_all(DETECTOR, values)
