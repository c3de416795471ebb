"""rtletter.agent"""
