"""Key results that measure themselves: data sources declared per KR in okrs.toml
(`sources.py`), fetching their values (`fetch.py`), and `okrsync measure`'s run (`run.py`)."""
