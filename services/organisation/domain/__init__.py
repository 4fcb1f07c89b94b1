"""The organisation's rules, free of I/O: state folds over events and decisions on commands."""
