"""The projection service: every organisation's log folded into the single view of each citizen.

Four rooms, as in every service: `domain` (the pure fold, identity matching, the sharing
rules and who may do what), `service_layer` (projecting a batch from the logs or the topics,
identity resolution, stewardship, erasure, redrive), `adapters` (the PostgreSQL stores and
the place's TOML rules) and `entrypoints` (the HTTP routers, the Faust worker, the replay
from topics); `bootstrap` wires them.
"""
