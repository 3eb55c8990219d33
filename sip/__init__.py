"""Pure SIP library (RFC 3261): parsing, caller identity, responses. stdlib + phonenumbers only."""
