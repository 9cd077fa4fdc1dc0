"""Echonet: a toy chat network, plugged into chatbridge as a third-party adapter."""
