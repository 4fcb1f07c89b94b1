"""How likely two records are one person: the matcher every service of a place shares (the
projection links organisations' records with it; an organisation finds a referred person
among its own with it). Pure: no I/O."""
