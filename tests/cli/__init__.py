"""Tests of rtletter.cli, one module per command group."""
