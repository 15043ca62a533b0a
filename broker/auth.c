/* auth.c -- user names, passwords and anonymous access; see auth.h.
 *
 * Passwords in the password file are stored as salted, iterated hashes:
 *
 *     NAME:$pbkdf2-sha512$ITERATIONS$SALT$HASH
 *
 * (or $pbkdf2-sha256$), SALT and HASH in base64, computed with OpenSSL's
 * PKCS5_PBKDF2_HMAC. A random 16-byte salt per entry (RAND_bytes) makes equal
 * passwords look different; the iteration count makes guessing slow; the
 * comparison is constant-time (CRYPTO_memcmp). The plain `user NAME PASSWORD`
 * configuration lines stay, for test set-ups that need a refused CONNECT
 * without a file; they are compared in constant time as well.
 *
 * What it is not: a general password store. No locking against two
 * concurrent writers of one file (the rename makes each write atomic, the
 * last one wins); the broker reads the file once, at start.
 */
#include "auth.h"
#include "broker.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define SALT_LEN 16
#define MAX_HASH 64                 /* SHA-512 */
#define DEFAULT_ITERATIONS 20000    /* ~10 ms per CONNECT check on a laptop */
#define MAX_ITERATIONS 10000000u
#define MAX_LINE 1024

struct user {
    char *name;
    char *plain;                    /* a `user` line's password, or NULL */
    const EVP_MD *md;               /* file entries: */
    uint32_t iterations;
    uint8_t salt[SALT_LEN * 4];
    size_t salt_len;
    uint8_t hash[MAX_HASH + 3];       /* + base64 padding room while decoding */
    size_t hash_len;
};

static struct user *users;
static size_t nusers;

static const EVP_MD *md_by_name(const char *algo)
{
    if (!strcmp(algo, "pbkdf2-sha512"))
        return EVP_sha512();
    if (!strcmp(algo, "pbkdf2-sha256"))
        return EVP_sha256();
    return NULL;
}

/* Base64 without line breaks; returns the decoded length or -1. */
static int b64_decode(const char *in, uint8_t *out, size_t cap)
{
    size_t len = strlen(in);
    if (len == 0 || len % 4 || (len / 4) * 3 > cap)
        return -1;
    int n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
    if (n < 0)
        return -1;
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    if (in[len - 1] == '=')
        n--;
    if (in[len - 2] == '=')
        n--;
    return n;
}

static void b64_encode(const uint8_t *in, size_t len, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

static bool valid_name(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s == ':' || *s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '#')
            return false;
    return true;
}

/* Parses "NAME:$algo$iter$salt$hash" into u. Returns 0 or -1. */
static int parse_entry(char *line, struct user *u)
{
    char *colon = strchr(line, ':');
    if (!colon)
        return -1;
    *colon = '\0';
    if (!valid_name(line))
        return -1;
    char *f[5] = {0};
    char *p = colon + 1;
    if (*p != '$')
        return -1;
    p++;
    for (int i = 0; i < 4; i++) {
        f[i] = p;
        p = strchr(p, '$');
        if (i < 3) {
            if (!p)
                return -1;
            *p++ = '\0';
        } else if (p) {
            return -1;
        }
    }
    u->md = md_by_name(f[0]);
    char *end;
    errno = 0;
    unsigned long it = strtoul(f[1], &end, 10);
    if (!u->md || errno || *end || end == f[1] || it < 1 || it > MAX_ITERATIONS)
        return -1;
    u->iterations = (uint32_t)it;
    int sl = b64_decode(f[2], u->salt, sizeof u->salt);
    int hl = b64_decode(f[3], u->hash, sizeof u->hash);
    if (sl < 8 || hl != EVP_MD_get_size(u->md))
        return -1;
    u->salt_len = (size_t)sl;
    u->hash_len = (size_t)hl;
    u->name = xstrdup(line);
    return 0;
}

static void add_user(struct user *u)
{
    users = xrealloc(users, (nusers + 1) * sizeof *users);
    users[nusers++] = *u;
}

int auth_load_password_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "mqspec-broker: password file %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[MAX_LINE + 2];
    int lineno = 0, bad = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len && line[len - 1] != '\n' && !feof(f)) {
            fprintf(stderr, "%s:%d: line too long\n", path, lineno);
            bad++;
            int ch;
            while ((ch = fgetc(f)) != EOF && ch != '\n')
                ;
            continue;
        }
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0] || line[0] == '#')
            continue;
        struct user u;
        memset(&u, 0, sizeof u);
        if (parse_entry(line, &u) != 0) {
            /* The line may hold a hash: name the line, never print it. */
            fprintf(stderr, "%s:%d: not NAME:$pbkdf2-sha512$ITERATIONS$SALT$HASH\n", path, lineno);
            bad++;
            continue;
        }
        add_user(&u);
    }
    fclose(f);
    return bad ? -1 : 0;
}

