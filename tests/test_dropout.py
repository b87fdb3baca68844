"""translator/model/dropout.py: the same distribution as nn.Dropout, identity in eval mode,
gradients through the kept elements only."""

from __future__ import annotations

import pytest
import torch

from translator.model.dropout import Dropout


def test_keeps_each_element_with_probability_one_minus_p_and_rescales():
    torch.manual_seed(0)
    drop = Dropout(0.3).train()
    x = torch.ones(400, 500)
    y = drop(x)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.7) < 0.005  # 200,000 draws: sd 0.001
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / 0.7))
    assert abs(y.mean().item() - 1.0) < 0.01  # the expectation is unchanged


def test_identity_in_eval_mode_and_at_zero():
    x = torch.randn(7, 9)
    assert Dropout(0.5).eval()(x) is x
    assert Dropout(0.0).train()(x) is x


def test_gradient_flows_through_the_kept_elements_only():
    torch.manual_seed(1)
    x = torch.randn(50, 60, requires_grad=True)
    y = Dropout(0.4).train()(x)
    y.sum().backward()
    kept = y.detach() != 0
    assert torch.allclose(x.grad[kept], torch.full_like(x.grad[kept], 1 / 0.6))
    assert (x.grad[~kept] == 0).all()


def test_masks_differ_between_calls_and_follow_the_seed():
    x = torch.ones(30, 30)
    drop = Dropout(0.5).train()
    torch.manual_seed(3)
    first, second = drop(x), drop(x)
    torch.manual_seed(3)
    assert torch.equal(drop(x), first) and not torch.equal(first, second)


def test_a_probability_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError):
        Dropout(1.0)
