// Placeholder until the service wiring lands.
print("accountservice")
