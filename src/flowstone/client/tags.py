"""Changing a run's user tags, with Metaflow's rules.

* A tag is a string (or UTF-8 bytes) that UTF-8 can encode, of 1 to 500 characters.
* A run has at most 50 user tags (a change may still shrink a larger set).
* Removal comes first, then addition. Removing a system tag is refused, the whole change with it; adding a tag
  that is already a system tag is silently left out.
* A change must remove or add something.

The datastore applies the change atomically (:meth:`FlowDataStore.change_run_tags`), so processes changing one
run's tags at once lose nothing; the tags returned are those right after this change.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flowstone.datastore import FlowDataStore
from flowstone.errors import FlowstoneException

__all__ = ["MAX_TAG_LENGTH", "MAX_USER_TAGS", "TaggingError", "as_tag_list", "change_user_tags", "validate_tag"]

MAX_USER_TAGS = 50
MAX_TAG_LENGTH = 500


class TaggingError(FlowstoneException):
    """A tag change is invalid (Metaflow's MetaflowTaggingError)."""

    metaflow_name = "metaflow.exception.MetaflowTaggingError"

    headline = "Tagging error"


def validate_tag(tag: Any) -> str:
    """The tag as a string, or TaggingError saying what is wrong with it."""
    if isinstance(tag, bytes):
        try:
            tag = tag.decode("utf-8")
        except UnicodeDecodeError:
            raise TaggingError("Tags must be UTF-8 decodable.") from None
    if not isinstance(tag, str):
        raise TaggingError(f"Tags must be strings, got {type(tag).__name__} {tag!r}.")
    try:
        tag.encode("utf-8")
    except UnicodeEncodeError:
        raise TaggingError(f"Tags must be UTF-8 encodable: {tag!r} is not.") from None
    if not tag:
        raise TaggingError("Tags must not be empty strings.")
    if len(tag) > MAX_TAG_LENGTH:
        raise TaggingError(f"Tag is too long: {len(tag)} characters, at most {MAX_TAG_LENGTH}.")
    return tag


def as_tag_list(tags: Any) -> Any:
    """One tag (a string) as a list of one; anything else as given (the deprecated list forms of add_tag etc.)."""
    return [tags] if isinstance(tags, (str, bytes)) else tags


def _checked(tags: Any, what: str) -> frozenset[str]:
    if isinstance(tags, (str, bytes)):
        raise TaggingError(f"{what} may not be a string: give a list of tags.")
    try:
        items = list(tags)
    except TypeError:
        raise TaggingError(f"{what} must be an iterable of tags, got {type(tags).__name__}.") from None
    return frozenset(validate_tag(tag) for tag in items)


def change_user_tags(fds: FlowDataStore, run_id: str, system_tags: frozenset[str], tags_to_remove: Iterable[str],
                     tags_to_add: Iterable[str]) -> frozenset[str]:  # fmt: skip
    """Remove, then add user tags of run ``run_id``; return its user tags right after the change."""
    remove, add = _checked(tags_to_remove, "tags_to_remove"), _checked(tags_to_add, "tags_to_add")
    if not remove and not add:
        raise TaggingError("Must add or remove at least one tag.")
    protected = remove & system_tags
    if protected:
        raise TaggingError(f"Cannot remove a tag that is a system tag ({', '.join(sorted(protected))}); "
                           f"nothing was changed.")  # fmt: skip
    add -= system_tags
    current = frozenset(fds.load_run_tags(run_id))
    after = (current - remove) | add
    if after == current:
        return current  # nothing to change
    if len(after) > MAX_USER_TAGS and len(after) > len(current):
        raise TaggingError(f"A run may have at most {MAX_USER_TAGS} user tags; remove some first.")
    return frozenset(fds.change_run_tags(run_id, remove, add))
