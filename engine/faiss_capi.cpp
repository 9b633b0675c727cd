// faiss_capi: the subset of the FAISS C API that lore uses, over the FAISS C++ library.
//
// Why this exists: Debian 12's libfaiss-dev ships the C API headers and the C++ static
// library but not the compiled faiss_* functions. Every signature below comes from the
// installed headers, which are included so the compiler checks that they match.
//
// Contract kept from upstream: a fallible function returns 0 on success and a negative
// FaissErrorCode on failure, never lets a C++ exception cross into C, and leaves the
// message for faiss_get_last_error() in a thread-local slot (searches run concurrently, so
// one thread's failure must not overwrite another's message). Object handles are the C++
// objects themselves, reinterpret_cast as upstream does, so a later switch to the real
// libfaiss_c needs no change in callers.
//
// Only functions that engine/vindex.c calls live here: adding one means implementing it
// with the same care, not copying the whole upstream API.

#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/IndexFlat_c.h>
#include <faiss/c_api/MetaIndexes_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/impl/AuxIndexStructures_c.h>
#include <faiss/c_api/index_io_c.h>
#include <faiss/c_api/utils/distances_c.h>

#include <faiss/Index.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexIDMap.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/index_io.h>
#include <faiss/utils/distances.h>

#include <cstdio>
#include <exception>
#include <new>
#include <string>

namespace {

// The message of this thread's last failure. A std::string (not an exception_ptr as
// upstream keeps) because the only consumer wants text and this avoids rethrowing.
thread_local std::string last_error;

// Records a message without ever throwing: the caller is already handling a failure, and
// an allocation failure here must not escape through extern "C" code.
void set_last_error(const char *msg) noexcept {
    try {
        last_error.assign(msg != nullptr ? msg : "unknown error");
    } catch (...) {
        // Keep whatever fits in the existing capacity rather than nothing at all.
        last_error.clear();
    }
}

// Runs body, translating any exception into upstream's error codes. Templated so each
// call site inlines its lambda; there is no allocation on the success path.
template <typename F>
int guarded(F &&body) noexcept {
    try {
        body();
        return OK;
    } catch (const faiss::FaissException &e) {
        set_last_error(e.what());
        return FAISS_EXCEPT;
    } catch (const std::bad_alloc &) {
        set_last_error("out of memory");
        return STD_EXCEPT;
    } catch (const std::exception &e) {
        set_last_error(e.what());
        return STD_EXCEPT;
    } catch (...) {
        set_last_error("unknown c++ exception");
        return UNKNOWN_EXCEPT;
    }
}

faiss::Index *cxx(FaissIndex *p) { return reinterpret_cast<faiss::Index *>(p); }
const faiss::Index *cxx(const FaissIndex *p) { return reinterpret_cast<const faiss::Index *>(p); }

} // namespace

