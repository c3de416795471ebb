"""The tests, one package tree (``from tests.factories import make_case``); pyproject puts the root on sys.path."""
