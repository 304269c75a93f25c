"""Customer intake: equipment QR codes, public repair and tracking pages, channels."""
