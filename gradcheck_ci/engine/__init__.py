"""Analytic against numeric, tensor by tensor: the compiled check, finite differences, directional
probes and localisation, element checks, the verdict."""
