"""HLS AES-128 encryption: encrypted copies of the media segments, and the playlists that
name them with an `EXT-X-KEY`.

Each segment is encrypted whole with AES-128-CBC (PKCS#7 padding); its IV is its media
sequence number, as RFC 8216 §5.2 prescribes when the key tag gives none, so no IV needs to be
written anywhere. Initialisation sections stay clear (the `EXT-X-MAP` comes before the key
tag). The key tag's URI is a placeholder (`platform.assets.KEY_URI_PLACEHOLDER`): the Play
API writes each play's licence URL in its place. The clear segments stay for DASH, which would
need CENC for encryption.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from reelcloud.platform.assets import KEY_URI_PLACEHOLDER

ENCRYPTED_PREFIX = "enc-"


def encrypt_segment(data: bytes, key: bytes, sequence: int) -> bytes:
    padder = padding.PKCS7(128).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(sequence.to_bytes(16, "big"))).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def decrypt_segment(data: bytes, key: bytes, sequence: int) -> bytes:
    decryptor = Cipher(algorithms.AES(key), modes.CBC(sequence.to_bytes(16, "big"))).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def encrypted_playlist_name(media_playlist: str) -> str:
    return "hls_" + media_playlist.removeprefix("media_")


def encrypt_hls(out_dir: Path, key: bytes) -> dict[str, str]:
    """Write `hls_N.m3u8` and `enc-*.m4s` beside every `media_N.m3u8`; return the map from
    clear playlist to encrypted playlist."""
    written = {}
    for playlist in sorted(out_dir.glob("media_*.m3u8")):
        sequence = 0
        lines = []
        for line in playlist.read_text().splitlines():
            if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
                sequence = int(line.partition(":")[2])
            if line.startswith("#EXT-X-MAP:"):
                lines.append(line)
                lines.append(f'#EXT-X-KEY:METHOD=AES-128,URI="{KEY_URI_PLACEHOLDER}"')
                continue
            if line and not line.startswith("#"):
                clear = out_dir / line
                encrypted = ENCRYPTED_PREFIX + line
                (out_dir / encrypted).write_bytes(
                    encrypt_segment(clear.read_bytes(), key, sequence)
                )
                sequence += 1
                line = encrypted
            lines.append(line)
        name = encrypted_playlist_name(playlist.name)
        (out_dir / name).write_text("\n".join(lines) + "\n")
        written[playlist.name] = name
    return written