extern "C" {

const char *faiss_get_last_error() {
    // An empty message (no failure yet on this thread) reads as NULL, as upstream's does.
    return last_error.empty() ? nullptr : last_error.c_str();
}

// ---- Index ----

void faiss_Index_free(FaissIndex *obj) {
    // Destructors of FAISS indexes do not throw; delete of NULL is a no-op as free() is.
    delete cxx(obj);
}

int faiss_Index_d(const FaissIndex *index) { return cxx(index)->d; }

idx_t faiss_Index_ntotal(const FaissIndex *index) { return cxx(index)->ntotal; }

FaissMetricType faiss_Index_metric_type(const FaissIndex *index) {
    return static_cast<FaissMetricType>(cxx(index)->metric_type);
}

int faiss_Index_add_with_ids(FaissIndex *index, idx_t n, const float *x, const idx_t *xids) {
    return guarded([&] { cxx(index)->add_with_ids(n, x, xids); });
}

int faiss_Index_search(const FaissIndex *index, idx_t n, const float *x, idx_t k,
                       float *distances, idx_t *labels) {
    return guarded([&] { cxx(index)->search(n, x, k, distances, labels); });
}

int faiss_Index_remove_ids(FaissIndex *index, const FaissIDSelector *sel, size_t *n_removed) {
    return guarded([&] {
        size_t removed =
            cxx(index)->remove_ids(*reinterpret_cast<const faiss::IDSelector *>(sel));
        if (n_removed != nullptr) {
            *n_removed = removed;
        }
    });
}

// ---- IndexFlatIP ----

int faiss_IndexFlatIP_new_with(FaissIndexFlatIP **p_index, idx_t d) {
    return guarded([&] {
        *p_index = reinterpret_cast<FaissIndexFlatIP *>(new faiss::IndexFlatIP(d));
    });
}

FaissIndexFlat *faiss_IndexFlat_cast(FaissIndex *index) {
    return reinterpret_cast<FaissIndexFlat *>(dynamic_cast<faiss::IndexFlat *>(cxx(index)));
}

void faiss_IndexFlat_xb(FaissIndexFlat *index, float **p_xb, size_t *p_size) {
    // Upstream's accessor: the stored vectors, d floats each, as one array.
    auto *flat = reinterpret_cast<faiss::IndexFlat *>(index);
    *p_xb = flat->get_xb();
    *p_size = flat->codes.size() / sizeof(float);
}

// ---- IndexIDMap2 ----

int faiss_IndexIDMap2_new(FaissIndexIDMap2 **p_index, FaissIndex *index) {
    // Like upstream, the new map does not own the sub-index until the caller says so with
    // faiss_IndexIDMap2_set_own_fields: ownership stays explicit at the call site.
    return guarded([&] {
        *p_index = reinterpret_cast<FaissIndexIDMap2 *>(new faiss::IndexIDMap2(cxx(index)));
    });
}

int faiss_IndexIDMap2_own_fields(const FaissIndexIDMap2 *obj) {
    return reinterpret_cast<const faiss::IndexIDMap2 *>(obj)->own_fields ? 1 : 0;
}

void faiss_IndexIDMap2_set_own_fields(FaissIndexIDMap2 *obj, int own) {
    reinterpret_cast<faiss::IndexIDMap2 *>(obj)->own_fields = own != 0;
}

void faiss_IndexIDMap2_id_map(FaissIndexIDMap2 *index, idx_t **p_id_map, size_t *p_size) {
    auto *map = reinterpret_cast<faiss::IndexIDMap2 *>(index);
    *p_id_map = map->id_map.data();
    *p_size = map->id_map.size();
}

FaissIndex *faiss_IndexIDMap2_sub_index(FaissIndexIDMap2 *index) {
    return reinterpret_cast<FaissIndex *>(reinterpret_cast<faiss::IndexIDMap2 *>(index)->index);
}

FaissIndexIDMap2 *faiss_IndexIDMap2_cast(FaissIndex *index) {
    // dynamic_cast is what makes this a check: a file may hold any index type.
    return reinterpret_cast<FaissIndexIDMap2 *>(dynamic_cast<faiss::IndexIDMap2 *>(cxx(index)));
}

// ---- IDSelector ----

int faiss_IDSelectorBatch_new(FaissIDSelectorBatch **p_sel, size_t n, const idx_t *indices) {
    // Handles are pointers to the base class so faiss_IDSelector_free and remove_ids see
    // a faiss::IDSelector* whatever the concrete selector; single inheritance keeps the
    // address the same either way, but the explicit upcast states it.
    return guarded([&] {
        faiss::IDSelector *sel = new faiss::IDSelectorBatch(n, indices);
        *p_sel = reinterpret_cast<FaissIDSelectorBatch *>(sel);
    });
}

void faiss_IDSelector_free(FaissIDSelector *obj) {
    delete reinterpret_cast<faiss::IDSelector *>(obj);
}

// ---- I/O ----

int faiss_write_index(const FaissIndex *idx, FILE *f) {
    return guarded([&] { faiss::write_index(cxx(idx), f); });
}

int faiss_read_index(FILE *f, int io_flags, FaissIndex **p_out) {
    return guarded([&] {
        *p_out = reinterpret_cast<FaissIndex *>(faiss::read_index(f, io_flags));
    });
}

// Process-wide settings of FAISS's exhaustive search (plain globals upstream too): set once,
// before searches run, by the program that owns the process.
void faiss_set_distance_compute_blas_threshold(int value) {
    faiss::distance_compute_blas_threshold = value;
}

void faiss_set_distance_compute_blas_query_bs(int value) {
    faiss::distance_compute_blas_query_bs = value;
}

void faiss_set_distance_compute_blas_database_bs(int value) {
    faiss::distance_compute_blas_database_bs = value;
}

} // extern "C"
