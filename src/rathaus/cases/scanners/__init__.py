"""Pluggable malware scanners for uploads (base class, registry, ClamAV in contrib)."""
