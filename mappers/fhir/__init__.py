"""rtletter.mappers.fhir: FHIR R4 in (a Bundle -> cases) and the draft and sign-off transactions out."""
