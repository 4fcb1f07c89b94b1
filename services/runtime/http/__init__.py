"""What every Caseweave HTTP service shares: errors, authentication, request context, health."""
