"""Reads: what pages, commands and services look up. Nothing here writes; writes live in `review.services`."""
