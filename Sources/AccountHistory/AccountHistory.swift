// The deterministic event-history generator lands here (accountctl and the tests share it).
