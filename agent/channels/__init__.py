"""Channels: where completed courses come from and where drafts go (FHIR, HL7 v2 over MLLP, file drop)."""
