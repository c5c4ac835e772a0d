"""Files: atomic writes and JSON records, .npz without pickles, resumable runs, and stops asked for by signals."""
