"""Explanation stage: AttFind (effects + selection), the Wu et al. and random baselines, metrics.

Typical use::

    from stylex.explain import compute_effects, select_attributes, flip_rate_repeats
    res = compute_effects(run.G, run.classifier, latents, batch_size=256)
    attrs = select_attributes(res.effects, res.base_logits)          # ranked Attribute list
    fr = flip_rate_repeats(run.G, run.classifier, test_latents, attrs, 10, res.style_min, res.style_max)
"""

from .attfind import (EffectsResult, compute_effects, compute_effects_reference, load_effects,
                      save_effects)
from .baselines import random_attributes, wu_attributes, wu_relevance
from .edits import edit_offsets, set_coordinates
from .metrics import (FlipRateResult, FlipRateSummary, attribute_moves, flip_rate, flip_rate_repeats,
                      reconstruction_metrics)
from .selection import (Attribute, SelectionConfig, attribute_from_dict, attribute_to_dict,
                        filter_unstable_images, greedy_select, select_attributes, select_for_image)

__all__ = [
    "Attribute", "EffectsResult", "FlipRateResult", "FlipRateSummary", "SelectionConfig",
    "attribute_from_dict", "attribute_moves", "attribute_to_dict", "compute_effects",
    "compute_effects_reference", "edit_offsets", "filter_unstable_images", "flip_rate", "flip_rate_repeats",
    "greedy_select", "load_effects", "random_attributes", "reconstruction_metrics", "save_effects",
    "select_attributes", "select_for_image", "set_coordinates", "wu_attributes", "wu_relevance",
]
