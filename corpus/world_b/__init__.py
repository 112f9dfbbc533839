"""World b: a second synthetic order history with its own vocabulary, layout and log formats.

Written from the issue's description of a tenant's data, not from world a: sites coded like ``PL-POZ``, carriers
by code and by name (only the reference folder and some notes map one to the other), SKUs like ``EL-PHN-X12``,
bare order refs, RMA numbers, three scan-feed styles, a ledger, case notes and revisioned policy guides.
"""

from corpus.world_b.plan import PLANTERS
from corpus.world_b.plant_canonical import CANONICAL_QUESTION
from corpus.world_b.writer import generate_world_b

__all__ = ["CANONICAL_QUESTION", "PLANTERS", "generate_world_b"]
