"""superoffice-toolkit."""
