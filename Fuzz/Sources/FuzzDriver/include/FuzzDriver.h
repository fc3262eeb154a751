// libFuzzer's entry points, for the fuzz target (see driver.c).
#ifndef FUZZ_DRIVER_H
#define FUZZ_DRIVER_H

#include <stddef.h>
#include <stdint.h>

/// Defined in Swift (@_cdecl): one input.
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
