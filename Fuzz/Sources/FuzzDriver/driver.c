// The process entry point of the fuzz target. SwiftPM compiles an executable target's
// entry point as `<Target>_main` and links it as `main`; the target is built with
// -parse-as-library (it has no top-level code), so this file provides that symbol and
// hands over to libFuzzer's driver. libFuzzer's own `main` is then never linked in.
#include "FuzzDriver.h"

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

int FuzzEventDecoder_main(int argc, char **argv) {
    return LLVMFuzzerRunDriver(&argc, &argv, LLVMFuzzerTestOneInput);
}
