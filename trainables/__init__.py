"""Trainables: one package per model with its data (``replay``, ``mlpf``, ``ucluster``)."""
