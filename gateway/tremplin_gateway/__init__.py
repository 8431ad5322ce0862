"""Tremplin gateway: authenticates callers, signs their identity, proxies to the services."""
