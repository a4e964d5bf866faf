"""Errors the service reports to users as one line (CLI exit status 2 for bad input, 1 for a stalled run)."""
from __future__ import annotations


class ConfigError(ValueError):
    """A bad experiment description, found before anything starts.

    ``source`` is the file (or ``"<cli>"``/``"<call>"``), ``key`` the dotted key, ``problem`` what is wrong.
    """

    def __init__(self, problem: str, key: str | None = None, source: str | None = None):
        self.problem, self.key, self.source = problem, key, source
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = self.source or "<config>"
        if self.key:
            where += f": {self.key}"
        return f"{where}: {self.problem}"

    def with_source(self, source: str) -> "ConfigError":
        return ConfigError(self.problem, self.key, self.source or source)

    def under(self, prefix: str) -> "ConfigError":
        key = f"{prefix}.{self.key}" if self.key else prefix
        return ConfigError(self.problem, key, self.source)


class ExperimentStalled(RuntimeError):
    """The scheduler left paused trials that nothing would resume; the run was stopped (``hpo.ray.watchdog``)."""


class FewerResultsError(RuntimeError):
    """Writing would replace results on disk with fewer completed trials; the old files are kept."""


class StorageStopped(RuntimeError):
    """The results directory stopped taking writes mid-run (a full disk, a read-only filesystem, a
    quota): the run ended, with the cause in one line (``hpo.disk_errors``)."""
