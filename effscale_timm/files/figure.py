"""The one way a figure becomes a PNG file: a matplotlib ``Figure`` on the Agg canvas (no pyplot state, no display),
rendered to bytes and written atomically."""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Tuple

from ..atomic import write_atomic


def new_figure(figsize: Tuple[float, float], layout: str = 'constrained'):
    """A matplotlib ``Figure`` with its own Agg canvas (thread-safe, independent of pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def save_png(fig, path: os.PathLike, dpi: int = 120) -> Path:
    """Render ``fig`` as a PNG and write it to ``path`` atomically."""
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=dpi)
    return write_atomic(path, buf.getvalue())
