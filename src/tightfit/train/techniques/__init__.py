"""Techniques: a config plus one in-place function that transforms the model and reports what it changed.

``TECHNIQUES`` registers each one the planner can try by id (``precision``, ``micro_batch``, ``checkpointing``,
``lora``, ``optimizer``, ``release_memory``).
"""

from tightfit.train.techniques.checkpointing import (
    CheckpointApplied,
    apply_checkpointing_,
    find_repeated_blocks,
    remove_checkpointing_,
)
from tightfit.train.techniques.lora import LoraApplied, LoraSpec, apply_lora_, merge_lora_
from tightfit.train.techniques.registry import TECHNIQUES, SearchKnob

__all__ = [
    "TECHNIQUES",
    "CheckpointApplied",
    "LoraApplied",
    "LoraSpec",
    "SearchKnob",
    "apply_checkpointing_",
    "apply_lora_",
    "find_repeated_blocks",
    "merge_lora_",
    "remove_checkpointing_",
]
