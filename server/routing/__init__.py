"""Routing rules: ordered, tenant-configured conditions and actions on new orders."""
