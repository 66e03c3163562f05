"""Wire formats and small clients for the storage protocols nasscan probes."""
