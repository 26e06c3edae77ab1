/* clusterctl's human output: aligned tables and indented JSON trees. */
#ifndef CTL_PRINT_H
#define CTL_PRINT_H

#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "ctl_http.h"

/* An aligned text table; cells are copied. */
struct ctl_table;

struct ctl_table *ctl_table_new(size_t ncols, const char *const *headers);
/* Adds one row of ncols cells (NULL prints as "-", "" as nothing). 0 or -ENOMEM. */
int ctl_table_add(struct ctl_table *t, const char *const *cells);
/* Prints headers and rows, columns two spaces apart; the last column is not padded. */
void ctl_table_print(const struct ctl_table *t, FILE *f);
void ctl_table_free(struct ctl_table *t);

/*
 * The value of o[key] as text for a table cell: strings as they are, numbers
 * in integer form when integral, booleans as yes/no, null, "" or missing as
 * "-". Arrays of strings are joined with commas. buf backs the result.
 */
const char *ctl_cell(const cJSON *o, const char *key, char *buf, size_t len);

/*
 * Prints an aligned table of an array of objects: one row per object, the
 * cells ctl_cell(object, keys[i]) under headers[i]. 0 or -ENOMEM.
 */
int ctl_print_objects(FILE *f, const cJSON *arr, const char *const *headers,
    const char *const *keys, size_t ncols);

/* Prints a JSON value as indented "key: value" lines (contiv's layout). */
void ctl_print_tree(FILE *f, const cJSON *v, int indent);

/* Prints the reply body as it came, with a final newline when it lacks one. */
void ctl_print_raw(const struct ctl_reply *r);

#endif
