"""``crossomni review``: the human check of a release, one instance at a time, in a local web page."""

from builder.review.decisions import REVIEW_FILE, rejected_ids, review_summary

__all__ = ["REVIEW_FILE", "rejected_ids", "review_summary"]
