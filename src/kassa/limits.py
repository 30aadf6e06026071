"""Every bound in Kassa, in one place. Units come last in the names."""

from __future__ import annotations

# Wire
frame_size_max_bytes = 4096  # length prefix + TPDU + header + message; UnionPay frames are < 1 KiB
message_size_max_bytes = frame_size_max_bytes - 2
tpdu_size_bytes = 5
header_size_bytes = 6
length_prefix_size_bytes = 2

# Terminal
stan_max = 999_999
batch_max = 999_999
response_timeout_ms = 30_000
connect_timeout_ms = 5_000
reversal_attempts_max = 3
operator_login_failures_max = 5

# Host server
requests_in_flight_per_connection_max = 32
connection_idle_timeout_ms = 300_000
connections_max = 20_000

# Money
amount_max_fen = 999_999_999_999  # n12
