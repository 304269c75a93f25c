"""SLA policies, business-hours calendars, per-order clocks and escalation."""
