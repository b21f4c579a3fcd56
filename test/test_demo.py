"""
``ros2-infer demo`` end to end on a short run, and its HTML report in a real headless browser.

The browser test skips only when Chromium is not installed and CI is not set; in CI
(``CI=true``) a missing Chromium fails.
"""

import json
import os
from pathlib import Path

import pytest

REPORT_FILES = ('report.html', 'metrics.json', 'trajectory.png', 'error.png', 'frames.png',
                'depth.png', 'latency.png', 'bag/metadata.yaml')


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    from ros2_infer.demo.run import run_demo

    out = tmp_path_factory.mktemp('demo') / 'report'
    lines = []
    result = run_demo(duration=20, seed=1, backend='auto', out=out, progress=False,
                      log=lines.append)
    return result, out, lines


def test_demo_metrics_and_files(demo):
    result, out, lines = demo
    for name in REPORT_FILES:
        assert (out / name).is_file(), name
    assert list((out / 'bag').glob('*.mcap')), 'output bag is not MCAP'
    metrics = json.loads((out / 'metrics.json').read_text())
    assert metrics['demo']['backend'] in ('torchscript', 'onnxruntime', 'int8')
    assert 'fastest measured' in metrics['demo']['backend_reason']
    assert set(metrics['demo']['backend_measured_ms']) >= {'onnxruntime', 'int8'}
    assert any('backend:' in line for line in lines)
    assert metrics['demo']['images'] >= 150           # 20 s at 10 Hz
    assert metrics['demo']['depth_samples'] >= 1
    loc = metrics['localization']
    for stream in ('fusion', 'slam', 'odometry', 'slam_plus_odometry'):
        assert loc[stream]['n'] > 0, stream
        assert 0.0 <= loc[stream]['ate_rmse_m'] < 0.5, stream
    reference = loc['slam_running_mean']         # what SLAM alone allows, for the report
    assert 0.0 < reference['run_mean_m'] and 0.0 < reference['ate_rmse_m'] < 0.5
    det = metrics['detection']
    assert det['images'] >= 150
    assert 0.2 < det['map50'] <= 1.0          # the bundled TinyDet, conf 0.25 as online
    assert 0.0 < det['map50_95'] <= det['map50']
    latency = metrics['latency_ms']
    for stage in ('detector inference', 'image decode', 'depth model', 'fusion: detections',
                  'fusion: odometry'):
        assert latency[stage]['n'] > 0 and latency[stage]['p50_ms'] > 0, stage
    memory = metrics['memory']
    assert len(memory['samples']) >= 2 and memory['max_queue'] < 50
    summary = '\n'.join(result.summary)
    for text in ('ATE fused', 'vs SLAM', 'mAP@0.5', 'latency p50', str(result.report)):
        assert text in summary


def test_demo_output_bag_readable(demo):
    from ros2_infer.rosbag.reader import iter_messages

    _, out, _ = demo
    topics = {}
    for item in iter_messages(out / 'bag'):
        topics[item.topic] = topics.get(item.topic, 0) + 1
    assert topics.get('/fusion/pose', 0) > 100
    assert topics.get('/fusion/landmarks') == 1
    assert '/fusion/objects' in topics
    assert topics.get('/detections', 0) >= 150        # every image's 2D detections (20 s, 10 Hz)


def test_report_html_is_offline(demo):
    import re

    _, out, _ = demo
    text = (out / 'report.html').read_text()
    assert '<script' not in text.lower()
    assert 'What SLAM alone allows' in text and 'n/a' not in text
    links = re.findall(r'(?:src|href)="([^"]+)"', text)
    assert links and not [u for u in links if re.match(r'^[a-z][a-z0-9+.-]*:', u)]
    for link in links:
        assert (out / link).is_file(), link


def _chromium():
    from ros2_infer.demo.browser import find_chromium

    binary = find_chromium()
    if binary is None:
        if os.environ.get('CI', '').lower() == 'true':
            pytest.fail('Chromium is required in CI (apt-get install chromium)')
        pytest.skip('Chromium is not installed (apt-get install chromium); CI does not skip')
    return binary


def test_report_renders_in_headless_chromium(demo):
    from ros2_infer.demo.browser import check_page

    binary = _chromium()
    _, out, _ = demo
    page = check_page(out / 'report.html', binary=binary)
    assert page.title == 'ros2_infer demo report'
    assert len(page.images) == 5
    assert page.broken_images == []
    assert page.errors == []


def test_browser_check_catches_broken_pages(tmp_path: Path):
    """The check itself must fail a missing image and a console error (no false green)."""
    from ros2_infer.demo.browser import check_page

    binary = _chromium()
    page_path = tmp_path / 'bad.html'
    page_path.write_text('<!DOCTYPE html><html><head><title>bad</title></head><body>'
                         '<img src="missing.png"><script>console.error("boom")</script>'
                         '</body></html>')
    page = check_page(page_path, binary=binary)
    assert [i['src'] for i in page.broken_images] == ['missing.png']
    assert any('boom' in e for e in page.errors)
    assert any('missing.png' in e for e in page.errors)


def test_backend_names_and_choice():
    from ros2_infer.demo.backends import choose_backend, model_names

    assert model_names('onnxruntime') == ('tinydet', 'tinydepth')
    assert model_names('torchscript') == ('tinydet_ts', 'tinydepth_ts')
    assert model_names('int8')[0].startswith('tinydet_int8_')
    choice = choose_backend('onnxruntime')
    assert choice.backend == 'onnxruntime' and 'requested' in choice.reason
    with pytest.raises(ValueError):
        model_names('tensorrt')


def test_demo_refuses_foreign_bag_folder(tmp_path: Path):
    from ros2_infer.core.errors import InputError
    from ros2_infer.demo.run import prepare_out

    (tmp_path / 'bag').mkdir()
    with pytest.raises(InputError):
        prepare_out(tmp_path)
    (tmp_path / 'metrics.json').write_text('{}')
    prepare_out(tmp_path)
    assert not (tmp_path / 'bag').exists()


def test_cli_arguments():
    import argparse

    from ros2_infer.cli import demo

    parser = argparse.ArgumentParser()
    demo.add_arguments(parser)
    args = parser.parse_args([])
    assert (args.duration, args.seed, args.backend, args.out) == (180.0, 1, 'auto',
                                                                  'demo_report')
    args = parser.parse_args(['--duration', '20', '--backend', 'int8', '--out', 'x'])
    assert args.backend == 'int8' and args.duration == 20.0
