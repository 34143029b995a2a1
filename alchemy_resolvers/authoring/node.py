"""The mechanics of a config tree node: a ``dict`` with attribute access whose missing
keys give detached children, one parent per node, whole/frozen flags.

:class:`~alchemy_resolvers.authoring.config.Config` adds construction, merging,
traversal and printing on top (see its module doc for the semantics).
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from alchemy_resolvers.authoring import context
from alchemy_resolvers.authoring.dep import DEP
from alchemy_resolvers.authoring.params import is_param, note_param

__all__ = ["TreeNode", "ATTRS", "INHERITED_ATTRS"]

# ------------------------------------------------------------------------ Config

# ``_ac_format`` is "yacs" for a tree built on YACS defaults: a YAML file later in its
# ``caps`` then merges like ``merge_from_file``; ``_ac_yacs_new_allowed`` holds the
# dotted paths of the defaults' nodes created with ``new_allowed=True``, and
# ``_ac_yacs_keys`` the defaults' root ``CfgNode`` (its deprecated and renamed keys).
_ATTRS = (
    "_ac_parent", "_ac_key", "_ac_mounted", "_ac_whole", "_ac_caps", "_ac_caps_from",
    "_ac_format", "_ac_yacs_new_allowed", "_ac_yacs_keys", "_ac_frozen", "_ac_tuned_caps",
)
_INHERITED_ATTRS = ("_ac_format", "_ac_yacs_new_allowed", "_ac_yacs_keys")
ATTRS, INHERITED_ATTRS = _ATTRS, _INHERITED_ATTRS


class TreeNode(dict):
    """A config tree node without the public constructor (see ``Config``)."""

    _NO_DEFAULT = object()

    # -- construction helpers ------------------------------------------------------

    def _init_attrs(self, parent: Optional["TreeNode"], key: Any, mounted: bool) -> None:
        set_ = object.__setattr__
        set_(self, "_ac_parent", parent)
        set_(self, "_ac_key", key)
        set_(self, "_ac_mounted", mounted)
        set_(self, "_ac_whole", False)
        set_(self, "_ac_caps", ())
        set_(self, "_ac_caps_from", None)
        set_(self, "_ac_format", None)
        set_(self, "_ac_yacs_new_allowed", frozenset())
        set_(self, "_ac_yacs_keys", None)
        set_(self, "_ac_frozen", False)
        set_(self, "_ac_tuned_caps", None)  # a TunedCaps once caps are resolved

    @classmethod
    def _blank(cls, parent: Optional["TreeNode"] = None, key: Any = None, mounted: bool = True) -> "TreeNode":
        node = cls.__new__(cls)
        dict.__init__(node)
        node._init_attrs(parent, key, mounted)
        return node

    def _copy_attrs_to(self, other: "TreeNode") -> None:
        for name in ("_ac_whole", "_ac_caps", "_ac_caps_from") + _INHERITED_ATTRS:
            object.__setattr__(other, name, getattr(self, name))

    def _inherit_format(self, other: "TreeNode") -> None:
        """Take ``other``'s source format (YACS) when this node has none yet."""
        if other._ac_format and not self._ac_format:
            for name in _INHERITED_ATTRS:
                object.__setattr__(self, name, getattr(other, name))

    @classmethod
    def _convert(cls, value: dict) -> "TreeNode":
        """Copy of a tree to merge: Config nodes copied, nested plain dicts converted
        (only when the container being converted is itself a plain dict)."""
        return cls._tree_copy(value, convert_dicts=not isinstance(value, TreeNode))

    @classmethod
    def _tree_copy(cls, src: dict, convert_dicts: bool, _path: Tuple[int, ...] = ()) -> "TreeNode":
        if id(src) in _path:
            raise ValueError("a config tree contains itself (circular reference)")
        path = _path + (id(src),)
        node = (type(src) if isinstance(src, TreeNode) else cls)._blank()
        if isinstance(src, TreeNode):
            src._copy_attrs_to(node)
        for k, v in src.items():
            if isinstance(v, TreeNode):
                v = v._tree_copy(v, False, path)
            elif convert_dicts and isinstance(v, dict):
                v = cls._tree_copy(v, True, path)
            node[k] = v
        return node

    # -- attribute access ----------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        if name in _ATTRS:  # not yet set (unpickling): behave like a plain object
            raise AttributeError(name)
        return self[name]

    def __setattr__(self, name: str, value: Any) -> None:
        if hasattr(type(self), name):
            raise AttributeError(
                f"`{name}` is a method/attribute of {type(self).__name__} and cannot be "
                f"set as a key with `.{name} = ...`; use `cfg[{name!r}] = ...`"
            )
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    # -- dict protocol -------------------------------------------------------------

    def __missing__(self, key: Any) -> "TreeNode":
        # A detached child: attaches itself on the first write below it.
        return type(self)._blank(self, key, mounted=False)

    def __setitem__(self, key: Any, value: Any) -> None:
        if "_ac_parent" not in self.__dict__:  # unpickling: attributes come after items
            dict.__setitem__(self, key, value)
            return
        self._check_writable()
        self._mount()
        if isinstance(value, TreeNode):
            if value is dict.get(self, key):
                return
            if not value._ac_mounted and value._ac_parent is self and value._ac_key == key:
                object.__setattr__(value, "_ac_mounted", True)
            elif value._ac_parent is not None:
                # Already part of another tree: mount a copy (one node, one parent).
                value = value._tree_copy(value, False)
                object.__setattr__(value, "_ac_parent", self)
                object.__setattr__(value, "_ac_key", key)
            else:
                object.__setattr__(value, "_ac_parent", self)
                object.__setattr__(value, "_ac_key", key)
                object.__setattr__(value, "_ac_mounted", True)
        old = dict.get(self, key)
        if isinstance(old, TreeNode) and old is not value:
            old._demount()
        dict.__setitem__(self, key, value)
        if isinstance(value, DEP) and value.level is None:
            value.level = self._depth()
        elif is_param(value):
            note_param(value)
        if context.write_hook is not None:  # provenance: which line set this key
            context.write_hook(self, key)

    def __delitem__(self, key: Any) -> None:
        self._check_writable()
        value = dict.__getitem__(self, key)
        if isinstance(value, TreeNode):
            value._demount()
        dict.__delitem__(self, key)

    def clear(self) -> None:
        self._check_writable()
        for v in dict.values(self):
            if isinstance(v, TreeNode):
                v._demount()
        dict.clear(self)


    def pop(self, key: Any, default: Any = _NO_DEFAULT) -> Any:
        self._check_writable()
        if key not in self:
            if default is TreeNode._NO_DEFAULT:
                raise KeyError(key)
            return default
        value = dict.pop(self, key)
        if isinstance(value, TreeNode):
            value._demount()
        return value

    def popitem(self) -> Tuple[Any, Any]:
        self._check_writable()
        k, v = dict.popitem(self)
        if isinstance(v, TreeNode):
            v._demount()
        return k, v

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]


    # -- tree structure ------------------------------------------------------------

    def _check_writable(self) -> None:
        if self._ac_frozen:
            raise RuntimeError(f"{type(self).__name__} is frozen (loaded configs are read-only); call .unfreeze() first")

    def _mount(self) -> None:
        if not self._ac_mounted:
            parent = self._ac_parent
            parent[self._ac_key] = self  # mounts the parent chain first, recursively

    def _demount(self) -> None:
        object.__setattr__(self, "_ac_parent", None)
        object.__setattr__(self, "_ac_key", None)
        object.__setattr__(self, "_ac_mounted", True)

    def _depth(self) -> int:
        depth, node = 0, self._ac_parent
        while node is not None:
            depth, node = depth + 1, node._ac_parent
        return depth

    @property
    def is_whole(self) -> bool:
        return bool(self._ac_whole)

    def override(self, is_whole: bool = True) -> "TreeNode":
        """Mark this subtree whole: on merge it replaces the base's subtree instead of
        updating it key by key. Attaches the node (``cfg.a.override()`` creates ``a``)."""
        object.__setattr__(self, "_ac_whole", bool(is_whole))
        self._mount()
        return self

    set_whole = override

    def empty_leaf(self) -> "TreeNode":
        """Clear and mark whole: in a child config, "delete" the base's subtree (the key
        stays, its value empty)."""
        self.clear()
        return self.override(True)

    def empty_tree(self) -> "TreeNode":
        self.clear()
        return self.override(False)

    def freeze(self, frozen: bool = True) -> "TreeNode":
        for node in self.branches:
            object.__setattr__(node, "_ac_frozen", frozen)
        return self

    def unfreeze(self) -> "TreeNode":
        return self.freeze(False)

    @property
    def is_frozen(self) -> bool:
        return bool(self._ac_frozen)
