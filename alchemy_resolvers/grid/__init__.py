"""The grid of a sweep: axes (swept keys), value names, override spellings,
``subject_to`` constraints, zipped axes, and the lazy, ordered expansion into
combinations.

Needs no Hydra: overrides are plain ``key=value`` strings.
"""
from alchemy_resolvers.grid.axes import Axis, GridError, display_keys, folder_safe, key_path
from alchemy_resolvers.grid.expansion import Combination, Grid
from alchemy_resolvers.grid.names import value_name, value_names
from alchemy_resolvers.grid.spelling import is_literal, quote, to_override_value
from alchemy_resolvers.grid.zipping import ZipError

__all__ = [
    "Axis",
    "Grid",
    "GridError",
    "ZipError",
    "Combination",
    "display_keys",
    "folder_safe",
    "key_path",
    "value_name",
    "value_names",
    "is_literal",
    "quote",
    "to_override_value",
]
