"""Benchmarks of the token handshake (make bench). Figures are percentiles and ratios from one
run, compared with baselines measured in the same run on the same Temporal server."""
