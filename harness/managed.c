/* managed.c -- starting, stopping and restarting a broker the harness runs;
 * see managed.h.
 *
 * The bundled broker is a child process whose stdout says "listening HOST
 * PORT"; a profile's broker is whatever its start command leaves running,
 * found by its port. Both are restarted on the port they first had, so the
 * scenario's clients reconnect to the same address.
 */
#define _XOPEN_SOURCE 700
#include "managed.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "loop.h"

#define EMBEDDED_START_TIMEOUT_MS 5000
#define STOP_TIMEOUT_MS 10000
#define COMMAND_TIMEOUT_MS 60000

static int self_dir(char *out, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", out, cap - 1);
    if (n <= 0)
        return -1;
    out[n] = '\0';
    char *slash = strrchr(out, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    return 0;
}

static int make_dir(managed_broker *m, char *err, size_t errcap)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(m->dir, sizeof m->dir, "%s/mqspec-broker-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(m->dir)) {
        snprintf(err, errcap, "cannot create a directory for the broker (%s): %s", m->dir,
                 strerror(errno));
        m->dir[0] = '\0';
        return -1;
    }
    return 0;
}

/* Does the bundled broker take --data? Asked once, from its --help, so that a
 * broker built without persistence is a skip for restart_broker, not a run
 * that cannot start. */
