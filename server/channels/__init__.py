"""Inbound channels: the e-mail webhook, the public web form and the unmatched inbox."""
