"""Dead letters: what consumers set aside, listed, shown, redriven and discarded by ops."""
