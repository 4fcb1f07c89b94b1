"""Caseweave's processes: the organisation services, the projection, and their shared runtime."""
