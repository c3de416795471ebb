"""rtletter.model"""
