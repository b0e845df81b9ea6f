"""The downstream analysis the benchmarks judge quality by: :mod:`fluorodn_train.evaluation.analysis`."""

from __future__ import annotations

from fluorodn_train.evaluation.analysis import *  # noqa: F403
from fluorodn_train.evaluation.analysis import __all__  # noqa: F401
