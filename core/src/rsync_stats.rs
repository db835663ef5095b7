//! Parsing and summing rsync's `--stats` output (being written).
