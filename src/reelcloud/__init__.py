"""reelcloud: a video streaming platform built the way Netflix describes its cloud."""

__version__ = "0.1.0"
