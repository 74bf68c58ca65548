#define _GNU_SOURCE
#include "porter_system.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

int porter_spawn(pid_t *pid, const porter_spawn_io *io) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int status = posix_spawn_file_actions_init(&actions);
    if (status != 0) return status;
    status = posix_spawnattr_init(&attributes);
    if (status != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return status;
    }

    // The server may ignore or block signals (SIGPIPE, the shutdown signals): the command starts clean.
    sigset_t all, none;
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    sigemptyset(&none);
    short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
    if (status == 0) status = posix_spawnattr_setsigdefault(&attributes, &all);
    if (status == 0) status = posix_spawnattr_setsigmask(&attributes, &none);

    if (io->tty_path != NULL) {
        // glibc runs setsid before the file actions, so opening the terminal makes it the controlling terminal.
        flags |= POSIX_SPAWN_SETSID;
        if (status == 0) status = posix_spawn_file_actions_addopen(&actions, 0, io->tty_path, O_RDWR, 0);
        if (status == 0) status = posix_spawn_file_actions_adddup2(&actions, 0, 1);
        if (status == 0) status = posix_spawn_file_actions_adddup2(&actions, 0, 2);
    } else {
        flags |= POSIX_SPAWN_SETPGROUP;
        if (status == 0) status = posix_spawnattr_setpgroup(&attributes, 0);
        if (status == 0) status = posix_spawn_file_actions_adddup2(&actions, io->stdin_fd, 0);
        if (status == 0) status = posix_spawn_file_actions_adddup2(&actions, io->stdout_fd, 1);
        if (status == 0) status = posix_spawn_file_actions_adddup2(&actions, io->stderr_fd, 2);
    }
    if (status == 0 && io->cwd_fd >= 0) status = posix_spawn_file_actions_addfchdir_np(&actions, io->cwd_fd);
    // The command inherits its three standard streams and nothing else, even a descriptor that a program using
    // Porter as a library opened without O_CLOEXEC (a lock held through it would otherwise outlive its owner).
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 34)
    if (status == 0) status = posix_spawn_file_actions_addclosefrom_np(&actions, 3);
#endif
    if (status == 0) status = posix_spawnattr_setflags(&attributes, flags);
    if (status == 0) status = posix_spawnp(pid, io->argv[0], &actions, &attributes, io->argv, io->envp);

    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    return status;
}

int porter_openpty(int *master, char *slave_path, size_t slave_path_length, unsigned short rows, unsigned short cols) {
    int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return errno;
    if (grantpt(fd) != 0 || unlockpt(fd) != 0 || ptsname_r(fd, slave_path, slave_path_length) != 0) {
        int error = errno;
        close(fd);
        return error;
    }
    struct winsize size = {.ws_row = rows, .ws_col = cols};
    ioctl(fd, TIOCSWINSZ, &size);
    *master = fd;
    return 0;
}

int porter_set_window_size(int fd, unsigned short rows, unsigned short cols) {
    struct winsize size = {.ws_row = rows, .ws_col = cols};
    return ioctl(fd, TIOCSWINSZ, &size) == 0 ? 0 : errno;
}

int porter_get_window_size(int fd, unsigned short *rows, unsigned short *cols) {
    struct winsize size;
    if (ioctl(fd, TIOCGWINSZ, &size) != 0) return errno;
    *rows = size.ws_row;
    *cols = size.ws_col;
    return 0;
}

int porter_pidfd_open(pid_t pid) {
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
}

int porter_pipe(int fds[2]) {
    return pipe2(fds, O_CLOEXEC) == 0 ? 0 : errno;
}

int porter_set_pipe_size(int fd, int size) {
#ifdef F_SETPIPE_SZ
    return fcntl(fd, F_SETPIPE_SZ, size);
#else
    errno = ENOSYS;
    return -1;
#endif
}

int porter_epoll_create(void) {
    return epoll_create1(EPOLL_CLOEXEC);
}

int porter_epoll_add(int epoll, int fd) {
    struct epoll_event event = {.events = EPOLLIN, .data.fd = fd};
    return epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) == 0 ? 0 : errno;
}

int porter_epoll_remove(int epoll, int fd) {
    return epoll_ctl(epoll, EPOLL_CTL_DEL, fd, NULL) == 0 ? 0 : errno;
}

int porter_epoll_wait(int epoll, int *ready, int capacity) {
    struct epoll_event events[64];
    if (capacity > 64) capacity = 64;
    int count = epoll_wait(epoll, events, capacity, -1);
    if (count < 0) return 0;
    for (int i = 0; i < count; i++) ready[i] = events[i].data.fd;
    return count;
}

_Static_assert(PORTER_O_PATH == O_PATH, "O_PATH");
_Static_assert(PORTER_UTIME_OMIT == UTIME_OMIT, "UTIME_OMIT");

int porter_open_beneath(int dirfd, const char *path, int flags, mode_t mode) {
    struct open_how how = {
        .flags = (unsigned long long)(flags | O_CLOEXEC),
        .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    long fd;
    do {
        fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
    return (int)fd;
}

int porter_open_physical(int dirfd, const char *path, int flags, mode_t mode) {
    struct open_how how = {
        .flags = (unsigned long long)(flags | O_CLOEXEC),
        .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    long fd;
    do {
        fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
    return (int)fd;
}

int porter_rename_noreplace(int from_dirfd, const char *from, int to_dirfd, const char *to) {
    return renameat2(from_dirfd, from, to_dirfd, to, RENAME_NOREPLACE) == 0 ? 0 : errno;
}

int porter_start_writeback(int fd, long long offset, long long count) {
    return sync_file_range(fd, offset, count, SYNC_FILE_RANGE_WRITE) == 0 ? 0 : errno;
}

int porter_return_free_memory(void) {
#ifdef __GLIBC__
    return malloc_trim(0);
#else
    return 0;
#endif
}

void porter_name_this_thread(const char *name) {
    char shortened[16];
    snprintf(shortened, sizeof shortened, "%s", name);
    pthread_setname_np(pthread_self(), shortened);
}
