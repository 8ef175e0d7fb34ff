/* The only operating-system layer sqlite3.wasm has (built with SQLITE_OS_OTHER=1): a VFS
 * that opens no files, so only ":memory:" databases (and in-memory temp storage) work, and
 * needs from the host nothing but WASI's clock and random_get. */
#include <stdlib.h>
#include <time.h>

#include "sqlite3.h"

static int mv_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out) {
  (void)vfs; (void)name; (void)flags; (void)out;
  file->pMethods = 0;
  return SQLITE_CANTOPEN;
}

static int mv_delete(sqlite3_vfs *vfs, const char *name, int sync) {
  (void)vfs; (void)name; (void)sync;
  return SQLITE_IOERR_DELETE;
}

static int mv_access(sqlite3_vfs *vfs, const char *name, int flags, int *res) {
  (void)vfs; (void)name; (void)flags;
  *res = 0;
  return SQLITE_OK;
}

static int mv_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out) {
  (void)vfs;
  sqlite3_snprintf(n, out, "%s", name);
  return SQLITE_OK;
}

static int mv_randomness(sqlite3_vfs *vfs, int n, char *out) {
  (void)vfs;
  arc4random_buf(out, (size_t)n);
  return n;
}

static int mv_sleep(sqlite3_vfs *vfs, int us) {
  (void)vfs;
  return us;
}

/* Julian day in milliseconds, as SQLite's date functions expect. */
static int mv_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *t) {
  (void)vfs;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  *t = (sqlite3_int64)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 210866760000000LL;
  return SQLITE_OK;
}

static int mv_current_time(sqlite3_vfs *vfs, double *t) {
  sqlite3_int64 ms;
  mv_current_time_int64(vfs, &ms);
  *t = (double)ms / 86400000.0;
  return SQLITE_OK;
}

static int mv_get_last_error(sqlite3_vfs *vfs, int n, char *out) {
  (void)vfs; (void)n; (void)out;
  return 0;
}

static sqlite3_vfs memvfs = {
    2, sizeof(sqlite3_file), 512, 0, "memvfs", 0,
    mv_open, mv_delete, mv_access, mv_full_pathname,
    0, 0, 0, 0,
    mv_randomness, mv_sleep, mv_current_time, mv_get_last_error,
    mv_current_time_int64, 0, 0, 0,
};

int sqlite3_os_init(void) { return sqlite3_vfs_register(&memvfs, 1); }

int sqlite3_os_end(void) { return SQLITE_OK; }
