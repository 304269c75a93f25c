"""The dispatch board: Gantt lanes per technician and GeoJSON map data."""
