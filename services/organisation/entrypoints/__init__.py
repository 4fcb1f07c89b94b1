"""How the outside reaches the organisation: HTTP routers, and the referral inbox consumer."""
