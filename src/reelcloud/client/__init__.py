"""The Python client SDK: what a player needs from the platform (sign in, browse, play,
playlists, keys, segments, heartbeats), usable from a chosen network address."""

from reelcloud.client.hls import MediaPlaylist, Multivariant, Variant
from reelcloud.client.sdk import PlatformClient, Play

__all__ = ["MediaPlaylist", "Multivariant", "PlatformClient", "Play", "Variant"]
