"""The wire contract shared by router and node: RESP replies, slot hashing, the command table,
and the gRPC schema."""
