/* Test fixture, not product code: loads a BPF_PROG_TYPE_CGROUP_DEVICE program (the bytes
 * devices/ebpf.ts produces, read from a file) and attaches it to a cgroup v2 directory, so
 * the kernel test can check the verifier accepts it and the kernel enforces it. In the
 * product the C helper does the same two bpf() calls.
 * usage: bpf-device-loader PROGRAM_FILE CGROUP_DIR */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static char insns[65536];
static char verifier_log[65536];

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s PROGRAM_FILE CGROUP_DIR\n", argv[0]);
    return 2;
  }
  int fd = open(argv[1], O_RDONLY);
  if (fd < 0) {
    fprintf(stderr, "open %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  ssize_t n = read(fd, insns, sizeof insns);
  close(fd);
  if (n <= 0 || n % 8 != 0) {
    fprintf(stderr, "read %s: %zd bytes is not a whole number of instructions\n", argv[1], n);
    return 1;
  }

  union bpf_attr load;
  memset(&load, 0, sizeof load);
  load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  load.insns = (uint64_t)(uintptr_t)insns;
  load.insn_cnt = (uint32_t)(n / 8);
  load.license = (uint64_t)(uintptr_t)"Apache-2.0";
  load.log_buf = (uint64_t)(uintptr_t)verifier_log;
  load.log_size = sizeof verifier_log;
  load.log_level = 1;
  int prog = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof load);
  if (prog < 0) {
    fprintf(stderr, "bpf(BPF_PROG_LOAD): %s\n%s\n", strerror(errno), verifier_log);
    return 1;
  }

  int cg = open(argv[2], O_RDONLY | O_DIRECTORY);
  if (cg < 0) {
    fprintf(stderr, "open %s: %s\n", argv[2], strerror(errno));
    return 1;
  }
  union bpf_attr attach;
  memset(&attach, 0, sizeof attach);
  attach.target_fd = (uint32_t)cg;
  attach.attach_bpf_fd = (uint32_t)prog;
  attach.attach_type = BPF_CGROUP_DEVICE;
  if (syscall(SYS_bpf, BPF_PROG_ATTACH, &attach, sizeof attach) < 0) {
    fprintf(stderr, "bpf(BPF_PROG_ATTACH) to %s: %s\n", argv[2], strerror(errno));
    return 1;
  }
  /* The cgroup now holds the program; it goes away with the cgroup. */
  return 0;
}
