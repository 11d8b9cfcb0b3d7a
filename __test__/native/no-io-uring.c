/*
 * A stand-in for a container whose seccomp profile refuses io_uring (Docker's default profile
 * does, since Docker 25): `no-io-uring COMMAND [ARGS...]` installs a seccomp filter under
 * which io_uring_setup, io_uring_enter and io_uring_register fail with EPERM, then executes
 * COMMAND. Every other system call is allowed. The filter is inherited by COMMAND's children.
 *
 * The addon must then fall back from the event-loop futex wait (src/loop_bell.rs) to the
 * doorbell thread (src/doorbell.rs) and work as before; the spec checks both.
 *
 * x86_64 and aarch64 only (the syscall numbers 425..427 are the same on both, from the
 * generic table); on another architecture the filter refuses nothing and the spec notices
 * that the probe still reports io_uring.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

#if defined(__x86_64__)
#define OUR_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define OUR_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#define OUR_AUDIT_ARCH 0
#endif

#define NR_IO_URING_SETUP 425
#define NR_IO_URING_REGISTER 427

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: no-io-uring COMMAND [ARGS...]\n");
        return 2;
    }
    struct sock_filter filter[] = {
        /* Another architecture's calling convention: allow (numbers differ there). */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, OUR_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        /* io_uring_setup (425), io_uring_enter (426), io_uring_register (427): EPERM. */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, NR_IO_URING_SETUP, 0, 2),
        BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, NR_IO_URING_REGISTER, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog program = {
        .len = (unsigned short)(sizeof(filter) / sizeof(filter[0])),
        .filter = filter,
    };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        perror("no-io-uring: prctl(PR_SET_NO_NEW_PRIVS)");
        return 1;
    }
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) {
        perror("no-io-uring: prctl(PR_SET_SECCOMP)");
        return 1;
    }
    execvp(argv[1], argv + 1);
    perror("no-io-uring: execvp");
    return 127;
}
