/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * block/backing-chain.c: finding an image of a backing chain by the name a
 * user gives for it (qemu-img commit -b), with QEMU 7.2's matching rules.
 */
#include "qemu/osdep.h"

#include "block/block_int.h"

/* Whether two paths name the same existing file (canonical paths equal). */
static bool same_file(const char *a, const char *b)
{
    char *ra = qemu_realpath(a);
    char *rb = ra ? qemu_realpath(b) : NULL;
    bool same = rb && !strcmp(ra, rb);

    free(ra);
    free(rb);
    return same;
}

/*
 * Does @name, as the user spelled it, name the backing file of @overlay?
 * A relative @name is taken relative to @overlay's directory, like the
 * backing file name stored in @overlay, and both are compared as canonical
 * paths; names with a protocol prefix are compared as strings, with the
 * stored name and with its resolved form.
 */
static bool names_backing_of(BlockDriverState *overlay, const char *name)
{
    char *full_backing = bdrv_make_absolute_filename(overlay,
                                                     overlay->backing_file);
    bool match;

    if (path_has_protocol(name) || path_has_protocol(overlay->backing_file)) {
        match = !strcmp(name, overlay->backing_file) ||
                !strcmp(name, full_backing);
    } else if (!name[0]) {
        match = false;
    } else {
        char *full_name = bdrv_make_absolute_filename(overlay, name);

        match = same_file(full_name, full_backing);
        free(full_name);
    }
    free(full_backing);
    return match;
}

BlockDriverState *bdrv_find_backing_image(BlockDriverState *bs,
                                          const char *name)
{
    BlockDriverState *overlay;

    if (!bs || !name) {
        return NULL;
    }
    for (overlay = bs; bdrv_backing_bs(overlay);
         overlay = bdrv_backing_bs(overlay)) {
        if (names_backing_of(overlay, name)) {
            return bdrv_backing_bs(overlay);
        }
    }
    return NULL;
}
