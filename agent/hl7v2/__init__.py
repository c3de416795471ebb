"""HL7 v2 over MLLP: framing, the listener that stores each message before acknowledging it, ACKs, and a client.

The listener only frames, reads MSH and stores the raw bytes (microseconds plus one commit); mapping with hl7apy
happens later in the worker's intake step (``rtletter.agent.channels.mllp``).
"""
