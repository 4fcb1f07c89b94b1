"""One organisation's microservice (housing, mental health or voluntary), parameterised by org.

`domain` is pure (state folds and decisions), `service_layer` runs commands in a transaction,
`adapters` hold the organisation's own tables, `entrypoints` are the HTTP routers and the
referral inbox consumer, and `bootstrap` wires them into an app.
"""
