"""Writes that change the archive on people's behalf; each one writes its own audit event."""
