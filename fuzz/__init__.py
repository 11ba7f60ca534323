"""Fuzz targets for what a peer controls: framing, XML, the session, edits.

``python -m fuzz TARGET [libFuzzer options]`` runs one under atheris
(``make fuzz`` runs them all); ``tests/test_fuzz.py`` replays the seeds and
the regressions and runs a short mutation loop without atheris.
"""
