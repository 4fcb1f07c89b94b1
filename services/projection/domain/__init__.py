"""The projection's pure domain: citizen ids and the single view as a fold over events.

Nothing here does I/O; a unit test checks the imports.
"""
