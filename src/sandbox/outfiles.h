/*
 * outfiles: `output_files` (SPEC section 1) -- the files a program wrote in
 * its box, read back by the engine after a run stage and returned base64.
 *
 * Promises:
 * - outfiles_parse validates the request field: an array of <= 16
 *   box-relative paths (no absolute path, no "", "." or ".." component, no
 *   NUL, <= 4095 bytes, components <= 255); anything else is a clear 400
 *   message naming the element. The names stay in the request's document.
 * - outfiles_collect never follows a link and never blocks: each path is
 *   opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 *   RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV) and O_NOFOLLOW | O_NONBLOCK
 *   below the box's directory descriptor, and only a regular file (fstat of
 *   the opened descriptor) is read. A link anywhere on the path, a FIFO,
 *   socket, device, directory or a mount crossing is `{"name","error":"not a
 *   regular file"}`; a missing path (or an overlay whiteout) is
 *   `{"name","error":"not found"}`.
 * - At most `cap` bytes of content per call (per stage) in all: files are
 *   read in request order, a file cut at the cap has "truncated": true and
 *   "size" is always the file's whole size. Reading is bounded by the cap,
 *   never by what the file claims.
 * - The answer is a JSON array rendered once into a buf (base64 is plain
 *   ASCII, so the content goes in without escaping).
 */
#ifndef PISTON_OUTFILES_H
#define PISTON_OUTFILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "json.h"

#define OUTFILES_MAX 16
#define OUTFILES_NAME_MAX 4095

typedef struct outfiles_list {
	const char *names[OUTFILES_MAX];   /* NUL-terminated, in the request's document */
	size_t n;
} outfiles_list;

/* v: the request's `output_files` (NULL or null: none). 0, or -1 with a
 * message for a 400 in msg. */
int outfiles_parse(const json_value *v, outfiles_list *out, char *msg, size_t msglen);

/* Read the listed files below dirfd (the box) into out as a JSON array of
 * {"name","content","encoding":"base64","size"[,"truncated":true]} or
 * {"name","error"}. Returns 0, -1 when out of memory (out is then failed). */
int outfiles_collect(int dirfd, const outfiles_list *list, uint64_t cap, buf *out);
/* The same for an overlay's layers, read separately (never through the
 * overlay): a path is looked up in upper (what the stage wrote), and where
 * it is simply missing there, in lower (what an earlier stage left, e.g.
 * the compile's box); a whiteout in upper (deleted) is "not found". lower
 * -1: upper only. (An upper directory made opaque by the stage is not
 * looked at: a file below it in lower is still found.) */
int outfiles_collect_layers(int upper, int lower, const outfiles_list *list, uint64_t cap, buf *out);
/* A test's box (execute.c, sandbox.h sbx_box_make_upper): overlay: its
 * files are in the box's u/ over lower (the compiled box's root); else the
 * box's root alone (lower ignored). */
int outfiles_collect_box(int boxfd, bool overlay_upper, int lower, const outfiles_list *list, uint64_t cap,
                         buf *out);

#endif
