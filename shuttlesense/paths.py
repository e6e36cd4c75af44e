"""Tell a local path from a Hugging Face Hub id, so a missing folder fails as "not found" at once.

Hub ids are `name` or `owner/name`; anything starting with `.`, `/` or `~`, or with more than one
slash, can only be meant as a local path (and must not be sent to the Hub, which retries for ~30 s).
"""

from __future__ import annotations


def looks_local(name: str) -> bool:
    """True if `name` can only be a local path, never a Hub id."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1
