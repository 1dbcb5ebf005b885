/* Input files checked for their type before any blocking open: see input_file.h. */
#include "config.h"
#include "core/input_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

const char *mlsae_file_type_name(unsigned m)
{
    return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISSOCK(m) ? "a socket"
         : S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device" : "not a file";
}

int mlsae_open_input(const char *path, int allow_stream, mlsae_error *err)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENXIO) /* a socket, or a FIFO opened non-blocking for writing */
            return mlsae_fail(err, "%s: not a regular file", path);
        return mlsae_fail_errno(err, "%s: cannot open", path);
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return mlsae_fail_errno(err, "%s: cannot stat", path);
    }
    int stream = S_ISFIFO(sb.st_mode) || S_ISCHR(sb.st_mode) || S_ISSOCK(sb.st_mode);
    if (!S_ISREG(sb.st_mode) && !(allow_stream && stream)) {
        close(fd);
        return mlsae_fail(err, "%s: not a regular file (%s)", path, mlsae_file_type_name(sb.st_mode));
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return mlsae_fail_errno(err, "%s: cannot open", path);
    }
    return fd;
}

FILE *mlsae_fopen_input(const char *path, int allow_stream, mlsae_error *err)
{
    int fd = mlsae_open_input(path, allow_stream, err);
    if (fd < 0) return NULL;
    FILE *fp = fdopen(fd, "rb");
    if (!fp) {
        close(fd);
        mlsae_fail_errno(err, "%s: cannot open", path);
    }
    return fp;
}
