"""Boundary files in, plain WGS 84 features out: the IO side of district layers."""
