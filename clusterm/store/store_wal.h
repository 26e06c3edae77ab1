/*
 * The embedded store backend: write-ahead log segments with group commit,
 * and snapshots, in the state dir. It is opened by store_open() (store.h);
 * its files and their format are in wal_format.h, included here for tests
 * and tools that read or write them.
 */
#ifndef STORE_WAL_H
#define STORE_WAL_H

#include "wal_format.h"

#endif
