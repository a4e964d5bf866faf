"""Our distributions as Ray Tune domains, and back (for searchers handed a Tune param_space)."""
from __future__ import annotations

from typing import Any, Mapping

from ray import tune
from ray.tune.search import sample

from hpo.space import Choice, Distribution, IntRange, Uniform


def to_tune(dist: Distribution) -> Any:
    if isinstance(dist, Uniform):
        if dist.q:
            return (tune.qloguniform if dist.log else tune.quniform)(dist.low, dist.high, dist.q)
        return (tune.loguniform if dist.log else tune.uniform)(dist.low, dist.high)
    if isinstance(dist, IntRange):
        return (tune.lograndint if dist.log else tune.randint)(dist.low, dist.high + 1)  # Tune excludes high
    if isinstance(dist, Choice):
        return tune.grid_search(list(dist.values)) if dist.grid else tune.choice(list(dist.values))
    raise TypeError(f"no Tune domain for {type(dist).__name__}")


def to_tune_space(space: Mapping[str, Distribution]) -> dict[str, Any]:
    return {k: to_tune(d) for k, d in space.items()}


def space_from_tune(config: Mapping[str, Any]) -> dict[str, Distribution]:
    """Distributions for the top-level Tune domains of ``config`` (constants are left to Tune)."""
    space: dict[str, Distribution] = {}
    for name, dom in config.items():
        if isinstance(dom, dict) and "grid_search" in dom:
            raise ValueError(f"BOHB cannot handle tune.grid_search ({name!r})")
        if not isinstance(dom, sample.Domain):
            continue
        sampler = dom.get_sampler()
        q = None
        if isinstance(sampler, sample.Quantized):
            q, sampler = sampler.q, sampler.get_sampler()
        log = isinstance(sampler, sample.LogUniform)
        if isinstance(dom, sample.Categorical) and isinstance(sampler, sample.Uniform):
            space[name] = Choice(tuple(dom.categories))
        elif isinstance(dom, sample.Float) and isinstance(sampler, (sample.Uniform, sample.LogUniform)):
            space[name] = Uniform(dom.lower, dom.upper, q=q, log=log)
        elif isinstance(dom, sample.Integer) and q is None and isinstance(sampler, (sample.Uniform,
                                                                                      sample.LogUniform)):
            space[name] = IntRange(dom.lower, dom.upper - 1, log)  # Tune's randint excludes upper
        else:
            raise ValueError(f"BOHB cannot handle the Tune domain of {name!r} ({type(dom).__name__}, "
                             f"{type(sampler).__name__})")
    return space
