"""The ``dep`` and ``rel`` resolvers: entries computed from other entries with the safe
evaluator (:mod:`alchemy_resolvers.expr`), recomputed after every override."""
