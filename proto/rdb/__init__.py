"""Redis's RDB serialization (version 10, Redis 7.0): the DUMP/RESTORE payload of one value
and whole .rdb files. A pure codec, shared by the engine and `slotraft import`."""
