"""The FHIR side of the agent: REST client with auth, poller, context fetch, subscriptions, write-back."""
