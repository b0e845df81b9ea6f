"""Rerunnable benchmarks of fluorodn: denoising quality (``quality``) and throughput (``speed``).

Run them with ``python -m benchmarks <name> [--quick]``; results land in ``benchmarks/results``.
"""
