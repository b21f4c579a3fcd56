"""An ONNX Runtime deployment (the Pi profile) runs without torch installed."""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import sys
    sys.modules['torch'] = None  # every `import torch` now raises ImportError
    sys.modules['torchvision'] = None
    import numpy as np
    from ros2_infer.core.depth import DepthEstimator
    from ros2_infer.core.detector import Detector
    from ros2_infer.core.model import load_model
    from ros2_infer.models import bundled_spec
    import ros2_infer.core.pipeline, ros2_infer.conversions, ros2_infer.nodes.params
    import ros2_infer.replay.runner
    import ros2_infer.evaluation, ros2_infer.demo.evaluate  # eval and the demo's report
    from ros2_infer.core.metrics import depth_metrics  # what `eval depth` scores with

    image = np.full((480, 640, 3), 90, np.uint8)
    image[200:300, 250:330] = (230, 120, 30)
    detections = Detector(load_model(bundled_spec('tinydet')))(image)
    depth = DepthEstimator(load_model(bundled_spec('tinydepth')))
    print('ok', len(detections.boxes), type(depth).__name__)
""")


def test_onnxruntime_path_never_imports_torch():
    result = subprocess.run([sys.executable, '-c', SCRIPT], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith('ok ')


def test_torchscript_without_torch_is_one_clear_error():
    script = SCRIPT.split('image = ')[0] + textwrap.dedent("""
        from ros2_infer.core.errors import BackendError
        try:
            load_model(bundled_spec('tinydet_ts'))
        except BackendError as error:
            print('clear:', error)
    """)
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "needs the 'torch' package" in result.stdout
