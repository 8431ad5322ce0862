"""Tremplin operator CLI."""
