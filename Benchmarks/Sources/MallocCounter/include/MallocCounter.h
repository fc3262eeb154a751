#ifndef MALLOC_COUNTER_H
#define MALLOC_COUNTER_H

#include <stdint.h>

/// Whether this build counts allocations (glibc on Linux only).
int malloc_counter_enabled(void);
/// Allocations (malloc, calloc, realloc, the aligned forms) made so far by every thread.
uint64_t malloc_counter_allocations(void);
/// Frees of a non-null pointer made so far by every thread.
uint64_t malloc_counter_frees(void);
/// Bytes the heap has handed out and not taken back (glibc mallinfo2: uordblks + hblkhd), or 0.
uint64_t malloc_counter_heap_in_use(void);
/// Gives free memory at the top of the heap back to the system (malloc_trim(0)).
void malloc_counter_trim(void);

#endif
