"""Building blocks shared by every Tremplin component. Never imports a service."""
