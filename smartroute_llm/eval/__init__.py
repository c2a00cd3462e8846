"""Offline policy evaluation: replay routing policies over recorded per-model outcomes.

Needs the ``eval`` extra (numpy).
"""