void auth_add_plain_user(const char *name, const char *password)
{
    struct user u;
    memset(&u, 0, sizeof u);
    u.name = xstrdup(name);
    u.plain = xstrdup(password);
    add_user(&u);
}

bool auth_have_users(void)
{
    return nusers > 0;
}

void auth_free(void)
{
    for (size_t i = 0; i < nusers; i++) {
        free(users[i].name);
        if (users[i].plain) {
            OPENSSL_cleanse(users[i].plain, strlen(users[i].plain));
            free(users[i].plain);
        }
    }
    free(users);
    users = NULL;
    nusers = 0;
}

static bool hash_matches(const struct user *u, mqtt_bytes pw)
{
    uint8_t got[MAX_HASH];
    if (PKCS5_PBKDF2_HMAC((const char *)pw.data, (int)pw.len, u->salt, (int)u->salt_len,
                          (int)u->iterations, u->md, (int)u->hash_len, got) != 1)
        return false;
    bool ok = CRYPTO_memcmp(got, u->hash, u->hash_len) == 0;
    OPENSSL_cleanse(got, sizeof got);
    return ok;
}

static bool password_matches(const struct user *u, mqtt_bytes pw)
{
    if (u->plain) {
        size_t n = strlen(u->plain);
        return n == pw.len && CRYPTO_memcmp(u->plain, pw.data, n) == 0;
    }
    return hash_matches(u, pw);
}

auth_result auth_check(const mqtt_connect *cn, const char **user)
{
    *user = NULL;
    if (nusers == 0)
        return AUTH_OK;
    if (!cn->has_username) {
        /* Default: anonymous only while no users are configured. */
        return cfg.allow_anonymous == 1 ? AUTH_OK : AUTH_ANONYMOUS_REFUSED;
    }
    if (!cn->has_password)
        return AUTH_BAD_CREDENTIALS;
    const struct user *found = NULL;
    for (size_t i = 0; i < nusers && !found; i++)
        if (mqtt_bytes_eq(cn->username, mqtt_str(users[i].name)))
            found = &users[i];
    if (!found) {
        /* Spend the same time as for a known user, so that timing does not
         * tell which user names exist. */
        for (size_t i = 0; i < nusers; i++)
            if (!users[i].plain) {
                (void)hash_matches(&users[i], cn->password);
                break;
            }
        return AUTH_BAD_CREDENTIALS;
    }
    if (!password_matches(found, cn->password))
        return AUTH_BAD_CREDENTIALS;
    *user = found->name;
    return AUTH_OK;
}

/* ---- mqspec-broker passwd ---------------------------------------------- */

static void passwd_usage(FILE *out)
{
    fprintf(out,
            "usage: mqspec-broker passwd [-i ITERATIONS] [--sha256] FILE USER\n"
            "       mqspec-broker passwd -b [-i ITERATIONS] [--sha256] FILE USER PASSWORD\n"
            "       mqspec-broker passwd -D FILE USER\n"
            "Adds USER to the password file FILE (created if missing, mode 0600) or\n"
            "replaces its password; -D deletes USER. Without -b the password is read\n"
            "from the terminal (twice, not echoed) or else from the first line of stdin.\n"
            "Hashes are PBKDF2-HMAC-SHA512 (--sha256: SHA-256), %d iterations by default.\n",
            DEFAULT_ITERATIONS);
}

