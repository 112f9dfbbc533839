"""Position-aware packing of evidence into an exact token budget, and multi-pass verification of answers."""

from packing.claims import Claim, cited_labels, extract_claims
from packing.mapreduce import MapReduce, map_reduce, map_reduce_run
from packing.order import ORDERS, get_order
from packing.packer import Evidence, Packed, PackedEvidence, pack
from packing.prompt import DEFAULT_SYSTEM, NOT_FOUND
from packing.segments import PromptSpan, SegmentedPrompt, prompt_segments
from packing.verify import Attempt, Verification, VerifiedAnswer, answer_with_verification, attribute, timeline, verify

__all__ = [
    "ORDERS",
    "DEFAULT_SYSTEM",
    "NOT_FOUND",
    "Attempt",
    "Claim",
    "Evidence",
    "MapReduce",
    "Packed",
    "PackedEvidence",
    "PromptSpan",
    "SegmentedPrompt",
    "Verification",
    "VerifiedAnswer",
    "answer_with_verification",
    "attribute",
    "cited_labels",
    "extract_claims",
    "get_order",
    "map_reduce",
    "map_reduce_run",
    "pack",
    "prompt_segments",
    "timeline",
    "verify",
]
