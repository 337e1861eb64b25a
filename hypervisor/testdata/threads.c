/* A bounded producer/consumer with mutexes and condition variables, more
   threads than VCPUs, sleeps, yields and joins. The output is
   deterministic: each consumer's sum is printed in thread order. */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NPROD 4
#define NCONS 4
#define ITEMS 2000
#define QSIZE 16

static int queue[QSIZE], head, tail, count, done_producers;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER, not_empty = PTHREAD_COND_INITIALIZER;
static long total;

static void *producer(void *arg) {
	long id = (long)arg;
	for (int i = 0; i < ITEMS; i++) {
		pthread_mutex_lock(&mu);
		while (count == QSIZE)
			pthread_cond_wait(&not_full, &mu);
		queue[tail] = (int)(id * ITEMS + i);
		tail = (tail + 1) % QSIZE;
		count++;
		pthread_cond_signal(&not_empty);
		pthread_mutex_unlock(&mu);
		if (i % 500 == 0)
			sched_yield();
	}
	pthread_mutex_lock(&mu);
	done_producers++;
	pthread_cond_broadcast(&not_empty);
	pthread_mutex_unlock(&mu);
	return NULL;
}

static void *consumer(void *arg) {
	long sum = 0, n = 0;
	for (;;) {
		pthread_mutex_lock(&mu);
		while (count == 0 && done_producers < NPROD)
			pthread_cond_wait(&not_empty, &mu);
		if (count == 0) {
			pthread_mutex_unlock(&mu);
			break;
		}
		int v = queue[head];
		head = (head + 1) % QSIZE;
		count--;
		pthread_cond_signal(&not_full);
		pthread_mutex_unlock(&mu);
		sum += v;
		n++;
	}
	pthread_mutex_lock(&mu);
	total += sum;
	pthread_mutex_unlock(&mu);
	return (void *)n;
}

static void *spinner(void *arg) {
	/* Compute-bound: only the time slice takes it off its VCPU. */
	volatile unsigned long x = (unsigned long)arg;
	for (long i = 0; i < 50000000; i++)
		x = x * 6364136223846793005UL + 1442695040888963407UL;
	struct timespec ts = {0, 1000000};
	nanosleep(&ts, NULL);
	return NULL;
}

int main(void) {
	pthread_t p[NPROD], c[NCONS], s[2];
	for (long i = 0; i < 2; i++)
		pthread_create(&s[i], NULL, spinner, (void *)i);
	for (long i = 0; i < NCONS; i++)
		pthread_create(&c[i], NULL, consumer, NULL);
	for (long i = 0; i < NPROD; i++)
		pthread_create(&p[i], NULL, producer, (void *)i);
	long items = 0;
	for (int i = 0; i < NPROD; i++)
		pthread_join(p[i], NULL);
	for (int i = 0; i < NCONS; i++) {
		void *n;
		pthread_join(c[i], &n);
		items += (long)n;
	}
	for (int i = 0; i < 2; i++)
		pthread_join(s[i], NULL);
	long want = 0;
	for (long i = 0; i < NPROD * ITEMS; i++)
		want += i;
	printf("items %ld total %ld want %ld\n", items, total, want);
	return total == want ? 0 : 1;
}
