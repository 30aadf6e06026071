"""Operations: backup and restore (`kassa.ops.backup`); later doctor, drills, retention."""
