"""Distillation losses against direct computations of their formulas."""

from __future__ import annotations

import math

import pytest
import torch

from taskdistil.losses import DistillLoss, HardCE, LogitMSE, SoftKL


def _logits(seed: int, b: int = 5, c: int = 4) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (3 * torch.randn(b, c, generator=g, dtype=torch.float64)).requires_grad_()


def _kl_manual(zs: torch.Tensor, zt: torch.Tensor, t: float) -> torch.Tensor:
    """T^2 * mean_b sum_c p_t log(p_t / p_s) with p = softmax(z / T), written out."""
    def softmax(z):
        e = torch.exp(z / t - (z / t).max(-1, keepdim=True).values)
        return e / e.sum(-1, keepdim=True)

    p_t, p_s = softmax(zt), softmax(zs)
    return t * t * (p_t * (torch.log(p_t) - torch.log(p_s))).sum(-1).mean()


# -- LogitMSE ----------------------------------------------------------------------------------

def test_logit_mse_is_mean_squared_difference():
    zs, zt = _logits(0), _logits(1)
    loss = LogitMSE()(zs, zt)
    manual = sum((zs[b, c] - zt[b, c]) ** 2 for b in range(5) for c in range(4)) / 20
    assert loss.item() == pytest.approx(manual.item(), rel=1e-12)
    assert loss.dim() == 0


def test_logit_mse_zero_for_equal_logits_and_gradient():
    zt = _logits(1).detach()
    assert LogitMSE()(zt.clone(), zt).item() == 0.0
    zs = _logits(0)
    LogitMSE()(zs, zt).backward()
    torch.testing.assert_close(zs.grad, 2 * (zs.detach() - zt) / zs.numel())


# -- SoftKL ------------------------------------------------------------------------------------

@pytest.mark.parametrize("t", [1.0, 2.0, 5.0])
def test_soft_kl_zero_for_equal_logits(t):
    z = _logits(2).detach()
    assert SoftKL(t)(z.clone(), z).item() == pytest.approx(0.0, abs=1e-12)
    # softmax is shift invariant: logits that differ by a per-row constant are "equal" too
    assert SoftKL(t)(z + torch.arange(5.0, dtype=z.dtype)[:, None], z).item() == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("t", [1.0, 2.0, 4.0])
def test_soft_kl_matches_manual_formula(t):
    zs, zt = _logits(3), _logits(4).detach()
    loss = SoftKL(t)(zs, zt)
    manual = _kl_manual(zs, zt, t)
    assert loss.item() > 0
    assert loss.item() == pytest.approx(manual.item(), rel=1e-10)
    # gradients agree too: d/dz_s = T/B * (p_s - p_t)
    (g_loss,) = torch.autograd.grad(loss, zs)
    (g_manual,) = torch.autograd.grad(_kl_manual(zs, zt, t), zs)
    torch.testing.assert_close(g_loss, g_manual)
    p_s, p_t = torch.softmax(zs.detach() / t, -1), torch.softmax(zt / t, -1)
    torch.testing.assert_close(g_loss, t / zs.shape[0] * (p_s - p_t))


def test_soft_kl_temperature_squared_scaling():
    zs, zt = _logits(5).detach(), _logits(6).detach()
    t = 2.0
    # the T^2 factor: SoftKL(2) equals 4 x the plain KL between the temperature-2 distributions
    plain = _kl_manual(zs, zt, t) / (t * t)
    assert SoftKL(t)(zs, zt).item() == pytest.approx(4 * plain.item(), rel=1e-10)
    # and equals T^2 x SoftKL(1) applied to logits divided by T
    assert SoftKL(t)(zs, zt).item() == pytest.approx(4 * SoftKL(1.0)(zs / t, zt / t).item(), rel=1e-10)
    # direction: KL(p_t || p_s), not KL(p_s || p_t)
    reverse = _kl_manual(zt, zs, t)
    assert not math.isclose(SoftKL(t)(zs, zt).item(), reverse.item(), rel_tol=1e-3)


# -- HardCE ------------------------------------------------------------------------------------

def test_hard_ce_ignores_unlabeled():
    zs = _logits(7)
    labels = torch.tensor([0, -1, 3, -1, 2])
    loss = HardCE()(zs, labels)
    keep = labels >= 0
    manual = -torch.log_softmax(zs, -1)[keep, labels[keep]].mean()
    assert loss.item() == pytest.approx(manual.item(), rel=1e-12)
    loss.backward()
    assert (zs.grad[~keep] == 0).all() and (zs.grad[keep].abs().sum(-1) > 0).all()


