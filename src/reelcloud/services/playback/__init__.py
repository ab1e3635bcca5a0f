"""Playback: the rules of who may play what, where and how, and the plan's stream slots."""
