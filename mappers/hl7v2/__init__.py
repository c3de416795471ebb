"""rtletter.mappers.hl7v2: HL7 v2 in (a message -> the case, the MDM document) and the MDM letter out."""
