"""Collaboration: comments with @mentions, subtasks, support tiers and defect records."""
