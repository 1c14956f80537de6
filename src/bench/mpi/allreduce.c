/*
 * MPI baseline for `ringtrain bench`: MPI_Allreduce (float, sum, in place) timed exactly like the
 * ring bench peers: same input pattern, same batching of small vectors, a barrier before every
 * sample, the slowest rank's time per sample, and a check of every result against the exact sum.
 *
 *   mpicc -O2 -o allreduce allreduce.c
 *   mpirun --mca btl tcp,self -np 4 ./allreduce ITERS WARMUP BYTES [BYTES...]
 *
 * Rank 0 prints one line per size:
 *   RESULT bytes=<B> inner=<k> wrong=<count> samples=<us>,<us>,...
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float hash_level(uint32_t i) { return (float)((int)((i * 0x9e3779b1u) >> 28) - 8); }

static int inner_repeats(long bytes) {
  long k = (1L << 20) / bytes;
  if (k < 1) k = 1;
  if (k > 32) k = 32;
  return (int)k;
}

/* WARMUP "auto": the bench's warmupSamples (src/bench/job.ts), 4000 allreduces, at most 2 GiB. */
static int auto_warmup(long bytes) {
  long ops = (2048L << 20) / bytes;
  if (ops > 4000) ops = 4000;
  int inner = inner_repeats(bytes);
  long samples = (ops + inner - 1) / inner;
  return samples < 2 ? 2 : (int)samples;
}

static long count_wrong(const float *got, const float *want, long d) {
  if (memcmp(got, want, (size_t)d * sizeof(float)) == 0) return 0;
  long wrong = 0;
  for (long i = 0; i < d; i++)
    if (memcmp(&got[i], &want[i], sizeof(float)) != 0) wrong++;
  return wrong;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, n;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  if (argc < 4) {
    if (rank == 0) fprintf(stderr, "usage: allreduce ITERS WARMUP|auto BYTES...\n");
    MPI_Finalize();
    return 2;
  }
  int iters = atoi(argv[1]);
  int auto_warm = strcmp(argv[2], "auto") == 0;
  int fixed_warmup = auto_warm ? 0 : atoi(argv[2]);
  double *times = malloc(sizeof(double) * (size_t)iters);
  double *worst = malloc(sizeof(double) * (size_t)iters);
  for (int a = 3; a < argc; a++) {
    long bytes = atol(argv[a]);
    long d = bytes / 4;
    float *input = malloc((size_t)d * sizeof(float));
    float *expected = malloc((size_t)d * sizeof(float));
    float *buf = malloc((size_t)d * sizeof(float));
    float lanes[4] = {0, 0, 0, 0};
    for (int r = 0; r < n; r++)
      for (int j = 0; j < 4; j++) lanes[j] += (float)((j + r) & 3);
    float base = (float)(n * (n - 1) / 2);
    for (long i = 0; i < d; i++) {
      input[i] = hash_level((uint32_t)i) + (float)((i + rank) & 3) + (float)rank;
      expected[i] = (float)n * hash_level((uint32_t)i) + lanes[i & 3] + base;
    }
    int inner = inner_repeats(bytes);
    int warmup = auto_warm ? auto_warmup(bytes) : fixed_warmup;
    long wrong = 0;
    for (int it = 0; it < warmup + iters; it++) {
      memcpy(buf, input, (size_t)d * sizeof(float));
      MPI_Barrier(MPI_COMM_WORLD);
      double t0 = MPI_Wtime();
      for (int j = 0; j < inner; j++) {
        if (j > 0) {
          wrong += count_wrong(buf, expected, d);
          memcpy(buf, input, (size_t)d * sizeof(float));
        }
        MPI_Allreduce(MPI_IN_PLACE, buf, (int)d, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      }
      double t1 = MPI_Wtime();
      wrong += count_wrong(buf, expected, d);
      if (it >= warmup) times[it - warmup] = (t1 - t0) * 1e6 / inner;
    }
    long wrong_all = 0;
    MPI_Reduce(times, worst, iters, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    MPI_Reduce(&wrong, &wrong_all, 1, MPI_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0) {
      printf("RESULT bytes=%ld inner=%d wrong=%ld samples=", bytes, inner, wrong_all);
      for (int i = 0; i < iters; i++) printf(i ? ",%.3f" : "%.3f", worst[i]);
      printf("\n");
      fflush(stdout);
    }
    free(input);
    free(expected);
    free(buf);
  }
  free(times);
  free(worst);
  MPI_Finalize();
  return 0;
}
