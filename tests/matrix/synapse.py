"""Re-exports the local Synapse runner and Matrix client of ``adapters.matrix.localsynapse``."""

from adapters.matrix.localsynapse import (
    SERVER_NAME,
    MatrixError,
    MatrixUser,
    Synapse,
    free_port,
    port_is_free,
)

__all__ = ["SERVER_NAME", "MatrixError", "MatrixUser", "Synapse", "free_port", "port_is_free"]
