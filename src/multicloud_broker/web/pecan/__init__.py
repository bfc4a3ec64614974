"""The Pecan adapter: a root controller whose `_route` uses core's table."""
