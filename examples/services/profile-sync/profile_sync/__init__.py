"""Profile cards from the accounts export to the CRM."""
