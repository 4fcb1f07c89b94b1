"""The projection service: every organisation's log folded into the single view of each citizen.

`domain` is the pure fold, `read_model_schema` and `read_model` the PostgreSQL tables,
`identity_resolution` links people to citizens, `consumer` folds batches of events,
`queries` and `api` are the read side, and `bootstrap` wires the app, the worker and the
rebuild.
"""
