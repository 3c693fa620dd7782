/*
 * onesp-client: the compiled form of onesp.runtime.client, the first step of every DS and TM
 * executable oned runs on the front-end.
 *
 * Why C: a Python process spends about 10 ms starting before it can even open a socket, which
 * is most of what a cheap action may cost when a resident onesp server runs it. This program
 * does what client.py does, byte for byte on the wire (see that module and
 * onesp.runtime.actionserver for the protocol), in about 1 ms:
 *
 *   onesp-client KIND ACTION ARGV0 [ARG...]
 *
 * connects to server.sock in ONESP_SERVER_DIR (default /run/onesp) when that directory is this
 * user's and no one else's, checks the peer is this user, sends the fingerprint of the library
 * it belongs to (../ of the directory this binary is in), argv (ARGV0 and the ARGs), the whole
 * environment, the working directory, the umask and its descriptors 0, 1 and 2, forwards
 * SIGTERM and SIGINT, and ends as the worker ended. When no server takes the action it runs
 * the executable with python3 instead (ARGV0 is that executable, a shell and Python script in
 * one file), telling it why in ONESP_CLIENT_FALLBACK, so the driver logs the reason once and
 * the action runs in-process exactly as without this program. Built by install.sh and
 * scripts/setup when a C compiler is there; without it the executables use client.py.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_DIR "/run/onesp"
#define SOCKET_NAME "server.sock"
#define MAGIC "onesp-action-1"
#define FALLBACK_VARIABLE "ONESP_CLIENT_FALLBACK"
#define REFUSED 'R'
#define ACCEPTED 'A'
#define STATUS 'S'

extern char **environ;

/* A growing byte buffer; on allocation failure the program falls back (never a half request). */
struct buffer {
    char *data;
    size_t length, size;
};

static char reason[4096 + 512];
static int server_socket = -1;

static int unavailable(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* Remember why no server takes the action (the in-process run logs it); always -1. */
static int unavailable(const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(reason, sizeof reason, format, args);
    va_end(args);
    return -1;
}

static int append(struct buffer *b, const void *data, size_t length) {
    if (b->length + length + 1 > b->size) {
        size_t size = b->size ? b->size : 4096;
        while (size < b->length + length + 1)
            size *= 2;
        char *grown = realloc(b->data, size);
        if (!grown)
            return -1;
        b->data = grown;
        b->size = size;
    }
    memcpy(b->data + b->length, data, length);
    b->length += length;
    b->data[b->length] = 0;
    return 0;
}

static int append_text(struct buffer *b, const char *text) { return append(b, text, strlen(text)); }

/* ---- the fingerprint: client.fingerprint() of the library, the same bytes ---------------------- */

static int by_bytes(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A list of strings this program owns. */
struct list {
    char **items;
    size_t count, capacity;
};

static int push(struct list *l, char *item) {
    if (l->count == l->capacity) {
        size_t capacity = l->capacity ? l->capacity * 2 : 64;
        char **grown = realloc(l->items, sizeof *grown * capacity);
        if (!grown)
            return -1;
        l->items = grown;
        l->capacity = capacity;
    }
    l->items[l->count++] = item;
    return 0;
}

static void drop(struct list *l) {
    while (l->count)
        free(l->items[--l->count]);
    free(l->items);
}

/* The entries of directory top/relative: files into files ("name size mtime_ns"), directories
 * but __pycache__ into pending ("name/"); -1 when it cannot be read or memory runs out. */
static int scan(const char *top, const char *relative, struct list *files, struct list *pending) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", top, relative) >= (int)sizeof path)
        return -1;
    DIR *listing = opendir(path);
    if (!listing)
        return -1;
    int result = 0;
    struct dirent *entry;
    while (result == 0 && (entry = readdir(listing))) {
        if (!strcmp(entry->d_name, ".") || !strcmp(entry->d_name, ".."))
            continue;
        struct stat info;
        if (fstatat(dirfd(listing), entry->d_name, &info, AT_SYMLINK_NOFOLLOW) < 0) {
            result = -1;
            break;
        }
        int directory = S_ISDIR(info.st_mode);
        if (directory && !strcmp(entry->d_name, "__pycache__"))
            continue;
        size_t length = strlen(relative) + strlen(entry->d_name) + 64;
        char *name = malloc(length);
        if (!name) {
            result = -1;
            break;
        }
        if (directory)
            snprintf(name, length, "%s%s/", relative, entry->d_name);
        else
            snprintf(name, length, "%s%s %lld %lld", relative, entry->d_name, (long long)info.st_size,
                     (long long)info.st_mtim.tv_sec * 1000000000LL + info.st_mtim.tv_nsec);
        if (push(directory ? pending : files, name) < 0) {
            free(name);
            result = -1;
        }
    }
    closedir(listing);
    return result;
}

/* Every file under top (a real path): "name size mtime_ns", sorted, after the path itself. */
static int fingerprint(const char *top, struct buffer *out) {
    struct list files = {0}, pending = {0};
    char *first = strdup("");
    int result = first && push(&pending, first) == 0 ? 0 : -1;
    if (result < 0)
        free(first);
    while (result == 0 && pending.count) {
        char *relative = pending.items[--pending.count];
        result = scan(top, relative, &files, &pending);
        free(relative);
    }
    if (result == 0) {
        qsort(files.items, files.count, sizeof *files.items, by_bytes);
        result = append_text(out, top);
        for (size_t i = 0; i < files.count && result == 0; i++)
            result = append(out, "\n", 1) || append_text(out, files.items[i]);
    }
    drop(&files);
    drop(&pending);
    return result;
}

/* ---- connecting ------------------------------------------------------------------------------- */

/* A socket connected to the server in directory, whose peer is this user; -1 (reason set) if none. */
static int connect_to(const char *directory) {
    int dir = open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir < 0) {
        if (errno == ENOENT)
            return unavailable("no server directory %s", directory);
        return unavailable("server directory %s cannot be opened (%s)", directory, strerror(errno));
    }
    struct stat info;
    if (fstat(dir, &info) < 0) {
        int error = errno;
        close(dir);
        return unavailable("server directory %s cannot be opened (%s)", directory, strerror(error));
    }
    if (info.st_uid != geteuid() || (info.st_mode & 077)) {
        close(dir);
        return unavailable("server directory %s refused: owner uid %d, mode %04o (must be this user's, 0700)",
                           directory, (int)info.st_uid, (unsigned)(info.st_mode & 07777));
    }
    int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0) {
        close(dir);
        return unavailable("no server answers in %s (%s)", directory, strerror(errno));
    }
    struct timeval five = {5, 0};
    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &five, sizeof five);
    setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &five, sizeof five);
    /* through the descriptor just checked, never the name again: a directory swapped meanwhile is not used */
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    snprintf(address.sun_path, sizeof address.sun_path, "/proc/self/fd/%d/%s", dir, SOCKET_NAME);
    int connected = connect(sock, (struct sockaddr *)&address, sizeof address);
    int error = errno;
    close(dir);
    if (connected < 0) {
        close(sock);
        return unavailable("no server answers in %s (%s)", directory, strerror(error));
    }
    struct ucred peer;
    socklen_t size = sizeof peer;
    if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &peer, &size) < 0) {
        error = errno;
        close(sock);
        return unavailable("no server answers in %s (%s)", directory, strerror(error));
    }
    if (peer.uid != geteuid()) {
        close(sock);
        return unavailable("the server socket in %s belongs to uid %d, not to this user", directory, (int)peer.uid);
    }
    return sock;
}

