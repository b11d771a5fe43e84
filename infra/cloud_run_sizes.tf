# Cloud Run's rules for a function's CPU and memory, as Google documents them for services
# (https://cloud.google.com/run/docs/configuring/services/cpu and
# https://cloud.google.com/run/docs/configuring/services/memory-limits). The sizing variables in
# variables.tf validate against this table, so a size Cloud Run would reject fails at plan time
# with a message, not minutes into an apply. tests/test_infra.py checks the table against the
# documentation and the variables against the table.

locals {
  # Below 1 vCPU: 0.08 to 0.999 in steps of 0.001. From 1 up: 1, 2, 4, 6 or 8.
  cloud_run_cpu_pattern = "^(0\\.[0-9]{1,3}|[12468])$"
  cloud_run_min_cpu     = 0.08

  # Memory allowed for a CPU value: the last row whose `cpu` it reaches.
  cloud_run_sizes = [
    { cpu = 0.08, min_mib = 128, max_mib = 512 }, # below 0.5 vCPU: up to 512 MiB
    { cpu = 0.5, min_mib = 128, max_mib = 1024 }, # 0.5 to 1 vCPU: up to 1 GiB
    { cpu = 1, min_mib = 128, max_mib = 4096 },   # 1 vCPU: up to 4 GiB
    { cpu = 2, min_mib = 128, max_mib = 8192 },   # 2 vCPU: up to 8 GiB
    { cpu = 4, min_mib = 2048, max_mib = 16384 }, # 4 vCPU: 2 to 16 GiB
    { cpu = 6, min_mib = 4096, max_mib = 24576 }, # 6 vCPU: 4 to 24 GiB
    { cpu = 8, min_mib = 4096, max_mib = 32768 }, # 8 vCPU: 4 to 32 GiB
  ]
}
