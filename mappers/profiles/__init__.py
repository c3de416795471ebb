"""Site profiles for the HL7 v2 mapper (package data: default.yaml and its example message)."""
