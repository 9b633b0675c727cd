/* blas: the BLAS thread count, one setting for the whole process.
 *
 * lore links the system BLAS (Debian's libblas.so, OpenBLAS on this project's machines).
 * OpenBLAS runs a large product on threads of its own, as many as cores unless told
 * otherwise: good for one indexing thread on idle cores, a loss when several threads embed
 * at once (they oversubscribe the cores) and when a query server multiplies a query by a
 * few hundred stored vectors (the pool's wake-ups and spinning cost more than the product).
 * OpenBLAS's functions are looked up at run time, so with another BLAS nothing is linked
 * against them and nothing changes.
 *
 * Threads: the setting is process-wide; set it before the products it is meant for run. */
#ifndef LORE_BLAS_H
#define LORE_BLAS_H

/* Sets OpenBLAS's thread count (n >= 1) and returns the previous one; -1 and nothing changed
 * when the BLAS in use is not OpenBLAS. */
int blas_set_threads(int n);

/* OpenBLAS's thread count now; -1 when the BLAS in use is not OpenBLAS. */
int blas_threads(void);

#endif