static int send_all(int sock, const char *data, size_t length) {
    while (length) {
        ssize_t sent = send(sock, data, length, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        data += sent;
        length -= (size_t)sent;
    }
    return 0;
}

/* Up to size bytes, fewer only at the end of the stream; -1 on an error. */
static ssize_t receive(int sock, char *data, size_t size) {
    size_t got = 0;
    while (got < size) {
        ssize_t n = recv(sock, data + got, size - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* ---- the request ------------------------------------------------------------------------------ */

static int field(struct buffer *b, const char *text) { return append(b, text, strlen(text) + 1); }

/* client.request(): NUL-separated fields, without a trailing NUL; -1 when out of memory or the
 * library cannot be read. */
static int build_request(struct buffer *b, const char *kind, const char *action, const char *library,
                         const char *cwd, int argc, char **argv) {
    char number[32];
    mode_t mask = umask(022);
    umask(mask);
    if (field(b, MAGIC) || fingerprint(library, b) || append(b, "", 1) || field(b, kind) || field(b, action) ||
        field(b, cwd))
        return -1;
    snprintf(number, sizeof number, "%o", (unsigned)mask);
    if (field(b, number))
        return -1;
    snprintf(number, sizeof number, "%d", argc);
    if (field(b, number))
        return -1;
    for (int i = 0; i < argc; i++)
        if (field(b, argv[i]))
            return -1;
    for (char **variable = environ; *variable; variable++)
        if (strchr(*variable, '=') && field(b, *variable))
            return -1;
    b->length--; /* the last field's separator */
    return 0;
}

/* ---- waiting for the worker ------------------------------------------------------------------- */

static void forward(int signum) {
    unsigned char byte = (unsigned char)signum;
    int saved = errno;
    if (server_socket >= 0)
        (void)!send(server_socket, &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    errno = saved;
}

/* The worker's wait status, or exit status 1 when the server vanished before it ended. */
static int wait_for_worker(int sock) {
    struct timeval none = {0, 0};
    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
    server_socket = sock;
    struct sigaction relay = {.sa_handler = forward, .sa_flags = SA_RESTART};
    sigemptyset(&relay.sa_mask);
    sigaction(SIGTERM, &relay, NULL);
    sigaction(SIGINT, &relay, NULL);
    unsigned char answer[5];
    ssize_t got = receive(sock, (char *)answer, sizeof answer);
    if (got != (ssize_t)sizeof answer || answer[0] != STATUS) {
        static const char lost[] = "onesp: the onesp server stopped before the action ended; its outcome is unknown\n";
        (void)!write(2, lost, sizeof lost - 1);
        return 1 << 8;
    }
    return (int)((uint32_t)answer[1] << 24 | (uint32_t)answer[2] << 16 | (uint32_t)answer[3] << 8 | answer[4]);
}

/* End this process as the worker ended: its exit status, or killed by the same signal. */
static void exit_like(int status) {
    if (WIFSIGNALED(status)) {
        int number = WTERMSIG(status);
        signal(number, SIG_DFL);
        kill(getpid(), number);
        _exit(128 + number);
    }
    _exit(WEXITSTATUS(status));
}

/* Hand the action to the server: its wait status, or -1 (reason set) when no server took it. */
static int run_by_server(const char *directory, const char *kind, const char *action, const char *library,
                         int argc, char **argv) {
    struct buffer request = {0};
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return unavailable("the working directory is gone");
    int sock = connect_to(directory); /* first: without a server, the fingerprint is not worth computing */
    if (sock < 0)
        return -1;
    errno = 0;
    if (build_request(&request, kind, action, library, cwd, argc, argv) < 0) {
        int error = errno ? errno : ENOMEM;
        free(request.data);
        close(sock);
        return unavailable("the server in %s did not take the action (%s)", directory, strerror(error));
    }
    uint32_t length = htonl((uint32_t)request.length);
    int fds[3] = {0, 1, 2};
    char control[CMSG_SPACE(sizeof fds)];
    memset(control, 0, sizeof control);
    struct iovec head = {.iov_base = &length, .iov_len = sizeof length};
    struct msghdr message = {.msg_iov = &head, .msg_iovlen = 1, .msg_control = control,
                             .msg_controllen = sizeof control};
    struct cmsghdr *rights = CMSG_FIRSTHDR(&message);
    rights->cmsg_level = SOL_SOCKET;
    rights->cmsg_type = SCM_RIGHTS;
    rights->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(rights), fds, sizeof fds);
    char answer = 0;
    ssize_t sent;
    do
        sent = sendmsg(sock, &message, MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR);
    int ok = sent == (ssize_t)sizeof length && send_all(sock, request.data, request.length) == 0 &&
             receive(sock, &answer, 1) >= 0;
    int error = errno;
    free(request.data);
    if (!ok) {
        close(sock);
        return unavailable("the server in %s did not take the action (%s)", directory,
                           error == EAGAIN ? "timed out" : strerror(error));
    }
    if (answer == REFUSED) {
        char why[4097];
        ssize_t got = receive(sock, why, sizeof why - 1);
        why[got > 0 ? got : 0] = 0;
        close(sock);
        return unavailable("the server in %s refused the action: %s", directory, why);
    }
    if (answer != ACCEPTED) {
        close(sock);
        return unavailable("the server in %s closed the connection", directory);
    }
    int status = wait_for_worker(sock);
    close(sock);
    return status;
}

/* The library this binary belongs to: the real path of the directory above its own. */
static int own_library(char *library) {
    char self[PATH_MAX];
    if (!realpath("/proc/self/exe", self))
        return -1;
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(self, '/');
        if (!slash || slash == self)
            return -1;
        *slash = 0;
    }
    strcpy(library, self);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: onesp-client KIND ACTION ARGV0 [ARG...] (run by onesp's executables)\n");
        return 2;
    }
    const char *kind = argv[1], *action = argv[2];
    unsetenv(FALLBACK_VARIABLE); /* ours to set, never to pass on */
    char **action_argv = argv + 3;
    int action_argc = argc - 3;
    const char *directory = getenv("ONESP_SERVER_DIR");
    if (!directory)
        directory = DEFAULT_DIR;
    char library[PATH_MAX];
    if (*directory) {
        int status;
        if (own_library(library) < 0)
            unavailable("the library of %s cannot be found", argv[0]);
        else if ((status = run_by_server(directory, kind, action, library, action_argc, action_argv)) >= 0)
            exit_like(status);
        setenv(FALLBACK_VARIABLE, reason, 1);
    }
    /* in-process: the executable itself, as Python (the environment otherwise untouched) */
    char **python = calloc((size_t)action_argc + 2, sizeof *python);
    if (!python) {
        fprintf(stderr, "%s %s: start: out of memory\n", kind, action);
        return 1;
    }
    python[0] = "python3";
    memcpy(python + 1, action_argv, sizeof *python * (size_t)action_argc);
    execvp(python[0], python);
    fprintf(stderr, "%s %s: start: python3 cannot be run: %s\n", kind, action, strerror(errno));
    return 127;
}
