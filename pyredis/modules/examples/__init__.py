"""Example modules written in Python, shipped with the package so that
``loadmodule pyredis.modules.examples.ratelimit`` works wherever pyredis is
installed (no path to find). Each is also a file a user can copy."""
