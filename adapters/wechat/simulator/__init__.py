"""A stateful WeChat web-protocol server (PROTOCOL.md §13) for tests and demos."""

from .control import SimulatorControl, SimulatorControlError
from .model import SimulatorOptions
from .server import RunningSimulator, start_simulator

__all__ = [
    "RunningSimulator",
    "SimulatorControl",
    "SimulatorControlError",
    "SimulatorOptions",
    "start_simulator",
]
