"""The demo report's figures: annotated frames, depth samples and latency histograms (PNG)."""

from pathlib import Path

import numpy as np

GREEN = (40, 200, 40)
ORANGE = (255, 140, 0)


def _plt():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def annotate(frame) -> np.ndarray:
    """Draw a frame's detections; add the fused 3D distance where the fusion made an object."""
    import cv2

    canvas = frame.image.copy()
    det = frame.detections
    if det is None:
        return canvas
    distances = {}
    for mo in frame.objects:
        o = mo.object
        distances[tuple(np.round(np.asarray(o.box, float), 1))] = (
            float(np.linalg.norm(o.position[:2])), o.source)
    for box, score, label in zip(det.boxes, det.scores, det.labels()):
        key = tuple(np.round(np.asarray(box, float), 1))
        fused = distances.get(key)
        color = GREEN if fused else ORANGE
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color, 2)
        text = f'{label} {score:.2f}'
        if fused:
            text += f' {fused[0]:.2f} m ({fused[1]})'
        cv2.putText(canvas, text, (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.42,
                    color, 1, cv2.LINE_AA)
    return canvas


def frames_grid(frames, path: Path, columns: int = 3) -> Path:
    """Grid of annotated camera frames (stamp in each title)."""
    plt = _plt()
    frames = sorted(frames, key=lambda f: f.stamp_ns)
    rows = max(1, (len(frames) + columns - 1) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.3 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis('off')
    for ax, frame in zip(axes.ravel(), frames):
        n = 0 if frame.detections is None else len(frame.detections)
        ax.imshow(annotate(frame))
        ax.set_title(f't = {frame.stamp_ns / 1e9:.1f} s: {n} detections, '
                     f'{len(frame.objects)} in 3D', fontsize=8)
    fig.suptitle('detections (orange: 2D only, green: with the fused distance from the robot)',
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def depth_samples(samples, path: Path, max_range: float = 4.0) -> Path:
    """Camera frame | colourised metric depth with the lidar points overlaid (same colours)."""
    plt = _plt()
    rows = max(1, len(samples))
    fig, axes = plt.subplots(rows, 2, figsize=(8.4, 3.0 * rows), squeeze=False,
                             constrained_layout=True)
    image = None
    for (ax_rgb, ax_depth), s in zip(axes, samples):
        ax_rgb.imshow(s.image)
        ax_rgb.set_title(f't = {s.stamp_ns / 1e9:.1f} s', fontsize=8)
        image = ax_depth.imshow(s.depth, cmap='turbo', vmin=0.0, vmax=max_range)
        if len(s.lidar_uv):
            ax_depth.scatter(s.lidar_uv[:, 0], s.lidar_uv[:, 1], c=s.lidar_depth, cmap='turbo',
                             vmin=0.0, vmax=max_range, s=16, edgecolors='black',
                             linewidths=0.5)
        ax_depth.set_title(f'depth model (m), {len(s.lidar_uv)} lidar points', fontsize=8)
        ax_rgb.axis('off')
        ax_depth.axis('off')
    for ax in axes[len(samples):].ravel():
        ax.axis('off')
    if image is not None:
        fig.colorbar(image, ax=axes[:, 1].tolist(), shrink=min(1.0, 2.5 / rows),
                     label='z-depth (m)')
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def latency_histograms(timings: dict, path: Path) -> Path:
    """One histogram (log-spaced bins, ms) per stage."""
    plt = _plt()
    from matplotlib.ticker import NullFormatter

    stages = [s for s in timings if len(timings[s])]
    columns = 3
    rows = max(1, (len(stages) + columns - 1) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.0 * columns, 2.6 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis('off')
    for ax, stage in zip(axes.ravel(), stages):
        a = np.maximum(np.asarray(timings[stage], float), 1e-4)
        ax.axis('on')
        bins = np.logspace(np.log10(a.min()), np.log10(a.max() * 1.01 + 1e-4), 30)
        ax.hist(a, bins=bins, color='tab:blue')
        ax.set_xscale('log')
        ax.xaxis.set_minor_formatter(NullFormatter())   # minor labels overlap on short ranges
        ax.axvline(np.percentile(a, 50), color='k', lw=1)
        ax.axvline(np.percentile(a, 95), color='r', lw=1, ls='--')
        ax.set_title(f'{stage}: p50 {np.percentile(a, 50):.3f} ms, '
                     f'p95 {np.percentile(a, 95):.3f} ms (n={a.size})', fontsize=8)
        ax.set_xlabel('ms', fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
