// glibc's <malloc.h>, which Swift's Glibc module leaves out: malloc_trim, called directly
// (a dlsym lookup finds nothing in the statically linked release binary).
#ifndef CMALLOC_SHIM_H
#define CMALLOC_SHIM_H
#include <malloc.h>
#endif
