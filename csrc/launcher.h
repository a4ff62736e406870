/* What image.c defines for launcher.c: the one definition of the image's
 * layout. ocirt/launcher.py writes image.c, which includes this header after
 * defining OCIRT_IMAGE_PY_VERSION (sys.hexversion of the interpreter that
 * compiled the image's code objects); launcher.c includes it too.
 */
#ifndef OCIRT_LAUNCHER_H
#define OCIRT_LAUNCHER_H

#include <Python.h>

/* Code objects are marshalled in a format of one CPython minor version: an
 * image made by one cannot be loaded by another. */
#if defined(OCIRT_IMAGE_PY_VERSION) && (PY_VERSION_HEX >> 16) != (OCIRT_IMAGE_PY_VERSION >> 16)
#error "CPython mismatch: the image was compiled by another CPython version than Python.h's"
#endif

struct ocirt_module {
    const char *name;          /* "ocirt.cli.fast" */
    const char *path;          /* the installed source file it was compiled from */
    int is_package;
    const unsigned char *code; /* marshalled code object */
    int size;
};

extern const struct _frozen ocirt_frozen[];       /* the encodings modules */
extern const struct ocirt_module ocirt_modules[]; /* sorted by name */
extern const int ocirt_module_count;
extern const char *const ocirt_search_path[];     /* NULL-terminated */
extern const char ocirt_executable[], ocirt_prefix[], ocirt_base_prefix[];
extern const char ocirt_stdlib[], ocirt_site[];
extern const char ocirt_stamp[];                  /* see ocirt/launcher.py: stamp() */
extern const unsigned long ocirt_python_version;  /* OCIRT_IMAGE_PY_VERSION */

#endif
