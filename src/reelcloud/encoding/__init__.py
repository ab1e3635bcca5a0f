"""Encoding: turns a source video into the files OCAs serve.

`probe` reads what a source is (and refuses what cannot be encoded), `ladder` and `pertitle`
choose the rungs for a title, `ffmpeg` builds and runs the single-decode multi-rung encode,
`pipeline` takes a title from source to published manifest. Every ffmpeg it starts runs at
background priority (`priority`), so encoding never starves the control plane.
"""
