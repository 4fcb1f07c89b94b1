"""A real Apache Kafka cluster on this machine, from Maven Central's jars.

`caseweave kafka local` runs it; `distribution` fetches the jars, `cluster` runs the nodes.
"""
