"""Reproducible builds of the demo and benchmark models (`python -m workers.modelbuild --out models`)."""

from workers.modelbuild.tickets import QUEUES, V1_QUEUES, generate_tickets

__all__ = ["QUEUES", "V1_QUEUES", "generate_tickets"]
