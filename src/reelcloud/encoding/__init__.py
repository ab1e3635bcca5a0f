"""Encoding: turns a source video into the files OCAs serve.

`probe` reads what a source is (and refuses what cannot be encoded), `ladder` chooses the
rungs for a title, `ffmpeg` builds and runs the single-decode multi-rung encode.
"""
