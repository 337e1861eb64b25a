/* threads_churn N: creates N threads one after another with pthreads and
   joins each before creating the next, the way a thread-per-request
   server churns threads. Thread i makes i%5+1 getpid system calls. It
   prints "N threads joined". */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static void *worker(void *arg) {
	long k = (long)arg % 5 + 1;
	for (long i = 0; i < k; i++)
		syscall(SYS_getpid);
	return NULL;
}

int main(int argc, char **argv) {
	long n = argc > 1 ? atol(argv[1]) : 100;
	for (long i = 0; i < n; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, worker, (void *)i) != 0)
			return 1;
		if (pthread_join(t, NULL) != 0)
			return 1;
	}
	printf("%ld threads joined\n", n);
	return 0;
}
