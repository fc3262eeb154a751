// Placeholder until the CLI lands.
print("accountctl")
