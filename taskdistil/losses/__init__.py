"""Distillation losses: small modules over tensors, each docstring states formula and paper."""

from taskdistil.losses.crf import CRFNLL
from taskdistil.losses.hidden import HardDistillation, PatientLoss, RepresentationLoss
from taskdistil.losses.logits import DistillLoss, HardCE, LogitMSE, SoftKL

__all__ = ["CRFNLL", "DistillLoss", "HardCE", "HardDistillation", "LogitMSE", "PatientLoss", "RepresentationLoss",
           "SoftKL"]
