#ifndef PORTER_SYSTEM_H
#define PORTER_SYSTEM_H

#include <sys/types.h>

/// System calls Swift cannot reach directly (variadic `syscall` and `ioctl`) and process creation, which is
/// clearer in C. Every function returns 0 or a positive errno value unless it says otherwise.

/// What `porter_spawn` starts and how it connects the child's standard streams.
typedef struct {
    /// The descriptors that become 0, 1 and 2 in the child, when `tty_path` is NULL.
    int stdin_fd;
    int stdout_fd;
    int stderr_fd;
    /// A terminal to open as 0, 1 and 2 and make the controlling terminal of a new session, or NULL.
    const char *tty_path;
    /// A descriptor (`O_PATH` is enough) of the working directory, or -1 to keep the parent's. The directory is
    /// entered by descriptor (`fchdir`), so it is the one that was checked, whatever has been renamed since.
    int cwd_fd;
    /// The program and its arguments, NULL-terminated.
    char **argv;
    /// The environment as NAME=VALUE strings, NULL-terminated.
    char **envp;
} porter_spawn_io;

/// Starts `io->argv[0]` (searched in the parent's PATH when it has no slash) with environment `io->envp`, in a
/// new process group (or a new session with a controlling terminal when `io->tty_path` is set), with every
/// signal at its default disposition and none blocked. On success stores the child's pid.
int porter_spawn(pid_t *pid, const porter_spawn_io *io);

/// Opens a new pseudo-terminal of `rows` x `cols`: stores its master (close-on-exec, non-blocking) and the path
/// of its slave side.
int porter_openpty(int *master, char *slave_path, size_t slave_path_length, unsigned short rows, unsigned short cols);

/// Sets the window size of the terminal `fd`.
int porter_set_window_size(int fd, unsigned short rows, unsigned short cols);

/// Reads the window size of the terminal `fd`.
int porter_get_window_size(int fd, unsigned short *rows, unsigned short *cols);

/// Returns a process file descriptor for `pid` (close-on-exec), or -1 with errno set.
int porter_pidfd_open(pid_t pid);

/// Creates a pipe whose two ends are close-on-exec.
int porter_pipe(int fds[2]);

/// Asks for a pipe buffer of `size` bytes (Linux `F_SETPIPE_SZ`); returns the size granted, or -1 with errno set.
int porter_set_pipe_size(int fd, int size);

/// Creates an epoll instance (close-on-exec); returns it, or -1 with errno set.
int porter_epoll_create(void);

/// Adds `fd` to `epoll`, watched for readability.
int porter_epoll_add(int epoll, int fd);

/// Removes `fd` from `epoll`.
int porter_epoll_remove(int epoll, int fd);

/// Waits until descriptors in `epoll` are ready; stores up to `capacity` of them in `ready` and returns how many
/// (0 if interrupted).
int porter_epoll_wait(int epoll, int *ready, int capacity);

/// `O_PATH` and `UTIME_OMIT`, which Swift's Glibc module does not export (checked against the real values in
/// porter_system.c).
#define PORTER_O_PATH 010000000
#define PORTER_UTIME_OMIT 1073741822l

/// Opens `path` relative to the directory `dirfd` with `openat2(2)` and `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`:
/// the kernel refuses, in the same step that resolves it, any path that would leave `dirfd` — through `..`, an
/// absolute path, or a symlink pointing outside (EXDEV). `O_CLOEXEC` is always added. Returns the descriptor, or
/// -1 with errno set.
int porter_open_beneath(int dirfd, const char *path, int flags, mode_t mode);
/// Opens `path` relative to `dirfd` like `porter_open_beneath`, and also refuses to follow any symlink on the way,
/// the last component included (`RESOLVE_NO_SYMLINKS`, ELOOP): every component of `path` is then a real
/// directory entry, so what is opened lies exactly as deep beneath `dirfd` as `path` reads.
int porter_open_physical(int dirfd, const char *path, int flags, mode_t mode);

/// Renames `from` (beneath `from_dirfd`) to `to` (beneath `to_dirfd`) unless `to` exists (`renameat2` with
/// `RENAME_NOREPLACE`): returns 0, or EEXIST if it does.
int porter_rename_noreplace(int from_dirfd, const char *from, int to_dirfd, const char *to);

/// Starts writing `count` bytes of `fd` from `offset` to disk without waiting for it (Linux `sync_file_range`
/// with `SYNC_FILE_RANGE_WRITE`), so that a later `fsync` has less left to do.
int porter_start_writeback(int fd, long long offset, long long count);

/// Gives the memory the C allocator holds free back to the system (glibc's `malloc_trim(0)`, which releases the
/// free pages of every arena, not only the top of the main one). Returns 1 if some was released.
int porter_return_free_memory(void);

/// Names the calling thread (at most 15 bytes are kept), as `ps -L` and debuggers show it.
void porter_name_this_thread(const char *name);
#endif
