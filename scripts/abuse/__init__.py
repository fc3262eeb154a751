"""The probes of scripts/check-abuse: a minimal AMQP publisher, a memory cgroup, HTTP checks,
the service under attack and the attacks themselves (issue 13)."""
