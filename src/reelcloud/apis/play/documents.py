"""What a play hands the player: an HLS multivariant playlist with one content-steering pathway
per OCA, media playlists pointing at one pathway's OCA, and a DASH MPD with a BaseURL per OCA
and a ContentSteering element. Pure functions of the title's manifest and the play's pathways.

HLS uses the AES-128 renditions (`hls_N.m3u8`, `enc-*` segments; the key tag's URI becomes the
play's licence URL); DASH uses the clear segments (CENC would be needed to encrypt them).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import quote

from reelcloud.platform.assets import KEY_URI_PLACEHOLDER, AssetManifest

MPD_NS = "urn:mpeg:dash:schema:mpd:2011"


@dataclass(frozen=True)
class Pathway:
    oca_id: str
    base_url: str  # http://<oca>:<port>/v/<token>/<title>/


def _attr(value: str) -> str:
    return value.replace('"', "")


def multivariant(
    manifest: AssetManifest,
    rungs: list[str],
    pathways: list[Pathway],
    media_url: str,
    steering_url: str,
) -> str:
    """`media_url` is a format string with {pathway} (index) and {playlist}."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    if pathways:
        lines.append(
            f'#EXT-X-CONTENT-STEERING:SERVER-URI="{_attr(steering_url)}",'
            f'PATHWAY-ID="{_attr(pathways[0].oca_id)}"'
        )
    audio = manifest.audio
    chosen = [r for r in manifest.rungs if r.name in rungs]
    fps = float(manifest.fps or 30)
    for index, pathway in enumerate(pathways):
        group = f"audio-{pathway.oca_id}"
        if audio is not None:
            uri = media_url.format(pathway=index, playlist=audio.hls_playlist)
            lines.append(
                f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{group}",NAME="audio",LANGUAGE="und",'
                f'DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="{uri}"'
            )
        for rung in chosen:
            attributes = [
                f"BANDWIDTH={rung.peak_bps}",
                f"AVERAGE-BANDWIDTH={rung.average_bps}",
                f"RESOLUTION={rung.width}x{rung.height}",
                f'CODECS="{_attr(rung.codecs)}"',
                f"FRAME-RATE={fps:.3f}",
                f'PATHWAY-ID="{_attr(pathway.oca_id)}"',
            ]
            if audio is not None:
                attributes.append(f'AUDIO="{group}"')
            lines.append("#EXT-X-STREAM-INF:" + ",".join(attributes))
            lines.append(media_url.format(pathway=index, playlist=rung.hls_playlist))
    return "\n".join(lines) + "\n"


def media_playlist(template: str, pathway: Pathway, key_url: str) -> str:
    """A stored `hls_N.m3u8` with its files on one pathway's OCA and the play's key URL."""
    out = []
    for line in template.splitlines():
        if line.startswith("#EXT-X-MAP:"):
            name = line.split('URI="', 1)[1].split('"', 1)[0]
            line = f'#EXT-X-MAP:URI="{pathway.base_url}{quote(name)}"'
        elif line.startswith("#EXT-X-KEY:"):
            line = line.replace(f'URI="{KEY_URI_PLACEHOLDER}"', f'URI="{_attr(key_url)}"')
        elif line and not line.startswith("#"):
            line = pathway.base_url + quote(line)
        out.append(line)
    return "\n".join(out) + "\n"


def mpd(template: str, pathways: list[Pathway], steering_url: str) -> str:
    """The stored MPD with a BaseURL per OCA (serviceLocation = its pathway) and a
    ContentSteering element, first pathway as the default."""
    ET.register_namespace("", MPD_NS)
    root = ET.fromstring(template)
    position = next(
        (i for i, child in enumerate(root) if child.tag == f"{{{MPD_NS}}}Period"), len(root)
    )
    elements = []
    for pathway in pathways:
        base = ET.Element(f"{{{MPD_NS}}}BaseURL", {"serviceLocation": pathway.oca_id})
        base.text = pathway.base_url
        elements.append(base)
    if pathways:
        steering = ET.Element(
            f"{{{MPD_NS}}}ContentSteering",
            {"defaultServiceLocation": pathways[0].oca_id, "queryBeforeStart": "false"},
        )
        steering.text = steering_url
        elements.append(steering)
    for offset, element in enumerate(elements):
        root.insert(position + offset, element)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)
