// Two threads make their first VML call (vmsExp, the call ATen makes) at the same moment.
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <math.h>
#include <stdlib.h>
extern void vmsExp(int n, const float *a, float *r, long long mode);
extern unsigned int vmlGetMode(void);
extern int mkl_serv_cbwr_set(int);
#define HA 0x2
#define FTZDAZ_OFF 0x140000
#define IGNORE 0x100
#define N 2560
static float in[N], out[N], ref[N];
static pthread_barrier_t bar;
static unsigned modes[2];
static void *work(void *p) {
    long t = (long)p;
    pthread_barrier_wait(&bar);
    modes[t] = vmlGetMode();
    vmsExp(N / 2, in + t * N / 2, out + t * N / 2, HA | FTZDAZ_OFF | IGNORE);
    return 0;
}
int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "cbwr")) mkl_serv_cbwr_set(1 | 0x10000); /* AUTO | STRICT */
    if (argc > 2 && !strcmp(argv[2], "warm")) { float a = 0, b; vmsExp(1, &a, &b, HA | FTZDAZ_OFF | IGNORE); }
    srand(1);
    for (int i = 0; i < N; i++) in[i] = (float)rand() / RAND_MAX * 4 - 2;
    pthread_barrier_init(&bar, 0, 2);
    pthread_t th[2];
    for (long t = 0; t < 2; t++) pthread_create(&th[t], 0, work, (void *)t);
    for (int t = 0; t < 2; t++) pthread_join(th[t], 0);
    vmsExp(N, in, ref, HA | FTZDAZ_OFF | IGNORE);
    int bad[2] = {0, 0};
    for (int i = 0; i < N; i++) if (out[i] != ref[i]) bad[i / (N / 2)]++;
    printf("%s modes %x %x bad %d %d\n", (bad[0] || bad[1]) ? "DIFF" : "SAME", modes[0], modes[1], bad[0], bad[1]);
    return 0;
}
