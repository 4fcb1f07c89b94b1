"""The runtime every Caseweave process shares: settings, logs, storage, transport, HTTP, auth."""
