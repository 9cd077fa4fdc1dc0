"""The relay core: journal-first, per-chat ordered delivery between two channels."""

from bridge.relay.core import Relay, StateHandler
from bridge.relay.retry import RetryPolicy, delivery_key

__all__ = ["Relay", "RetryPolicy", "StateHandler", "delivery_key"]
