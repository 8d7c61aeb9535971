"""StyleSpace edit offsets."""

import torch

from stylex.explain.edits import edit_offsets, set_coordinates


def test_edit_offsets_move_to_extremes_and_overshoot():
    flat = torch.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])
    smin, smax = [-1.0, -2.0, -3.0], [10.0, 20.0, 30.0]
    off = edit_offsets(flat, [(1, 1), (2, 0)], smin, smax)                 # the same moves for both images
    assert torch.equal(flat + off, torch.tensor([[0.0, 20.0, -3.0], [3.0, 20.0, -3.0]]))
    per_image = edit_offsets(flat, [[(0, 0)], []], smin, smax, shift=2.0)  # one list per image
    assert torch.equal(per_image, torch.tensor([[-2.0, 0, 0], [0, 0, 0]]))
    two_each = edit_offsets(flat, [[(0, 1), (1, 0)], [(2, 1), (0, 0)]], smin, smax)
    assert torch.equal(flat + two_each, torch.tensor([[10.0, -2.0, 2.0], [-1.0, 4.0, 30.0]]))


def test_set_coordinates():
    flat = torch.zeros(2, 3)
    assert torch.equal(set_coordinates(flat, [[(2, 5.0)], [(0, -1.0)]]), torch.tensor([[0, 0, 5.0], [-1.0, 0, 0]]))
