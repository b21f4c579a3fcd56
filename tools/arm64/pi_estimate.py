"""
Print the Raspberry Pi 4 / Pi 5 speed estimate of docs/benchmarks.md (an estimate, not measured).

Per-frame model time = FLOPs per frame / (sustained fp32 GFLOP/s of the SoC x the share of it a
small conv net reaches). Run ``ros2-infer bench`` on a Pi to replace it with measured figures.
"""

# Model FLOPs per frame at the bundled sizes (`ros2-infer bench` prints them: 2 x MACs of the
# Conv/Gemm/MatMul nodes of the fp32 ONNX graph).
MODELS = {'tinydet (320x240)': 0.628, 'tinydepth (160x120)': 0.241}

# SoC -> (cores, GHz, fp32 FLOP/cycle/core, assumed sustained share of peak in a GEMM).
# Cortex-A72: one 128-bit NEON FMA per cycle (4 lanes x 2); Cortex-A76: two (16 FLOP/cycle).
# Sustained GEMM at ~55 % of that peak on 4 threads is an assumption (thermal limits, memory
# bandwidth of the LPDDR4/4X), not a measurement.
SOCS = {
    'Pi 4 (BCM2711, 4x Cortex-A72 1.5 GHz)': (4, 1.5, 8, 0.55),
    'Pi 5 (BCM2712, 4x Cortex-A76 2.4 GHz)': (4, 2.4, 16, 0.55),
}
# Share of the sustained GEMM rate a small conv net reaches end to end in ONNX Runtime fp32:
# 30-60 % (on the x86 machine of docs/benchmarks.md ORT fp32 reaches 40-100 % of its GEMM).
MODEL_EFFICIENCY = (0.3, 0.6)


def rows():
    """Yield (soc, peak, sustained, model, ms slow, ms fast) for every SoC and model."""
    for soc, (cores, ghz, flop_per_cycle, sustained_share) in SOCS.items():
        peak = cores * ghz * flop_per_cycle
        sustained = peak * sustained_share
        for model, gflop in MODELS.items():
            slow, fast = (gflop / (sustained * eff) * 1e3 for eff in MODEL_EFFICIENCY)
            yield soc, peak, sustained, model, slow, fast


def main() -> int:
    """Print the estimate table."""
    print(f'{"SoC":40} {"peak":>6} {"sust.":>6}  {"model":20} {"fp32 ms/frame":>14} '
          f'{"fps":>9}')
    for soc, peak, sustained, model, slow, fast in rows():
        print(f'{soc:40} {peak:6.0f} {sustained:6.0f}  {model:20} '
              f'{f"{fast:.0f}-{slow:.0f}":>14} {f"{1e3 / slow:.0f}-{1e3 / fast:.0f}":>9}')
    print('GFLOP/s: peak = cores x GHz x fp32 FLOP/cycle; sust. = assumed sustained GEMM rate.')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
