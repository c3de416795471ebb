"""The agent's HTTP side: health, readiness, metrics, FHIR notifications and (``rtletter.agent.worklist``) the
physician worklist."""
