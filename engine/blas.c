/* blas: OpenBLAS's thread count, looked up at run time (see blas.h). */
#include "blas.h"

#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

static void (*set_fn)(int);
static int (*get_fn)(void);
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void look_up(void)
{
    void *self = dlopen(NULL, RTLD_LAZY);
    if (self == NULL)
        return;
    /* dlsym returns object pointers; the copies turn them into function pointers. The
     * handle of the program itself stays valid for the life of the process. */
    void *ps = dlsym(self, "openblas_set_num_threads");
    void *pg = dlsym(self, "openblas_get_num_threads");
    if (ps != NULL && pg != NULL) {
        memcpy(&set_fn, &ps, sizeof set_fn);
        memcpy(&get_fn, &pg, sizeof get_fn);
    }
    dlclose(self);
}

int blas_threads(void)
{
    pthread_once(&once, look_up);
    return get_fn != NULL ? get_fn() : -1;
}

int blas_set_threads(int n)
{
    pthread_once(&once, look_up);
    if (set_fn == NULL || n < 1)
        return -1;
    int prev = get_fn();
    set_fn(n);
    return prev;
}
