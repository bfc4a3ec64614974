"""The broker's behaviour, free of any web framework or server."""
