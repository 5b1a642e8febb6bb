"""Media samples: images creators attach to a prompt's samples (see images.py, storage.py)."""