/* One line from stdin, without its newline; echo off on a terminal. */
static int read_password(const char *prompt, char *out, size_t cap)
{
    bool tty = isatty(STDIN_FILENO);
    struct termios old, quiet;
    if (tty) {
        fputs(prompt, stderr);
        fflush(stderr);
        if (tcgetattr(STDIN_FILENO, &old) == 0) {
            quiet = old;
            quiet.c_lflag &= ~(tcflag_t)ECHO;
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
        } else {
            tty = false;
        }
    }
    char *r = fgets(out, (int)cap, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (!r)
        return -1;
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

static int make_entry(const char *name, const char *pw, const EVP_MD *md, const char *algo,
                      uint32_t iterations, char *out, size_t cap)
{
    uint8_t salt[SALT_LEN], hash[MAX_HASH];
    int hl = EVP_MD_get_size(md);
    if (RAND_bytes(salt, sizeof salt) != 1 ||
        PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, sizeof salt, (int)iterations, md, hl, hash) != 1)
        return -1;
    char s64[4 * SALT_LEN], h64[4 * MAX_HASH];
    b64_encode(salt, sizeof salt, s64);
    b64_encode(hash, (size_t)hl, h64);
    OPENSSL_cleanse(hash, sizeof hash);
    int n = snprintf(out, cap, "%s:$%s$%u$%s$%s\n", name, algo, iterations, s64, h64);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* Writes FILE with USER's line replaced (or appended, or removed when entry
 * is NULL): a temporary file beside it, fsync, rename. Other lines are kept
 * as they are. */
static int rewrite(const char *path, const char *name, const char *entry)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= (int)sizeof tmp) {
        fprintf(stderr, "mqspec-broker passwd: path too long\n");
        return 1;
    }
    FILE *in = fopen(path, "r");
    if (!in && errno != ENOENT) {
        fprintf(stderr, "mqspec-broker passwd: %s: %s\n", path, strerror(errno));
        return 1;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        fprintf(stderr, "mqspec-broker passwd: cannot create %s: %s\n", tmp, strerror(errno));
        if (in)
            fclose(in);
        return 1;
    }
    fchmod(fd, 0600);
    FILE *out = fdopen(fd, "w");
    if (!out) {
        close(fd);
        unlink(tmp);
        if (in)
            fclose(in);
        return 1;
    }
    size_t nlen = strlen(name);
    bool replaced = false, err = false;
    char line[MAX_LINE + 2];
    while (in && fgets(line, sizeof line, in)) {
        size_t len = strlen(line);
        if (len && line[len - 1] != '\n' && !feof(in)) {
            fprintf(stderr, "mqspec-broker passwd: %s: a line is too long; nothing changed\n", path);
            err = true;
            break;
        }
        if (!strncmp(line, name, nlen) && line[nlen] == ':') {
            if (entry && !replaced)
                fputs(entry, out);
            replaced = true;
            continue;
        }
        fputs(line, out);
        if (len && line[len - 1] != '\n')
            fputc('\n', out);
    }
    if (in)
        fclose(in);
    if (!err && entry && !replaced)
        fputs(entry, out);
    if (!err && !entry && !replaced) {
        fprintf(stderr, "mqspec-broker passwd: %s: no user '%s'\n", path, name);
        err = true;
    }
    if (fflush(out) != 0 || fsync(fileno(out)) != 0)
        err = true;
    if (fclose(out) != 0)
        err = true;
    if (err || rename(tmp, path) != 0) {
        if (!err)
            fprintf(stderr, "mqspec-broker passwd: rename to %s: %s\n", path, strerror(errno));
        unlink(tmp);
        return 1;
    }
    return 0;
}

int auth_passwd_main(int argc, char **argv)
{
    bool batch = false, del = false;
    const EVP_MD *md = EVP_sha512();
    const char *algo = "pbkdf2-sha512";
    uint32_t iterations = DEFAULT_ITERATIONS;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-b")) {
            batch = true;
        } else if (!strcmp(argv[i], "-D")) {
            del = true;
        } else if (!strcmp(argv[i], "--sha256")) {
            md = EVP_sha256();
            algo = "pbkdf2-sha256";
        } else if (!strcmp(argv[i], "-i") && i + 1 < argc) {
            char *end;
            errno = 0;
            unsigned long v = strtoul(argv[++i], &end, 10);
            if (errno || *end || v < 1000 || v > MAX_ITERATIONS) {
                fprintf(stderr, "mqspec-broker passwd: -i takes 1000 to %u\n", MAX_ITERATIONS);
                return 2;
            }
            iterations = (uint32_t)v;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            passwd_usage(stdout);
            return 0;
        } else {
            passwd_usage(stderr);
            return 2;
        }
    }
    int want = batch ? 3 : 2;
    if (argc - i != want || (batch && del)) {
        passwd_usage(stderr);
        return 2;
    }
    const char *path = argv[i], *name = argv[i + 1];
    if (!valid_name(name) || strlen(name) > 256) {
        fprintf(stderr, "mqspec-broker passwd: a user name is 1 to 256 characters, no ':', '#' "
                        "or white space\n");
        return 2;
    }
    if (del)
        return rewrite(path, name, NULL);
    char pw[512], again[512];
    if (batch) {
        snprintf(pw, sizeof pw, "%s", argv[i + 2]);
    } else {
        if (read_password("Password: ", pw, sizeof pw) != 0) {
            fprintf(stderr, "mqspec-broker passwd: no password on stdin\n");
            return 2;
        }
        if (isatty(STDIN_FILENO)) {
            if (read_password("Password again: ", again, sizeof again) != 0 || strcmp(pw, again)) {
                fprintf(stderr, "mqspec-broker passwd: the passwords differ\n");
                return 2;
            }
            OPENSSL_cleanse(again, sizeof again);
        }
    }
    if (!pw[0]) {
        fprintf(stderr, "mqspec-broker passwd: empty password\n");
        return 2;
    }
    char entry[MAX_LINE];
    int rc = make_entry(name, pw, md, algo, iterations, entry, sizeof entry);
    OPENSSL_cleanse(pw, sizeof pw);
    if (rc != 0) {
        fprintf(stderr, "mqspec-broker passwd: hashing failed\n");
        return 1;
    }
    rc = rewrite(path, name, entry);
    OPENSSL_cleanse(entry, sizeof entry);
    return rc;
}