def test_hard_ce_all_unlabeled_is_zero_with_grad():
    zs = _logits(8)
    loss = HardCE()(zs, torch.full((5,), -1))
    assert loss.item() == 0.0 and not torch.isnan(loss)
    assert loss.requires_grad
    loss.backward()  # part of the graph: backward works, contributing nothing
    assert (zs.grad == 0).all()


# -- DistillLoss -------------------------------------------------------------------------------

@pytest.mark.parametrize("a", [0.0, 0.3, 1.0])
def test_distill_loss_mixes_ce_and_mse(a):
    zs, zt = _logits(9), _logits(10).detach()
    labels = torch.tensor([1, 0, -1, 3, 2])
    loss = DistillLoss(soft="mse", hard_weight=a)(zs, zt, labels)
    expected = a * HardCE()(zs, labels) + (1 - a) * ((zs - zt) ** 2).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-12)


def test_distill_loss_kl_and_no_labels_when_soft_only():
    zs, zt = _logits(11), _logits(12).detach()
    loss = DistillLoss(soft="kl", temperature=2.0, hard_weight=0.25)(zs, zt, torch.tensor([0, 1, 2, 3, 0]))
    expected = 0.25 * HardCE()(zs, torch.tensor([0, 1, 2, 3, 0])) + 0.75 * _kl_manual(zs, zt, 2.0)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-10)
    # hard_weight 0: labels are not needed
    assert DistillLoss()(zs, zt).item() == pytest.approx(((zs - zt) ** 2).mean().item(), rel=1e-12)


def test_distill_loss_hard_weight_needs_labels():
    zs, zt = _logits(13), _logits(14).detach()
    with pytest.raises(ValueError, match="labels"):
        DistillLoss(hard_weight=0.5)(zs, zt)


# -- hidden-state losses (Patient KD, XtremeDistil) --------------------------------------------

def test_patient_loss_hand_example_and_scale_invariance():
    from taskdistil.losses import PatientLoss

    s = torch.tensor([[[3.0, 4.0], [1.0, 0.0]]])  # (B=1, M=2 layers, H=2)
    t = torch.tensor([[[6.0, 8.0], [0.0, 2.0]]])
    # layer 1: same direction -> 0; layer 2: (1,0) vs (0,1) -> ||(1,-1)||^2 = 2
    assert PatientLoss()(s, t).item() == pytest.approx(2.0)
    assert PatientLoss()(s * 7.0, t * 0.1).item() == pytest.approx(2.0)  # normalised: scale does not matter
    batch = torch.cat([s, t])  # (2, 2, 2); the second example matches itself exactly
    assert PatientLoss()(batch, torch.cat([t, t])).item() == pytest.approx(1.0)  # batch mean of 2 and 0


def test_patient_loss_gradient_flows_to_student_only():
    from taskdistil.losses import PatientLoss

    s = torch.randn(4, 3, 8, requires_grad=True)
    t = torch.randn(4, 3, 8, dtype=torch.float16)  # the cache stores float16
    PatientLoss()(s, t).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0


def test_representation_loss_learns_a_projection():
    from taskdistil.losses import RepresentationLoss

    torch.manual_seed(0)
    loss = RepresentationLoss(student_dim=6, teacher_dim=4)
    assert sum(p.numel() for p in loss.parameters()) == 6 * 4 + 4
    student = torch.randn(32, 6)
    teacher = torch.nn.functional.gelu(student @ torch.randn(6, 4))  # reachable by GELU(W h + b)
    optimizer = torch.optim.Adam(loss.parameters(), lr=0.05)
    first = loss(student, teacher).item()
    for _ in range(300):
        optimizer.zero_grad()
        value = loss(student, teacher)
        value.backward()
        optimizer.step()
    assert value.item() < 0.05 * first


def test_hard_distillation_uses_teacher_argmax():
    from taskdistil.losses import HardDistillation

    teacher = torch.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 0.0]])
    student = torch.tensor([[0.0, 5.0, 0.0], [0.0, 5.0, 0.0]])
    expected = torch.nn.functional.cross_entropy(student, torch.tensor([1, 0]))
    assert HardDistillation()(student, teacher).item() == pytest.approx(expected.item())
    assert HardDistillation()(teacher * 100, teacher).item() < 1e-6  # agreeing confidently: ~0
