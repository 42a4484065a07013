"""Leaderboards, reference scores and benchmark scripts for archer-gym."""
