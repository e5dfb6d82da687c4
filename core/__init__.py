"""The core: okrsync's domain model, errors and pure helpers.

Every other package (``mappings``, ``connectors``, ``sandbox``, ``syncer``) depends on this
one; it depends on none of them.
"""

from __future__ import annotations
