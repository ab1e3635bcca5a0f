"""The Play API: a member presses Play and gets a playable, steered, signed manifest.

Owns no data: it orchestrates accounts (member, profile, device), catalog (the title and its
asset manifest), playback (the decision and the stream slot), steering (ranked OCAs) and
license (the play token), and writes the play's HLS and DASH documents. Called by players
through the gateway (`/api/play`).

    POST /api/play                         {title_id, profile_id, device_id} → a play
    GET  /api/play/{id}/master.m3u8?s=…    the HLS multivariant playlist (content steering)
    GET  /api/play/{id}/media/{n}/{file}?s=…   a media playlist on pathway n's OCA
    GET  /api/play/{id}/manifest.mpd?s=…   the DASH MPD (BaseURL per OCA, ContentSteering)
    POST /api/play/{id}/heartbeat?s=…      {position_s, qoe} → bookmark and QoE
    POST /api/play/{id}/stop?s=…           frees the stream slot

`service.py` is the play; `store.py` reads members, profiles, devices, titles and steering
answers through the zone-replicated cache (`platform.cache`) and playlists from the origin;
`dependencies.py` calls the services as commands; `api.py` only translates HTTP.
"""
