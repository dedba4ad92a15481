"""bench.wan: round trips per call over an emulated wide-area link (see __main__)."""
