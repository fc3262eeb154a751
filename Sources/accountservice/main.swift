import AccountServiceLauncher

// The default build: no tracing exporter (see OTel/ for the build with one).
AccountServiceCommand.runAndExit()
