"""Voice models the tests build themselves (nothing is downloaded)."""