static bool broker_has_data(const char *bin)
{
    int pfd[2];
    if (pipe(pfd) != 0)
        return false;
    pid_t pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return false;
    }
    if (pid == 0) {
        dup2(pfd[1], STDOUT_FILENO);
        dup2(pfd[1], STDERR_FILENO);
        close(pfd[0]);
        close(pfd[1]);
        execl(bin, bin, "--help", (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    char buf[4096];
    size_t n = 0;
    int64_t deadline = loop_now_ms() + 3000;
    for (;;) {
        int64_t left = deadline - loop_now_ms();
        struct pollfd p = {.fd = pfd[0], .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t r = read(pfd[0], buf + n, sizeof buf - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n == sizeof buf - 1)
            break;
    }
    buf[n] = '\0';
    close(pfd[0]);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return strstr(buf, "--data") != NULL;
}

/* Runs `mqspec-broker passwd -b -i 1000 FILE USER PASSWORD`: the broker's own
 * tool writes the file, so the harness never needs the hash format. A low
 * iteration count: the file lives for one run on this machine. */
static int make_password_file(const char *bin, const char *file, const char *user,
                              const char *password)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int nullfd = open("/dev/null", O_RDWR);
        if (nullfd >= 0) {
            dup2(nullfd, STDIN_FILENO);
            dup2(nullfd, STDOUT_FILENO);
        }
        execl(bin, bin, "passwd", "-b", "-i", "1000", file, user, password, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return -1;
    return 0;
}

static void random_alnum(char *out, size_t n)
{
    static const char al[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char b[64];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, b, n < sizeof b ? n : sizeof b) : -1;
    if (fd >= 0)
        close(fd);
    for (size_t i = 0; i < n && i < sizeof b; i++)
        out[i] = al[(got > (ssize_t)i ? b[i] : (unsigned char)(rand() + (int)i)) % (sizeof al - 1)];
    out[n < sizeof b ? n : sizeof b - 1] = '\0';
}

int managed_embedded(managed_broker *m, const char *log_path, char *err, size_t errcap)
{
    memset(m, 0, sizeof *m);
    char dir[PATH_MAX];
    if (self_dir(dir, sizeof dir) != 0) {
        snprintf(err, errcap, "cannot find the directory of mqspec");
        return -1;
    }
    if ((size_t)snprintf(m->bin, sizeof m->bin, "%s/mqspec-broker", dir) >= sizeof m->bin ||
        access(m->bin, X_OK) != 0) {
        snprintf(err, errcap, "no --broker given and the bundled broker %s is missing", m->bin);
        return -1;
    }
    m->kind = MB_EMBEDDED;
    m->log_path = log_path;
    m->has_data = broker_has_data(m->bin);
    if (make_dir(m, err, errcap) != 0)
        return -1;
    /* The second user: kept in DIR for the whole run, since a restart reads
     * the password file again. */
    char pw[PATH_MAX + 16];
    snprintf(pw, sizeof pw, "%s/passwd", m->dir);
    snprintf(m->user2, sizeof m->user2, "mqspec-user2");
    random_alnum(m->password2, 24);
    if (make_password_file(m->bin, pw, m->user2, m->password2) != 0)
        m->user2[0] = m->password2[0] = '\0';
    return 0;
}

int managed_commands(managed_broker *m, const char *start, const char *stop, const char *killc,
                     int start_timeout_s, char *err, size_t errcap)
{
    memset(m, 0, sizeof *m);
    m->kind = MB_COMMANDS;
    m->start_cmd = start;
    m->stop_cmd = stop;
    m->kill_cmd = killc;
    m->start_timeout_ms = (start_timeout_s > 0 ? start_timeout_s : 30) * 1000;
    return make_dir(m, err, errcap);
}

/* ---- the bundled broker ---- */

static int embedded_start(managed_broker *m, char *err, size_t errcap)
{
    char conf[PATH_MAX + 16];
    snprintf(conf, sizeof conf, "%s/broker.conf", m->dir);
    if (m->config) {
        FILE *f = fopen(conf, "w");
        if (!f || fputs(m->config, f) < 0 || fclose(f) != 0) {
            snprintf(err, errcap, "cannot write %s: %s", conf, strerror(errno));
            return -1;
        }
    }
    int pipefd[2];
    if (pipe(pipefd) != 0) {
        snprintf(err, errcap, "pipe: %s", strerror(errno));
        return -1;
    }
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", m->port);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errcap, "fork: %s", strerror(errno));
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(pipefd[1], STDOUT_FILENO);
        int logfd = open(m->log_path ? m->log_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND,
                         0644);
        if (logfd >= 0)
            dup2(logfd, STDERR_FILENO);
        int nullfd = open("/dev/null", O_RDONLY);
        if (nullfd >= 0)
            dup2(nullfd, STDIN_FILENO);
        close(pipefd[0]);
        close(pipefd[1]);
        /* The whole command line, so that a restart repeats it exactly. */
        char data[PATH_MAX + 16], pw[PATH_MAX + 16];
        snprintf(data, sizeof data, "%s/data", m->dir);
        snprintf(pw, sizeof pw, "%s/passwd", m->dir);
        const char *argv[16];
        int a = 0;
        argv[a++] = m->bin;
        argv[a++] = "-p";
        argv[a++] = port_s;
        argv[a++] = "--bind";
        argv[a++] = "127.0.0.1";
        if (m->has_data) {
            mkdir(data, 0700);
            argv[a++] = "--data";
            argv[a++] = data;
        }
        if (m->config) {
            argv[a++] = "-c";
            argv[a++] = conf;
        }
        if (m->user2[0]) {
            argv[a++] = "--password-file";
            argv[a++] = pw;
            argv[a++] = "--allow-anonymous";
        }
        argv[a] = NULL;
        execv(m->bin, (char *const *)argv);
        _exit(127);
    }
    close(pipefd[1]);
    m->pid = pid;
    char line[256];
    size_t n = 0;
    int64_t deadline = loop_now_ms() + EMBEDDED_START_TIMEOUT_MS;
    int port = 0;
    while (!port) {
        int64_t left = deadline - loop_now_ms();
        struct pollfd p = {.fd = pipefd[0], .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t r = read(pipefd[0], line + n, sizeof line - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        line[n] = '\0';
        char *ready = strstr(line, "listening ");
        char host[64];
        if (ready && strchr(ready, '\n') && sscanf(ready, "listening %63s %d", host, &port) != 2)
            port = 0;
        if (n == sizeof line - 1)
            n = 0;
    }
    close(pipefd[0]);
    if (!port || (m->port && port != m->port)) {
        if (port)
            snprintf(err, errcap, "the bundled broker came back on port %d, not %d", port, m->port);
        else
            snprintf(err, errcap, "the bundled broker did not report a listening port within %d s%s",
                     EMBEDDED_START_TIMEOUT_MS / 1000,
                     m->port ? " (restarting on the same port)" : "");
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        m->pid = 0;
        return -1;
    }
    m->port = port;
    return 0;
}

static int embedded_stop(managed_broker *m, bool hard)
{
    if (m->pid <= 0)
        return 0;
    kill(m->pid, hard ? SIGKILL : SIGTERM);
    int64_t deadline = loop_now_ms() + STOP_TIMEOUT_MS;
    while (loop_now_ms() < deadline) {
        if (waitpid(m->pid, NULL, WNOHANG) == m->pid) {
            m->pid = 0;
            return 0;
        }
        poll(NULL, 0, 10);
    }
    kill(m->pid, SIGKILL);
    waitpid(m->pid, NULL, 0);
    m->pid = 0;
    return 0;
}

/* ---- a broker run by commands ---- */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int port = 0;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* The command with {port} and {dir} replaced; NULL when too long. */
static char *expand_cmd(const managed_broker *m, const char *cmd)
{
    size_t cap = strlen(cmd) * 2 + strlen(m->dir) * 4 + 64;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t n = 0;
    for (const char *p = cmd; *p;) {
        const char *ins = NULL;
        char port_s[16];
        size_t skip = 0;
        if (!strncmp(p, "{port}", 6)) {
            snprintf(port_s, sizeof port_s, "%d", m->port);
            ins = port_s;
            skip = 6;
        } else if (!strncmp(p, "{dir}", 5)) {
            ins = m->dir;
            skip = 5;
        }
        if (ins) {
            size_t l = strlen(ins);
            if (n + l + 1 >= cap) {
                free(out);
                return NULL;
            }
            memcpy(out + n, ins, l);
            n += l;
            p += skip;
        } else {
            if (n + 2 >= cap) {
                free(out);
                return NULL;
            }
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    return out;
}

/* Runs `sh -c CMD` to its end (bounded), its stdout into out. */
static int run_cmd(const managed_broker *m, const char *cmd, int timeout_ms, char *out,
                   size_t outcap, char *err, size_t errcap)
{
    char *full = expand_cmd(m, cmd);
    if (!full) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    int pfd[2];
    if (pipe(pfd) != 0) {
        snprintf(err, errcap, "pipe: %s", strerror(errno));
        free(full);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errcap, "fork: %s", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        free(full);
        return -1;
    }
    if (pid == 0) {
        dup2(pfd[1], STDOUT_FILENO);
        int nullfd = open("/dev/null", O_RDONLY);
        if (nullfd >= 0)
            dup2(nullfd, STDIN_FILENO);
        close(pfd[0]);
        close(pfd[1]);
        setpgid(0, 0);      /* so that a command that overruns can be ended whole */
        execl("/bin/sh", "sh", "-c", full, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    fcntl(pfd[0], F_SETFL, O_NONBLOCK);
    size_t n = 0;
    int status = -1;
    bool done = false;
    int64_t deadline = loop_now_ms() + timeout_ms;
    while (loop_now_ms() < deadline) {
        struct pollfd p = {.fd = pfd[0], .events = POLLIN};
        poll(&p, 1, 20);
        ssize_t r;
        char tmp[512];
        while ((r = read(pfd[0], tmp, sizeof tmp)) > 0) {
            size_t take = (size_t)r < outcap - 1 - n ? (size_t)r : outcap - 1 - n;
            memcpy(out + n, tmp, take);
            n += take;
        }
        /* The command is over when it exits, even if something it left
         * running in the background still holds the pipe. */
        if (waitpid(pid, &status, WNOHANG) == pid) {
            done = true;
            while ((r = read(pfd[0], tmp, sizeof tmp)) > 0) {
                size_t take = (size_t)r < outcap - 1 - n ? (size_t)r : outcap - 1 - n;
                memcpy(out + n, tmp, take);
                n += take;
            }
            break;
        }
    }
    out[n] = '\0';
    close(pfd[0]);
    if (!done) {
        kill(-pid, SIGKILL);
        waitpid(pid, &status, 0);
        snprintf(err, errcap, "'%.200s' did not finish within %d s", full, timeout_ms / 1000);
        free(full);
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(err, errcap, "'%.200s' failed (exit status %d)", full,
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        free(full);
        return -1;
    }
    free(full);
    return 0;
}

static bool port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

static int commands_start(managed_broker *m, char *err, size_t errcap)
{
    bool first = m->port == 0;
    if (first && strstr(m->start_cmd, "{port}") && !(m->port = free_port())) {
        snprintf(err, errcap, "no free loopback port for the broker");
        return -1;
    }
    char out[4096];
    if (run_cmd(m, m->start_cmd, m->start_timeout_ms, out, sizeof out, err, errcap) != 0)
        return -1;
    /* A port printed as the last line of the command's output is the one it chose. */
    int printed = 0;
    char *last = out + strlen(out);
    while (last > out && (last[-1] == '\n' || last[-1] == ' '))
        *--last = '\0';
    while (last > out && last[-1] != '\n')
        last--;
    char *end;
    long v = strtol(last, &end, 10);
    if (end != last && *end == '\0' && v > 0 && v < 65536)
        printed = (int)v;
    if (printed && m->port && printed != m->port) {
        snprintf(err, errcap, "the start command printed port %d, not %d%s", printed, m->port,
                 first ? " ({port})" : " (the port it had before the restart)");
        return -1;
    }
    if (printed)
        m->port = printed;
    if (!m->port) {
        snprintf(err, errcap, "the start command neither uses {port} nor prints the port");
        return -1;
    }
    int64_t deadline = loop_now_ms() + m->start_timeout_ms;
    while (!port_open(m->port)) {
        if (loop_now_ms() >= deadline) {
            snprintf(err, errcap, "the broker did not listen on 127.0.0.1:%d within %d s", m->port,
                     m->start_timeout_ms / 1000);
            return -1;
        }
        poll(NULL, 0, 20);
    }
    return 0;
}

static int commands_stop(managed_broker *m, bool hard, char *err, size_t errcap)
{
    const char *cmd = hard && m->kill_cmd ? m->kill_cmd : m->stop_cmd;
    char out[1024];
    if (run_cmd(m, cmd, COMMAND_TIMEOUT_MS, out, sizeof out, err, errcap) != 0)
        return -1;
    /* Gone means its port refuses: a restart must not find the old one. */
    int64_t deadline = loop_now_ms() + STOP_TIMEOUT_MS;
    while (port_open(m->port)) {
        if (loop_now_ms() >= deadline) {
            snprintf(err, errcap, "the broker still listens on 127.0.0.1:%d %d s after the stop "
                                  "command",
                     m->port, STOP_TIMEOUT_MS / 1000);
            return -1;
        }
        poll(NULL, 0, 20);
    }
    return 0;
}

/* ---- interface ---- */

int managed_start(managed_broker *m, char *err, size_t errcap)
{
    int rc = -1;
    if (m->kind == MB_EMBEDDED)
        rc = embedded_start(m, err, errcap);
    else if (m->kind == MB_COMMANDS)
        rc = commands_start(m, err, errcap);
    else
        snprintf(err, errcap, "the harness does not manage this broker");
    if (rc == 0)
        m->running = true;
    return rc;
}

int managed_stop(managed_broker *m, bool hard, char *err, size_t errcap)
{
    if (!m->running)
        return 0;
    int rc = m->kind == MB_EMBEDDED ? embedded_stop(m, hard) : commands_stop(m, hard, err, errcap);
    if (rc == 0)
        m->running = false;
    return rc;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void managed_cleanup(managed_broker *m)
{
    char err[256];
    if (m->kind != MB_NONE && m->running && managed_stop(m, false, err, sizeof err) != 0)
        fprintf(stderr, "mqspec: stopping the broker: %s\n", err);
    if (m->kind == MB_EMBEDDED && m->pid > 0)
        embedded_stop(m, true);
    if (m->dir[0]) {
        nftw(m->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        m->dir[0] = '\0';
    }
}
