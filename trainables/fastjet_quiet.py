"""FastJet clustering without its banner on the console.

FastJet prints a multi-line banner on the first clustering of every process (each trial, each
generator worker).  We keep the request behind it — cite FastJet (M. Cacciari, G. P. Salam and
G. Soyez, Eur. Phys. J. C72 (2012) 1896) — in our docs and in one log line, and send the banner
itself to /dev/null by redirecting the process's standard output around the first clustering.
"""
from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger("hpo")
_first_done = False


def cluster_sequence(particles, jet_def):
    """``fastjet.ClusterSequence(particles, jet_def)``; the first call per process is silenced."""
    global _first_done
    import fastjet as fj

    if _first_done:
        return fj.ClusterSequence(particles, jet_def)
    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        return fj.ClusterSequence(particles, jet_def)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
        _first_done = True
        log.debug("jets clustered with FastJet (Cacciari, Salam, Soyez, EPJC 72 (2012) 1896)")
