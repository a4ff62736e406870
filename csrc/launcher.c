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
 * One call is answered before any of that: `delete --force` of a container
 * that does not exist (see deleted_already() below).
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
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

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

/* ---- a call answered before the interpreter starts ----
 *
 * `delete --force ID` of a container that does not exist succeeds and says
 * nothing: runc's behaviour, and ocirt.container.delete's. containerd's
 * runc shim makes that call for every container, as cleanup after its
 * delete, so it is a tenth of the calls of a Kubernetes pod's life. The
 * answer is one failed open(2): the launcher gives it here, without the
 * interpreter's start-up, which is most of such a call's time.
 *
 * Only the plain form is answered here: global flags as ocirt.cli.fast
 * reads them, with --root given (the default root is Python's business:
 * ocirt.runtime.default_root), then `delete` with --force (or -f) and an
 * id that ocirt.state.check_id accepts, in either order. Anything else,
 * and every doubt (--debug, a trace, a state directory that exists or
 * cannot be looked up, a --log file that cannot be created), goes to ocirt
 * as usual, which answers the same or says what is wrong.
 * tests/unit/test_launcher.py checks that both answer alike.
 */

#define MAX_ID 255 /* ocirt.state.MAX_ID */

static int id_ok(const char *id) /* ocirt.state.check_id */
{
    static const char extra[] = "_+.-";
    size_t n = strlen(id);
    if (n == 0 || n > MAX_ID || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
        return 0;
    for (const char *p = id; *p != '\0'; p++) {
        char ch = *p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')
              || strchr(extra, ch) != NULL))
            return 0;
    }
    return 1;
}

/* Global flag `name` with a value, as argv[*i] "--name V" or "--name=V":
 * 1 and *value set (*i past it), 0 if argv[*i] is not that flag, -1 if its
 * value is missing. */
static int global_value(int argc, char **argv, int *i, const char *name, const char **value)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0 || (a[n] != '\0' && a[n] != '='))
        return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (*i + 1 >= argc)
        return -1;
    *value = argv[++*i];
    return 1;
}

static int deleted_already(int argc, char **argv)
{
    const char *root = NULL, *log = NULL, *format = "text", *id = NULL, *trace;
    char path[4096];
    int i, fd, force = 0;

    trace = getenv("OCIRT_TRACE");
    if (trace != NULL && *trace != '\0')
        return 0;
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        int got = global_value(argc, argv, &i, "--root", &root);
        if (got == 0)
            got = global_value(argc, argv, &i, "--log", &log);
        if (got == 0)
            got = global_value(argc, argv, &i, "--log-format", &format);
        if (got == 0 && strcmp(argv[i], "--systemd-cgroup") == 0)
            got = 1;
        if (got != 1)
            return 0;
    }
    if (i >= argc || strcmp(argv[i], "delete") != 0)
        return 0;
    for (i++; i < argc; i++) {
        if (strcmp(argv[i], "--force") == 0 || strcmp(argv[i], "-f") == 0)
            force = 1;
        else if (argv[i][0] == '-' || id != NULL)
            return 0;
        else
            id = argv[i];
    }
    if (!force || id == NULL || !id_ok(id) || root == NULL || *root == '\0'
        || (strcmp(format, "text") != 0 && strcmp(format, "json") != 0))
        return 0;
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", root, id) >= sizeof(path))
        return 0;
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_DIRECTORY);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    if (errno != ENOENT)
        return 0;
    if (log != NULL && *log != '\0') { /* created, as ocirt.log.configure does */
        fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            return 0;
        close(fd);
    }
    return 1;
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
    if (deleted_already(argc, argv))
        return 0;
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
