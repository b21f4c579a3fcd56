"""The bench and the CLI: side-by-side report with parity, clear one-line errors."""

import json
import subprocess
import sys

import pytest

from ros2_infer.benchmark import collect_specs, format_table, model_flops, run_benchmark
from ros2_infer.cli.main import main


def test_benchmark_reports_parity_and_speed(generated_detector_dir, test_images):
    specs = [s for s in collect_specs([generated_detector_dir])
             if s.model_path.name in ('tinydet.onnx', 'tinydet_ts.torchscript',
                                      'tinydet_int8_x86.onnx')]
    assert [s.precision for s in specs] == ['fp32', 'fp32', 'int8']
    flops = model_flops(specs)
    assert 0.4e9 < flops < 1.0e9
    report = run_benchmark(specs, images=test_images[:2], runs=5, warmup=1,
                           gemm_gflops=100.0, flops=flops)
    variants = {v['label']: v for v in report['variants']}
    assert report['reference'] == 'torchscript fp32'
    ts, ort, int8 = (variants['torchscript fp32'], variants['onnxruntime fp32'],
                     variants['onnxruntime int8 (qdq, x86)'])
    assert all(v['error'] is None for v in (ts, ort, int8))
    assert ts['max_abs_diff'] == 0.0 and ts['speedup_vs_reference'] == 1.0
    assert ort['max_abs_diff'] < 1e-2
    assert ort['detection_agreement'] is None or ort['detection_agreement'] > 0.95
    assert int8['max_abs_diff'] > ort['max_abs_diff']
    assert all(v['p50_ms'] > 0 and v['peak_rss_mb'] > 50 for v in (ts, ort, int8))
    table = format_table(report)
    assert 'onnxruntime int8 (qdq, x86)' in table and 'GFLOP/frame' in table


def test_cli_bench_json(generated_detector_dir, capsys):
    rc = main(['bench', '--model', str(generated_detector_dir / 'tinydet.yaml'),
               str(generated_detector_dir / 'tinydet_int8_arm.yaml'), '--runs', '3',
               '--warmup', '1', '--images', '1', '--json'])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert [v['label'] for v in report['variants']] == ['onnxruntime fp32',
                                                        'onnxruntime int8 (qdq, arm)']
    assert report['machine']['fp32_gemm_gflops'] > 1.0


@pytest.mark.parametrize('argv, message', [
    (['bench', '--model', 'missing.yaml'], 'model spec not found: missing.yaml'),
    (['bench', '--backends', 'gpu'], "unknown backend(s) ['gpu']"),
])
def test_cli_errors_are_one_line(argv, message, capsys, generated_detector_dir):
    if '--backends' in argv:
        argv = argv + ['--model', str(generated_detector_dir)]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and 'Traceback' not in err


def test_console_help_lists_commands():
    out = subprocess.run([sys.executable, '-m', 'ros2_infer.cli.main', '--help'],
                         capture_output=True, text=True, check=True).stdout
    for command in ('bench', 'export', 'sim'):
        assert command in out
