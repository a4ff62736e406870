/* The compiled `ocirt` command: CPython embedded, started the short way.
 *
 * Every ocirt call is a fresh process and engines make several per
 * container, so interpreter start-up is most of a hot command's time. This
 * program is the interpreter ocirt was installed with (its static libpython
 * linked in, as Debian links /usr/bin/python3.11), started
 *   - isolated (no PYTHON* variables, no user site), without the site
 *     module, and with the module search path fixed when it was built;
 *   - with the three modules every interpreter imports before it runs any
 *     code (encodings, encodings.aliases, encodings.utf_8) frozen in, rather
 *     than looked up and read from the standard library;
 *   - with ocirt's own modules precompiled into an image, served by the
 *     builtin module _ocirt_image to the finder in ocirt/boot.py.
 *   - with its memory made present up front where start-up writes anyway:
 *     the data and bss sections (the interpreter's static types and frozen
 *     code objects, which it writes to as it starts) and the first part of
 *     the first arena of the object allocator. Page by page, each first
 *     write is a page fault, about 1.5 us each in a VM; one madvise
 *     (MADV_POPULATE_WRITE) does the same work for a fraction of that.
 *     This took a hot command from about 775 page faults to about 310;
 *   - with the garbage collector off: no ocirt command lives long enough to
 *     need it (`events`, which may, turns it back on).
 * It then runs ocirt.boot (from the image) as __main__, which hands over to
 * ocirt.cli.launch(); that never returns.
 *
 * ocirt/launcher.py writes image.c (the tables launcher.h declares, for the
 * installed package and interpreter) and compiles both files; `pip install`
 * does it (setup.py), and so does `python -m ocirt.launcher`.
 *
 * It refuses to start (exit 1, one line) where the interpreter it embeds
 * does not match: an image compiled by another CPython version, or the
 * standard library it was built against gone (CPython upgraded or removed).
 */
#include <sys/stat.h>
#define PY_SSIZE_T_CLEAN
#include "launcher.h"
#include <marshal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14; older kernels say EINVAL: faults as usual */
#endif

/* ---- memory made present up front (see the top of this file) ---- */

extern char __data_start[], _end[]; /* from the linker: .data through .bss */

#define PAGE_DOWN(p) ((uintptr_t)(p) & ~(uintptr_t)4095)
#define PAGE_UP(p) (((uintptr_t)(p) + 4095) & ~(uintptr_t)4095)

static void populate(void *from, void *to)
{
    uintptr_t a = PAGE_DOWN(from), b = PAGE_UP(to);
    if (b > a)
        (void)madvise((void *)a, b - a, MADV_POPULATE_WRITE); /* a hint: errors are fine */
}

/* The first arena: how much of it every command uses (measured: start-up
 * and a hot command fill about this much; create, all of it and more). */
#define FIRST_ARENA_PRESENT (768 * 1024)

static void *arena_alloc(void *ctx, size_t size)
{
    static int first = 1;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    (void)ctx;
    if (p == MAP_FAILED)
        return NULL;
    if (first) {
        first = 0;
        populate(p, (char *)p + (size < FIRST_ARENA_PRESENT ? size : FIRST_ARENA_PRESENT));
    }
    return p;
}

static void arena_free(void *ctx, void *p, size_t size)
{
    (void)ctx;
    munmap(p, size);
}

/* ---- _ocirt_image ---- */

static int by_name(const void *key, const void *entry)
{
    return strcmp(key, ((const struct ocirt_module *)entry)->name);
}

static const struct ocirt_module *lookup(PyObject *name)
{
    const char *s = PyUnicode_AsUTF8(name);
    if (s == NULL)
        return NULL;
    return bsearch(s, ocirt_modules, ocirt_module_count, sizeof(ocirt_modules[0]), by_name);
}

/* _ocirt_image.find(name) -> (is_package, path), or None */
static PyObject *image_find(PyObject *self, PyObject *name)
{
    const struct ocirt_module *m = lookup(name);
    if (m == NULL) {
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_NONE;
    }
    return Py_BuildValue("(Os)", m->is_package ? Py_True : Py_False, m->path);
}

/* _ocirt_image.code(name) -> the module's code object */
static PyObject *image_code(PyObject *self, PyObject *name)
{
    const struct ocirt_module *m = lookup(name);
    if (m == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetObject(PyExc_ImportError, name);
        return NULL;
    }
    return PyMarshal_ReadObjectFromString((const char *)m->code, m->size);
}

/* _ocirt_image.names() -> the names of the modules in the image */
static PyObject *image_names(PyObject *self, PyObject *unused)
{
    PyObject *t = PyTuple_New(ocirt_module_count);
    for (int i = 0; t != NULL && i < ocirt_module_count; i++) {
        PyObject *s = PyUnicode_FromString(ocirt_modules[i].name);
        if (s == NULL) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, i, s);
    }
    return t;
}

