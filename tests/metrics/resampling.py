"""A slow, obvious reading of a bootstrap replicate, to check the fast counts against."""

import numpy as np


def sample_draws(resampler, replicate):
    """Return the caller's case indices in one replicate, with repeats."""
    units = resampler.unit_draws(replicate)
    if resampler.groups is None:
        return resampler.order[units]
    by_group = np.argsort(resampler.groups, kind="stable")
    bounds = np.searchsorted(resampler.groups[by_group], np.arange(resampler.n_units + 1))
    cases = [by_group[bounds[u] : bounds[u + 1]] for u in units]
    return resampler.order[np.concatenate(cases).astype(np.intp)]
