"""How the projection is driven: HTTP routes, the Faust worker, the replay from topics."""
