"""Test support shipped with the bridge: an in-memory ``Channel`` and the Channel contract suite."""
