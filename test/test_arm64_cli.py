"""
ARM smoke: the package imports, ``ros2-infer`` runs, and the bench prints its table.

Part of the aarch64 selection of ``tools/arm64/run_stage.sh`` (which sets
``ROS2_INFER_EXPECT_MACHINE=aarch64``, so a stage that silently ran on x86 fails); on x86 the
same checks run natively.
"""

import os
import platform
import subprocess
import sys

import pytest
from ros2_infer.models import bundled_spec, MODELS_DIR


def test_runs_on_the_expected_machine():
    expected = os.environ.get('ROS2_INFER_EXPECT_MACHINE')
    if not expected:
        pytest.skip('no expected machine set (tools/arm64/run_stage.sh sets aarch64)')
    assert platform.machine() == expected
    if expected == 'aarch64':
        import torch

        # The engine of the bundled torch int8 model, and no x86-only kernels.
        assert 'qnnpack' in torch.backends.quantized.supported_engines
        assert 'fbgemm' not in torch.backends.quantized.supported_engines


def test_package_and_core_import():
    code = ('import ros2_infer, ros2_infer.core.detector, ros2_infer.core.depth, '
            'ros2_infer.core.pipeline, ros2_infer.cli.main; print(ros2_infer.__version__)')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()


def test_cli_help_lists_the_commands():
    out = subprocess.run([sys.executable, '-m', 'ros2_infer.cli.main', '--help'],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    for command in ('demo', 'replay', 'bench', 'eval'):
        assert command in out.stdout


@pytest.mark.skipif(not (MODELS_DIR / 'tinydet_int8_arm.yaml').is_file(),
                    reason='bundled models not generated yet')
def test_bench_prints_its_table_for_the_arm_int8_model():
    # ros2-infer bench's own code path, minus its 2048^3 GEMM probe (minutes under QEMU):
    # the GEMM rate is measured on a small matrix instead.
    from ros2_infer.benchmark import format_table, model_flops, run_benchmark
    from ros2_infer.core.profiling import measure_gemm_gflops
    from ros2_infer.core.spec import load_spec
    from ros2_infer.training.generated import synthetic_images

    specs = [load_spec(bundled_spec(name)) for name in ('tinydet', 'tinydet_int8_arm')]
    report = run_benchmark(specs, images=synthetic_images(1, seed=7), runs=3, warmup=1,
                           threads=2, gemm_gflops=measure_gemm_gflops(2, size=256, seconds=0.1),
                           flops=model_flops(specs))
    table = format_table(report)
    print(table)
    assert all(v['error'] is None for v in report['variants']), report['variants']
    for label in ('onnxruntime fp32', 'onnxruntime int8 (qdq, arm)', 'GFLOP/frame'):
        assert label in table, label
