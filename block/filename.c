/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * filename.c: how nodes are named and how relative names resolve, as in
 * QEMU: a node keeps an exact filename when one reopens it, else a
 * json:{} name of its options; backing names are taken relative to the
 * directory of the node's primary child chain.
 */
#include "qemu/osdep.h"

#include <ctype.h>

#include "qemu/cutils.h"
#include "qemu/error.h"
#include "qemu/qdict.h"
#include "qemu/qobject.h"
#include "block/block_int.h"

/* See block_int.h. */
bool path_has_protocol(const char *path)
{
#ifdef _WIN32
    if (isalpha((unsigned char)path[0]) && path[1] == ':') {
        return false; /* a drive letter */
    }
    return path[strcspn(path, ":/\\")] == ':';
#else
    return path[strcspn(path, ":/")] == ':';
#endif
}

static bool path_is_absolute(const char *path)
{
#ifdef _WIN32
    if (path[0] && path[1] == ':') {
        return true;
    }
    return path[0] == '/' || path[0] == '\\';
#else
    return path[0] == '/';
#endif
}

/* QEMU's path_combine(): @name after the directory part of @base. */
static char *path_combine(const char *base, const char *name)
{
    const char *dir_end = base, *p = strrchr(base, '/');

#ifdef _WIN32
    const char *bslash = strrchr(base, '\\');

    if (bslash && (!p || bslash > p)) {
        p = bslash;
    }
#endif
    if (path_has_protocol(base)) {
        dir_end = strchr(base, ':') + 1;
    }
    if (p && p + 1 > dir_end) {
        dir_end = p + 1;
    }
    return qemu_xasprintf("%.*s%s", (int)(dir_end - base), base, name);
}

/* See block.h. */
char *bdrv_get_full_backing_filename_from_filename(const char *backed,
                                                   const char *backing,
                                                   Error **errp)
{
    if (!backing[0] || path_has_protocol(backing) ||
        path_is_absolute(backing)) {
        return qemu_xstrdup(backing);
    }
    if (!backed[0] || strstart(backed, "json:", NULL)) {
        error_setg(errp, "Cannot use relative backing file names for '%s'",
                   backed);
        return NULL;
    }
    return path_combine(backed, backing);
}

/* An exact filename reopens the node by itself; a json:{} name does not. */
static bool has_exact_filename(const BlockDriverState *bs)
{
    return bs->filename[0] && !strstart(bs->filename, "json:", NULL);
}

/* See block.h. */
const char *bdrv_get_image_filename(const BlockDriverState *bs)
{
    const BlockDriverState *n = bs;

    while (!has_exact_filename(n) && n->file) {
        n = n->file->bs;
    }
    return has_exact_filename(n) ? n->filename : bs->filename;
}

/* See block.h. */
char *bdrv_dirname(const BlockDriverState *bs, Error **errp)
{
    if (bs->file) {
        return bdrv_dirname(bs->file->bs, errp);
    }
    if (has_exact_filename(bs)) {
        return path_combine(bs->filename, "");
    }
    error_setg(errp, "Cannot generate a base directory for %s nodes",
               bs->drv->format_name);
    return NULL;
}

/* See block.h. */
char *bdrv_make_absolute_filename_err(const BlockDriverState *relative_to,
                                      const char *name, Error **errp)
{
    char *dir, *full;

    if (!name[0] || path_has_protocol(name) || path_is_absolute(name)) {
        return qemu_xstrdup(name);
    }
    dir = bdrv_dirname(relative_to, errp);
    if (!dir) {
        return NULL;
    }
    full = qemu_xasprintf("%s%s", dir, name);
    free(dir);
    return full;
}

char *bdrv_make_absolute_filename(const BlockDriverState *relative_to,
                                  const char *name)
{
    char *full = bdrv_make_absolute_filename_err(relative_to, name, NULL);

    return full ? full : qemu_xstrdup(name);
}

/* @child's options, flattened under "@prefix.", into @dict. */
static void put_child_options(QObject *dict, const char *prefix,
                              const BlockDriverState *child)
{
    QDict *opts = NULL;
    const QDictEntry *e;
    char *key;

    if (strstart(child->filename, "json:", NULL) &&
        qdict_parse_json(&opts, child->filename + 5, NULL) == 0) {
        for (e = qdict_first(opts); e; e = qdict_next(opts, e)) {
            key = qemu_xasprintf("%s.%s", prefix, qdict_entry_key(e));
            qobj_dict_put(dict, key, qobj_str(qdict_entry_value(e)));
            free(key);
        }
        qdict_free(opts);
        return;
    }
    key = qemu_xasprintf("%s.driver", prefix);
    qobj_dict_put(dict, key, qobj_str(child->drv->format_name));
    free(key);
    key = qemu_xasprintf("%s.filename", prefix);
    qobj_dict_put(dict, key, qobj_str(child->filename));
    free(key);
}

/* See block_int.h. */
void bdrv_set_json_filename(BlockDriverState *bs, const QDict *options)
{
    QObject *dict = qobj_dict();
    const QDictEntry *e;
    char *json;

    qobj_dict_put(dict, "driver", qobj_str(bs->drv->format_name));
    for (e = options ? qdict_first(options) : NULL; e;
         e = qdict_next(options, e)) {
        qobj_dict_put(dict, qdict_entry_key(e),
                      qobj_str(qdict_entry_value(e)));
    }
    if (bs->file) {
        put_child_options(dict, bs->file->name, bs->file->bs);
    }
    for (int i = 0; i < bs->nb_children; i++) {
        put_child_options(dict, bs->children[i]->name,
                          bs->children[i]->bs);
    }
    json = qobj_to_json(dict);
    snprintf(bs->filename, sizeof(bs->filename), "json:%s", json);
    free(json);
    qobj_free(dict);
}

