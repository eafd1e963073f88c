"""The coefficient search's and the design-space study's JSON files, one reader for all of them: a missing, empty,
truncated or random file, one of another kind, or one without the member asked for is one line naming it
(:class:`~effscale_timm.files.damage.DamagedFileError`); the writers are the search's steps
(:mod:`effscale_timm.search.steps`, :mod:`effscale_timm.search.design_space`).
"""
from __future__ import annotations

import os
from typing import Any, Dict

from .damage import REMAKE, damaged, read_json_object

# kind -> (what it is, the step that writes it, the keys every such file holds)
SEARCH_FILES = {
    'grid': ('search grid file', 'effscale search grid', ('phi', 'kept', 'candidates', 'compound_candidates',
                                                          'b0_macs')),
    'halving': ('successive-halving file', 'effscale search halve', ('going_on', 'references', 'candidates')),
    'chosen': ('search choice', 'effscale search choose', ('name', 'alpha', 'beta', 'gamma', 'phi')),
    'match': ('search match file', 'effscale search match', ('members',)),
    'samples': ('design-space samples file', 'effscale search design-sample', ('regime', 'members', 'b0_macs')),
}


def read_search_file(path: os.PathLike, kind: str) -> Dict[str, Any]:
    """The JSON object of a search file of ``kind`` (a key of :data:`SEARCH_FILES`).

    Raises:
        DamagedFileError: the file is missing, empty, not JSON, or lacks the keys of its kind.
    """
    what, step, keys = SEARCH_FILES[kind]
    return read_json_object(path, what, keys, f'{REMAKE} ({step})')


def read_member(path: os.PathLike, kind: str, name: str) -> Dict[str, Any]:
    """Member ``name`` of a match or samples file.

    Raises:
        DamagedFileError: the file is damaged or holds no member ``name``.
    """
    members = read_search_file(path, kind)['members']
    if not isinstance(members, dict) or not isinstance(members.get(name), dict):
        raise damaged(path, f'a {SEARCH_FILES[kind][0]} without member {name}',
                      f'{REMAKE} ({SEARCH_FILES[kind][1]})')
    return members[name]
