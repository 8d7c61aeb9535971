"""Visual explanations and the user-study kit, built from plain arrays (uint8 images, probabilities).

- :mod:`.figures`: reconstruction grid, attribute panels, per-image explanation, flip-rate and training curves.
- :mod:`.animation`: GIFs alternating original and edited images (600 ms per frame, looping).
- :mod:`.html`: the self-contained ``index.html`` report.
- :mod:`.userstudy`: the classification and verbal user studies as static pages, and their scoring.
"""

from .animation import attribute_gif, attribute_gif_tiled
from .figures import (FigureStyle, attribute_panel, attribute_title, choose_panel_images, flip_rate_curve,
                      image_explanation, reconstruction_grid, training_curves)
from .html import AttributeEntry, FlipRateRow, ReportContent, Table, check_report_links, render_report
from .userstudy import build_user_study, collect_descriptions, score_user_study

__all__ = [
    "AttributeEntry", "FigureStyle", "FlipRateRow", "ReportContent", "Table", "attribute_gif", "attribute_gif_tiled",
    "attribute_panel", "attribute_title", "build_user_study", "check_report_links", "choose_panel_images",
    "collect_descriptions", "flip_rate_curve", "image_explanation", "reconstruction_grid", "render_report",
    "score_user_study", "training_curves",
]