static PyMethodDef image_methods[] = {
    {"find", image_find, METH_O, "find(name) -> (is_package, path) or None"},
    {"code", image_code, METH_O, "code(name) -> the code object of a module in the image"},
    {"names", image_names, METH_NOARGS, "names() -> the modules in the image"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef image_def = {
    PyModuleDef_HEAD_INIT, "_ocirt_image",
    "ocirt's modules, compiled into this launcher (see csrc/launcher.c).", -1, image_methods,
};

static PyObject *image_init(void)
{
    PyObject *m = PyModule_Create(&image_def);
    if (m == NULL)
        return NULL;
    if (PyModule_AddStringConstant(m, "site", ocirt_site) < 0
        || PyModule_AddStringConstant(m, "stdlib", ocirt_stdlib) < 0
        || PyModule_AddStringConstant(m, "stamp", ocirt_stamp) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

static int set(PyConfig *c, wchar_t **field, const char *value)
{
    return PyStatus_Exception(PyConfig_SetBytesString(c, field, value));
}

static void fail(PyStatus st)
{
    if (PyStatus_IsExit(st))
        exit(st.exitcode);
    fprintf(stderr, "ocirt: cannot start the interpreter: %s\n",
            st.err_msg ? st.err_msg : "unknown error");
    exit(1);
}

/* The CPython gate: the interpreter linked in is the one whose code objects
 * the image holds, and its standard library is still where it was. */
static void check_python(void)
{
    struct stat sb;
    unsigned long linked = PY_VERSION_HEX;
    if ((linked >> 16) != (ocirt_python_version >> 16)) {
        fprintf(stderr, "ocirt: this launcher embeds CPython %lu.%lu but its image was made by "
                "CPython %lu.%lu: reinstall ocirt (pip install .)\n", linked >> 24,
                (linked >> 16) & 0xff, ocirt_python_version >> 24,
                (ocirt_python_version >> 16) & 0xff);
        exit(1);
    }
    if (stat(ocirt_stdlib, &sb) != 0) {
        fprintf(stderr, "ocirt: the standard library of CPython %lu.%lu this launcher was built "
                "for (%s) is gone: reinstall ocirt (pip install .)\n", linked >> 24,
                (linked >> 16) & 0xff, ocirt_stdlib);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    PyStatus st;
    check_python();
    populate(__data_start, _end);
    PyObjectArenaAllocator arenas = {NULL, arena_alloc, arena_free};
    PyObject_SetArenaAllocator(&arenas);

    PyPreConfig pre;
    PyPreConfig_InitIsolatedConfig(&pre);
    /* UTF-8 for file names and stdio whatever the locale; no setlocale(). */
    pre.utf8_mode = 1;
    pre.configure_locale = 0;
    st = Py_PreInitialize(&pre);
    if (PyStatus_Exception(st))
        fail(st);

    PyImport_FrozenModules = ocirt_frozen;
    if (PyImport_AppendInittab("_ocirt_image", image_init) < 0) {
        fputs("ocirt: cannot register _ocirt_image\n", stderr);
        return 1;
    }

    /* What the python command does (an isolated config installs no signal
       handlers): a write to a closed pipe or socket is an EPIPE error that
       ocirt handles, not a SIGPIPE that kills it halfway through create,
       leaving the container's pieces behind. The container's processes
       get the default dispositions back before they are executed. */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);

    PyConfig c;
    PyConfig_InitIsolatedConfig(&c);
    c.site_import = 0;
    c.parse_argv = 0; /* argv is ocirt's, not the interpreter's */
    c.pathconfig_warnings = 0;
    st = PyConfig_SetBytesArgv(&c, argc, argv);
    if (PyStatus_Exception(st))
        goto failed;
    if (set(&c, &c.program_name, ocirt_executable) || set(&c, &c.executable, ocirt_executable)
        || set(&c, &c.prefix, ocirt_prefix) || set(&c, &c.exec_prefix, ocirt_prefix)
        || set(&c, &c.base_prefix, ocirt_base_prefix)
        || set(&c, &c.base_exec_prefix, ocirt_base_prefix)) {
        st = PyStatus_Error("cannot set the interpreter's paths");
        goto failed;
    }
    c.module_search_paths_set = 1;
    for (const char *const *p = ocirt_search_path; *p != NULL; p++) {
        wchar_t *w = Py_DecodeLocale(*p, NULL);
        if (w == NULL) {
            st = PyStatus_NoMemory();
            goto failed;
        }
        st = PyWideStringList_Append(&c.module_search_paths, w);
        PyMem_RawFree(w);
        if (PyStatus_Exception(st))
            goto failed;
    }
    st = Py_InitializeFromConfig(&c);
    PyConfig_Clear(&c);
    if (PyStatus_Exception(st))
        fail(st);
    PyGC_Disable();

    PyObject *name = PyUnicode_FromString("ocirt.boot");
    PyObject *code = name ? image_code(NULL, name) : NULL;
    Py_XDECREF(name);
    PyObject *main_module = PyImport_AddModule("__main__"); /* borrowed */
    PyObject *result = NULL;
    if (code != NULL && main_module != NULL) {
        PyObject *globals = PyModule_GetDict(main_module);
        result = PyEval_EvalCode(code, globals, globals);
    }
    Py_XDECREF(code);
    if (result == NULL) {
        PyErr_Print(); /* SystemExit leaves with its status here */
        return 1;
    }
    Py_DECREF(result);
    return Py_FinalizeEx() < 0 ? 120 : 0;

failed:
    PyConfig_Clear(&c);
    fail(st);
    return 1;
}
