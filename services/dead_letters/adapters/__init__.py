"""Where dead letters are kept, and the consumers that apply them again."""
