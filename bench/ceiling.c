/* The machine's ceiling for a loopback connect sweep: blocking connect() in C, one process per
 * core over interleaved parts of (host, port). No timeouts, no retries: only valid where every
 * port answers at once (loopback without silent hosts). Prints "HOST PORT" for each open port.
 *
 *   ceiling BASE_IPV4 PREFIX_LEN PORT,PORT,... [PROCESSES]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s BASE PREFIX PORTS [PROCESSES]\n", argv[0]);
        return 2;
    }
    struct in_addr base;
    if (inet_pton(AF_INET, argv[1], &base) != 1) return 2;
    int prefix = atoi(argv[2]);
    unsigned long hosts = 1UL << (32 - prefix);
    int ports[64], nports = 0;
    for (char *tok = strtok(argv[3], ","); tok && nports < 64; tok = strtok(NULL, ","))
        ports[nports++] = atoi(tok);
    long nproc = argc > 4 ? atol(argv[4]) : sysconf(_SC_NPROCESSORS_ONLN);
    unsigned long total = hosts * (unsigned long)nports;
    uint32_t start = ntohl(base.s_addr);
    for (long j = 0; j < nproc; j++) {
        pid_t pid = fork();
        if (pid < 0) return 1;
        if (pid == 0) {
            for (unsigned long i = (unsigned long)j; i < total; i += (unsigned long)nproc) {
                struct sockaddr_in sa = {0};
                sa.sin_family = AF_INET;
                sa.sin_addr.s_addr = htonl(start + (uint32_t)(i % hosts));
                sa.sin_port = htons((uint16_t)ports[i / hosts]);
                int fd = socket(AF_INET, SOCK_STREAM, 0);
                if (fd < 0) { perror("socket"); _exit(1); }
                if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
                    char buf[INET_ADDRSTRLEN];
                    inet_ntop(AF_INET, &sa.sin_addr, buf, sizeof buf);
                    printf("%s %d\n", buf, ports[i / hosts]);
                    fflush(stdout);
                }
                close(fd);
            }
            _exit(0);
        }
    }
    int status, rc = 0;
    while (wait(&status) > 0)
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) rc = 1;
    return rc;
}
