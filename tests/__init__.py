from pathlib import Path

DATA = Path(__file__).parent / "data"  # the hand-written question sets, transcripts, story source
